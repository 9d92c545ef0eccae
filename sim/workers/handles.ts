// Building a task's queue handles inside its worker, in the task's own arena of the shared
// memory, over ring areas the main thread planned.
import { MemoryPlan } from '../../src/memory.js';
import { createDevice, createDriver } from '../../src/virtqueue/factory.js';
import type { DeviceQueue, DriverQueue } from '../../src/virtqueue/queue-side.js';
import type { Engine } from '../../src/engine.js';
import type { Arena, QueueRef } from './config.js';

export const arenaPlan = (engine: Engine, a: Arena): MemoryPlan => new MemoryPlan(engine.memory, { start: a.start, end: a.end });

export function driverOf(engine: Engine, plan: MemoryPlan, q: QueueRef): DriverQueue {
  return createDriver(engine, plan, q.layout, q.areas, { features: BigInt(q.features), indirectMax: q.indirectMax });
}

export function deviceOf(engine: Engine, plan: MemoryPlan, q: QueueRef): DeviceQueue {
  return createDevice(engine, plan, q.layout, q.areas, { features: BigInt(q.features) });
}
