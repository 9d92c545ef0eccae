// One burst round trip on a single thread: the driver adds `batch` one-segment chains, the device
// pops them and returns them used, the driver collects them. The same shape for every
// implementation, so their rates compare directly.
import { createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, type FeatureSet } from '../src/index.js';
import { allocRing, createDriver, createDevice, type RingLayout } from '../src/virtqueue/factory.js';
import { loadEngine } from '../src/node.js';

export interface RoundTrip {
  /** Runs `rounds` round trips of one burst each; returns packets moved. */
  run(rounds: number): number;
}

export function engineRoundTrip(layout: RingLayout, queueSize: number, batch: number, features: FeatureSet = 0n): RoundTrip {
  const memory = createSharedMemory(16 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const areas = allocRing(plan, { layout, queueSize });
  const driver = createDriver(engine, plan, layout, areas, { features });
  const device = createDevice(engine, plan, layout, areas, { features });
  const add = new ChainBatch(engine, plan, batch, batch);
  const popped = new ChainBatch(engine, plan, batch, batch);
  const used = new UsedBatch(engine, plan, batch);
  const collected = new UsedBatch(engine, plan, Math.max(batch, queueSize));
  const buffers = plan.alloc(batch * 2048, 4096, 'bench buffers');
  for (let i = 0; i < batch; i++) add.single(i, buffers + i * 2048, 64, false);
  return {
    run(rounds: number): number {
      let moved = 0;
      for (let r = 0; r < rounds; r++) {
        driver.add(add);
        driver.kickNeeded();
        const n = device.pop(popped);
        used.clear();
        for (let i = 0; i < n; i++) used.push(popped.id(i), 0);
        device.push(used);
        device.interruptNeeded();
        moved += driver.collect(collected);
      }
      return moved;
    },
  };
}
