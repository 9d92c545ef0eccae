// A receive queue (receiveqN) of the device: chains popped from it are held in a FIFO until a
// frame is written into them, so a frame is only written once every buffer it needs is in hand
// (VIRTIO 1.2 5.1.6.4: with MRG_RXBUF a frame may span several buffers, num_buffers in the
// first one's header says how many; without it, one buffer per frame). Used records are
// pushed per burst (never splitting a frame's buffers over two pushes) and the front-end is
// interrupted only when the ring asks for it (2.7.10, 2.8.10).
import { ChainBatch, UsedBatch } from '../../batch.js';
import type { Engine } from '../../engine.js';
import type { MemoryPlan } from '../../memory.js';
import type { ReadyRing } from '../backend.js';
import { fillRxHeader } from './header.js';

interface HeldChain {
  id: number;
  offs: number[];
  lens: number[];
  /** Writable bytes. */
  cap: number;
}

export type Delivery = 'ok' | 'no-buffers' | 'too-big';

/** Segments one popped burst may hold (a chain never has more descriptors than its ring's size). */
export const MAX_BURST_SEGS = 32768 + 1024;

export class RxQueue {
  ring: ReadyRing | undefined;
  private readonly batch: ChainBatch;
  private readonly used: UsedBatch;
  private readonly u8: Uint8Array;
  private held: HeldChain[] = [];
  private head = 0;
  private tail = 0;
  private readonly hdr = new Uint8Array(16);
  // Write cursor over the chains of the frame being written.
  private cj = 0;
  private cs = 0;
  private co = 0;
  private written: number[] = [];
  /** Receive buffers with no writable part (returned with len 0). */
  errors = 0;
  interrupts = 0;

  constructor(engine: Engine, plan: MemoryPlan, private readonly burst: number, usedCapacity: number,
              private readonly onError: (message: string) => void) {
    this.u8 = engine.u8;
    this.batch = new ChainBatch(engine, plan, burst, MAX_BURST_SEGS);
    this.used = new UsedBatch(engine, plan, usedCapacity);
  }

  attach(ring: ReadyRing): void {
    this.detach();
    this.ring = ring;
  }

  /** Forgets the ring and the chains held from it (the back-end stopped it: they are abandoned). */
  detach(): void {
    this.ring = undefined;
    this.head = this.tail = 0;
    this.used.clear();
  }

  get heldCount(): number {
    return this.tail - this.head;
  }

  /** Pops up to a burst of receive buffers into the FIFO; returns how many. */
  refill(): number {
    const ring = this.ring;
    if (!ring) return 0;
    let n: number;
    try {
      n = ring.device.pop(this.batch, this.burst);
    } catch (e) {
      this.fail(e);
      return 0;
    }
    if (n === 0) return 0;
    this.makeRoom(n);
    const b = this.batch;
    for (let i = 0; i < n; i++) {
      const c = this.held[this.tail++];
      c.id = b.id(i);
      c.offs.length = c.lens.length = 0;
      c.cap = 0;
      // Device-readable segments of a receive buffer are skipped: only writable ones take data.
      const first = b.firstSeg(i) + b.nRead(i);
      for (let s = first; s < first + b.nWrite(i); s++) {
        c.offs.push(b.segOffset(s));
        c.lens.push(b.segLen(s));
        c.cap += b.segLen(s);
      }
    }
    return n;
  }

  private makeRoom(n: number): void {
    if (this.tail + n <= this.held.length) return;
    if (this.head > 0) {
      const live = this.held.splice(this.head, this.tail - this.head);
      this.held = live.concat(this.held);
      this.tail -= this.head;
      this.head = 0;
    }
    while (this.held.length < this.tail + n) this.held.push({ id: 0, offs: [], lens: [], cap: 0 });
  }

  /**
   * Writes one frame (bytes [at, at + len) of `src`, which may be the engine's own view) with
   * its header into held buffers, popping more as needed. Without MRG_RXBUF a frame that does not
   * fit the next buffer is dropped and the buffer kept (5.1.6.3.1 asks the driver for buffers
   * big enough); with it, the frame takes as many buffers as it needs.
   */
  deliver(src: Uint8Array, at: number, len: number, hdrSize: number, merge: boolean): Delivery {
    this.skipUnwritable();
    if (this.head === this.tail) {
      this.refill();
      this.skipUnwritable();
      if (this.head === this.tail) return 'no-buffers';
    }
    const need = hdrSize + len;
    let k = 1;
    if (!merge) {
      if (this.held[this.head].cap < need) return 'too-big';
    } else {
      let room = this.held[this.head].cap;
      while (room < need) {
        if (this.head + k === this.tail) {
          if (k >= this.used.capacity) return 'too-big';
          if (this.refill() === 0) return 'no-buffers';
          continue;
        }
        room += this.held[this.head + k].cap;
        k++;
      }
    }
    if (k > this.used.capacity) return 'too-big';
    if (this.used.count + k > this.used.capacity) this.flush();
    fillRxHeader(this.hdr, hdrSize, k);
    this.cj = this.head;
    this.cs = 0;
    this.co = 0;
    this.written.length = 0;
    for (let j = 0; j < k; j++) this.written.push(0);
    this.put(this.hdr, 0, hdrSize);
    this.put(src, at, len);
    for (let j = 0; j < k; j++) this.used.push(this.held[this.head + j].id, this.written[j]);
    this.head += k;
    if (this.head === this.tail) this.head = this.tail = 0;
    return 'ok';
  }

  /** Buffers with nothing writable at the head go back used with len 0 (counted as errors). */
  private skipUnwritable(): void {
    while (this.head < this.tail && this.held[this.head].cap === 0) {
      if (this.used.count === this.used.capacity) this.flush();
      this.used.push(this.held[this.head].id, 0);
      this.head++;
      this.errors++;
    }
  }

  /** Copies n bytes through the write cursor (the buffers were checked to have room). */
  private put(src: Uint8Array, at: number, n: number): void {
    const u8 = this.u8;
    while (n > 0) {
      const c = this.held[this.cj];
      if (this.cs === c.offs.length) {
        this.cj++;
        this.cs = 0;
        this.co = 0;
        continue;
      }
      const m = Math.min(n, c.lens[this.cs] - this.co);
      const dst = c.offs[this.cs] + this.co;
      if (src === u8) u8.copyWithin(dst, at, at + m);
      else u8.set(src.subarray(at, at + m), dst);
      this.written[this.cj - this.head] += m;
      at += m;
      n -= m;
      this.co += m;
      if (this.co === c.lens[this.cs]) {
        this.cs++;
        this.co = 0;
      }
    }
  }

  /** Pushes the used records gathered so far and interrupts if the driver wants it. */
  flush(): number {
    const ring = this.ring;
    const n = this.used.count;
    if (!ring || n === 0) return 0;
    try {
      ring.device.push(this.used);
      this.used.clear();
      if (ring.device.interruptNeeded() && ring.interrupt()) this.interrupts++;
    } catch (e) {
      this.fail(e);
    }
    return n;
  }

  private fail(e: unknown): void {
    const ring = this.ring;
    this.detach();
    this.onError(`vring ${ring?.index}: ${(e as Error).message} (not polled until the front-end restarts it)`);
  }
}
