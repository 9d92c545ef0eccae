// The net driver's buffer pool on workers: a shared Mempool (src/dataplane/mempool.ts), so the
// main thread can count free buffers while the driver runs, with a small local stash in front
// of it so that buffers cross into Wasm a burst at a time, not one by one. A token is the
// buffer's handle (the Wasm offset of its header); its data starts dataOff bytes further.
import { HandleBurst } from '../../src/dataplane/handle-ring.js';
import type { Mempool, MempoolCache } from '../../src/dataplane/mempool.js';
import type { BufferPool } from '../pool.js';

export class MempoolBuffers implements BufferPool {
  readonly stride: number;
  private readonly cache: MempoolCache;
  private readonly burst: HandleBurst;
  private readonly stash: Uint32Array;
  private readonly dataOff: number;
  private count = 0;

  /** `burstAt`: room for `capacity` handles in shared memory (the get/put burst). */
  constructor(readonly pool: Mempool, cacheIndex: number, burstAt: number, capacity: number) {
    this.cache = pool.cache(cacheIndex);
    this.burst = new HandleBurst(pool.engine, burstAt, capacity);
    this.stash = new Uint32Array(2 * capacity);
    this.stride = pool.dataRoom;
    this.dataOff = pool.dataOf(pool.handleOf(0)) - pool.handleOf(0);
  }

  get available(): number {
    return this.count + this.pool.freeCount;
  }

  get(): number {
    if (this.count === 0) this.refill();
    return this.stash[--this.count];
  }

  put(token: number): void {
    if (this.count === this.stash.length) this.flush(this.burst.capacity);
    this.stash[this.count++] = token;
  }

  offset(token: number): number {
    return token + this.dataOff;
  }

  /** Returns every stashed buffer to the pool (at stop). */
  release(): void {
    while (this.count > 0) this.flush(Math.min(this.count, this.burst.capacity));
  }

  /** Buffers in the local stash (held by this driver, free to use). */
  get stashed(): number {
    return this.count;
  }

  private refill(): void {
    const n = Math.min(this.burst.capacity, this.pool.freeCount);
    if (n === 0 || this.cache.get(this.burst, n) !== n) throw new Error('mempool: no free buffer');
    this.stash.set(this.burst.handles.subarray(0, n), 0);
    this.count = n;
  }

  private flush(n: number): void {
    this.count -= n;
    this.burst.fill(this.stash.subarray(this.count, this.count + n));
    this.cache.put(this.burst);
  }
}
