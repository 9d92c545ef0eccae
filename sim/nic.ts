// A software NIC: the device side of a virtio-net-like function with one receive queue
// (receiveq1, device -> driver) and one transmit queue (transmitq1, driver -> device), each a
// DeviceQueue handle. Modes:
//
//   loopback   frames popped from transmitq1 are copied into receiveq1 buffers and both chains
//              are returned. Backpressure: a frame waits for a receive buffer, it is not dropped.
//   generator  the NIC produces frames 0 .. packets-1 (frame.ts) into receiveq1 buffers.
//   sink       the NIC consumes transmitq1 frames and checks them itself (a Receiver).
//
// Time is counted in ticks, one per `step()`. A chain the NIC takes is scheduled for completion
// (scheduler.ts: latency, jitter, reordering); when it is due, the wire may drop its frame
// (drop probability): the transmit chain is still completed, nothing is delivered, and the
// frame counts as `dropped`.
//
// Notifications work as in vhost: a queue the NIC has drained asks for kicks (enableNotify) and
// sleeps; a kick wakes it and it polls with kicks off until the queue is empty again. After each
// push the NIC asks interruptNeeded() and reports the queues that want an interrupt.
//
// Everything is per burst: pops of up to `burst` chains and at most one push per queue per tick,
// with the per-packet checks done in JS on typed arrays over the shared memory and each frame
// copy one call of the engine's scatter-gather copy (sglist.ts).
import { ChainBatch, UsedBatch } from '../src/virtqueue/batch.js';
import type { Engine } from '../src/engine.js';
import type { MemoryPlan } from '../src/memory.js';
import { NET_HDR_SIZE, MAX_FRAME_SIZE, stampPacket } from './frame.js';
import { ChainStore, copyBetween, scatterInto, gatherFrom } from './sglist.js';
import { U32Fifo } from './fifo.js';
import { RX_BIT, TX_BIT, type DeviceQueue } from './queues.js';
import type { CompletionScheduler } from './scheduler.js';
import type { Receiver } from './receiver.js';
import type { SimMode } from './options.js';

export interface NicConfig {
  mode: SimMode;
  queueSize: number;
  /** Most chains taken from a queue per tick. */
  burst: number;
  frameSize: number;
  /** Generator: frames to produce. */
  packets: number;
  /** Generator: payload pattern key (frame.ts). */
  key: number;
  /** Most segments a chain may have (longer ones are returned unused and counted as malformed). */
  maxSegs: number;
}

const MODE_LOOPBACK = 0;
const MODE_GENERATOR = 1;
const MODE_SINK = 2;

export class SoftNic {
  /** Frames the wire dropped (intentionally, by the drop probability). */
  dropped = 0;
  /** Chains returned unused: wrong direction, too many segments, or too small for the frame. */
  malformed = 0;
  /** Frames placed in receive buffers (loopback, generator). */
  rxDelivered = 0;
  /** Transmit chains completed. */
  txCompleted = 0;
  /** Receive chains returned (with a frame, or unused because malformed). */
  rxPushed = 0;
  /** Generator: next sequence number to produce. */
  nextSeq = 0;
  /** Ticks run. */
  ticks = 0;
  /** Grows whenever the NIC moves anything (stall detection). */
  activity = 0;

  private readonly mode: number;
  private readonly tx: DeviceQueue;
  private readonly rx: DeviceQueue;
  private readonly sched: CompletionScheduler;
  private readonly receiver: Receiver | null;
  private readonly u8: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly burst: number;
  private readonly frameSize: number;
  private readonly packetLen: number;
  private readonly packets: number;
  private readonly key: number;
  private readonly txPop: ChainBatch;
  private readonly rxPop: ChainBatch;
  private readonly txUsed: UsedBatch;
  private readonly rxUsed: UsedBatch;
  private readonly txStore: ChainStore;
  private readonly rxStore: ChainStore;
  /** Loopback: transmit heads whose frame is due, waiting for a receive buffer. */
  private readonly ready: U32Fifo;
  /** Loopback: receive heads popped and not used yet. */
  private readonly rxHeld: U32Fifo;
  private readonly due: Uint32Array;
  /** A packet-sized area for frames that are not one aligned segment. */
  private readonly scratch: number;
  private readonly scratchLen: number;
  private txAwake = false;
  private rxAwake = false;

  constructor(engine: Engine, plan: MemoryPlan, tx: DeviceQueue, rx: DeviceQueue, sched: CompletionScheduler, receiver: Receiver | null, c: NicConfig) {
    this.mode = c.mode === 'loopback' ? MODE_LOOPBACK : c.mode === 'generator' ? MODE_GENERATOR : MODE_SINK;
    if (this.mode === MODE_SINK && !receiver) throw new Error('a sink NIC needs a Receiver');
    this.tx = tx;
    this.rx = rx;
    this.sched = sched;
    this.receiver = receiver;
    this.u8 = engine.u8;
    this.u32 = engine.u32;
    this.burst = c.burst;
    this.frameSize = c.frameSize;
    this.packetLen = NET_HDR_SIZE + c.frameSize;
    this.packets = c.packets;
    this.key = c.key;
    const q = c.queueSize;
    this.txPop = new ChainBatch(engine, plan, c.burst, c.burst * c.maxSegs);
    this.rxPop = new ChainBatch(engine, plan, c.burst, c.burst * c.maxSegs);
    this.txUsed = new UsedBatch(engine, plan, q);
    this.rxUsed = new UsedBatch(engine, plan, q);
    this.txStore = new ChainStore(engine, plan, q, c.maxSegs);
    this.rxStore = new ChainStore(engine, plan, q, c.maxSegs);
    this.ready = new U32Fifo(q);
    this.rxHeld = new U32Fifo(q);
    this.due = new Uint32Array(q);
    this.scratchLen = NET_HDR_SIZE + MAX_FRAME_SIZE;
    this.scratch = plan.alloc(this.scratchLen, 64, 'nic scratch');
    // Start asleep: ask for kicks on the queues this mode reads.
    if (this.mode !== MODE_GENERATOR) this.sleepOrPoll(TX_BIT);
    if (this.mode !== MODE_SINK) this.sleepOrPoll(RX_BIT);
  }

  /** Nothing scheduled and nothing waiting: every chain taken has been completed (or is idle). */
  get idle(): boolean {
    return this.sched.pending === 0 && this.ready.count === 0;
  }

  /**
   * Nothing to do until a kick: nothing scheduled, and every queue that could bring work waits
   * with notifications enabled (used by a worker deciding to sleep). Loopback and sink only.
   */
  get quiescent(): boolean {
    return this.sched.pending === 0 && !this.txAwake && (this.ready.count === 0 || !this.rxAwake);
  }

  /** Chains the NIC holds: scheduled, waiting for a receive buffer, or receive buffers popped. */
  get held(): number {
    return this.sched.pending + this.ready.count + this.rxHeld.count;
  }

  /** One tick. `kicks`: queues the driver notified (RX_BIT | TX_BIT). Returns queues to interrupt. */
  step(kicks: number): number {
    this.ticks++;
    if ((kicks & TX_BIT) !== 0 && !this.txAwake) { this.txAwake = true; this.tx.disableNotify(); }
    if ((kicks & RX_BIT) !== 0 && !this.rxAwake) { this.rxAwake = true; this.rx.disableNotify(); }

    if (this.mode === MODE_GENERATOR) {
      if (this.rxAwake) this.takeGeneratorBuffers();
    } else if (this.txAwake) {
      this.takeTransmitChains();
    }

    const n = this.sched.release(this.due);
    this.sched.tick();
    if (n > 0) {
      this.activity += n;
      if (this.mode === MODE_LOOPBACK) this.releaseLoopback(n);
      else if (this.mode === MODE_GENERATOR) this.releaseGenerator(n);
      else this.releaseSink(n);
    }
    if (this.ready.count > 0) this.deliverLoopback();
    return this.pushUsed();
  }

  /** Asks for kicks on a drained queue: sleeps unless chains arrived meanwhile. */
  private sleepOrPoll(bit: number): void {
    const q = bit === TX_BIT ? this.tx : this.rx;
    const waiting = q.enableNotify();
    if (waiting) q.disableNotify();
    if (bit === TX_BIT) this.txAwake = waiting; else this.rxAwake = waiting;
  }

  private takeTransmitChains(): void {
    const b = this.txPop;
    const n = this.tx.pop(b, this.burst);
    if (n === 0) { this.sleepOrPoll(TX_BIT); return; }
    this.activity += n;
    for (let i = 0; i < n; i++) {
      const head = b.id(i);
      if (b.nWrite(i) !== 0 || !this.txStore.hold(b, i) || this.txStore.bytes[head] < NET_HDR_SIZE) {
        this.malformed++;
        this.completeTx(head);
        continue;
      }
      this.sched.schedule(head);
    }
  }

  /** Pops receive buffers into rxStore; returns how many usable ones it got (loopback). */
  private takeReceiveBuffers(max: number): number {
    const b = this.rxPop;
    const n = this.rx.pop(b, max);
    if (n === 0) { this.sleepOrPoll(RX_BIT); return 0; }
    this.activity += n;
    let usable = 0;
    for (let i = 0; i < n; i++) {
      const head = b.id(i);
      if (b.nRead(i) !== 0 || !this.rxStore.hold(b, i)) {
        this.malformed++;
        this.rxUsed.push(head, 0);
        continue;
      }
      this.rxHeld.push(head);
      usable++;
    }
    return usable;
  }

  private takeGeneratorBuffers(): void {
    // Enough buffers for the frames not produced yet (a dropped frame leaves its buffer idle).
    const want = Math.min(this.burst, this.packets - this.nextSeq - this.sched.pending);
    if (want <= 0) return;
    const b = this.rxPop;
    const n = this.rx.pop(b, want);
    if (n === 0) { this.sleepOrPoll(RX_BIT); return; }
    this.activity += n;
    for (let i = 0; i < n; i++) {
      const head = b.id(i);
      if (b.nRead(i) !== 0 || !this.rxStore.hold(b, i) || this.rxStore.bytes[head] < this.packetLen) {
        this.malformed++;
        this.rxUsed.push(head, 0);
        continue;
      }
      this.sched.schedule(head);
    }
  }

  private releaseLoopback(n: number): void {
    for (let i = 0; i < n; i++) {
      const head = this.due[i];
      if (this.sched.drop()) { this.dropped++; this.completeTx(head); } else this.ready.push(head);
    }
  }

  private releaseSink(n: number): void {
    const rcv = this.receiver!;
    for (let i = 0; i < n; i++) {
      const head = this.due[i];
      if (this.sched.drop()) {
        this.dropped++;
      } else {
        const bytes = this.txStore.bytes[head];
        if (this.txStore.isFlatAligned(head)) {
          rcv.receive(this.txStore.firstOffset(head), bytes);
        } else if (bytes <= this.scratchLen) {
          gatherFrom(this.txStore, head, this.scratch, bytes);
          rcv.receive(this.scratch, bytes);
        } else {
          rcv.reject(); // longer than any frame this NIC knows
        }
      }
      this.completeTx(head);
    }
  }

  private releaseGenerator(n: number): void {
    for (let i = 0; i < n; i++) {
      const head = this.due[i];
      // The buffer takes the next frame the wire does not drop; if the run ends first it stays
      // with the NIC, unused (as a real NIC keeps posted buffers until reset).
      while (this.nextSeq < this.packets) {
        const seq = this.nextSeq++;
        if (this.sched.drop()) { this.dropped++; continue; }
        if (this.rxStore.isFlatAligned(head)) {
          stampPacket(this.u8, this.u32, this.rxStore.firstOffset(head), this.frameSize, seq, this.key);
        } else {
          stampPacket(this.u8, this.u32, this.scratch, this.frameSize, seq, this.key);
          scatterInto(this.scratch, this.rxStore, head, this.packetLen);
        }
        this.rxUsed.push(head, this.packetLen);
        this.rxDelivered++;
        break;
      }
    }
  }

  /** Loopback: moves due frames into receive buffers, in order, while buffers last. */
  private deliverLoopback(): void {
    const ready = this.ready;
    const held = this.rxHeld;
    while (ready.count > 0) {
      // Out of buffers: pop more (when kicks say there may be some); try again next tick if none.
      if (held.count === 0 && (!this.rxAwake || this.takeReceiveBuffers(Math.min(this.burst, ready.count)) === 0)) return;
      const txHead = ready.shift();
      const bytes = this.txStore.bytes[txHead];
      const rxHead = held.shift();
      if (bytes > this.rxStore.bytes[rxHead]) {
        // The frame does not fit this buffer: give the buffer back unused, drop the frame.
        this.malformed++;
        this.rxUsed.push(rxHead, 0);
        this.completeTx(txHead);
        continue;
      }
      copyBetween(this.txStore, txHead, this.rxStore, rxHead, bytes);
      this.rxUsed.push(rxHead, bytes);
      this.rxDelivered++;
      this.completeTx(txHead);
    }
  }

  private completeTx(head: number): void {
    this.txUsed.push(head, 0);
    this.txCompleted++;
  }

  private pushUsed(): number {
    let irq = 0;
    if (this.txUsed.count > 0) {
      this.tx.push(this.txUsed);
      this.activity += this.txUsed.count;
      this.txUsed.clear();
      if (this.tx.interruptNeeded()) irq |= TX_BIT;
    }
    if (this.rxUsed.count > 0) {
      this.rx.push(this.rxUsed);
      this.activity += this.rxUsed.count;
      this.rxPushed += this.rxUsed.count;
      this.rxUsed.clear();
      if (this.rx.interruptNeeded()) irq |= RX_BIT;
    }
    return irq;
  }
}
