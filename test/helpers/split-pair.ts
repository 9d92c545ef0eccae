// A driver and a device over one split ring in a fresh shared memory: the fixture most tests
// start from.
import {
  createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, SplitDriver, SplitDevice,
  allocSplitRing, type Engine, type FeatureSet, type Region, type SplitRingAddrs,
} from '../../src/index.js';
import { loadEngine } from '../../src/node.js';
import { RawSplitRing } from '../../sim/raw-split.js';

export interface SplitPairOptions {
  queueSize?: number;
  features?: FeatureSet;
  startIdx?: number;
  indirectMax?: number;
  regions?: Region[];
  memoryBytes?: number;
  /** Skip creating the driver (bad-input tests write the ring by hand). */
  noDriver?: boolean;
  burst?: number;
}

export interface SplitPair {
  memory: WebAssembly.Memory;
  engine: Engine;
  plan: MemoryPlan;
  ring: SplitRingAddrs;
  raw: RawSplitRing;
  driver: SplitDriver;
  device: SplitDevice;
  /** Batches for each side. */
  add: ChainBatch;
  popped: ChainBatch;
  used: UsedBatch;
  collected: UsedBatch;
  /** A zeroed 1 MiB area for buffers. */
  buffers: number;
}

export function splitPair(o: SplitPairOptions = {}): SplitPair {
  const memory = createSharedMemory(o.memoryBytes ?? 8 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const ring = allocSplitRing(plan, o.queueSize ?? 16);
  const features = o.features ?? 0n;
  const driver = o.noDriver
    ? (undefined as unknown as SplitDriver)
    : new SplitDriver(engine, plan, ring, { features, startIdx: o.startIdx, indirectMax: o.indirectMax });
  const device = new SplitDevice(engine, plan, ring, { features, startIdx: o.startIdx, regions: o.regions });
  const burst = o.burst ?? Math.max(64, ring.queueSize);
  return {
    memory, engine, plan, ring, driver, device,
    raw: new RawSplitRing(engine.view, ring),
    add: new ChainBatch(engine, plan, burst, burst * 4),
    popped: new ChainBatch(engine, plan, burst, burst * 4),
    used: new UsedBatch(engine, plan, burst),
    collected: new UsedBatch(engine, plan, burst),
    buffers: plan.alloc(1 << 20, 4096, 'buffers'),
  };
}
