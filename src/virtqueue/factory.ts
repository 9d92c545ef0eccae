// Choosing a ring layout with one option: allocate the areas and build either side as the
// layout-neutral DriverQueue / DeviceQueue.
import { allocSplitRing, SplitDriver, SplitDevice } from './split.js';
import { allocPackedRing, PackedDriver, PackedDevice } from './packed.js';
import type { DeviceQueue, DriverQueue, Region, RingAreas } from './queue-side.js';
import type { FeatureSet } from '../features.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';

export type RingLayout = 'split' | 'packed';

export const RING_LAYOUTS: readonly RingLayout[] = ['split', 'packed'];

export interface RingSpec {
  layout: RingLayout;
  queueSize: number;
}

export function allocRing(plan: MemoryPlan, spec: RingSpec): RingAreas {
  return spec.layout === 'split' ? allocSplitRing(plan, spec.queueSize) : allocPackedRing(plan, spec.queueSize);
}

export interface DriverOptions {
  features?: FeatureSet;
  indirectMax?: number;
  interrupts?: boolean;
}

export interface DeviceOptions {
  features?: FeatureSet;
  regions?: Region[];
  maxChain?: number;
  notify?: boolean;
}

const splitNames = (a: RingAreas) => ({ ...a, avail: a.driver, used: a.device });

export function createDriver(engine: Engine, plan: MemoryPlan, layout: RingLayout, areas: RingAreas, opts: DriverOptions = {}): DriverQueue {
  return layout === 'split'
    ? new SplitDriver(engine, plan, splitNames(areas), opts)
    : new PackedDriver(engine, plan, areas, opts);
}

export function createDevice(engine: Engine, plan: MemoryPlan, layout: RingLayout, areas: RingAreas, opts: DeviceOptions = {}): DeviceQueue {
  return layout === 'split'
    ? new SplitDevice(engine, plan, splitNames(areas), opts)
    : new PackedDevice(engine, plan, areas, opts);
}
