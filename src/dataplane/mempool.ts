// Host handle for a mempool (assembly/dataplane/mempool/, layout in assembly/layout/mempool.ts):
// fixed-size buffers in shared memory, a multi-producer/multi-consumer free ring, and one cache
// per worker.
// A worker attaches to the pool by address and uses its own cache slot; every get and put moves
// a whole burst of handles (HandleBurst) in one engine call.
import * as M from '../../assembly/layout/mempool.js';
import * as R from '../../assembly/layout/handle-ring.js';
import { HandleRing, ringBytes, writeRingConfig, type HandleBurst, type RingWait } from './handle-ring.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';

export interface MempoolOptions {
  /** Buffers in the pool. */
  size: number;
  /** Data bytes each buffer offers after its headroom (rounded up so buffers are 64-byte aligned). */
  dataRoom: number;
  /** Bytes kept free between the buffer header and the data (default 0). */
  headroom?: number;
  /** Per-worker cache size, 0 to 512 (default 0: every get and put goes to the free ring). */
  cacheSize?: number;
  /** Cache slots, one per worker that will use the pool (default 1). */
  caches?: number;
  /** Track held buffers in their headers and refuse bad puts (POOL_F_DEBUG). */
  debug?: boolean;
  /** Start index of the free ring's counters (tests: near 2^32). */
  ringStart?: number;
  /** How the free ring's waiters wait (see RingOptions.wait); 'sleep' when workers outnumber cores. */
  ringWait?: RingWait;
}

export interface CacheStats {
  /** Handles in the cache now. */
  len: number;
  gets: number;
  puts: number;
  failedGets: number;
  refills: number;
  flushes: number;
}

export interface MempoolStats {
  size: number;
  /** Free buffers: in the ring plus in the caches. */
  free: number;
  /** size - free: buffers held by someone. */
  inUse: number;
  ring: number;
  caches: CacheStats[];
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;
const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** Bytes of one cache block for a cache of `cacheSize`. */
export const cacheStride = (cacheSize: number): number =>
  align(M.CACHE_OBJS + (M.CACHE_OBJS_FACTOR * cacheSize + 1) * 4, M.CACHE_ALIGN);

/** Bytes from one buffer header to the next. */
export const eltSize = (dataRoom: number, headroom = 0): number => align(M.BUF_HDR_SIZE + headroom + dataRoom, M.POOL_ELT_ALIGN);

function whole(v: number, name: string, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be a whole number from ${min} to ${max}, got ${v}`);
  return v;
}

/** A mempool in shared memory. */
export class Mempool {
  readonly engine: Engine;
  readonly addr: number;
  readonly size: number;
  readonly eltSize: number;
  readonly headroom: number;
  readonly dataRoom: number;
  readonly cacheSize: number;
  readonly flushThresh: number;
  readonly numCaches: number;
  readonly buffers: number;
  readonly debug: boolean;
  /** The free ring (multi-producer, multi-consumer). */
  readonly ring: HandleRing;
  private readonly cachesAt: number;
  private readonly cacheStrideBytes: number;
  private readonly u64: BigUint64Array;

  private constructor(engine: Engine, addr: number) {
    const u32 = engine.u32;
    const get = (f: number): number => u32[(addr + f) >>> 2];
    if (addr % M.POOL_ALIGN !== 0 || get(M.POOL_KIND) !== M.KIND_MEMPOOL) throw new RangeError(`no mempool header at ${addr}`);
    this.engine = engine;
    this.addr = addr;
    this.size = get(M.POOL_SIZE);
    this.eltSize = get(M.POOL_ELT_SIZE);
    this.headroom = get(M.POOL_HEADROOM);
    this.dataRoom = get(M.POOL_DATA_ROOM);
    this.cacheSize = get(M.POOL_CACHE_SIZE);
    this.flushThresh = get(M.POOL_FLUSH_THRESH);
    this.numCaches = get(M.POOL_NUM_CACHES);
    this.buffers = get(M.POOL_BUFFERS);
    this.debug = (get(M.POOL_FLAGS) & M.POOL_F_DEBUG) !== 0;
    this.cachesAt = get(M.POOL_CACHES);
    this.cacheStrideBytes = get(M.POOL_CACHE_STRIDE);
    this.ring = HandleRing.attach(engine, get(M.POOL_RING));
    this.u64 = new BigUint64Array(engine.memory.buffer);
  }

  /** Plans the header, free ring, buffers and caches, and has the engine initialise them. */
  static create(engine: Engine, plan: MemoryPlan, opts: MempoolOptions): Mempool {
    const size = whole(opts.size, 'mempool size', 1, R.RING_MAX_CAPACITY);
    const headroom = whole(opts.headroom ?? 0, 'headroom', 0, 0xffff);
    const dataRoom = whole(opts.dataRoom, 'dataRoom', 0, 0x7fffffff);
    const cacheSize = whole(opts.cacheSize ?? 0, 'cacheSize', 0, M.CACHE_MAX_SIZE);
    const caches = whole(opts.caches ?? 1, 'caches', 1, 4096);
    const elt = eltSize(dataRoom, headroom);
    const stride = cacheStride(cacheSize);
    const capacity = nextPow2(size);

    const addr = plan.alloc(M.POOL_HEADER_SIZE, M.POOL_ALIGN, 'mempool header');
    const ring = plan.alloc(ringBytes(capacity), R.RING_ALIGN, 'mempool free ring');
    const cachesAt = plan.alloc(caches * stride, M.CACHE_ALIGN, 'mempool caches');
    const buffers = plan.alloc(size * elt, M.POOL_ELT_ALIGN, 'mempool buffers');
    writeRingConfig(engine, ring, { capacity, startIndex: opts.ringStart, wait: opts.ringWait });
    const u32 = engine.u32;
    const set = (f: number, v: number): void => { u32[(addr + f) >>> 2] = v; };
    set(M.POOL_KIND, M.KIND_MEMPOOL);
    set(M.POOL_SIZE, size);
    set(M.POOL_ELT_SIZE, elt);
    set(M.POOL_HEADROOM, headroom);
    set(M.POOL_FLAGS, opts.debug ? M.POOL_F_DEBUG : 0);
    set(M.POOL_RING, ring);
    set(M.POOL_BUFFERS, buffers);
    set(M.POOL_CACHES, cachesAt);
    set(M.POOL_NUM_CACHES, caches);
    set(M.POOL_CACHE_STRIDE, stride);
    set(M.POOL_CACHE_SIZE, cacheSize);
    engine.check(engine.exports.mempoolInit(addr), addr, 'mempool init');
    return new Mempool(engine, addr);
  }

  /** A handle on a pool someone else created (another thread's engine over the same memory). */
  static attach(engine: Engine, addr: number): Mempool {
    return new Mempool(engine, addr);
  }

  /** The handle of cache slot `index` (each worker uses its own, and only its own). */
  cache(index: number): MempoolCache {
    whole(index, 'cache index', 0, this.numCaches - 1);
    return new MempoolCache(this, this.cachesAt + index * this.cacheStrideBytes, index, this.u64);
  }

  /** Free buffers (ring plus caches): a snapshot while workers run, exact when they are stopped. */
  get freeCount(): number {
    return this.engine.check(this.engine.exports.mempoolFreeCount(this.addr), this.addr, 'mempool free count');
  }

  get inUse(): number {
    return this.size - this.freeCount;
  }

  /** All counters, read without stopping anyone (each value is whole; together a snapshot). */
  stats(): MempoolStats {
    const caches = Array.from({ length: this.numCaches }, (_, i) => this.cache(i).stats());
    const free = this.freeCount;
    return { size: this.size, free, inUse: this.size - free, ring: this.ring.count, caches };
  }

  /** Handle of buffer `index`. */
  handleOf(index: number): number {
    return this.buffers + index * this.eltSize;
  }

  /** Index of the buffer whose handle is `handle`, or -1 if it is not one of this pool's. */
  indexOf(handle: number): number {
    const d = handle - this.buffers;
    return d >= 0 && d % this.eltSize === 0 && d / this.eltSize < this.size ? d / this.eltSize : -1;
  }

  /** Wasm offset of the buffer's first data byte (handle + dataOff). */
  dataOf(handle: number): number {
    return handle + this.engine.u32[(handle + M.BUF_DATA_OFF) >>> 2];
  }
}

/** One worker's cache slot of a pool: the gets and puts that worker makes go through it. */
export class MempoolCache {
  constructor(
    readonly pool: Mempool,
    readonly addr: number,
    readonly index: number,
    private readonly u64: BigUint64Array,
  ) {}

  /** Takes n buffers (default: the burst's capacity) into the burst: returns n, or 0 if the pool is short. */
  get(burst: HandleBurst, n?: number): number {
    const p = this.pool;
    const k = p.engine.check(p.engine.exports.mempoolGetBulk(p.addr, this.addr, burst.ptr, burst.size(n, burst.capacity)), p.addr, 'mempool get');
    burst.count = k;
    return k;
  }

  /** Returns burst.handles[0..n) (default: burst.count) to the pool. */
  put(burst: HandleBurst, n?: number): number {
    const p = this.pool;
    return p.engine.check(p.engine.exports.mempoolPutBulk(p.addr, this.addr, burst.ptr, burst.size(n, burst.count)), p.addr, 'mempool put');
  }

  /** Moves every cached handle back to the free ring; returns how many. */
  flush(): number {
    const p = this.pool;
    return p.engine.check(p.engine.exports.mempoolCacheFlush(p.addr, this.addr), p.addr, 'mempool cache flush');
  }

  /** Handles in the cache now. */
  get length(): number {
    return Atomics.load(this.pool.engine.u32, (this.addr + M.CACHE_LEN) >>> 2); // a snapshot, whole: no label
  }

  stats(): CacheStats {
    const c = (f: number): number => Number(Atomics.load(this.u64, (this.addr + f) >>> 3)); // snapshots, whole: no label
    return {
      len: this.length, gets: c(M.CACHE_GETS), puts: c(M.CACHE_PUTS), failedGets: c(M.CACHE_FAILED_GETS),
      refills: c(M.CACHE_REFILLS), flushes: c(M.CACHE_FLUSHES),
    };
  }
}
