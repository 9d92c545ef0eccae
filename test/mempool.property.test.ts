// Model-based tests of the mempool (assembly/dataplane/mempool): gets, puts and flushes through
// several caches against an exact model (test/helpers/mempool-world.ts), checking after every step
// the handles handed out, each cache's contents, every counter, the buffer states (debug pools) and
// conservation (free in ring + caches + held == size). Sequential; test/dataplane-stress.test.ts
// runs several workers at once.
// Runs per property: VIRTQUEUE_PROPERTY_RUNS (default 200).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as M from '../assembly/layout/mempool.js';
import * as R from '../assembly/layout/handle-ring.js';
import * as E from '../assembly/layout/errors.js';
import { createSharedMemory, MemoryPlan, VirtqueueError } from '../src/index.js';
import { loadEngine } from '../src/node.js';
import { HandleBurst } from '../src/dataplane/handle-ring.js';
import { Mempool, cacheStride, eltSize } from '../src/dataplane/mempool.js';
import { PoolWorld, type PoolParams } from './helpers/mempool-world.js';

const RUNS = Number(process.env.VIRTQUEUE_PROPERTY_RUNS ?? 200);
const ENOUGH = RUNS >= 100;
const memory = createSharedMemory(4 << 20);
const engine = loadEngine(memory);

class Step implements fc.Command<PoolWorld, object> {
  constructor(readonly label: string, readonly act: (w: PoolWorld) => unknown) {}
  check(): boolean { return true; }
  run(w: PoolWorld): void {
    this.act(w);
    w.checkAll();
  }
  toString(): string { return this.label; }
}

// Commands carry raw numbers; the world reads them against its state when they run.
const getArb = fc.record({ c: fc.nat(7), n: fc.nat(1 << 16), small: fc.boolean() }).map(({ c, n, small }) =>
  new Step(`get cache ${c} n ${n}${small ? '' : ' (any)'}`, (w) => {
    const k = small ? n % (w.p.cacheSize + 3) : n % (w.p.size + 2);
    return w.get(c % w.p.caches, k);
  }));

const putArb = fc.record({ c: fc.nat(7), n: fc.nat(1 << 16), small: fc.boolean(), rot: fc.nat(1 << 16) }).map(({ c, n, small, rot }) =>
  new Step(`put cache ${c} n ${n} rot ${rot}`, (w) => {
    const held = w.heldList();
    const k = held.length === 0 ? 0 : small ? n % Math.min(held.length + 1, w.p.cacheSize + 2) : n % (held.length + 1);
    const r = rot % Math.max(1, held.length);
    return w.put(c % w.p.caches, [...held.slice(r), ...held.slice(0, r)].slice(0, k));
  }));

const flushArb = fc.nat(7).map((c) => new Step(`flush cache ${c}`, (w) => w.flush(c % w.p.caches)));

// Debug pools only (a plain pool trusts its caller, as DPDK's does): puts it must refuse.
const badPutArb = fc.record({ kind: fc.integer({ min: 0, max: 3 }), c: fc.nat(7), i: fc.nat(1 << 16) }).map(({ kind, c, i }) =>
  new Step(`bad put ${['twice in one burst', 'a free buffer', 'inside a buffer', 'not a buffer'][kind]} ${i}`, (w) => {
    if (!w.p.debug) return;
    const held = w.heldList();
    const cache = c % w.p.caches;
    if (kind === 0 && held.length > 0) {
      const h = held[i % held.length];
      w.badPut(cache, [...held.slice(0, i % held.length), h, h], E.ERR_MEMPOOL_NOT_HELD);
    } else if (kind === 1 && w.someFree() !== undefined) {
      w.badPut(cache, [...held.slice(0, 2), w.someFree() as number], E.ERR_MEMPOOL_NOT_HELD);
    } else if (kind === 2) {
      w.badPut(cache, [w.pool.handleOf(i % w.p.size) + 4 * (1 + (i % 8))], E.ERR_MEMPOOL_BAD_HANDLE);
    } else if (kind === 3) {
      w.badPut(cache, [...held.slice(0, 1), [0, w.pool.addr, w.pool.handleOf(w.p.size)][i % 3]], E.ERR_MEMPOOL_BAD_HANDLE);
    }
  }));

const paramsArb: fc.Arbitrary<PoolParams> = fc.record({
  size: fc.integer({ min: 1, max: 40 }),
  cacheSize: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 12 }), fc.constant(64)),
  caches: fc.integer({ min: 1, max: 3 }),
  headroom: fc.constantFrom(0, 16, 64),
  dataRoom: fc.integer({ min: 0, max: 200 }),
  debug: fc.boolean(),
  ringStart: fc.oneof(fc.constant(0), fc.integer({ min: -40, max: 15 }).map((d) => (0xfffffff0 + d) >>> 0)),
});

describe('mempool: engine and exact model agree', () => {
  it('on random gets, puts and flushes through several caches', () => {
    const totals = { got: 0, failed: 0, refills: 0, flushes: 0, direct: 0, refused: 0 };
    fc.assert(
      fc.property(paramsArb, fc.commands([getArb, getArb, putArb, putArb, flushArb, badPutArb], { maxCommands: 80, size: 'large' }), (params, cmds) => {
        const w = new PoolWorld(engine, params);
        fc.modelRun(() => ({ model: w, real: {} }), cmds);
        // Everything comes back: all held buffers put, all caches flushed, and the ring holds
        // every buffer exactly once.
        w.put(0, w.heldList().slice(0, params.cacheSize + 1));
        for (let c = 0; c < params.caches; c++) w.flush(c);
        w.put(0, w.heldList());
        w.flush(0);
        w.checkAll();
        expect(w.pool.freeCount).toBe(params.size);
        expect(w.get(0, params.size)).toBe(params.size);
        expect(new Set(w.burst.toArray()).size).toBe(params.size);
        expect(w.burst.toArray().every((h) => w.pool.indexOf(h) >= 0)).toBe(true);
        w.checkHeaders();
        for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += w.seen[k];
      }),
      { numRuns: RUNS },
    );
    if (ENOUGH) {
      expect(totals.got).toBeGreaterThan(0);
      expect(totals.failed).toBeGreaterThan(0); // exhaustion
      expect(totals.refills).toBeGreaterThan(0);
      expect(totals.flushes).toBeGreaterThan(0);
      expect(totals.direct).toBeGreaterThan(0); // bulks larger than the cache
      expect(totals.refused).toBeGreaterThan(0); // bad puts and impossible gets
    }
  });
});

describe('mempool: layout and caller errors', () => {
  // A memory of its own: the property above re-plans its memory from the start on every run.
  const memory = createSharedMemory(2 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);

  it('lays buffers out cache-line aligned, each with its header, headroom and data room', () => {
    const pool = Mempool.create(engine, plan, { size: 10, dataRoom: 100, headroom: 16, cacheSize: 4, caches: 2 });
    expect(pool.eltSize).toBe(eltSize(100, 16));
    expect(pool.eltSize % 64).toBe(0);
    expect(pool.dataRoom).toBe(pool.eltSize - M.BUF_HDR_SIZE - 16);
    expect(pool.dataRoom).toBeGreaterThanOrEqual(100);
    for (let i = 0; i < 10; i++) {
      const h = pool.handleOf(i);
      expect(h % 64).toBe(0);
      expect(pool.indexOf(h)).toBe(i);
      expect(pool.dataOf(h)).toBe(h + M.BUF_HDR_SIZE + 16);
      expect(engine.u32[(h + M.BUF_POOL) >>> 2]).toBe(pool.addr);
    }
    expect([pool.indexOf(pool.handleOf(10)), pool.indexOf(pool.handleOf(3) + 4), pool.indexOf(0)]).toEqual([-1, -1, -1]);
    expect([pool.ring.capacity, pool.ring.producer, pool.ring.consumer]).toEqual([16, 'mp', 'mc']);
    expect(pool.stats()).toMatchObject({ size: 10, free: 10, inUse: 0, ring: 10 });
  });

  it('refuses bad configurations', () => {
    const x = engine.exports;
    const base = () => {
      const pool = Mempool.create(engine, plan, { size: 8, dataRoom: 32, cacheSize: 4 });
      return { addr: pool.addr, set: (f: number, v: number) => { engine.u32[(pool.addr + f) >>> 2] = v; } };
    };
    const bad: [number, number][] = [
      [M.POOL_SIZE, 0], [M.POOL_SIZE, 17], // ring capacity 8 < size
      [M.POOL_ELT_SIZE, 96], [M.POOL_ELT_SIZE, 0], [M.POOL_HEADROOM, 64], // elt below header + headroom
      [M.POOL_BUFFERS, 0], [M.POOL_BUFFERS, 32], [M.POOL_BUFFERS, memory.buffer.byteLength - 64],
      [M.POOL_CACHE_SIZE, M.CACHE_MAX_SIZE + 1], [M.POOL_CACHE_SIZE, 40], // stride too small for 40
      [M.POOL_CACHE_STRIDE, cacheStride(4) - 64], [M.POOL_NUM_CACHES, 0], [M.POOL_CACHES, 0],
      [M.POOL_RING, 0], [M.POOL_KIND, 0],
    ];
    for (const [field, value] of bad) {
      const { addr, set } = base();
      set(field, value);
      expect([field, x.mempoolInit(addr)]).toEqual([field, field === M.POOL_KIND ? E.ERR_BAD_CONTROL_BLOCK : E.ERR_BAD_CONFIG]);
    }
    const { addr } = base();
    expect(x.mempoolInit(addr)).toBe(0);
    expect(() => Mempool.create(engine, plan, { size: 4, dataRoom: 8, cacheSize: 513 })).toThrow(RangeError);
  });

  it('refuses a cache that is not one of the pool\'s, and impossible gets, changing nothing', () => {
    const a = Mempool.create(engine, plan, { size: 8, dataRoom: 32, cacheSize: 2, caches: 2 });
    const b = Mempool.create(engine, plan, { size: 8, dataRoom: 32, cacheSize: 2 });
    const burst = HandleBurst.alloc(engine, plan, 16);
    const x = engine.exports;
    for (const cache of [0, b.cache(0).addr, a.cache(1).addr + 64, a.cache(1).addr + cacheStride(2), a.addr]) {
      expect(x.mempoolGetBulk(a.addr, cache, burst.ptr, 1)).toBe(E.ERR_BAD_CONTROL_BLOCK);
      expect(x.mempoolPutBulk(a.addr, cache, burst.ptr, 0)).toBe(E.ERR_BAD_CONTROL_BLOCK);
    }
    expect(x.mempoolGetBulk(a.addr, a.cache(0).addr, burst.ptr, 9)).toBe(E.ERR_BAD_ARGUMENT);
    expect(x.mempoolGetBulk(a.addr, a.cache(0).addr, memory.buffer.byteLength - 4, 2)).toBe(E.ERR_OUT_OF_MEMORY_BOUNDS);
    expect(x.mempoolFreeCount(b.ring.addr)).toBe(E.ERR_BAD_CONTROL_BLOCK);
    expect(() => a.cache(2)).toThrow(RangeError);
    expect(a.freeCount).toBe(8);
    expect(a.stats().caches.map((c) => c.failedGets + c.gets)).toEqual([0, 0]);
  });

  it('a plain pool cannot tell a double put, but refuses one that overflows its ring', () => {
    const pool = Mempool.create(engine, plan, { size: 4, dataRoom: 16 }); // ring capacity 4: full when all are free
    const cache = pool.cache(0);
    const burst = HandleBurst.alloc(engine, plan, 4);
    expect(cache.get(burst, 1)).toBe(1);
    expect(cache.put(burst)).toBe(1);
    const e = (() => { try { cache.put(burst); } catch (err) { return err; } })();
    expect(e).toBeInstanceOf(VirtqueueError);
    expect((e as VirtqueueError).code).toBe(E.ERR_MEMPOOL_OVERFLOW);
    expect([pool.freeCount, cache.stats().puts]).toEqual([4, 1]);
  });

  it('a debug pool names the bad handle\'s position in the detail', () => {
    const pool = Mempool.create(engine, plan, { size: 4, dataRoom: 16, debug: true, cacheSize: 2 });
    const cache = pool.cache(0);
    const burst = HandleBurst.alloc(engine, plan, 4);
    expect(cache.get(burst, 3)).toBe(3);
    const [h0, h1] = burst.toArray();
    burst.fill([h0, h1, h0]);
    const e = (() => { try { cache.put(burst); } catch (err) { return err; } })() as VirtqueueError;
    expect([e.code, e.detail]).toEqual([E.ERR_MEMPOOL_NOT_HELD, 2]);
    expect(e.message).toMatch(/^mempool put: put of a buffer that is not held/);
    burst.fill([h0, h1]);
    expect(cache.put(burst)).toBe(2); // the refused put left both held
    expect(pool.inUse).toBe(1);
    expect(engine.u32[(pool.ring.addr + R.RING_DETAIL) >>> 2]).toBe(0);
  });
});
