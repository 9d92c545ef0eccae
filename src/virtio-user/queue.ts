// One queue pair of the virtio-user port, driver side (VIRTIO 1.2 5.1.6): receiveq (vring 2k) kept
// full of mempool buffers, transmitq (vring 2k+1) fed from the caller's bursts. Buffers are
// mempool handles, the chain token is the handle, so a used entry names the buffer back; the
// driver engine checks every used entry (ids in flight, lengths within the buffer) and marks the
// queue broken on a bad one. The 12-byte virtio_net_hdr (5.1.6.1, VERSION_1) sits in the
// buffer's headroom, right before its data. Kicks only when the device asks for them
// (kickNeeded); the device's interrupts are turned off: the caller polls.
import { allocRing, createDriver, type RingLayout } from '../virtqueue/factory.js';
import { ChainBatch, UsedBatch } from '../virtqueue/batch.js';
import { splitAreaSizes } from '../virtqueue/layout.js';
import * as PK from '../../assembly/layout/packed.js';
import * as M from '../../assembly/layout/mempool.js';
import * as V from '../../assembly/layout/virtio-user.js';
import { EventFd } from '../native/index.js';
import { HandleBurst } from '../dataplane/handle-ring.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';
import type { FeatureSet } from '../features.js';
import type { RingAreas, DriverQueue } from '../virtqueue/queue-side.js';
import type { Mempool, MempoolCache } from '../dataplane/mempool.js';

/** virtio_net_hdr with VERSION_1 (num_buffers included), 5.1.6.1. */
export const NET_HDR_SIZE = V.VUQ_NET_HDR_SIZE;

export interface QueueStats {
  rxPackets: number;
  rxBytes: number;
  /** Frames dropped: spread over several buffers (mergeable) or shorter than the header. */
  rxDropped: number;
  /** Times the pool had no buffers to post. */
  rxNoBuffers: number;
  txPackets: number;
  txBytes: number;
  /** Handles refused by txBurst because the ring was full. */
  txFull: number;
  kicks: number;
}

/**
 * How a ring reaches its device, when not as vhost-user's (Wasm offsets as addresses, kicks on an
 * eventfd): the address base its descriptors carry (DriverHandleOptions.addressBase; VFIO: the
 * IOVA the shared memory is DMA-mapped at, minus its offset) and the doorbell a kick rings.
 */
export interface RingLink {
  addressBase?: bigint;
  doorbell?: () => void;
  /** Packed: take used lengths without VIRTQ_DESC_F_WRITE (DriverHandleOptions.usedLenWithoutWrite: QEMU's device model). */
  usedLenWithoutWrite?: boolean;
  /** Alignment of the ring's areas (RingSpec.align; default a cache line). */
  areaAlign?: number;
}

/** A queue pair's links to its device: each ring's, and the port's name for error messages (default 'virtio-user'). */
export interface PairLinks {
  rx?: RingLink;
  tx?: RingLink;
  portName?: string;
}

const zeroStats = (): QueueStats => ({ rxPackets: 0, rxBytes: 0, rxDropped: 0, rxNoBuffers: 0, txPackets: 0, txBytes: 0, txFull: 0, kicks: 0 });

/**
 * One ring of a port, driver side: its areas in the shared memory, its driver, its kick and call
 * eventfds, and batches for its chains and used entries (a queue pair's receiveq and transmitq;
 * VFIO's virtio-net control queue).
 */
export class PortRing {
  readonly areas: RingAreas;
  readonly driver: DriverQueue;
  readonly kick = EventFd.create();
  readonly call = EventFd.create();
  readonly batch: ChainBatch;
  readonly used: UsedBatch;

  /** The available buffer notification (a kick): the kick eventfd's signal unless the transport rings a doorbell. */
  readonly notify: () => void;

  constructor(readonly engine: Engine, shared: MemoryPlan, priv: MemoryPlan, readonly layout: RingLayout, num: number, features: FeatureSet,
              link: RingLink = {}) {
    this.areas = allocRing(shared, { layout, queueSize: num, align: link.areaAlign });
    this.driver = createDriver(engine, priv, layout, this.areas, { features, addressBase: link.addressBase, usedLenWithoutWrite: link.usedLenWithoutWrite });
    this.notify = link.doorbell ?? (() => this.kick.signal());
    this.batch = new ChainBatch(engine, priv, num, num);
    this.used = new UsedBatch(engine, priv, num);
  }

  /**
   * Zeroes the ring's shared areas and resets the driver (chains in flight detached first) to
   * run with the session's negotiated `features` (of those the ring was built with; omitted:
   * as now).
   */
  reset(features?: FeatureSet): void {
    const a = this.areas;
    const n = a.queueSize;
    const z = (at: number, len: number): void => { this.engine.u8.fill(0, at, at + len); };
    if (this.layout === 'split') {
      const s = splitAreaSizes(n);
      z(a.desc, s.desc); z(a.driver, s.avail); z(a.device, s.used);
    } else {
      z(a.desc, n * PK.PDESC_SIZE); z(a.driver, PK.EVENT_SIZE); z(a.device, PK.EVENT_SIZE);
    }
    if (features !== undefined) this.driver.narrowFeatures(features);
    this.driver.reset();
  }

  close(): void {
    this.kick.close();
    this.call.close();
  }
}

/** The counters of a block, in QueueStats order. */
const COUNTERS: [keyof QueueStats, number][] = [
  ['rxPackets', V.VUQ_RX_PACKETS], ['rxBytes', V.VUQ_RX_BYTES], ['rxDropped', V.VUQ_RX_DROPPED], ['rxNoBuffers', V.VUQ_RX_NO_BUFFERS],
  ['txPackets', V.VUQ_TX_PACKETS], ['txBytes', V.VUQ_TX_BYTES], ['txFull', V.VUQ_TX_FULL], ['kicks', V.VUQ_KICKS],
];

export class PortQueue {
  readonly rx: PortRing;
  readonly tx: PortRing;
  /** The engine's queue pair block (assembly/layout/virtio-user.ts). */
  readonly block: number;
  private readonly scratch: HandleBurst;
  /** Receive records collected ahead of the frames handed out (VUQ_STASH: an IN_ORDER run longer than a burst). */
  private readonly stash: UsedBatch;
  private readonly u64: BigUint64Array;
  /** Names the port in error messages ('virtio-user', 'vfio'). */
  private readonly portName: string;

  constructor(readonly index: number, readonly engine: Engine, shared: MemoryPlan, priv: MemoryPlan, layout: RingLayout,
              readonly num: number, features: FeatureSet, readonly pool: Mempool, readonly cache: MempoolCache,
              links: PairLinks = {}) {
    if (pool.headroom < V.VUB_MIN_HEADROOM) throw new RangeError(`the mempool's headroom is ${pool.headroom} bytes; the segment record and the virtio_net_hdr need ${V.VUB_MIN_HEADROOM}`);
    this.rx = new PortRing(engine, shared, priv, layout, num, features, links.rx);
    this.tx = new PortRing(engine, shared, priv, layout, num, features, links.tx);
    this.scratch = HandleBurst.alloc(engine, priv, num);
    this.stash = new UsedBatch(engine, priv, num);
    const q = priv.alloc(V.VUQ_SIZE, V.VUQ_ALIGN, 'virtio-user queue pair block');
    const u32 = engine.u32;
    engine.u8.fill(0, q, q + V.VUQ_SIZE);
    const set = (f: number, v: number): void => { u32[(q + f) >>> 2] = v; };
    set(V.VUQ_KIND, V.VUQ_KIND_MAGIC);
    set(V.VUQ_RX_DRV, this.rx.driver.cb);
    set(V.VUQ_TX_DRV, this.tx.driver.cb);
    set(V.VUQ_POOL, pool.addr);
    set(V.VUQ_CACHE, cache.addr);
    set(V.VUQ_DATA_OFF, M.BUF_HDR_SIZE + pool.headroom);
    set(V.VUQ_ROOM, NET_HDR_SIZE + pool.dataRoom);
    set(V.VUQ_NUM, num);
    set(V.VUQ_CHAINS, this.rx.batch.chainsPtr);
    set(V.VUQ_SEGS, this.rx.batch.segsPtr);
    set(V.VUQ_USED, this.rx.used.ptr);
    set(V.VUQ_HANDLES, this.scratch.ptr);
    set(V.VUQ_STASH, this.stash.ptr);
    set(V.VUQ_RX_KICK_FD, this.rx.kick.fd);
    set(V.VUQ_TX_KICK_FD, this.tx.kick.fd);
    this.block = q;
    this.portName = links.portName ?? 'virtio-user';
    this.u64 = new BigUint64Array(engine.memory.buffer);
  }

  get broken(): boolean {
    return this.rx.driver.broken || this.tx.driver.broken;
  }

  /** Tells the worker running the pair to run it or leave it alone (Atomics). */
  setState(state: number): void {
    Atomics.store(this.engine.u32, (this.block + V.VUQ_STATE) >>> 2, state);
  }

  /** What the worker last saw (VUQ_STATE_*), or FAILED. */
  get ack(): number {
    return Atomics.load(this.engine.u32, (this.block + V.VUQ_ACK) >>> 2);
  }

  /** The error a worker met (a VirtqueueError), when ack is FAILED. */
  workerError(): Error {
    const rc = this.engine.u32[(this.block + V.VUQ_STATUS) >>> 2] | 0;
    try {
      this.check(rc, 'on its worker');
    } catch (e) {
      return e as Error;
    }
    return new Error(`${this.portName} queue pair ${this.index}: its worker failed (code ${rc})`);
  }

  /** VIRTIO_NET_F_MRG_RXBUF negotiated: frames may span receive buffers (set before the rings run). */
  setMergeable(on: boolean): void {
    this.engine.u32[(this.block + V.VUQ_MERGEABLE) >>> 2] = on ? 1 : 0;
  }

  /** Uses mempool cache slot `addr` for this pair's gets and puts (the thread that runs it). */
  useCache(addr: number): void {
    this.engine.u32[(this.block + V.VUQ_CACHE) >>> 2] = addr;
  }

  /** The block's counters (a snapshot). */
  get stats(): QueueStats {
    const out = zeroStats();
    for (const [k, f] of COUNTERS) out[k] = Number(this.u64[(this.block + f) >>> 3]);
    return out;
  }

  /**
   * An engine result, or the VirtqueueError it stands for (naming the ring or pool that failed).
   * The layout leads the message: VirtqueueError names a packed ring's own section (2.8) only then.
   */
  private check(rc: number, what: string): number {
    if (rc >= 0) return rc;
    return this.engine.check(rc, this.engine.u32[(this.block + V.VUQ_FAILED_CB) >>> 2], `${this.rx.layout} ${this.portName} queue pair ${this.index} ${what}`);
  }

  /** Signals the kicks the last call asked for (the block's events). */
  private kicks(): void {
    const ev = this.engine.u32[(this.block + V.VUQ_EVENTS) >>> 2];
    if (ev === 0) return;
    let n = 0;
    if (ev & V.VUQ_EV_KICK_RX) { this.rx.notify(); n++; }
    if (ev & V.VUQ_EV_KICK_TX) { this.tx.notify(); n++; }
    this.u64[(this.block + V.VUQ_KICKS) >>> 3] += BigInt(n);
  }

  /** Posts as many receive buffers as the ring and the pool allow; kicks if the device asks. */
  refill(): void {
    this.engine.u32[(this.block + V.VUQ_EVENTS) >>> 2] = 0;
    this.check(this.engine.exports.vuqRefill(this.block), 'refill');
    this.kicks();
  }

  /** Received frames into `out` (handles; each buffer's data offset and length set to the frame). */
  rxBurst(out: HandleBurst, max = out.capacity): number {
    const n = this.check(this.engine.exports.vuqRxBurst(this.block, out.ptr, Math.min(max, out.capacity)), 'rx burst');
    out.count = n;
    this.kicks();
    return n;
  }

  /** Frees transmitted buffers back to the pool. */
  reapTx(): number {
    return this.check(this.engine.exports.vuqTxReap(this.block), 'tx reap');
  }

  /** Sends `burst.handles[0..n)` (each buffer's data, its length in the header): returns how many were taken. */
  txBurst(burst: HandleBurst, n = burst.count): number {
    const took = this.check(this.engine.exports.vuqTxBurst(this.block, burst.ptr, burst.size(n, burst.count)), 'tx burst');
    this.kicks();
    return took;
  }

  /**
   * io's burst in one engine call (vuqForward): frames received into `burst`, their MAC
   * addresses swapped when `swap`, sent back, what the ring could not take freed, the receive
   * ring refilled. Returns the frames received; `lastSent` says how many went back.
   */
  forward(burst: HandleBurst, swap: boolean, max = burst.capacity): number {
    const n = this.check(this.engine.exports.vuqForward(this.block, burst.ptr, Math.min(max, burst.capacity), swap ? 1 : 0), 'forward');
    burst.count = 0; // sent or freed: none of them is the caller's
    this.kicks();
    return n;
  }

  /** Frames the last forward() sent back. */
  get lastSent(): number {
    return this.engine.u32[(this.block + V.VUQ_FWD_SENT) >>> 2];
  }

  /**
   * txonly's burst in one engine call (vuqTxOnly): up to `n` copies of the `size` bytes at
   * `frame` (an address in the engine's memory), only as many as the ring has room for, made
   * and sent. `burst` is scratch. Returns how many went.
   */
  txOnly(burst: HandleBurst, n: number, frame: number, size: number): number {
    const sent = this.check(this.engine.exports.vuqTxOnly(this.block, burst.ptr, Math.min(n, burst.capacity), frame, size), 'txonly');
    burst.count = 0;
    this.kicks();
    return sent;
  }

  /** Free slots on the transmit ring (after reaping what the device used). */
  txRoom(): number {
    this.reapTx();
    return this.tx.driver.numFree;
  }

  /**
   * Takes back every buffer in flight on both rings into the pool (the driver's own state only:
   * the shared rings are left alone, a back-end may still be reading them). Returns how many.
   */
  reclaim(): number {
    let total = this.check(this.engine.exports.vuqDropPending(this.block), 'dropping the receive frames not yet handed out');
    const u32 = this.engine.u32;
    for (const r of [this.rx, this.tx]) {
      const n = r.driver.detach(r.used);
      // The tokens (first buffers) in place of the records, then every buffer of each frame freed.
      for (let i = 0; i < n; i++) u32[(r.used.ptr >>> 2) + i] = r.used.id(i);
      if (n > 0) total += this.check(this.engine.exports.vuqFree(this.block, r.used.ptr, n), 'reclaim');
    }
    return total;
  }

  /**
   * Fresh rings for a new back-end (after reclaim()): shared areas zeroed, drivers reset to the
   * negotiated `features` (omitted: the features they run with now).
   */
  resetRings(features?: FeatureSet): void {
    this.rx.reset(features);
    this.tx.reset(features);
  }

  close(): void {
    this.rx.close();
    this.tx.close();
  }
}
