// Reference model of a split virtqueue (VIRTIO 1.2, 2.7): both sides, in plain TypeScript over a
// DataView, mirroring the engine's observable behaviour and policies so that the two can be run
// side by side and compared byte for byte (test/split.model.test.ts).
//
// A burst round trip over one memory (what the benchmark does):
//
//   const view = new DataView(new ArrayBuffer(bytes));          // rings laid out as `ring` says
//   const driver = new RefSplitDriver(view, { ring, features });
//   const device = new RefSplitDevice(view, { ring, features, regions });
//   driver.add([{ id: 1, segments: [{ offset, len, writable: false }] }]);   // -> 1 chain added
//   if (driver.kickNeeded() === 1) { /* notify the device */ }
//   const popped = device.pop(32, 256);                          // { rc: 1, items: [chain] }
//   device.push(popped.items.map((c) => ({ id: c.id, len: 0 })));           // -> 1
//   if (device.interruptNeeded() === 1) { /* interrupt the driver */ }
//   const used = driver.collect(32);                             // { rc: 1, items: [{ id: 1, len: 0 }] }
//
// The packed ring (2.8) has the same API in RefPackedDriver / RefPackedDevice over the three
// areas of allocPackedRing (descriptor ring, driver and device event suppression structures).
//
// Every call returns what the engine export would: a count or 1/0 (>= 0), or an error code from
// assembly/layout/errors.ts (< 0); burst calls wrap it as { rc, items }.
export { RefSplitDriver, type RefDriverConfig } from './split-driver.js';
export { RefSplitDevice, type RefDeviceConfig } from './split-device.js';
export { RefPackedDriver, type RefPackedDriverConfig } from './packed-driver.js';
export { RefPackedDevice, type RefPackedDeviceConfig } from './packed-device.js';
export { eventPublished } from './event-idx.js';
export { passedEvent, readEvent, type EventSuppression } from './packed-event.js';
export { isAvailable, isUsed, availableBits, usedBits, advance, type RingPosition } from './packed-ring.js';
export type { RefSegment, RefChain, RefPoppedChain, RefUsed, RefBurst, RefRegion } from './types.js';
