// The port API (issue 15: "one port API serves both transports"): what a virtio-net port over
// the engine's queue pairs offers, whatever reaches its device (VirtioUserPort over vhost-user,
// VfioNetPort through VFIO). Mempool handles in and out, a whole burst per call
// (rte_eth_rx_burst / rte_eth_tx_burst), per-queue-pair counters. The Forwarder and the CLIs take it.
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';
import type { Mempool } from '../dataplane/mempool.js';
import type { HandleBurst } from '../dataplane/handle-ring.js';
import type { PortQueue, QueueStats } from './queue.js';

export interface PacketPort {
  readonly engine: Engine;
  readonly pool: Mempool;
  /** The port's private memory (control blocks, bursts). */
  readonly priv: MemoryPlan;
  readonly queues: readonly PortQueue[];
  /** Received frames of queue pair `k` into `out` (first buffers' handles). */
  rxBurst(k: number, out: HandleBurst, max?: number): number;
  /** Sends handles [0, n) on queue pair `k`: how many were taken (the rest stay the caller's). */
  txBurst(k: number, burst: HandleBurst, n?: number): number;
  /** io (macswap with `swap`) in one engine call: the frames received; the queue's lastSent went back. */
  forwardBurst(k: number, burst: HandleBurst, swap?: boolean): number;
  /** txonly in one engine call: up to `n` copies of the `size` bytes at engine address `frame`. */
  txOnlyBurst(k: number, burst: HandleBurst, n: number, frame: number, size: number): number;
  stats(k: number): QueueStats;
  /** A view of one buffer's data. */
  data(handle: number, len?: number): Uint8Array;
  /** The buffers of the frame that starts at `handle`. */
  segments(handle: number): number[];
  /** A copy of the whole frame that starts at `handle`. */
  frame(handle: number): Uint8Array;
  /** `frame` copied into fresh buffers: the first one's handle, or undefined when the pool is short. */
  alloc(frame: Uint8Array): number | undefined;
  /** A burst of `capacity` handles in the port's private memory. */
  burst(capacity?: number): HandleBurst;
  /** Frees the frames whose first buffers are handles [0, n). */
  free(burst: HandleBurst, n?: number): void;
}
