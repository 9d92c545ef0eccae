// One side of the cross-thread ring benchmark (dataplane.bench.ts): a single producer or a single
// consumer on its own engine instance over the shared memory. The producer enqueues the numbers
// 0 .. total-1 in bursts; the consumer dequeues them, checks they arrive in order, and reports
// the time from the start signal to the last one.
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Engine } from '../src/engine.js';
import { HandleRing, HandleBurst } from '../src/dataplane/handle-ring.js';

interface Job {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ringAddr: number;
  burstAt: number;
  burst: number;
  total: number;
  role: 'producer' | 'consumer';
  /** Int32 words: [0] go flag, [1] workers ready. */
  ctlAt: number;
}

const job = workerData as Job;
const ctl = new Int32Array(job.memory.buffer, job.ctlAt, 2);
const engine = Engine.instantiateSync(job.module, job.memory);
const ring = HandleRing.attach(engine, job.ringAddr);
const burst = new HandleBurst(engine, job.burstAt, job.burst);
const h = burst.handles;

Atomics.add(ctl, 1, 1);
Atomics.notify(ctl, 1);
Atomics.wait(ctl, 0, 0);
const t0 = performance.now();
let done = 0;
let bad = 0;
if (job.role === 'producer') {
  let filled = 0; // handles [done, filled) are in the burst, from index 0
  while (done < job.total) {
    if (filled === done) {
      const n = Math.min(job.burst, job.total - done);
      for (let i = 0; i < n; i++) h[i] = done + i;
      filled = done + n;
    }
    const n = filled - done;
    const k = ring.enqueueBurst(burst, n);
    if (k > 0 && k < n) h.copyWithin(0, k, n); // keep the rest at the front
    done += k;
  }
} else {
  while (done < job.total) {
    const k = ring.dequeueBurst(burst);
    for (let i = 0; i < k; i++) if (h[i] !== done + i) bad++;
    done += k;
  }
}
parentPort?.postMessage({ role: job.role, done, bad, ms: performance.now() - t0 });
