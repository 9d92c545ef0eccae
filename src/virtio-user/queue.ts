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
import { EventFd } from '../native/index.js';
import { HandleBurst } from '../dataplane/handle-ring.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';
import type { FeatureSet } from '../features.js';
import type { RingAreas, DriverQueue } from '../virtqueue/queue-side.js';
import type { Mempool, MempoolCache } from '../dataplane/mempool.js';

/** virtio_net_hdr with VERSION_1 (num_buffers included), 5.1.6.1. */
export const NET_HDR_SIZE = 12;
const NUM_BUFFERS = 10;

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

const zeroStats = (): QueueStats => ({ rxPackets: 0, rxBytes: 0, rxDropped: 0, rxNoBuffers: 0, txPackets: 0, txBytes: 0, txFull: 0, kicks: 0 });

class Ring {
  readonly areas: RingAreas;
  readonly driver: DriverQueue;
  readonly kick = EventFd.create();
  readonly call = EventFd.create();
  readonly batch: ChainBatch;
  readonly used: UsedBatch;

  constructor(readonly engine: Engine, shared: MemoryPlan, priv: MemoryPlan, readonly layout: RingLayout, num: number, features: FeatureSet) {
    this.areas = allocRing(shared, { layout, queueSize: num });
    this.driver = createDriver(engine, priv, layout, this.areas, { features });
    this.batch = new ChainBatch(engine, priv, num, num);
    this.used = new UsedBatch(engine, priv, num);
  }

  /** Zeroes the ring's shared areas and resets the driver (chains in flight detached first). */
  reset(): void {
    const a = this.areas;
    const n = a.queueSize;
    const z = (at: number, len: number): void => { this.engine.u8.fill(0, at, at + len); };
    if (this.layout === 'split') {
      const s = splitAreaSizes(n);
      z(a.desc, s.desc); z(a.driver, s.avail); z(a.device, s.used);
    } else {
      z(a.desc, n * PK.PDESC_SIZE); z(a.driver, PK.EVENT_SIZE); z(a.device, PK.EVENT_SIZE);
    }
    this.driver.reset();
  }

  close(): void {
    this.kick.close();
    this.call.close();
  }
}

export class PortQueue {
  readonly rx: Ring;
  readonly tx: Ring;
  readonly stats: QueueStats = zeroStats();
  private readonly scratch: HandleBurst;
  private readonly dataOff: number;

  constructor(readonly index: number, readonly engine: Engine, shared: MemoryPlan, priv: MemoryPlan, layout: RingLayout,
              readonly num: number, features: FeatureSet, readonly pool: Mempool, readonly cache: MempoolCache) {
    if (pool.headroom < NET_HDR_SIZE) throw new RangeError(`the mempool's headroom is ${pool.headroom} bytes; the virtio_net_hdr needs ${NET_HDR_SIZE}`);
    this.rx = new Ring(engine, shared, priv, layout, num, features);
    this.tx = new Ring(engine, shared, priv, layout, num, features);
    this.scratch = HandleBurst.alloc(engine, priv, num);
    this.dataOff = M.BUF_HDR_SIZE + pool.headroom;
  }

  get broken(): boolean {
    return this.rx.driver.broken || this.tx.driver.broken;
  }

  /** Posts as many receive buffers as the ring and the pool allow; kicks if the device asks. */
  refill(): void {
    const d = this.rx.driver;
    const want = d.numFree;
    if (want === 0) return;
    const got = this.cache.get(this.scratch, want);
    if (got === 0) { this.stats.rxNoBuffers++; return; }
    const b = this.rx.batch;
    b.clear();
    const room = NET_HDR_SIZE + this.pool.dataRoom;
    for (let i = 0; i < got; i++) {
      const h = this.scratch.handles[i];
      b.single(h, h + this.dataOff - NET_HDR_SIZE, room, true);
    }
    const added = d.add(b);
    if (added < got) this.cache.put(this.scratch.fill(this.scratch.handles.subarray(added, got)));
    this.kickIfNeeded(this.rx);
  }

  private kickIfNeeded(r: Ring): void {
    if (r.driver.kickNeeded()) {
      r.kick.signal();
      this.stats.kicks++;
    }
  }

  /** Received frames into `out` (handles; each buffer's data offset and length set to the frame). */
  rxBurst(out: HandleBurst, max = out.capacity): number {
    const u32 = this.engine.u32;
    const u8 = this.engine.u8;
    const used = this.rx.used;
    const n = this.rx.driver.collect(used, Math.min(max, out.capacity));
    let k = 0;
    const drop: number[] = [];
    for (let i = 0; i < n; i++) {
      const h = used.id(i);
      const len = used.len(i);
      const hdr = h + this.dataOff - NET_HDR_SIZE;
      const numBuffers = u8[hdr + NUM_BUFFERS] | (u8[hdr + NUM_BUFFERS + 1] << 8);
      if (len < NET_HDR_SIZE || numBuffers > 1) {
        // A frame over several buffers would need chained buffers, which the mempool has not.
        this.stats.rxDropped++;
        drop.push(h);
        continue;
      }
      u32[(h + M.BUF_DATA_OFF) >>> 2] = this.dataOff;
      u32[(h + M.BUF_DATA_LEN) >>> 2] = len - NET_HDR_SIZE;
      out.handles[k++] = h;
      this.stats.rxBytes += len - NET_HDR_SIZE;
    }
    out.count = k;
    this.stats.rxPackets += k;
    if (drop.length) this.cache.put(this.scratch.fill(drop));
    this.refill();
    return k;
  }

  /** Frees transmitted buffers back to the pool. */
  reapTx(): number {
    const used = this.tx.used;
    const n = this.tx.driver.collect(used);
    if (n === 0) return 0;
    for (let i = 0; i < n; i++) this.scratch.handles[i] = used.id(i);
    this.scratch.count = n;
    this.cache.put(this.scratch);
    return n;
  }

  /** Sends `burst.handles[0..n)` (each buffer's data, its length in the header): returns how many were taken. */
  txBurst(burst: HandleBurst, n = burst.count): number {
    this.reapTx();
    const d = this.tx.driver;
    const take = Math.min(n, d.numFree);
    if (take < n) this.stats.txFull += n - take;
    if (take === 0) return 0;
    const u32 = this.engine.u32;
    const u8 = this.engine.u8;
    const b = this.tx.batch;
    b.clear();
    let bytes = 0;
    for (let i = 0; i < take; i++) {
      const h = burst.handles[i];
      const off = u32[(h + M.BUF_DATA_OFF) >>> 2];
      const len = u32[(h + M.BUF_DATA_LEN) >>> 2];
      if (off < M.BUF_HDR_SIZE + NET_HDR_SIZE || off + len > this.pool.eltSize) throw new RangeError(`buffer ${h}: data offset ${off} and length ${len} leave no room for the virtio_net_hdr or pass the buffer`);
      u8.fill(0, h + off - NET_HDR_SIZE, h + off);
      b.single(h, h + off - NET_HDR_SIZE, NET_HDR_SIZE + len, false);
      bytes += len;
    }
    const added = d.add(b);
    this.stats.txPackets += added;
    this.stats.txBytes += bytes;
    this.kickIfNeeded(this.tx);
    return added;
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
    let total = 0;
    for (const r of [this.rx, this.tx]) {
      const n = r.driver.detach(r.used);
      for (let i = 0; i < n; i++) this.scratch.handles[i] = r.used.id(i);
      this.scratch.count = n;
      if (n > 0) this.cache.put(this.scratch);
      total += n;
    }
    return total;
  }

  /** Fresh rings for a new back-end (after reclaim()): shared areas zeroed, drivers reset. */
  resetRings(): void {
    this.rx.reset();
    this.tx.reset();
  }

  close(): void {
    this.rx.close();
    this.tx.close();
  }
}
