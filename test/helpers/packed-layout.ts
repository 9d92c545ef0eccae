// The packed virtqueue (VIRTIO 1.2, 2.8) for the lock-step world: one descriptor ring (16 bytes
// a descriptor: addr, len, id, flags with AVAIL and USED bits) and two event suppression
// structures (off_wrap, flags; 2.8.10). Descriptors go round the ring in order, each lap with its
// wrap counter, so the world can check the four ring positions (driver and device, avail and used).
import { RING_FEATURES } from '../../src/index.js';
import { PackedDriver, PackedDevice, allocPackedRing } from '../../src/virtqueue/packed.js';
import type { RingAreas } from '../../src/virtqueue/queue-side.js';
import * as Q from '../../assembly/layout/queue.js';
import * as P from '../../assembly/layout/packed.js';
import { RawPackedRing, type PackedDesc } from '../../sim/raw-packed.js';
import { RefPackedDriver, RefPackedDevice } from '../../sim/reference/index.js';
import type { Layout, ModelParams, ModelPair } from './lockstep-layout.js';
import { commonFeatures } from './lockstep-pair.js';
import { LockstepWorld } from './lockstep-world.js';
import { agree } from './agree.js';

/** Queue Size: anything from 1 to 32768 (packed rings need not be powers of two). */
export interface PackedParams extends ModelParams {
  inOrder: boolean;
}

interface PackedTypes {
  params: PackedParams;
  ring: RingAreas;
  driver: PackedDriver;
  device: PackedDevice;
  refDriver: RefPackedDriver;
  refDevice: RefPackedDevice;
  desc: PackedDesc;
  raw: RawPackedRing;
}

export type PackedPair = ModelPair<PackedTypes>;
export type PackedWorld = LockstepWorld<PackedTypes>;

/** The device's wrap counters, which its handle does not report. */
export function deviceWrapCounters(p: PackedPair): { avail: number; used: number } {
  const u32 = p.engine.u32;
  return { avail: u32[(p.device.cb + Q.PDEV_AVAIL_WRAP) >>> 2], used: u32[(p.device.cb + Q.PDEV_USED_WRAP) >>> 2] };
}

const refWrapCounters = (p: PackedPair) => ({ avail: p.refDevice.availWrapCounter, used: p.refDevice.usedWrapCounter });

const driverState = (d: PackedDriver | RefPackedDriver) => ({
  numFree: d.numFree, inFlight: d.inFlight, nextAvail: d.nextAvail, availWrapCounter: d.availWrapCounter,
  nextUsed: d.nextUsed, usedWrapCounter: d.usedWrapCounter, status: d.status,
});
const deviceState = (d: PackedDevice | RefPackedDevice, wrap: { avail: number; used: number }) => ({
  nextAvail: d.nextAvail, availWrapCounter: wrap.avail, nextUsed: d.nextUsed, usedWrapCounter: wrap.used,
  inFlight: d.inFlight, status: d.status,
});

export const packedLayout: Layout<PackedTypes> = {
  descSize: P.PDESC_SIZE,
  indirectFlag: P.PDESC_F_INDIRECT,
  indirectFields: { base: Q.PDRV_INDIRECT, max: Q.PDRV_INDIRECT_MAX },
  features: (p) => commonFeatures(p) | (p.inOrder ? RING_FEATURES.IN_ORDER : 0n) | RING_FEATURES.RING_PACKED,

  driver(engine, plan, params, features) {
    const ring = allocPackedRing(plan, params.queueSize);
    const driver = new PackedDriver(engine, plan, ring, { features, indirectMax: params.indirectMax, interrupts: params.interrupts });
    return { ring, driver };
  },
  device: (engine, plan, ring, params, features, regions) =>
    new PackedDevice(engine, plan, ring, { features, notify: params.notify, regions, maxChain: params.maxChain }),
  reference: (view, ring, params, features, indirect, regions) => ({
    refDriver: new RefPackedDriver(view, { ring, features, indirect, interrupts: params.interrupts }),
    refDevice: new RefPackedDevice(view, { ring, features, regions, notify: params.notify, maxChain: params.maxChain }),
  }),
  raw: (view, ring) => new RawPackedRing(view, ring),

  areas: (p) => [
    { name: 'descriptor ring', at: p.ring.desc, size: p.ring.queueSize * P.PDESC_SIZE },
    { name: 'driver event suppression', at: p.ring.driver, size: P.EVENT_SIZE },
    { name: 'device event suppression', at: p.ring.device, size: P.EVENT_SIZE },
  ],
  state: (p, side) => side === 'engine'
    ? { driver: driverState(p.driver), device: deviceState(p.device, deviceWrapCounters(p)) }
    : { driver: driverState(p.refDriver), device: deviceState(p.refDevice, refWrapCounters(p)) },
  headDesc(p, c, slot) {
    const d = p.engineRaw.readDesc(slot);
    agree(d.id, c.id, 'popped buffer id is the one in its first descriptor');
    return d;
  },
  // 2.8.10: RING_EVENT_FLAGS_DISABLE is honoured, with or without EVENT_IDX.
  flagsBind: () => true,
  positions(p) {
    const dw = deviceWrapCounters(p);
    return {
      driverAvail: { slot: p.driver.nextAvail, wrapCounter: p.driver.availWrapCounter },
      deviceAvail: { slot: p.device.nextAvail, wrapCounter: dw.avail },
      deviceUsed: { slot: p.device.nextUsed, wrapCounter: dw.used },
      driverUsed: { slot: p.driver.nextUsed, wrapCounter: p.driver.usedWrapCounter },
    };
  },
};

/** Engine and reference over a packed ring, run in lock step. */
export const packedWorld = (params: PackedParams, faultsAllowed = false): PackedWorld =>
  new LockstepWorld(packedLayout, params, faultsAllowed);
