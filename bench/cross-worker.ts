// A virtqueue across two worker threads: the driver on one, the device on the other, polling.
import { Worker } from 'node:worker_threads';
import {
  createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, type FeatureSet,
} from '../src/index.js';
import { allocRing, createDriver, createDevice, type RingLayout } from '../src/virtqueue/factory.js';
import { engineModule, loadEngine } from '../src/node.js';
import type { SideConfig } from './cross-worker-side.js';

export interface CrossWorkerResult {
  layout: RingLayout;
  batch: number;
  packets: number;
  seconds: number;
  mpps: number;
}

const sideUrl = new URL('./cross-worker-side.js', import.meta.url);

/** Moves `packets` one-segment chains from a driver worker through a device worker and back. */
export async function crossWorker(layout: RingLayout, queueSize: number, batch: number, packets: number, features: FeatureSet = 0n): Promise<CrossWorkerResult> {
  const memory = createSharedMemory(32 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const control = plan.alloc(64, 64, 'control word') >>> 2;
  const areas = allocRing(plan, { layout, queueSize });
  const driver = createDriver(engine, plan, layout, areas, { features });
  const device = createDevice(engine, plan, layout, areas, { features });
  // Each side's burst arrays on their own cache lines (MemoryPlan aligns to 64).
  const add = new ChainBatch(engine, plan, batch, batch);
  const collected = new UsedBatch(engine, plan, queueSize);
  const popped = new ChainBatch(engine, plan, batch, batch * 4);
  const used = new UsedBatch(engine, plan, batch);
  const buffers = plan.alloc(batch * 2048, 4096, 'buffers');
  for (let i = 0; i < batch; i++) add.single(i, buffers + i * 2048, 64, false);
  const module = engineModule();
  const common = { module, memory, layout, batch, packets, control };
  const sides: SideConfig[] = [
    { ...common, role: 'device', cb: device.cb, chains: popped.chainsPtr, segs: popped.segsPtr, maxSegs: popped.maxSegs, used: used.ptr, usedCapacity: batch },
    { ...common, role: 'driver', cb: driver.cb, chains: add.chainsPtr, segs: add.segsPtr, maxSegs: add.maxSegs, used: collected.ptr, usedCapacity: queueSize },
  ];
  const workers = sides.map((s) => new Worker(sideUrl, { workerData: s }));
  const done = workers.map((w) => new Promise<{ role: string; moved: number; ms: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`worker exited with ${code}`)); });
  }));
  await new Promise((r) => setTimeout(r, 50)); // let both workers reach the start line
  const i32 = new Int32Array(memory.buffer);
  Atomics.store(i32, control, 1);
  Atomics.notify(i32, control);
  const results = await Promise.all(done);
  await Promise.all(workers.map((w) => w.terminate()));
  const drv = results.find((r) => r.role === 'driver')!;
  const dev = results.find((r) => r.role === 'device')!;
  if (drv.moved !== packets || dev.moved !== packets) {
    throw new Error(`${layout} batch ${batch}: driver collected ${drv.moved}, device used ${dev.moved}, expected ${packets}`);
  }
  const seconds = drv.ms / 1000;
  return { layout, batch, packets, seconds, mpps: packets / seconds / 1e6 };
}
