// The compiled engine keeps no state of its own, so any number of instances (one per thread)
// can share one memory. First the binary is checked for anything that would be per-instance
// state; then two instances on two threads drive the two sides of one queue.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { sections, imports, globals, entryCount, type Section } from './helpers/wasm-sections.js';
import {
  createSharedMemory, MemoryPlan, Engine, SplitDriver, ChainBatch, UsedBatch, allocSplitRing,
} from '../src/index.js';
import { engineWasmPath } from '../src/node.js';
import { MAX_PAGES } from '../src/memory.js';

const SECTION = { custom: 0, import: 2, memory: 5, global: 6, start: 8, data: 11, dataCount: 12 } as const;

function inspect(bytes: Uint8Array) {
  const secs = sections(bytes);
  const find = (id: number): Section | undefined => secs.find((s) => s.id === id);
  const imp = find(SECTION.import);
  const glob = find(SECTION.global);
  const dc = find(SECTION.dataCount);
  return {
    ids: secs.map((s) => s.id).filter((id) => id !== SECTION.custom),
    imports: imp ? imports(bytes, imp) : [],
    globals: glob ? globals(bytes, glob) : [],
    dataSegments: (find(SECTION.data) ? entryCount(bytes, find(SECTION.data) as Section) : 0),
    dataCount: dc ? entryCount(bytes, dc) : 0,
  };
}

describe('the engine binary', () => {
  it('the section reader sees what a module with state has (checked on a hand-made module)', () => {
    const str = (s: string): number[] => [s.length, ...Buffer.from(s)];
    const imp = [1, ...str('env'), ...str('memory'), 2, 0x03, 1, 2]; // shared memory 1..2 pages
    const mod = new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
      1, 4, 1, 0x60, 0, 0, // type: () -> ()
      2, imp.length, ...imp,
      3, 2, 1, 0, // one function
      6, 6, 1, 0x7f, 1, 0x41, 7, 0x0b, // global (mut i32) = 7
      8, 1, 0, // start: function 0
      12, 1, 1, // data count: 1
      10, 4, 1, 2, 0, 0x0b, // code: empty body
      11, 7, 1, 0, 0x41, 0, 0x0b, 1, 0x2a, // data: one byte at 0
    ]);
    expect(WebAssembly.validate(mod)).toBe(true);
    expect(inspect(mod)).toEqual({
      ids: [1, 2, 3, 6, 8, 12, 10, 11],
      imports: [{ module: 'env', name: 'memory', kind: 2, memory: { min: 1, max: 2, shared: true, memory64: false } }],
      globals: [{ type: 0x7f, mutable: true }],
      dataSegments: 1,
      dataCount: 1,
    });
  });

  it('has no data, no mutable globals, no start function and imports only a shared env.memory', () => {
    const bytes = new Uint8Array(readFileSync(engineWasmPath()));
    const m = inspect(bytes);
    // Data segments would be copied into the shared memory by every instantiation (at an
    // address the host may be using), and a start function would run on every thread.
    expect(m.ids).not.toContain(SECTION.data);
    expect(m.ids).not.toContain(SECTION.dataCount);
    expect(m.dataSegments + m.dataCount).toBe(0);
    expect(m.ids).not.toContain(SECTION.start);
    // Globals live in the instance, not in the memory: a mutable one would be state each thread
    // has its own copy of. An immutable global is only a constant and would be harmless, so the
    // rule is "none mutable" (today the section is absent altogether).
    expect(m.globals.filter((g) => g.mutable)).toEqual([]);
    // The one memory is the host's shared one; the module defines none of its own.
    expect(m.ids).not.toContain(SECTION.memory);
    expect(m.imports).toHaveLength(1);
    const [mem] = m.imports;
    expect([mem.module, mem.name, mem.kind]).toEqual(['env', 'memory', 2]);
    expect(mem.memory?.shared).toBe(true);
    expect(mem.memory?.memory64).toBe(false);
    expect(mem.memory?.max).toBeDefined();
    expect(mem.memory?.max).toBeLessThanOrEqual(MAX_PAGES);
    expect(mem.memory?.min).toBeLessThanOrEqual(1);
  });
});

describe('two engine instances on two threads over one memory', () => {
  const TOTAL = 200_000;
  const QUEUE = 256;
  const SLOT = 256; // per chain in flight: readable bytes at +0, writable at +128 (64 bytes each)

  it(`moves ${TOTAL} chains through a queue of ${QUEUE}: each token back once, with its payload echoed`, async () => {
    const dist = new URL('../dist/src/index.js', import.meta.url);
    if (!existsSync(dist)) {
      throw new Error(`${fileURLToPath(dist)} is missing: the worker runs the built package; run \`npm run build\` (\`npm test\` does it first)`);
    }
    const module = await WebAssembly.compile(new Uint8Array(readFileSync(engineWasmPath())));
    const memory = createSharedMemory(16 << 20);
    const engine = Engine.instantiateSync(module, memory);
    const plan = new MemoryPlan(memory);
    const ring = allocSplitRing(plan, QUEUE);
    const driver = new SplitDriver(engine, plan, ring);
    const add = new ChainBatch(engine, plan, 64, 256);
    const out = new UsedBatch(engine, plan, 64);
    const ctlAt = plan.alloc(8, 8, 'worker control');
    const ctl = new Int32Array(memory.buffer, ctlAt, 2);
    const slots = plan.alloc(QUEUE * SLOT, 64, 'buffers');
    const planStart = plan.alloc(1 << 20, 64, 'worker plan');

    let failure: Error | null = null;
    const worker = new Worker(new URL('./helpers/echo-device-worker.mjs', import.meta.url), {
      workerData: { module, memory, ring, planStart, planEnd: planStart + (1 << 20), ctlAt },
    });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    let report: { popped: number; inFlight: number; broken: boolean } | null = null;
    const ready = new Promise<void>((resolve) => {
      worker.on('message', (m: { type: string; message?: string; popped: number; inFlight: number; broken: boolean }) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'error') failure = new Error(`device worker failed: ${m.message}`);
        else if (m.type === 'done') report = m;
      });
    });
    worker.on('error', (e) => { failure = e; });
    void exited.then((code) => { if (code !== 0 && !failure) failure = new Error(`device worker exited with ${code}`); });

    const u8 = engine.u8;
    const pattern = (seq: number, j: number): number => (seq * 7 + j * 13 + 1) & 0xff;
    const seen = new Uint8Array(TOTAL);
    const problems: string[] = [];
    const note = (s: string): void => { if (problems.length < 10) problems.push(s); };
    const free = Array.from({ length: QUEUE }, (_, i) => i);
    let next = 0;
    let done = 0;

    try {
      await Promise.race([ready, exited.then(() => { throw failure ?? new Error('device worker exited before it was ready'); })]);
      const deadline = Date.now() + 100_000; // liveness bound only; the test asserts no timing
      while (done < TOTAL) {
        if (failure) throw failure;
        if (Atomics.load(ctl, 1) !== 0) {
          await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]); // let its message arrive
          throw failure ?? new Error('device worker flagged a failure');
        }
        if (Date.now() > deadline) throw new Error(`stalled: ${done} of ${TOTAL} chains back, ${next} added`);

        // Add as many chains as free slots and descriptors allow (at most 4 descriptors each).
        add.clear();
        let budget = driver.numFree;
        while (next < TOTAL && free.length > 0 && add.count < add.maxChains && budget >= 4) {
          const seq = next++;
          const slot = free.pop() as number;
          const base = slots + slot * SLOT;
          const len = 1 + (seq % 64);
          for (let j = 0; j < len; j++) u8[base + j] = pattern(seq, j);
          u8.fill(0, base + 128, base + 192);
          add.begin(seq * 256 + slot);
          const cut = seq % 3 === 0 && len > 1 ? len >> 1 : len; // some readable parts in two segments
          add.read(base, cut);
          if (cut < len) add.read(base + cut, len - cut);
          if (seq % 5 === 0) { add.write(base + 128, 32); add.write(base + 160, 32); } else add.write(base + 128, 64);
          add.end();
          budget -= add.nRead(add.count - 1) + add.nWrite(add.count - 1);
        }
        const added = add.count > 0 ? driver.add(add) : 0;
        if (added !== add.count) throw new Error(`driver added ${added} of ${add.count}`);

        const n = driver.collect(out);
        for (let i = 0; i < n; i++) {
          const token = out.id(i);
          const seq = Math.floor(token / 256);
          const slot = token % 256;
          const base = slots + slot * SLOT;
          const len = 1 + (seq % 64);
          if (seq >= next || seen[seq]) note(`token ${token} came back twice or was never added`);
          seen[seq] = 1;
          if (out.len(i) !== len) note(`chain ${seq}: used len ${out.len(i)}, expected ${len}`);
          for (let j = 0; j < 64; j++) {
            const want = j < len ? pattern(seq, j) ^ 0xa5 : 0;
            if (u8[base + 128 + j] !== want) { note(`chain ${seq}: byte ${j} is ${u8[base + 128 + j]}, expected ${want}`); break; }
          }
          free.push(slot);
          done++;
        }
        if (added === 0 && n === 0) await new Promise((r) => setImmediate(r));
      }
    } finally {
      Atomics.store(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
      if (code === null) await worker.terminate();
    }

    expect(failure).toBeNull();
    expect(problems).toEqual([]);
    expect(seen.every((s) => s === 1)).toBe(true);
    expect(await exited).toBe(0);
    expect(report).toEqual({ type: 'done', popped: TOTAL, inFlight: 0, broken: false, idle: expect.any(Number) });
    expect([driver.inFlight, driver.numFree, driver.broken]).toEqual([0, QUEUE, false]);
    expect(ring.queueSize).toBe(QUEUE);
  }, 150_000);
});
