// What every PacketPort does the same way, whatever reaches its device: each burst call on queue
// pair k's PortQueue (an engine error there is the port's to handle: `broke`), the frame
// helpers over the port's mempool, and the waiting calls for scripts (send, frames: waits.ts).
// VirtioUserPort and VfioNetPort extend it.
import { EventEmitter } from 'node:events';
import { HandleBurst } from '../dataplane/handle-ring.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';
import type { Mempool } from '../dataplane/mempool.js';
import { bufferData, frameSegments, frameCopy, frameAlloc } from './frames.js';
import { sendFrame, receiveFrames } from './waits.js';
import type { PacketPort } from './packet-port.js';
import type { PortQueue, QueueStats } from './queue.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export abstract class QueuePairPort<T extends Record<keyof T, any[]> = Record<string, any[]>> extends EventEmitter<T> implements PacketPort {
  abstract readonly engine: Engine;
  abstract readonly pool: Mempool;
  abstract readonly priv: MemoryPlan;
  abstract readonly queues: readonly PortQueue[];
  /** Handles for alloc() (its buffers meanwhile), and for frames(). */
  protected abstract readonly txScratch: HandleBurst;
  protected abstract readonly rxScratch: HandleBurst;
  /** Names the port in error messages ('virtio-user', 'vfio'). */
  abstract readonly portName: string;
  /** Whether close() was called. */
  abstract readonly closed: boolean;
  /** Whether the device is there to run the queue pairs now (false: away for now, or stopped). */
  abstract readonly up: boolean;
  /** Why the pairs cannot run while `up` is false, for error messages ('the back-end is away'). */
  abstract readonly awayReason: string;

  /** Queue pair `k` when it can run now (undefined: not now, e.g. no back-end); throws when it never may. */
  abstract pair(k: number): PortQueue | undefined;

  /** An engine error from queue pair `q` (a ring the device wrote was rejected): the port reacts, then rethrows. */
  protected abstract broke(q: PortQueue, e: unknown): never;

  /** Refuses free() when this thread may not touch the pool's frames (an Error), else nothing. */
  protected checkFree(): void {}

  /** Received frames of queue pair `k` into `out` (0 while the pair cannot run). */
  rxBurst(k: number, out: HandleBurst, max?: number): number {
    const q = this.pair(k);
    if (!q) { out.count = 0; return 0; }
    try { return q.rxBurst(out, max); } catch (e) { return this.broke(q, e); }
  }

  /** Sends handles [0, n) on queue pair `k`: returns how many were taken (the rest stay the caller's). */
  txBurst(k: number, burst: HandleBurst, n?: number): number {
    const q = this.pair(k);
    if (!q) return 0;
    try { return q.txBurst(burst, n); } catch (e) { return this.broke(q, e); }
  }

  /**
   * io (macswap with `swap`) on queue pair `k` in one engine call: received frames sent back,
   * those the ring could not take freed (QueueStats.txFull). Returns the frames received (0
   * while the pair cannot run); the queue's lastSent says how many went back.
   */
  forwardBurst(k: number, burst: HandleBurst, swap = false): number {
    const q = this.pair(k);
    if (!q) return 0;
    try { return q.forward(burst, swap); } catch (e) { return this.broke(q, e); }
  }

  /** txonly on queue pair `k` in one engine call: up to `n` copies of the `size` bytes at engine address `frame`, as many as fit. */
  txOnlyBurst(k: number, burst: HandleBurst, n: number, frame: number, size: number): number {
    const q = this.pair(k);
    if (!q) return 0;
    try { return q.txOnly(burst, n, frame, size); } catch (e) { return this.broke(q, e); }
  }

  stats(k: number): QueueStats {
    return { ...this.queues[k].stats };
  }

  /** A view of one buffer's data (a frame's first buffer: its first segment). */
  data(handle: number, len?: number): Uint8Array {
    return bufferData(this.engine, this.pool, handle, len);
  }

  /** The buffers of the frame that starts at `handle` (one unless it spans several, MRG_RXBUF). */
  segments(handle: number): number[] {
    return frameSegments(this.engine, this.pool, handle);
  }

  /** A copy of the whole frame that starts at `handle` (every segment). */
  frame(handle: number): Uint8Array {
    return frameCopy(this.engine, this.pool, handle);
  }

  /**
   * Copies `frame` into fresh buffers (a chain when it is longer than one buffer's data room):
   * the first buffer's handle, or undefined when the pool is short.
   */
  alloc(frame: Uint8Array): number | undefined {
    return frameAlloc(this.engine, this.pool, this.txScratch, frame, this.queues[0].num);
  }

  /** A burst of `capacity` handles for rxBurst/txBurst, in the port's private memory. */
  burst(capacity = 32): HandleBurst {
    return HandleBurst.alloc(this.engine, this.priv, capacity);
  }

  /**
   * Sends one frame (copied) on queue pair `k`, waiting while the ring or the pool is full
   * (back-pressure); rejects after `timeoutMs` without room, when the port closes, or when it
   * stopped (the error says why).
   */
  send(frame: Uint8Array, k = 0, timeoutMs = 5_000): Promise<void> {
    return sendFrame(this, this.txScratch, frame, k, timeoutMs);
  }

  /** Received frames of queue pair `k`, copied out, until the port closes. */
  frames(k = 0): AsyncGenerator<Uint8Array> {
    return receiveFrames(this, this.rxScratch, k);
  }

  /** Frees the frames whose first buffers are handles [0, n), every buffer of each. */
  free(burst: HandleBurst, n = burst.count): void {
    this.checkFree();
    const q = this.queues[0];
    this.engine.check(this.engine.exports.vuqFree(q.block, burst.ptr, burst.size(n, burst.count)), this.pool.addr, `${this.portName} free`);
  }
}
