// The split virtqueue (VIRTIO 1.2, 2.7) for the lock-step world: a descriptor table (16 bytes a
// descriptor: addr, len, flags, next), the available ring (flags, idx, ring[Queue Size],
// used_event) and the used ring (flags, idx, ring[Queue Size] of {id, len}, avail_event).
// Descriptors are linked by `next` in any order, so the ring's positions are its 16-bit indices.
import { SplitDriver, SplitDevice, allocSplitRing, RING_FEATURES, type SplitRingAddrs } from '../../src/index.js';
import { splitAreaSizes } from '../../src/virtqueue/layout.js';
import * as Q from '../../assembly/layout/queue.js';
import * as S from '../../assembly/layout/split.js';
import { RawSplitRing, type Desc } from '../../sim/raw-split.js';
import { RefSplitDriver, RefSplitDevice } from '../../sim/reference/index.js';
import type { Layout, ModelParams, ModelPair } from './lockstep-layout.js';
import { commonFeatures } from './lockstep-pair.js';
import { LockstepWorld } from './lockstep-world.js';

export interface SplitParams extends ModelParams {
  /** First avail.idx / used.idx of both sides. */
  startIdx: number;
}

interface SplitTypes {
  params: SplitParams;
  ring: SplitRingAddrs;
  driver: SplitDriver;
  device: SplitDevice;
  refDriver: RefSplitDriver;
  refDevice: RefSplitDevice;
  desc: Desc;
  raw: RawSplitRing;
}

export type SplitPair = ModelPair<SplitTypes>;
export type SplitWorld = LockstepWorld<SplitTypes>;

const driverState = (d: SplitDriver | RefSplitDriver) => ({
  numFree: d.numFree, inFlight: d.inFlight, availIdx: d.availIdx, lastUsedIdx: d.lastUsedIdx, status: d.status,
});
const deviceState = (d: SplitDevice | RefSplitDevice) => ({
  lastAvailIdx: d.lastAvailIdx, usedIdx: d.usedIdx, inFlight: d.inFlight, status: d.status,
});

export const splitLayout: Layout<SplitTypes> = {
  descSize: S.DESC_SIZE,
  indirectFlag: S.DESC_F_INDIRECT,
  indirectFields: { base: Q.SDRV_INDIRECT, max: Q.SDRV_INDIRECT_MAX },
  features: (p) => commonFeatures(p) | (p.inOrder ? RING_FEATURES.VERSION_1 | RING_FEATURES.IN_ORDER : 0n),

  driver(engine, plan, params, features) {
    const ring = allocSplitRing(plan, params.queueSize);
    const driver = new SplitDriver(engine, plan, ring, {
      features, indirectMax: params.indirectMax, startIdx: params.startIdx, interrupts: params.interrupts,
    });
    return { ring, driver };
  },
  device: (engine, plan, ring, params, features, regions) => new SplitDevice(engine, plan, ring, {
    features, startIdx: params.startIdx, notify: params.notify, regions, maxChain: params.maxChain,
  }),
  reference: (view, ring, params, features, indirect, regions) => ({
    refDriver: new RefSplitDriver(view, { ring, features, indirect, startIdx: params.startIdx, interrupts: params.interrupts }),
    refDevice: new RefSplitDevice(view, {
      ring, features, regions, startIdx: params.startIdx, notify: params.notify, maxChain: params.maxChain,
    }),
  }),
  raw: (view, ring) => new RawSplitRing(view, ring),

  areas(p) {
    const sizes = splitAreaSizes(p.ring.queueSize);
    return [
      { name: 'descriptor table', at: p.ring.desc, size: sizes.desc },
      { name: 'available ring', at: p.ring.avail, size: sizes.avail },
      { name: 'used ring', at: p.ring.used, size: sizes.used },
    ];
  },
  state: (p, side) => side === 'engine'
    ? { driver: driverState(p.driver), device: deviceState(p.device) }
    : { driver: driverState(p.refDriver), device: deviceState(p.refDevice) },
  // A popped chain's id is its head descriptor.
  headDesc: (p, c) => p.engineRaw.readDesc(c.id),
  // 2.7.10.2, 2.7.7.2: with EVENT_IDX the event indices decide, not the flags.
  flagsBind: (params) => !params.eventIdx,
  waiting: (p) => ({
    avail: p.device.lastAvailIdx !== p.engineRaw.availIdx,
    used: p.driver.lastUsedIdx !== p.engineRaw.usedIdx,
  }),
};

/** Engine and reference over a split ring, run in lock step. */
export const splitWorld = (params: SplitParams, faultsAllowed = false): SplitWorld =>
  new LockstepWorld(splitLayout, params, faultsAllowed);
