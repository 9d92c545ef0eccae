// The upper 16 bits of an available buffer notification with VIRTIO_F_NOTIFICATION_DATA
// (VIRTIO 1.2 2.9, 4.1.5.2: le32 { vqn : 16; next_off : 15; next_wrap : 1 }), from the driver's
// own state after it published its buffers: a split ring's next available index (all 16 bits:
// its 15 low ones are next_off, bit 15 next_wrap), or a packed ring's next descriptor offset
// with the Driver Ring Wrap Counter in bit 15.
import { SplitDriver } from '../virtqueue/split.js';
import { PackedDriver } from '../virtqueue/packed.js';
import type { DriverQueue } from '../virtqueue/queue-side.js';

export function notificationNext(driver: DriverQueue): number {
  if (driver instanceof SplitDriver) return driver.availIdx & 0xffff;
  if (driver instanceof PackedDriver) return (driver.nextAvail & 0x7fff) | ((driver.availWrapCounter & 1) << 15);
  throw new TypeError('notificationNext: a SplitDriver or a PackedDriver');
}
