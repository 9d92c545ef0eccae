// A pool of fixed-size packet buffers: one arena in shared memory, cut into `count` buffers of
// `stride` bytes, with a LIFO free stack of buffer indices in a JS typed array. A buffer's index
// is the token the driver hands the ring with it, so a used record leads straight back to it.
// (A DPDK-style mempool with per-thread caches is a later step.)
import type { MemoryPlan } from '../src/memory.js';

/** What the net driver needs of a buffer pool (PacketPool here; a shared Mempool on workers). */
export interface BufferPool {
  readonly stride: number;
  /** Buffers the driver can get now. */
  readonly available: number;
  /** Takes a buffer (the caller checks `available` first); returns its token. */
  get(): number;
  put(token: number): void;
  /** Wasm offset of buffer `token`'s data (4-byte aligned). */
  offset(token: number): number;
}

export class PacketPool implements BufferPool {
  readonly arena: number;
  readonly stride: number;
  readonly count: number;
  private readonly free: Uint32Array;
  private readonly taken: Uint8Array;
  private top: number;

  /** `bufferSize` is rounded up to a multiple of `align` (a power of two, default a cache line). */
  constructor(plan: MemoryPlan, count: number, bufferSize: number, align = 64) {
    if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`pool needs at least one buffer, got ${count}`);
    this.stride = Math.ceil(bufferSize / align) * align;
    this.count = count;
    this.arena = plan.alloc(count * this.stride, 4096, 'packet pool');
    this.free = new Uint32Array(count);
    this.taken = new Uint8Array(count);
    // Lowest index on top, so a fresh pool hands out buffers in address order.
    for (let i = 0; i < count; i++) this.free[i] = count - 1 - i;
    this.top = count;
  }

  /** Buffers in the free stack. */
  get available(): number {
    return this.top;
  }

  /** Takes a buffer; returns its index. The caller checks `available` first. */
  get(): number {
    if (this.top === 0) throw new Error('packet pool is empty');
    const i = this.free[--this.top];
    this.taken[i] = 1;
    return i;
  }

  /** Gives buffer `index` back. */
  put(index: number): void {
    if (!(index < this.count && this.taken[index] === 1)) throw new Error(`packet pool: buffer ${index} is not out of the pool`);
    this.taken[index] = 0;
    this.free[this.top++] = index;
  }

  /** Wasm offset of buffer `index`. */
  offset(index: number): number {
    return this.arena + index * this.stride;
  }
}
