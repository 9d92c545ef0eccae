// The driver side of the simulated virtio-net function: what a guest's network driver does with
// receiveq1 and transmitq1 (VIRTIO 1.2, 5.1.6), one burst at a time.
//
//   transmit  take `batch` buffers from the pool, stamp frames seq, seq+1, ... (frame.ts), add
//             them as one burst, kick if kickNeeded() says so; collect used transmit chains and
//             return their buffers to the pool.
//   receive   keep receiveq1 filled with writable buffers (kick if asked); collect used receive
//             chains, check each packet with a Receiver, and return the buffer.
//
// Completions are handled NAPI-style: a queue is polled with interrupts off while it has work;
// once a poll finds nothing, interrupts are re-enabled (enableInterrupts, which also reports
// entries that slipped in meanwhile) and the queue is left alone until the NIC interrupts it.
//
// Packets are chains of `segments` pieces of one pool buffer. On transmit the first piece is the
// virtio_net_hdr and the frame is split evenly over the rest (as Linux does); receive buffers are
// split evenly over their whole size, so the device's copy crosses segment boundaries at other
// places than the transmit side's.
import { ChainBatch, UsedBatch } from '../src/virtqueue/batch.js';
import type { Engine } from '../src/engine.js';
import type { MemoryPlan } from '../src/memory.js';
import { NET_HDR_SIZE, stampPacket } from './frame.js';
import type { BufferPool } from './pool.js';
import type { Receiver } from './receiver.js';
import { RX_BIT, TX_BIT, type DriverQueue } from './queues.js';

export interface NetDriverConfig {
  queueSize: number;
  batch: number;
  frameSize: number;
  segments: number;
  /** Ring descriptors one packet chain takes (1 when it goes in an indirect table). */
  descsPerChain: number;
  /** Frames to transmit (0: this driver does not transmit). */
  packets: number;
  /** Payload pattern key (frame.ts). */
  key: number;
  /** Keep receiveq1 filled and check what arrives there. */
  receive: boolean;
}

/** Poison written over a receive buffer's header and sequence number before it is posted. */
const POISON = 0xdeadbeef;

/** Splits `total` bytes into `n` nearly equal pieces (the first ones get the remainder). */
function evenSplit(total: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.floor(total / n) + (i < total % n ? 1 : 0));
  return out;
}

export class NetDriver {
  /** Frames made available on transmitq1. */
  sent = 0;
  /** Transmit chains collected back. */
  txCollected = 0;
  /** Receive chains collected (packets handed to the Receiver). */
  rxCollected = 0;
  /** Grows whenever the driver moves anything (stall detection). */
  activity = 0;

  private readonly tx: DriverQueue;
  private readonly rx: DriverQueue;
  private readonly pool: BufferPool;
  private readonly receiver: Receiver | null;
  private readonly u8: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly cfg: NetDriverConfig;
  /** Most packet chains a queue holds at once. */
  private readonly maxChains: number;
  private readonly txBatch: ChainBatch;
  private readonly rxBatch: ChainBatch;
  private readonly txUsed: UsedBatch;
  private readonly rxUsed: UsedBatch;
  /** Segment lengths of a transmit and of a receive chain. */
  private readonly txCuts: Uint32Array;
  private readonly rxCuts: Uint32Array;
  private readonly packetLen: number;
  private txPolling = true;
  private rxPolling = true;

  constructor(engine: Engine, plan: MemoryPlan, tx: DriverQueue, rx: DriverQueue, pool: BufferPool, receiver: Receiver | null, c: NetDriverConfig) {
    if (c.receive && !receiver) throw new Error('a receiving NetDriver needs a Receiver');
    this.tx = tx;
    this.rx = rx;
    this.pool = pool;
    this.receiver = receiver;
    this.u8 = engine.u8;
    this.u32 = engine.u32;
    this.cfg = c;
    this.packetLen = NET_HDR_SIZE + c.frameSize;
    this.maxChains = Math.floor(c.queueSize / c.descsPerChain);
    this.txBatch = new ChainBatch(engine, plan, this.maxChains, this.maxChains * c.segments);
    this.rxBatch = new ChainBatch(engine, plan, this.maxChains, this.maxChains * c.segments);
    this.txUsed = new UsedBatch(engine, plan, c.queueSize);
    this.rxUsed = new UsedBatch(engine, plan, c.queueSize);
    this.txCuts = Uint32Array.from(c.segments === 1 ? [this.packetLen] : [NET_HDR_SIZE, ...evenSplit(c.frameSize, c.segments - 1)]);
    this.rxCuts = Uint32Array.from(evenSplit(pool.stride, c.segments));
  }

  /** Everything transmitted has been collected back. */
  get transmitDone(): boolean {
    return this.sent === this.cfg.packets && this.tx.inFlight === 0;
  }

  /**
   * Nothing to do until the NIC interrupts: both queues wait with interrupts enabled, and neither
   * a transmit burst nor a refill would go now (used by a worker deciding to sleep).
   */
  get quiescent(): boolean {
    if (this.txPolling && this.cfg.packets > 0) return false;
    if (this.rxPolling && this.cfg.receive) return false;
    if (this.cfg.receive && this.refillSize() > 0) return false;
    return this.sent >= this.cfg.packets || this.transmitSize() === 0;
  }

  /** Transmit chains collected, receive chains collected and frames sent, together. */
  get moved(): number {
    return this.sent + this.txCollected + this.rxCollected;
  }

  /** One pass. `interrupts`: queues the NIC interrupted (RX_BIT | TX_BIT). Returns queues to kick. */
  step(interrupts: number): number {
    let kicks = 0;
    if (this.cfg.packets > 0 && (this.txPolling || (interrupts & TX_BIT) !== 0)) this.serviceTransmit();
    if (this.cfg.receive) {
      if (this.rxPolling || (interrupts & RX_BIT) !== 0) this.serviceReceive();
      if (this.refill()) kicks |= RX_BIT;
    }
    if (this.sent < this.cfg.packets && this.transmit()) kicks |= TX_BIT;
    return kicks;
  }

  /** Collects used transmit chains; returns their buffers to the pool. */
  private serviceTransmit(): void {
    if (!this.txPolling) { this.txPolling = true; this.tx.disableInterrupts(); }
    const used = this.txUsed;
    const n = this.tx.collect(used);
    if (n === 0) { this.txPolling = !this.rearm(this.tx); return; }
    for (let i = 0; i < n; i++) this.pool.put(used.id(i));
    this.txCollected += n;
    this.activity += n;
  }

  /** Collects used receive chains, checks each packet, returns the buffers to the pool. */
  private serviceReceive(): void {
    if (!this.rxPolling) { this.rxPolling = true; this.rx.disableInterrupts(); }
    const used = this.rxUsed;
    const n = this.rx.collect(used);
    if (n === 0) { this.rxPolling = !this.rearm(this.rx); return; }
    const pool = this.pool;
    const rcv = this.receiver!;
    for (let i = 0; i < n; i++) {
      const buf = used.id(i);
      rcv.receive(pool.offset(buf), used.len(i));
      pool.put(buf);
    }
    this.rxCollected += n;
    this.activity += n;
  }

  /** Re-enables interrupts on an idle queue; true when it may now sleep (nothing slipped in). */
  private rearm(q: DriverQueue): boolean {
    if (!q.enableInterrupts()) return true;
    q.disableInterrupts();
    return false;
  }

  /** Posts receive buffers once a burst's worth fits. Returns whether to kick receiveq1. */
  private refill(): boolean {
    const k = this.refillSize();
    if (k === 0) return false;
    const free = Math.floor(this.rx.numFree / this.cfg.descsPerChain);
    const b = this.rxBatch;
    const cuts = this.rxCuts;
    const pool = this.pool;
    const u32 = this.u32;
    b.clear();
    for (let i = 0; i < k; i++) {
      const buf = pool.get();
      const off = pool.offset(buf);
      u32[off >>> 2] = POISON; // a packet the device never wrote fails the header check
      u32[(off + NET_HDR_SIZE) >>> 2] = POISON;
      if (cuts.length === 1) {
        b.single(buf, off, cuts[0], true);
      } else {
        b.begin(buf);
        let at = off;
        for (let j = 0; j < cuts.length; j++) { b.write(at, cuts[j]); at += cuts[j]; }
        b.end();
      }
    }
    const added = this.rx.add(b);
    if (added !== k) throw new Error(`receiveq1: added ${added} of ${k} buffers with ${free} chains free`);
    this.activity += k;
    return this.rx.kickNeeded();
  }

  /** Receive buffers a refill would post now (0: fewer than a burst fit). */
  private refillSize(): number {
    const free = Math.floor(this.rx.numFree / this.cfg.descsPerChain);
    const k = Math.min(free, this.pool.available);
    return k === 0 || k < Math.min(this.cfg.batch, this.maxChains) ? 0 : k;
  }

  /** Frames a transmit would send now (0: the burst does not fit the ring or the pool). */
  private transmitSize(): number {
    const c = this.cfg;
    const burst = Math.min(c.batch, c.packets - this.sent, this.maxChains);
    const free = Math.floor(this.tx.numFree / c.descsPerChain);
    return free < burst || this.pool.available < burst ? 0 : burst;
  }

  /** Sends one burst if it fits. Returns whether to kick transmitq1. */
  private transmit(): boolean {
    const c = this.cfg;
    const burst = this.transmitSize();
    if (burst === 0) return false;
    const free = Math.floor(this.tx.numFree / c.descsPerChain);
    const b = this.txBatch;
    const cuts = this.txCuts;
    const pool = this.pool;
    const u8 = this.u8;
    const u32 = this.u32;
    b.clear();
    for (let i = 0; i < burst; i++) {
      const buf = pool.get();
      const off = pool.offset(buf);
      stampPacket(u8, u32, off, c.frameSize, this.sent + i, c.key);
      if (cuts.length === 1) {
        b.single(buf, off, cuts[0], false);
      } else {
        b.begin(buf);
        let at = off;
        for (let j = 0; j < cuts.length; j++) { b.read(at, cuts[j]); at += cuts[j]; }
        b.end();
      }
    }
    const added = this.tx.add(b);
    if (added !== burst) throw new Error(`transmitq1: added ${added} of ${burst} packets with ${free} chains free`);
    this.sent += burst;
    this.activity += burst;
    return this.tx.kickNeeded();
  }
}
