// What a VirtioUserPort is built with, and the sizes that follow from it (its defaults in one place).
import type { RingLayout } from '../virtqueue/factory.js';

/** The sizes of a port's queue pairs and mempool (a VirtioUserPort's, a VfioNetPort's). */
export interface PortSizing {
  /** Queue pairs (default 1). */
  queues?: number;
  /** Entries per ring (default 256). */
  queueSize?: number;
  /** Mempool buffers (default: 4 rings' worth per pair, at least 1024). */
  poolSize?: number;
  /** Data bytes per buffer (default 2048). */
  dataRoom?: number;
  /**
   * Dataplane workers that will run the queue pairs (VirtioUserWorkers): the pool gets a cache
   * slot for each (slot w + 1; slot 0 is the main thread's). Default 0: the caller's thread polls.
   */
  workers?: number;
}

export interface VirtioUserPortOptions extends PortSizing {
  /** The back-end's socket (client), or where to listen for it (server). */
  socket: string;
  server?: boolean;
  layout?: RingLayout;
  /** Bound on each vhost-user reply (ms, default 5000). */
  replyTimeoutMs?: number;
  /**
   * Ask for VIRTIO_NET_F_MRG_RXBUF (default true): a received frame may then span several
   * buffers, delivered as one chain (5.1.6.4). Without it a frame must fit one buffer.
   */
  mergeable?: boolean;
  /**
   * Ask for VIRTIO_F_IN_ORDER (default true): the device uses buffers in the order they were
   * made available (2.7.9, 2.8.8), as DPDK's virtio-user asks; a packed ring's device may then
   * write one used descriptor for a batch.
   */
  inOrder?: boolean;
  /**
   * Ask for VIRTIO_F_EVENT_IDX (default true): kicks are then suppressed by the device's
   * avail_event (2.7.10) rather than its NO_NOTIFY flag; a polling device that never moves it
   * gets one kick per 65536 buffers at most.
   */
  eventIdx?: boolean;
  /** Set everything up again when the back-end comes back (default true). */
  reconnect?: boolean;
  /** Client mode: time between connection attempts (ms, default 200). */
  retryMs?: number;
  log?: (line: string) => void;
}

const MiB = 1 << 20;

export interface PortSizes {
  pairs: number;
  num: number;
  dataRoom: number;
  poolSize: number;
  workers: number;
  /** Bytes of the memfd shared with the back-end: the pool's buffers and every ring, rounded up to MiB. */
  shared: number;
}

/** The options' sizes with their defaults; a RangeError for a count out of range. */
export function portSizes(opts: PortSizing): PortSizes {
  const pairs = opts.queues ?? 1;
  const num = opts.queueSize ?? 256;
  const dataRoom = opts.dataRoom ?? 2048;
  const poolSize = opts.poolSize ?? Math.max(1024, 4 * num * pairs);
  if (!Number.isInteger(pairs) || pairs < 1 || pairs > 128) throw new RangeError(`queues must be 1 to 128, got ${pairs}`);
  const shared = Math.ceil((poolSize * (dataRoom + 256) + pairs * 2 * (num * 24 + 8192) + MiB) / MiB) * MiB;
  return { pairs, num, dataRoom, poolSize, workers: opts.workers ?? 0, shared };
}
