// A mempool (engine, through src/dataplane/mempool.ts) next to an exact model of it: the free
// ring as a FIFO array, each cache as a stack array, the held buffers as a set, and every
// counter. Each step runs one call on both and compares the result, the handles handed out, each
// cache's contents, the counters, the buffer headers and the conservation law
// free (ring + caches) + held == size.
import { expect } from 'vitest';
import * as M from '../../assembly/layout/mempool.js';
import * as E from '../../assembly/layout/errors.js';
import { MemoryPlan, type Engine } from '../../src/index.js';
import { HandleBurst } from '../../src/dataplane/handle-ring.js';
import { Mempool, type CacheStats } from '../../src/dataplane/mempool.js';

export interface PoolParams {
  size: number;
  cacheSize: number;
  caches: number;
  headroom: number;
  dataRoom: number;
  debug: boolean;
  ringStart: number;
}

const zeroStats = (): CacheStats => ({ len: 0, gets: 0, puts: 0, failedGets: 0, refills: 0, flushes: 0 });

export class PoolWorld {
  readonly pool: Mempool;
  readonly burst: HandleBurst;
  private readonly ring: number[] = [];
  private readonly caches: number[][];
  private readonly stats: CacheStats[];
  private readonly held = new Set<number>();
  private readonly ringCap: number;
  private readonly thresh: number;
  readonly seen = { got: 0, failed: 0, refills: 0, flushes: 0, direct: 0, refused: 0 };

  constructor(readonly engine: Engine, readonly p: PoolParams) {
    const plan = new MemoryPlan(engine.memory);
    this.pool = Mempool.create(engine, plan, p);
    this.burst = HandleBurst.alloc(engine, plan, p.size + p.cacheSize + 4);
    this.ringCap = this.pool.ring.capacity;
    this.thresh = p.cacheSize + Math.max(1, p.cacheSize >> 1);
    for (let i = 0; i < p.size; i++) this.ring.push(this.pool.handleOf(i));
    this.caches = Array.from({ length: p.caches }, () => []);
    this.stats = Array.from({ length: p.caches }, zeroStats);
    expect(this.pool.flushThresh).toBe(this.thresh);
    this.checkAll();
  }

  /** Handles held now, in a stable order. */
  heldList(): number[] {
    return [...this.held].sort((a, b) => a - b);
  }

  get(c: number, n: number): number {
    const cache = this.pool.cache(c);
    const S = this.p.cacheSize;
    if (n > this.p.size) {
      expect(() => cache.get(this.burst, n)).toThrow(expect.objectContaining({ code: E.ERR_BAD_ARGUMENT, detail: n }));
      this.seen.refused++;
      return -1;
    }
    const rc = cache.get(this.burst, n);
    let out: number[] | null = null;
    if (n === 0) out = [];
    else if (n > S) {
      this.seen.direct++;
      if (this.ring.length >= n) out = this.ring.splice(0, n);
    } else {
      const stack = this.caches[c];
      if (stack.length < n) {
        // One bulk dequeue of enough to leave the cache holding S, else of just what is missing.
        const fill = S + n - stack.length;
        const need = n - stack.length;
        const took = fill <= this.ringCap && this.ring.length >= fill ? fill : this.ring.length >= need ? need : 0;
        if (took > 0) {
          stack.push(...this.ring.splice(0, took));
          this.stats[c].refills++;
          this.seen.refills++;
        }
      }
      if (stack.length >= n) out = stack.splice(stack.length - n, n).reverse();
    }
    if (out === null) {
      expect(rc).toBe(0);
      this.stats[c].failedGets += n;
      this.seen.failed++;
      return 0;
    }
    expect(rc).toBe(n);
    expect(this.burst.toArray()).toEqual(out);
    for (const h of out) {
      expect(this.held.has(h)).toBe(false);
      this.held.add(h);
    }
    if (n > 0) this.stats[c].gets += n;
    this.seen.got += n;
    return rc;
  }

  put(c: number, handles: number[]): number {
    const cache = this.pool.cache(c);
    const S = this.p.cacheSize;
    const n = handles.length;
    this.burst.fill(handles);
    const room = this.ringCap - this.ring.length;
    let ok = true;
    if (n === 0) { /* nothing */ } else if (n > S) {
      if (n <= room) this.ring.push(...handles); else ok = false;
    } else {
      const stack = this.caches[c];
      stack.push(...handles);
      if (stack.length >= this.thresh) {
        const over = stack.slice(S);
        if (over.length <= room) {
          this.ring.push(...over);
          stack.length = S;
          this.stats[c].flushes++;
          this.seen.flushes++;
        } else {
          stack.length -= n;
          ok = false;
        }
      }
    }
    if (!ok) {
      expect(() => cache.put(this.burst)).toThrow(expect.objectContaining({ code: E.ERR_MEMPOOL_OVERFLOW }));
      this.seen.refused++;
      return -1;
    }
    expect(cache.put(this.burst)).toBe(n);
    for (const h of handles) this.held.delete(h);
    this.stats[c].puts += n;
    return n;
  }

  /** Debug pools: a put the engine must refuse with `code`, changing nothing. */
  badPut(c: number, handles: number[], code: number): void {
    this.burst.fill(handles);
    expect(() => this.pool.cache(c).put(this.burst)).toThrow(expect.objectContaining({ code }));
    this.seen.refused++;
  }

  flush(c: number): number {
    const k = this.pool.cache(c).flush();
    const stack = this.caches[c];
    expect(k).toBe(stack.length);
    if (stack.length > 0) {
      this.ring.push(...stack);
      stack.length = 0;
      this.stats[c].flushes++;
    }
    return k;
  }

  /** A buffer that is free now (in the ring or a cache), if any. */
  someFree(): number | undefined {
    return this.ring[0] ?? this.caches.find((s) => s.length > 0)?.[0];
  }

  checkAll(): void {
    const pool = this.pool;
    const u32 = this.engine.u32;
    const cachedTotal = this.caches.reduce((a, s) => a + s.length, 0);
    expect(pool.freeCount).toBe(this.ring.length + cachedTotal);
    expect(pool.freeCount + this.held.size).toBe(this.p.size); // conservation
    expect(pool.ring.count).toBe(this.ring.length);
    const st = pool.stats();
    expect(st.caches).toEqual(this.caches.map((s, i) => ({ ...this.stats[i], len: s.length })));
    for (let c = 0; c < this.p.caches; c++) {
      const objs = (pool.cache(c).addr + M.CACHE_OBJS) >>> 2;
      expect(Array.from(u32.subarray(objs, objs + this.caches[c].length))).toEqual(this.caches[c]);
    }
    if (this.p.debug) {
      for (let i = 0; i < this.p.size; i++) {
        const h = pool.handleOf(i);
        expect(u32[(h + M.BUF_STATE) >>> 2]).toBe(this.held.has(h) ? M.BUF_STATE_HELD : M.BUF_STATE_FREE);
      }
    }
  }

  /** Every header still names its pool and index (nobody wrote outside their data areas). */
  checkHeaders(): void {
    const u32 = this.engine.u32;
    for (let i = 0; i < this.p.size; i++) {
      const h = this.pool.handleOf(i);
      expect([u32[(h + M.BUF_POOL) >>> 2], u32[(h + M.BUF_INDEX) >>> 2], this.pool.dataOf(h) - h])
        .toEqual([this.pool.addr, i, M.BUF_HDR_SIZE + this.p.headroom]);
    }
  }
}
