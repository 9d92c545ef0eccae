// A small Dataplane world for tests: a shared memory with a control area, a handle ring with a
// wake word, and a mempool whose buffers travel from the main thread (cache 0) to a consumer
// task (cache 1) and back to the pool.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createSharedMemory, MemoryPlan } from '../../src/index.js';
import { loadEngine } from '../../src/node.js';
import { HandleBurst, HandleRing } from '../../src/dataplane/handle-ring.js';
import { Mempool } from '../../src/dataplane/mempool.js';
import { DataplaneControl } from '../../src/dataplane/control.js';
import type { TaskSpec } from '../../src/dataplane/task.js';
import type { Engine } from '../../src/engine.js';

export const helper = (name: string): string => new URL(`./${name}`, import.meta.url).href;

/** The workers load dist/: fail with a clear message when it was not built. */
export function requireDist(): void {
  const url = new URL('../../dist/src/dataplane/worker-entry.js', import.meta.url);
  if (!existsSync(url)) throw new Error(`${fileURLToPath(url)} is missing: run \`npm run build\` (\`npm test\` does it first)`);
}

export interface World {
  memory: WebAssembly.Memory;
  engine: Engine;
  plan: MemoryPlan;
  control: DataplaneControl;
  ring: HandleRing;
  pool: Mempool;
  wake: number;
  consumer(worker: number, expected: number): TaskSpec;
}

export function dataplaneWorld(workers: number, poolSize = 64): World {
  const memory = createSharedMemory(4 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const control = DataplaneControl.create(plan, workers);
  const ring = HandleRing.create(engine, plan, { capacity: 128, producer: 'sp', consumer: 'sc' });
  const pool = Mempool.create(engine, plan, { size: poolSize, dataRoom: 64, caches: 2 });
  const wake = plan.alloc(64, 64, 'wake');
  const burst = HandleBurst.alloc(engine, plan, 16);
  return {
    memory, engine, plan, control, ring, pool, wake,
    consumer: (worker, expected) => ({
      name: 'consumer', worker, module: helper('dataplane-consumer-task.mjs'),
      config: { ring: ring.addr, pool: pool.addr, cache: 1, burstAt: burst.ptr, burstCap: burst.capacity, wake, expected },
    }),
  };
}
