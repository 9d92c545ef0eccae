// The engine side of a running vring: building its DeviceQueue from the vhost-user ring state
// (SET_VRING_BASE's index, and for packed rings the wrap counter in bit 15), and reading that
// state back for GET_VRING_BASE.
import * as Q from '../../assembly/layout/queue.js';
import { SplitDevice } from '../split.js';
import { PackedDevice } from '../packed.js';
import { PACKED_BASE_WRAP } from './protocol.js';
import type { DeviceQueue, Region, RingAreas } from '../queue-side.js';
import type { RingLayout } from '../ring.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';
import type { FeatureSet } from '../features.js';

export interface RingDeviceSpec {
  layout: RingLayout;
  areas: RingAreas;
  features: FeatureSet;
  regions: Region[];
  /** vhost-user ring base: split, the next avail index; packed, index | wrap << 15. */
  base: number;
  /** Ask for kicks from the start (false: the front-end polls, or the device model will). */
  notify: boolean;
}

export function buildRingDevice(engine: Engine, plan: MemoryPlan, s: RingDeviceSpec): DeviceQueue {
  const common = { features: s.features, regions: s.regions, notify: s.notify };
  if (s.layout === 'split') {
    return new SplitDevice(engine, plan, { ...s.areas, avail: s.areas.driver, used: s.areas.device }, { ...common, startIdx: s.base & 0xffff });
  }
  return new PackedDevice(engine, plan, s.areas, {
    ...common, nextAvail: s.base & (PACKED_BASE_WRAP - 1), availWrapCounter: (s.base & PACKED_BASE_WRAP) !== 0 ? 1 : 0,
  });
}

/** The ring state GET_VRING_BASE reports: where the device will read next. */
export function ringDeviceBase(device: DeviceQueue): number {
  if (device instanceof SplitDevice) return device.lastAvailIdx & 0xffff;
  if (device instanceof PackedDevice) {
    const wrap = device.engine.u32[(device.cb + Q.PDEV_AVAIL_WRAP) >>> 2] & 1;
    return (device.nextAvail & (PACKED_BASE_WRAP - 1)) | (wrap ? PACKED_BASE_WRAP : 0);
  }
  throw new TypeError('not a split or packed device');
}
