// Device side of the two-thread test in engine-module.test.ts. It runs the built package
// (dist/, from `npm run build`) on its own engine instance over the shared memory it is given:
// pops chains, copies each chain's readable bytes, XORed with 0xa5, into its writable segments,
// and pushes it back with the number of bytes written. Exits when the main thread sets the done
// flag; reports what it did, or the error that stopped it (also flagged in shared memory, so a
// busy main thread sees it).
import { parentPort, workerData } from 'node:worker_threads';
import { Engine, MemoryPlan, SplitDevice, ChainBatch, UsedBatch } from '../../dist/src/index.js';

const { module, memory, ring, planStart, planEnd, ctlAt } = workerData;
// ctl[0]: done flag (main -> worker); ctl[1]: failed flag (worker -> main).
const ctl = new Int32Array(memory.buffer, ctlAt, 2);

try {
  const engine = Engine.instantiateSync(module, memory);
  const plan = new MemoryPlan(memory, { start: planStart, end: planEnd });
  const device = new SplitDevice(engine, plan, ring);
  const chains = new ChainBatch(engine, plan, 64, 256);
  const used = new UsedBatch(engine, plan, 64);
  const u8 = engine.u8;
  let popped = 0;
  let idle = 0;
  parentPort.postMessage({ type: 'ready' });
  while (Atomics.load(ctl, 0) === 0) {
    const n = device.pop(chains);
    if (n === 0) {
      idle++;
      Atomics.wait(ctl, 0, 0, 1); // back off until done or 1 ms
      continue;
    }
    used.clear();
    for (let i = 0; i < n; i++) {
      const first = chains.firstSeg(i);
      const nr = chains.nRead(i);
      const nw = chains.nWrite(i);
      let w = first + nr; // current writable segment
      let wOff = 0;
      let written = 0;
      for (let r = first; r < first + nr; r++) {
        const src = chains.segOffset(r);
        for (let k = 0; k < chains.segLen(r); k++) {
          while (w < first + nr + nw && wOff === chains.segLen(w)) { w++; wOff = 0; }
          if (w === first + nr + nw) break;
          u8[chains.segOffset(w) + wOff++] = u8[src + k] ^ 0xa5;
          written++;
        }
      }
      used.push(chains.id(i), written);
    }
    device.push(used);
    popped += n;
  }
  parentPort.postMessage({ type: 'done', popped, inFlight: device.inFlight, broken: device.broken, idle });
} catch (e) {
  Atomics.store(ctl, 1, 1);
  parentPort.postMessage({ type: 'error', message: String(e && e.stack ? e.stack : e) });
}
