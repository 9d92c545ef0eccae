// Host handle for a ring of 32-bit handles (assembly/dataplane/handle-ring/, layout in
// assembly/layout/handle-ring.ts).
// Handles cross into Wasm through HandleBurst arrays in shared memory: one engine call moves a
// whole burst. The producer and consumer modes are chosen at creation and stored in the ring's
// flags, so a worker that attaches to the same ring binds the same exports.
import * as R from '../../assembly/layout/handle-ring.js';
import type { Engine, EngineExports } from '../engine.js';
import type { MemoryPlan } from '../memory.js';

/** Single producer (only one thread ever enqueues) or multi-producer. */
export type ProducerMode = 'sp' | 'mp';
/** Single consumer (only one thread ever dequeues) or multi-consumer. */
export type ConsumerMode = 'sc' | 'mc';

export interface RingOptions {
  /** Entries: a power of two, 1 to 2^28. */
  capacity: number;
  /** Default 'mp'. */
  producer?: ProducerMode;
  /** Default 'mc'. */
  consumer?: ConsumerMode;
  /** Where the free-running indices start (default 0; near 2^32 to test the wrap). */
  startIndex?: number;
  /** Polls before a waiting Mp/Mc call gives up and breaks the ring (default: the engine's). */
  spinLimit?: number;
  /**
   * How an Mp/Mc call waits for an earlier one to publish: 'spin' (default, as DPDK) or 'sleep'
   * (RING_F_SLEEP: after a short spin, sleep on the tail so a descheduled thread gets the core).
   * Use 'sleep' when more threads use the ring than there are cores; never on a ring that a
   * browser's main thread uses (a wait traps there).
   */
  wait?: RingWait;
}

export type RingWait = 'spin' | 'sleep';

/** Bytes of a ring of `capacity` entries (header and entries). */
export const ringBytes = (capacity: number): number => R.RING_ENTRIES + capacity * R.RING_ENTRY_SIZE;

export function checkRingCapacity(capacity: number): number {
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > R.RING_MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`ring capacity must be a power of two from 1 to ${R.RING_MAX_CAPACITY}, got ${capacity}`);
  }
  return capacity;
}

const u32Option = (v: number | undefined, name: string): number => {
  const x = v ?? 0;
  if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new RangeError(`${name} must be a 32-bit unsigned integer, got ${v}`);
  return x;
};

/**
 * Writes a ring header's configuration (kind, capacity, flags, start, spin limit) at `addr`.
 * The engine's ringInit (or mempoolInit, for a pool's free ring) checks it and empties the ring.
 */
export function writeRingConfig(engine: Engine, addr: number, opts: RingOptions): void {
  const u32 = engine.u32;
  const at = (f: number): number => (addr + f) >>> 2;
  u32[at(R.RING_KIND)] = R.KIND_RING;
  u32[at(R.RING_CAPACITY)] = checkRingCapacity(opts.capacity);
  u32[at(R.RING_FLAGS)] = (opts.producer === 'sp' ? R.RING_F_SP_ENQ : 0) | (opts.consumer === 'sc' ? R.RING_F_SC_DEQ : 0) |
    (opts.wait === 'sleep' ? R.RING_F_SLEEP : 0);
  u32[at(R.RING_START)] = u32Option(opts.startIndex, 'startIndex');
  u32[at(R.RING_SPIN_LIMIT)] = u32Option(opts.spinLimit, 'spinLimit');
}

/** A small array of handles in shared memory: what a burst call reads from or writes into. */
export class HandleBurst {
  readonly ptr: number;
  readonly capacity: number;
  /** The burst's handles, a view of shared memory. */
  readonly handles: Uint32Array;
  /** Handles in the burst (set by the dequeue/get that filled it, or by the caller). */
  count = 0;

  constructor(engine: Engine, ptr: number, capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a burst holds at least one handle, got ${capacity}`);
    if (ptr % 4 !== 0) throw new RangeError(`a burst must be 4-byte aligned, got ${ptr}`);
    this.ptr = ptr;
    this.capacity = capacity;
    this.handles = new Uint32Array(engine.memory.buffer, ptr, capacity);
  }

  /** A burst of `capacity` handles in planned memory. */
  static alloc(engine: Engine, plan: MemoryPlan, capacity: number): HandleBurst {
    return new HandleBurst(engine, plan.alloc(capacity * 4, 64, 'handle burst'), capacity);
  }

  /** Copies `values` in and sets the count. */
  fill(values: ArrayLike<number>): this {
    if (values.length > this.capacity) throw new RangeError(`${values.length} handles do not fit a burst of ${this.capacity}`);
    this.handles.set(values);
    this.count = values.length;
    return this;
  }

  /** The first `count` handles, copied out. */
  toArray(): number[] {
    return Array.from(this.handles.subarray(0, this.count));
  }

  /** Checks a count against the burst (the engine would read or write past it otherwise). */
  size(n: number | undefined, fallback: number): number {
    const k = n ?? fallback;
    if (!Number.isInteger(k) || k < 0 || k > this.capacity) throw new RangeError(`burst of ${this.capacity} handles cannot carry ${k}`);
    return k;
  }
}

type Move = (ring: number, handles: number, n: number) => number;

/** A ring of 32-bit handles in shared memory, with the exports its modes allow bound once. */
export class HandleRing {
  readonly engine: Engine;
  readonly addr: number;
  readonly capacity: number;
  readonly producer: ProducerMode;
  readonly consumer: ConsumerMode;
  readonly wait: RingWait;
  private readonly enqBulk: Move;
  private readonly enqBurst: Move;
  private readonly deqBulk: Move;
  private readonly deqBurst: Move;

  private constructor(engine: Engine, addr: number) {
    const u32 = engine.u32;
    if (addr % R.RING_ALIGN !== 0 || u32[(addr + R.RING_KIND) >>> 2] !== R.KIND_RING) {
      throw new RangeError(`no ring header at ${addr}`);
    }
    this.engine = engine;
    this.addr = addr;
    this.capacity = u32[(addr + R.RING_CAPACITY) >>> 2];
    const flags = u32[(addr + R.RING_FLAGS) >>> 2];
    this.producer = flags & R.RING_F_SP_ENQ ? 'sp' : 'mp';
    this.consumer = flags & R.RING_F_SC_DEQ ? 'sc' : 'mc';
    this.wait = flags & R.RING_F_SLEEP ? 'sleep' : 'spin';
    const x: EngineExports = engine.exports;
    const sp = this.producer === 'sp';
    const sc = this.consumer === 'sc';
    this.enqBulk = sp ? x.ringEnqueueBulkSp : x.ringEnqueueBulkMp;
    this.enqBurst = sp ? x.ringEnqueueBurstSp : x.ringEnqueueBurstMp;
    this.deqBulk = sc ? x.ringDequeueBulkSc : x.ringDequeueBulkMc;
    this.deqBurst = sc ? x.ringDequeueBurstSc : x.ringDequeueBurstMc;
  }

  /** Plans, configures and initialises an empty ring. */
  static create(engine: Engine, plan: MemoryPlan, opts: RingOptions): HandleRing {
    const addr = plan.alloc(ringBytes(checkRingCapacity(opts.capacity)), R.RING_ALIGN, 'handle ring');
    writeRingConfig(engine, addr, opts);
    engine.check(engine.exports.ringInit(addr), addr, 'ring init');
    return new HandleRing(engine, addr);
  }

  /** A handle on a ring someone else created (another thread's engine over the same memory). */
  static attach(engine: Engine, addr: number): HandleRing {
    return new HandleRing(engine, addr);
  }

  /** Enqueues burst.handles[0..n) (default: burst.count), all or none. Returns n or 0. */
  enqueueBulk(burst: HandleBurst, n?: number): number {
    return this.engine.check(this.enqBulk(this.addr, burst.ptr, burst.size(n, burst.count)), this.addr, 'ring enqueue bulk');
  }

  /** Enqueues as many of burst.handles[0..n) as fit, in order. Returns how many. */
  enqueueBurst(burst: HandleBurst, n?: number): number {
    return this.engine.check(this.enqBurst(this.addr, burst.ptr, burst.size(n, burst.count)), this.addr, 'ring enqueue burst');
  }

  /** Dequeues n handles (default: the burst's capacity) into the burst, all or none. */
  dequeueBulk(burst: HandleBurst, n?: number): number {
    const k = this.engine.check(this.deqBulk(this.addr, burst.ptr, burst.size(n, burst.capacity)), this.addr, 'ring dequeue bulk');
    burst.count = k;
    return k;
  }

  /** Dequeues up to n handles (default: the burst's capacity) into the burst. */
  dequeueBurst(burst: HandleBurst, n?: number): number {
    const k = this.engine.check(this.deqBurst(this.addr, burst.ptr, burst.size(n, burst.capacity)), this.addr, 'ring dequeue burst');
    burst.count = k;
    return k;
  }

  /** Empties the ring (nobody may be using it) and clears a broken status. */
  reinit(): void {
    this.engine.check(this.engine.exports.ringInit(this.addr), this.addr, 'ring init');
  }

  /** Entries in the ring (a snapshot while other threads use it). */
  get count(): number {
    return this.engine.check(this.engine.exports.ringCount(this.addr), this.addr, 'ring count');
  }

  /** Room for enqueues (a snapshot while other threads use it). */
  get freeCount(): number {
    return this.engine.check(this.engine.exports.ringFreeCount(this.addr), this.addr, 'ring free count');
  }

  /** 0 while healthy, else the code that broke the ring (ERR_RING_STALLED). */
  get status(): number {
    return Atomics.load(this.engine.i32, (this.addr + R.RING_STATUS) >>> 2); // [A13]; pairs with [R13] (ringInit, a stalled wait)
  }

  get broken(): boolean {
    return this.status !== 0;
  }

  /** The four free-running indices, for inspection and tests. */
  indices(): { prodHead: number; prodTail: number; consHead: number; consTail: number } {
    // A snapshot, each index whole: orders nothing, so no label.
    const at = (f: number): number => Atomics.load(this.engine.u32, (this.addr + f) >>> 2);
    return { prodHead: at(R.RING_PROD_HEAD), prodTail: at(R.RING_PROD_TAIL), consHead: at(R.RING_CONS_HEAD), consTail: at(R.RING_CONS_TAIL) };
  }
}
