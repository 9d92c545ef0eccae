// Choosing a ring layout with one option: allocate the areas and build either side as the
// layout-neutral DriverQueue / DeviceQueue. The one place a driver or a device is built for a
// layout chosen at run time (the simulator, its workers, the vhost-user back-end).
import { allocSplitRing, SplitDriver, SplitDevice } from './split.js';
import { allocPackedRing, PackedDriver, PackedDevice } from './packed.js';
import type { DeviceQueue, DriverQueue, RingAreas, RingPosition } from './queue-side.js';
import type { DeviceHandleOptions, DriverHandleOptions } from './queue-handles.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';

export type RingLayout = 'split' | 'packed';

export const RING_LAYOUTS: readonly RingLayout[] = ['split', 'packed'];

export interface RingSpec {
  layout: RingLayout;
  queueSize: number;
  /** Alignment of each area (default 64, a cache line; 4096 keeps an area of up to a page inside one page). */
  align?: number;
}

export function allocRing(plan: MemoryPlan, spec: RingSpec): RingAreas {
  return spec.layout === 'split' ? allocSplitRing(plan, spec.queueSize, spec.align) : allocPackedRing(plan, spec.queueSize, spec.align);
}

export type DriverOptions = DriverHandleOptions;

export interface DeviceOptions extends DeviceHandleOptions {
  /**
   * Where the device starts in its ring (vhost-user: SET_VRING_BASE; `position()` reports it back
   * in the same form). Split: `nextAvail` is the first available index read, `nextUsed` the first
   * used.idx (the wrap fields are not used). Packed: slots and wrap counters. Default: a fresh ring
   * (split 0 and 0; packed slot 0 with wrap counter 1 on both sides).
   */
  start?: RingPosition;
}

const splitNames = (a: RingAreas) => ({ ...a, avail: a.driver, used: a.device });

export function createDriver(engine: Engine, plan: MemoryPlan, layout: RingLayout, areas: RingAreas, opts: DriverOptions = {}): DriverQueue {
  return layout === 'split'
    ? new SplitDriver(engine, plan, splitNames(areas), opts)
    : new PackedDriver(engine, plan, areas, opts);
}

export function createDevice(engine: Engine, plan: MemoryPlan, layout: RingLayout, areas: RingAreas, opts: DeviceOptions = {}): DeviceQueue {
  const { start, ...common } = opts;
  if (layout === 'split') {
    const at = start === undefined ? {} : { startIdx: start.nextAvail, usedIdx: start.nextUsed };
    return new SplitDevice(engine, plan, splitNames(areas), { ...common, ...at });
  }
  const at = start === undefined ? {} : {
    nextAvail: start.nextAvail, availWrapCounter: start.availWrap, nextUsed: start.nextUsed, usedWrapCounter: start.usedWrap,
  };
  return new PackedDevice(engine, plan, areas, { ...common, ...at });
}
