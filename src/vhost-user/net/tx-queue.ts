// A transmit queue (transmitqN) of the device: pops bursts of chains the front-end sent, gives
// each frame without its virtio_net_hdr (VIRTIO 1.2 5.1.6.2: the header, then the frame) and
// returns the buffers used with len 0 (the device writes nothing into them, 2.7.8.2).
import { ChainBatch, UsedBatch } from '../../batch.js';
import type { Engine } from '../../engine.js';
import type { MemoryPlan } from '../../memory.js';
import type { ReadyRing } from '../backend.js';
import { MAX_BURST_SEGS } from './rx-queue.js';

/** Longest frame taken (bytes after the header): 64 KiB, GSO-sized; longer chains are errors. */
export const MAX_TX_FRAME = 65536;

export class TxQueue {
  ring: ReadyRing | undefined;
  private readonly batch: ChainBatch;
  private readonly used: UsedBatch;
  private readonly u8: Uint8Array;
  private readonly scratch = new Uint8Array(MAX_TX_FRAME + 64);
  /** Where frame() put the current frame: bytes [at, at + len) of buf. */
  buf: Uint8Array;
  at = 0;
  len = 0;
  /** Chains too short for a header or too long for a frame. */
  errors = 0;
  interrupts = 0;

  constructor(engine: Engine, plan: MemoryPlan, private readonly burst: number,
              private readonly onError: (message: string) => void) {
    this.u8 = engine.u8;
    this.buf = this.u8;
    this.batch = new ChainBatch(engine, plan, burst, MAX_BURST_SEGS);
    this.used = new UsedBatch(engine, plan, burst);
  }

  attach(ring: ReadyRing): void {
    this.ring = ring;
    this.used.clear();
  }

  detach(): void {
    this.ring = undefined;
    this.used.clear();
  }

  /** Pops a burst; returns how many chains. */
  pop(): number {
    const ring = this.ring;
    if (!ring) return 0;
    try {
      return ring.device.pop(this.batch, this.burst);
    } catch (e) {
      this.fail(e);
      return 0;
    }
  }

  /**
   * Locates chain i's frame (after the `hdrSize`-byte header); gathers it into a scratch buffer
   * when it spans several segments. False (and counted) when the chain is malformed. Either way
   * the chain is recorded as used.
   */
  frame(i: number, hdrSize: number): boolean {
    const b = this.batch;
    this.used.push(b.id(i), 0);
    const total = b.readLen(i);
    if (total < hdrSize || total - hdrSize > MAX_TX_FRAME) {
      this.errors++;
      return false;
    }
    const first = b.firstSeg(i);
    const nr = b.nRead(i);
    if (nr === 1) {
      this.buf = this.u8;
      this.at = b.segOffset(first) + hdrSize;
      this.len = total - hdrSize;
      return true;
    }
    let skip = hdrSize;
    let w = 0;
    for (let s = first; s < first + nr; s++) {
      let off = b.segOffset(s);
      let n = b.segLen(s);
      const cut = Math.min(skip, n);
      skip -= cut;
      off += cut;
      n -= cut;
      this.scratch.set(this.u8.subarray(off, off + n), w);
      w += n;
    }
    this.buf = this.scratch;
    this.at = 0;
    this.len = w;
    return true;
  }

  /** Pushes the used records of the burst and interrupts if the driver wants it. */
  flush(): void {
    const ring = this.ring;
    if (!ring || this.used.count === 0) return;
    try {
      ring.device.push(this.used);
      this.used.clear();
      if (ring.device.interruptNeeded() && ring.interrupt()) this.interrupts++;
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    const ring = this.ring;
    this.detach();
    this.onError(`vring ${ring?.index}: ${(e as Error).message} (not polled until the front-end restarts it)`);
  }
}
