// testpmd's forwarding modes over a port (PacketPort: VirtioUserPort, VfioNetPort), one burst per call and queue pair (what the
// CLI and the benchmark run): txonly sends 64-byte UDP frames (and frees what arrives), rxonly
// frees what arrives, io sends what arrives back on the same queue pair, macswap the same with
// the MAC addresses swapped. Frames the ring cannot take go back to the pool (counted as dropped).
import { txonlyFrame, TXONLY_FRAME_SIZE } from '../virtio-net/frames.js';
import type { HandleBurst } from '../dataplane/handle-ring.js';
import type { PacketPort } from './packet-port.js';

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
  constructor(readonly port: PacketPort, readonly mode: FwdMode, readonly burst = 32, frameSize = TXONLY_FRAME_SIZE) {
    if (frameSize < TXONLY_FRAME_SIZE || frameSize > port.pool.dataRoom) throw new RangeError(`frame size ${frameSize}: ${TXONLY_FRAME_SIZE} to ${port.pool.dataRoom}`);
    this.frameSize = frameSize;
    this.frame = port.priv.alloc(frameSize, 64, 'txonly frame');
    port.engine.u8.fill(0, this.frame, this.frame + frameSize);
    port.engine.u8.set(txonlyFrame(), this.frame);
    this.rx = port.burst(burst);
    this.tx = port.burst(burst);
  }

  /** Sends one burst of txonly frames on queue pair `k` (also io's --tx-first): as many as the ring has room for; returns how many went. */
  txBurst(k: number): number {
    return this.port.txOnlyBurst(k, this.tx, this.burst, this.frame, this.frameSize);
  }

  /** One burst of the mode on queue pair `k`: frames moved (received plus sent), one engine call for io and macswap. */
  poll(k: number): number {
    const p = this.port;
    if (this.mode === 'io' || this.mode === 'macswap') {
      const n = p.forwardBurst(k, this.rx, this.mode === 'macswap');
      if (n === 0) return 0;
      const sent = p.queues[k].lastSent;
      this.dropped += n - sent;
      return n + sent;
    }
    const n = p.rxBurst(k, this.rx);
    if (n > 0) p.free(this.rx, n);
    return this.mode === 'txonly' ? n + this.txBurst(k) : n;
  }
}
