// One worker of the mempool stress test (test/dataplane-stress.test.ts), on its own engine
// instance over the shared memory, using its own cache slot. Gets and puts bursts of buffers for
// `iterations` rounds, and every so often takes buffers one at a time until the pool is exhausted.
// Ownership is checked twice: a shared holder word per buffer (compare-and-swap from 0 to the
// worker's id on get, back on put: fails if anyone else holds it), and the data area, which a
// free buffer has all zero and a held one filled with the holder's stamp (checked before the
// put, so a write by anyone else shows). Stops holding some buffers and reports them.
import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../../dist/src/engine.js';
import { HandleBurst } from '../../dist/src/dataplane/handle-ring.js';
import { Mempool } from '../../dist/src/dataplane/mempool.js';

const { workers, module, memory, poolAddr, burstAt, burstCap, ctlAt, holdersAt, id, iterations, dataBytes, flushAtEnd } = workerData;
// ctl[0] done (main -> workers), ctl[1] failed, ctl[3] ready.
const ctl = new Int32Array(memory.buffer, ctlAt, 4);
const me = id + 1; // 0 in a holder word means free

function fail(message) {
  Atomics.store(ctl, 1, 1);
  throw new Error(`worker ${id}: ${message}`);
}

try {
  const engine = Engine.instantiateSync(module, memory);
  const pool = Mempool.attach(engine, poolAddr);
  const cache = pool.cache(id);
  const burst = new HandleBurst(engine, burstAt, burstCap);
  const holders = new Int32Array(memory.buffer, holdersAt, pool.size);
  const u32 = engine.u32;
  const words = dataBytes >>> 2;
  const held = [];
  const stampOf = (iter) => ((me << 24) | (iter & 0xffffff)) >>> 0;
  const stampAt = new Map(); // handle -> stamp written at get
  let gets = 0;
  let puts = 0;
  let failed = 0;

  const take = (k, iter) => {
    const n = cache.get(burst, k);
    if (n === 0) { failed += k; return 0; }
    if (n !== k) fail(`get of ${k} returned ${n}`);
    for (let i = 0; i < n; i++) {
      const h = burst.handles[i];
      const idx = pool.indexOf(h);
      if (idx < 0) fail(`get returned 0x${h.toString(16)}, not a buffer`);
      const other = Atomics.compareExchange(holders, idx, 0, me);
      if (other !== 0) fail(`got buffer ${idx}, held by worker ${other - 1}`);
      const d = pool.dataOf(h) >>> 2;
      for (let w = 0; w < words; w++) if (u32[d + w] !== 0) fail(`free buffer ${idx} has data word ${w} = 0x${u32[d + w].toString(16)}`);
      const s = stampOf(iter);
      u32.fill(s, d, d + words);
      stampAt.set(h, s);
      held.push(h);
    }
    gets += n;
    return n;
  };

  const giveBack = (k) => {
    const out = held.splice(0, k);
    for (let i = 0; i < out.length; i++) {
      const h = out[i];
      const idx = pool.indexOf(h);
      const d = pool.dataOf(h) >>> 2;
      const s = stampAt.get(h);
      for (let w = 0; w < words; w++) if (u32[d + w] !== s) fail(`held buffer ${idx} word ${w} is 0x${u32[d + w].toString(16)}, stamped 0x${s.toString(16)}`);
      u32.fill(0, d, d + words);
      stampAt.delete(h);
      if (Atomics.compareExchange(holders, idx, me, 0) !== me) fail(`putting buffer ${idx}, but its holder word is ${holders[idx]}`);
      burst.handles[i] = h;
    }
    burst.count = out.length;
    if (out.length > 0 && cache.put(burst) !== out.length) fail('short put');
    puts += out.length;
  };

  let drains = 0;
  // Start together (threads start one by one): ctl[3] counts the workers ready.
  Atomics.add(ctl, 3, 1);
  for (let n; (n = Atomics.load(ctl, 3)) < workers && Atomics.load(ctl, 0) === 0;) Atomics.wait(ctl, 3, n, 10);
  for (let iter = 0; iter < iterations && Atomics.load(ctl, 0) === 0; iter++) {
    if (iter % 500 === 250) {
      // Exhaust the pool, one buffer at a time (what is left in other caches stays there).
      drains++;
      while (held.length < burstCap && take(1, iter) === 1);
      giveBack(held.length);
      continue;
    }
    const k = 1 + ((iter * 7 + id) % 12);
    if (held.length + k > burstCap || take(k, iter) === 0 || held.length > 24) {
      giveBack(Math.min(held.length, 1 + ((iter * 5) % 16)));
    }
  }
  // Keep some buffers: they are "in flight" when the test checks conservation.
  giveBack(Math.max(0, held.length - (id + 1) * 2));
  if (flushAtEnd) cache.flush();
  parentPort.postMessage({ type: 'done', id, held, gets, puts, failed, drains });
} catch (e) {
  Atomics.store(ctl, 1, 1);
  parentPort.postMessage({ type: 'error', id, message: String(e && e.stack ? e.stack : e) });
}
