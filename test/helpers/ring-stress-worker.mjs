// One worker of the ring stress test (test/dataplane-stress.test.ts), on its own engine instance
// over the shared memory. Produces `count` handles stamped with its id (owner, sequence number
// and a check byte), and/or consumes: every handle is checked on the way out (valid stamp, seen
// for the first time across all consumers, and - per producer - later than the last one this
// consumer saw from it, which is what FIFO order means with several consumers). Runs the built
// package (dist/). Exits when everything was consumed or the done flag is set.
import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../../dist/src/engine.js';
import { HandleRing, HandleBurst } from '../../dist/src/dataplane/handle-ring.js';

const { workers, module, memory, ringAddr, burstAt, burstCap, ctlAt, seenAt, id, produce, consume, count, producers, total } = workerData;
// ctl[0] done (main -> workers), ctl[1] failed, ctl[2] handles consumed (all consumers), ctl[3] ready.
const ctl = new Int32Array(memory.buffer, ctlAt, 4);
const seen = new Uint8Array(memory.buffer, seenAt, producers * count);

const stamp = (owner, seq) => ((owner << 28) | (seq << 8) | ((seq * 31 + owner * 17) ^ (seq >>> 5)) & 0xff) >>> 0;

function fail(message) {
  Atomics.store(ctl, 1, 1);
  throw new Error(`worker ${id}: ${message}`);
}

try {
  const engine = Engine.instantiateSync(module, memory);
  const ring = HandleRing.attach(engine, ringAddr);
  const burst = new HandleBurst(engine, burstAt, burstCap);
  const last = new Int32Array(producers).fill(-1);
  // Start together (threads start one by one): ctl[3] counts the workers ready.
  Atomics.add(ctl, 3, 1);
  for (let n; (n = Atomics.load(ctl, 3)) < workers && Atomics.load(ctl, 0) === 0;) Atomics.wait(ctl, 3, n, 10);
  let sent = 0;
  let got = 0;
  let idle = 0;
  let round = 0;
  const stats = { enqueueCalls: 0, dequeueCalls: 0, partial: 0 };
  while (Atomics.load(ctl, 0) === 0) {
    round++;
    let moved = 0;
    if (produce && sent < count) {
      const n = Math.min(1 + (round % burstCap), count - sent);
      for (let i = 0; i < n; i++) burst.handles[i] = stamp(id, sent + i);
      burst.count = n;
      const k = round % 2 === 0 ? ring.enqueueBulk(burst) : ring.enqueueBurst(burst);
      if (k !== 0 && k !== n && round % 2 === 0) fail(`bulk enqueue of ${n} moved ${k}`);
      if (k > 0 && k < n) stats.partial++;
      sent += k;
      moved += k;
      stats.enqueueCalls++;
    }
    if (consume) {
      if (Atomics.load(ctl, 2) >= total) break;
      const want = 1 + ((round * 7) % burstCap);
      const k = round % 3 === 0 ? ring.dequeueBulk(burst, want) : ring.dequeueBurst(burst, want);
      if (k !== 0 && k !== want && round % 3 === 0) fail(`bulk dequeue of ${want} moved ${k}`);
      stats.dequeueCalls++;
      for (let i = 0; i < k; i++) {
        const h = burst.handles[i];
        const owner = h >>> 28;
        const seq = (h >>> 8) & 0xfffff;
        if (owner >= producers || seq >= count || h !== stamp(owner, seq)) fail(`bad handle 0x${h.toString(16)}`);
        if (seq <= last[owner]) fail(`handle ${owner}:${seq} after ${owner}:${last[owner]} (out of order)`);
        last[owner] = seq;
        if (Atomics.add(seen, owner * count + seq, 1) !== 0) fail(`handle ${owner}:${seq} dequeued twice`);
      }
      if (k > 0) Atomics.add(ctl, 2, k);
      got += k;
      moved += k;
    } else if (sent === count) {
      break;
    }
    // Spin while the peers are running; after a long idle streak (a peer was descheduled: this
    // machine may have fewer cores than workers) sleep a moment so it gets the core back.
    if (moved > 0) idle = 0;
    else if (++idle % 20_000 === 0) Atomics.wait(ctl, 0, 0, 1);
  }
  parentPort.postMessage({ type: 'done', id, sent, got, stats, broken: ring.broken });
} catch (e) {
  Atomics.store(ctl, 1, 1);
  parentPort.postMessage({ type: 'error', id, message: String(e && e.stack ? e.stack : e) });
}
