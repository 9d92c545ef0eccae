// One side of the cross-worker benchmark, run in a worker thread: the engine instantiated over
// the shared memory, driving a control block the main thread set up, with raw engine calls (no
// per-packet call into Wasm; the only per-packet JavaScript is the device's used records).
import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../src/engine.js';
import * as B from '../assembly/layout/batch.js';

export interface SideConfig {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  role: 'driver' | 'device';
  layout: 'split' | 'packed';
  cb: number;
  chains: number;
  segs: number;
  maxSegs: number;
  used: number;
  usedCapacity: number;
  batch: number;
  packets: number;
  /** Int32 index of the shared control word: 0 = wait, 1 = go, 2 = stop. */
  control: number;
}

const c = workerData as SideConfig;
const engine = Engine.instantiateSync(c.module, c.memory);
const x = engine.exports;
const ctl = engine.i32;
const u32 = engine.u32;

// Wait for the start signal, so both sides begin together.
while (Atomics.load(ctl, c.control) === 0) Atomics.wait(ctl, c.control, 0, 50);

const t0 = performance.now();
let moved = 0;
if (c.role === 'driver') {
  const add = c.layout === 'split' ? x.splitDriverAdd : x.packedDriverAdd;
  const collect = c.layout === 'split' ? x.splitDriverCollect : x.packedDriverCollect;
  let sent = 0;
  while (moved < c.packets) {
    if (sent < c.packets) {
      const r = add(c.cb, c.chains, c.segs, Math.min(c.batch, c.packets - sent));
      if (r < 0) throw new Error(`add failed: ${r}`);
      sent += r;
    }
    const got = collect(c.cb, c.used, c.usedCapacity);
    if (got < 0) throw new Error(`collect failed: ${got}`);
    moved += got;
  }
  // Tell the device to stop (release: it reads the flag with an acquire load).
  Atomics.store(ctl, c.control, 2);
} else {
  const pop = c.layout === 'split' ? x.splitDevicePop : x.packedDevicePop;
  const push = c.layout === 'split' ? x.splitDevicePush : x.packedDevicePush;
  const rec = c.used >>> 2;
  while (Atomics.load(ctl, c.control) !== 2) {
    const n = pop(c.cb, c.chains, c.segs, c.batch, c.maxSegs);
    if (n < 0) throw new Error(`pop failed: ${n}`);
    if (n === 0) continue;
    for (let i = 0; i < n; i++) {
      u32[rec + 2 * i] = u32[(c.chains + i * B.CHAIN_SIZE + B.CHAIN_ID) >>> 2];
      u32[rec + 2 * i + 1] = 0;
    }
    const p = push(c.cb, c.used, n);
    if (p < 0) throw new Error(`push failed: ${p}`);
    moved += n;
  }
}
parentPort!.postMessage({ role: c.role, moved, ms: performance.now() - t0 });
