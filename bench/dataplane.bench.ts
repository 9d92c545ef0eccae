// npm run bench:dataplane: the DPDK-style dataplane pieces on their own.
//   1. mempool bulk get + put of the same burst, one thread, with a per-worker cache and without
//      (cache size 0: every get and put goes through the multi-producer/multi-consumer ring);
//   2. ring enqueue + dequeue of a burst, one thread, in each producer/consumer mode;
//   3. handles per second through an Sp/Sc ring from a producer worker to a consumer worker.
// Prints a table, then one JSON line. VIRTQUEUE_BENCH_MS sets the time per single-thread task.
import { Bench } from 'tinybench';
import { Worker } from 'node:worker_threads';
import { createSharedMemory, MemoryPlan } from '../src/index.js';
import { engineModule, loadEngine } from '../src/node.js';
import { HandleBurst, HandleRing, type ConsumerMode, type ProducerMode } from '../src/dataplane/handle-ring.js';
import { Mempool } from '../src/dataplane/mempool.js';
import { Engine } from '../src/engine.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';

const time = Number(process.env.VIRTQUEUE_BENCH_MS ?? 500);
/** Handles per timed call: enough that timer overhead does not matter. */
const PER_CALL = 4096;
const BURSTS = [1, 32];
const CROSS_TOTAL = Number(process.env.VIRTQUEUE_BENCH_HANDLES ?? 20_000_000);
const CROSS_BURST = 32;
const CROSS_RUNS = 3;

interface Task { group: 'mempool' | 'ring'; name: string; burst: number; handles: number; run: () => number }

function mempoolTask(cacheSize: number, burst: number): Task {
  const memory = createSharedMemory(24 << 20); // 8192 buffers of 2 KiB
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const pool = Mempool.create(engine, plan, { size: 8192, dataRoom: 2048, cacheSize });
  const cache = pool.cache(0);
  const b = HandleBurst.alloc(engine, plan, burst);
  const rounds = Math.ceil(PER_CALL / burst);
  return {
    group: 'mempool', name: cacheSize > 0 ? `get+put, cache ${cacheSize}` : 'get+put, no cache', burst, handles: rounds * burst,
    run() {
      let moved = 0;
      for (let r = 0; r < rounds; r++) {
        moved += cache.get(b, burst);
        cache.put(b, burst);
      }
      return moved;
    },
  };
}

function ringTask(producer: ProducerMode, consumer: ConsumerMode, burst: number): Task {
  const memory = createSharedMemory(4 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const ring = HandleRing.create(engine, plan, { capacity: 1024, producer, consumer });
  const b = HandleBurst.alloc(engine, plan, burst);
  for (let i = 0; i < burst; i++) b.handles[i] = i + 1;
  const rounds = Math.ceil(PER_CALL / burst);
  return {
    group: 'ring', name: `enqueue+dequeue ${producer}/${consumer}`, burst, handles: rounds * burst,
    run() {
      let moved = 0;
      for (let r = 0; r < rounds; r++) {
        ring.enqueueBulk(b, burst);
        moved += ring.dequeueBulk(b, burst);
      }
      return moved;
    },
  };
}

interface CrossResult { handlesPerSec: number; ms: number }

/** One run of the producer worker -> Sp/Sc ring -> consumer worker benchmark. */
async function crossThread(module: WebAssembly.Module): Promise<CrossResult> {
  const memory = createSharedMemory(4 << 20);
  const engine = Engine.instantiateSync(module, memory);
  const plan = new MemoryPlan(memory);
  const ring = HandleRing.create(engine, plan, { capacity: 1024, producer: 'sp', consumer: 'sc' });
  const ctlAt = plan.alloc(8, 8, 'control');
  const ctl = new Int32Array(memory.buffer, ctlAt, 2);
  const url = new URL('./dataplane-worker.js', import.meta.url);
  const results: { role: string; done: number; bad: number; ms: number }[] = [];
  const workers = (['producer', 'consumer'] as const).map((role) => new Worker(url, {
    workerData: { module, memory, ringAddr: ring.addr, burstAt: plan.alloc(CROSS_BURST * 4, 64), burst: CROSS_BURST, total: CROSS_TOTAL, role, ctlAt },
  }));
  const finished = Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
    w.on('message', (m) => results.push(m));
    w.on('error', reject);
    w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
  })));
  while (Atomics.load(ctl, 1) < 2) await new Promise((r) => setTimeout(r, 1));
  Atomics.store(ctl, 0, 1);
  Atomics.notify(ctl, 0);
  await finished;
  const consumer = results.find((r) => r.role === 'consumer');
  if (!consumer || consumer.done !== CROSS_TOTAL || consumer.bad !== 0) throw new Error(`cross-thread run went wrong: ${JSON.stringify(results)}`);
  return { handlesPerSec: CROSS_TOTAL / (consumer.ms / 1000), ms: consumer.ms };
}

async function main(): Promise<void> {
  const tasks: Task[] = [];
  for (const burst of BURSTS) {
    tasks.push(mempoolTask(256, burst), mempoolTask(0, burst));
    for (const [p, c] of [['sp', 'sc'], ['mp', 'mc'], ['sp', 'mc'], ['mp', 'sc']] as const) tasks.push(ringTask(p, c, burst));
  }
  const bench = new Bench({ time, warmupTime: Math.min(200, time / 2) });
  for (const t of tasks) {
    const moved = t.run(); // warm, and check it moves what it should
    if (moved !== t.handles) throw new Error(`${t.name} burst ${t.burst}: moved ${moved}, expected ${t.handles}`);
    bench.add(`${t.name} burst ${t.burst}`, () => { t.run(); });
  }
  process.stderr.write(`running ${bench.tasks.length} single-thread tasks, ${time} ms each, then ${CROSS_RUNS} cross-thread runs of ${CROSS_TOTAL} handles...\n`);
  await bench.run();

  const rows: (string | number)[][] = [];
  const results = [];
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i];
    const r = bench.tasks[i].result;
    if (r.state !== 'completed') throw new Error(`${bench.tasks[i].name}: ${r.state}${'error' in r ? `: ${String(r.error)}` : ''}`);
    const mops = t.handles / (r.period / 1000) / 1e6;
    rows.push([t.group, t.name, t.burst, mops.toFixed(1), (1000 / mops).toFixed(1), `±${r.latency.rme.toFixed(1)}%`]);
    results.push({ group: t.group, name: t.name, burst: t.burst, mHandlesPerSec: mops, nsPerHandle: 1000 / mops, rme: r.latency.rme });
  }

  const module = engineModule();
  const runs: CrossResult[] = [];
  for (let i = 0; i < CROSS_RUNS; i++) runs.push(await crossThread(module));
  const best = runs.reduce((a, b) => (b.handlesPerSec > a.handlesPerSec ? b : a));
  const median = [...runs].sort((a, b) => a.handlesPerSec - b.handlesPerSec)[Math.floor(runs.length / 2)];

  const machine = machineInfo();
  console.log('\nDataplane, one thread: handles moved per second (a get+put or enqueue+dequeue pair counts once per handle)');
  console.log(`Machine: ${describeMachine(machine)}\n`);
  console.log(table(['part', 'operation', 'burst', 'M handles/s', 'ns/handle', 'rme'], rows));
  console.log(`\nCross-thread Sp/Sc ring (capacity 1024, bursts of ${CROSS_BURST}), producer worker -> consumer worker, ${CROSS_TOTAL} handles:`);
  console.log(table(['run', 'ms', 'M handles/s'], runs.map((r, i) => [i + 1, r.ms.toFixed(0), (r.handlesPerSec / 1e6).toFixed(1)])));
  console.log(JSON.stringify({
    bench: 'dataplane', machine, results,
    crossThread: { mode: 'sp/sc', capacity: 1024, burst: CROSS_BURST, handles: CROSS_TOTAL, runs, bestHandlesPerSec: best.handlesPerSec, medianHandlesPerSec: median.handlesPerSec },
  }));
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
