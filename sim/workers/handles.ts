// Building a task's queue handles inside its worker, in the task's own arena of the shared
// memory, over ring areas the main thread planned.
import { MemoryPlan } from '../../src/memory.js';
import { createDevice, createDriver } from '../../src/virtqueue/factory.js';
import type { DeviceQueue, DriverQueue } from '../../src/virtqueue/queue-side.js';
import { publishControlBlock } from '../../src/viz/directory.js';
import type { Engine } from '../../src/engine.js';
import type { Arena, QueueRef } from './config.js';

export const arenaPlan = (engine: Engine, a: Arena): MemoryPlan => new MemoryPlan(engine.memory, { start: a.start, end: a.end });

/** The driver side, its control block published in the queue's directory entry (for the live visualizer). */
export function driverOf(engine: Engine, plan: MemoryPlan, q: QueueRef): DriverQueue {
  const d = createDriver(engine, plan, q.layout, q.areas, { features: BigInt(q.features), indirectMax: q.indirectMax });
  publishControlBlock(engine.u32, q.directory, 'driver', d.cb);
  return d;
}

export function deviceOf(engine: Engine, plan: MemoryPlan, q: QueueRef): DeviceQueue {
  const d = createDevice(engine, plan, q.layout, q.areas, { features: BigInt(q.features) });
  publishControlBlock(engine.u32, q.directory, 'device', d.cb);
  return d;
}
