// testpmd's forwarding modes over a VirtioUserPort, one burst per call and queue pair (what the
// CLI and the benchmark run): txonly sends 64-byte UDP frames (and frees what arrives), rxonly
// frees what arrives, io sends what arrives back on the same queue pair, macswap the same with
// the MAC addresses swapped. Frames the ring cannot take go back to the pool (counted as dropped).
import { txonlyFrame, TXONLY_FRAME_SIZE } from '../virtio-net/frames.js';
import type { HandleBurst } from '../dataplane/handle-ring.js';
import type { VirtioUserPort } from './port.js';

export const FWD_MODES = ['txonly', 'rxonly', 'io', 'macswap'] as const;
export type FwdMode = (typeof FWD_MODES)[number];

export class Forwarder {
  private readonly rx: HandleBurst;
  private readonly tx: HandleBurst;
  /** The txonly frame, in the port's memory (the engine copies it into each buffer). */
  private readonly frame: number;
  private readonly frameSize: number;
  /** Frames taken back because the transmit ring was full. */
  dropped = 0;

  /** `frameSize`: txonly frames' length (the 64-byte UDP frame, zero-padded; IP and UDP lengths say 64). */
  constructor(readonly port: VirtioUserPort, readonly mode: FwdMode, readonly burst = 32, frameSize = TXONLY_FRAME_SIZE) {
    if (frameSize < TXONLY_FRAME_SIZE || frameSize > port.pool.dataRoom) throw new RangeError(`frame size ${frameSize}: ${TXONLY_FRAME_SIZE} to ${port.pool.dataRoom}`);
    this.frameSize = frameSize;
    this.frame = port.priv.alloc(frameSize, 64, 'txonly frame');
    port.engine.u8.fill(0, this.frame, this.frame + frameSize);
    port.engine.u8.set(txonlyFrame(), this.frame);
    this.rx = port.burst(burst);
    this.tx = port.burst(burst);
  }

  /** Sends one burst of txonly frames on queue pair `k` (also io's --tx-first); returns how many went. */
  txBurst(k: number): number {
    const p = this.port;
    const b = this.tx;
    if (!p.up) return 0;
    const q = p.queues[k];
    const got = p.engine.check(p.engine.exports.vuqAllocFill(q.block, b.ptr, this.burst, this.frame, this.frameSize), p.pool.addr, 'txonly fill');
    b.count = got;
    return got === 0 ? 0 : this.send(k, b, got);
  }

  private send(k: number, b: HandleBurst, n: number): number {
    const took = this.port.txBurst(k, b, n);
    if (took < n) {
      this.dropped += n - took;
      b.handles.copyWithin(0, took, n);
      this.port.free(b, n - took);
    }
    return took;
  }

  /** One burst of the mode on queue pair `k`: frames moved (received plus sent). */
  poll(k: number): number {
    const p = this.port;
    const n = p.rxBurst(k, this.rx);
    let moved = n;
    if (this.mode === 'io' || this.mode === 'macswap') {
      if (n > 0) {
        if (this.mode === 'macswap') this.swap(n);
        moved += this.send(k, this.rx, n);
      }
    } else {
      if (n > 0) p.free(this.rx, n);
      if (this.mode === 'txonly') moved += this.txBurst(k);
    }
    return moved;
  }

  private swap(n: number): void {
    this.port.engine.exports.vuqMacSwap(this.rx.ptr, n);
  }
}
