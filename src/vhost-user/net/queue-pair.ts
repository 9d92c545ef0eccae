// One queue pair of the virtio-net device (VIRTIO 1.2 5.1.2: virtqueue 2k is receiveq(k+1), 2k+1
// is transmitq(k+1)) and the forwarding modes, named after testpmd's:
//   io       frames the front-end transmits go back to it on the same pair's receive queue
//   macswap  the same, with destination and source MAC swapped
//   rxonly   frames the front-end transmits are counted and dropped
//   txonly   the device sends a fixed 64-byte Ethernet/IPv4/UDP frame as fast as receive
//            buffers come (frames the front-end transmits are counted and dropped)
// Counters are from the device's side: rx = frames received from the front-end (its transmit
// queues), tx = frames sent to the front-end (its receive queues).
import type { Engine } from '../../engine.js';
import type { MemoryPlan } from '../../memory.js';
import { netHdrSize, mergeable } from './header.js';
import { macSwap, txonlyFrame, TXONLY_FRAME_SIZE, rarpFrame } from './frames.js';
import { RxQueue } from './rx-queue.js';
import { TxQueue, MAX_TX_FRAME } from './tx-queue.js';
import type { PcapWriter } from './pcap.js';

export const FWD_MODES = ['io', 'macswap', 'rxonly', 'txonly'] as const;
export type FwdMode = (typeof FWD_MODES)[number];

export interface PairCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Frames not delivered to the front-end: no receive buffer, or (without MRG_RXBUF) too big for one. */
  dropped: number;
  /** Malformed chains, and engine errors that stopped a ring. */
  errors: number;
}

export const zeroCounters = (): PairCounters => ({ rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, dropped: 0, errors: 0 });

const TXONLY = txonlyFrame();

export class QueuePair {
  readonly rx: RxQueue;
  readonly tx: TxQueue;
  readonly counters = zeroCounters();
  private engineErrors = 0;
  private readonly scratch = new Uint8Array(MAX_TX_FRAME + 64);

  constructor(engine: Engine, plan: MemoryPlan, readonly index: number, private readonly mode: FwdMode, private readonly burst: number,
              private readonly pcap: PcapWriter | undefined, log: (line: string) => void) {
    const onError = (m: string): void => {
      this.engineErrors++;
      log(m);
    };
    this.rx = new RxQueue(engine, plan, burst, 4 * burst + 64, onError);
    this.tx = new TxQueue(engine, plan, burst, onError);
  }

  /** Counters with the queues' error counts folded in. */
  snapshot(): PairCounters {
    return { ...this.counters, errors: this.engineErrors + this.rx.errors + this.tx.errors };
  }

  /** A RARP to broadcast (SEND_RARP), held until a receive buffer takes it. */
  private announcement: Uint8Array | undefined;

  /** Queues a RARP announcing `mac`; it goes out ahead of other frames once a buffer is there. */
  announce(mac: Uint8Array): void {
    this.announcement = rarpFrame(mac);
  }

  /** One round: a transmit burst forwarded (or a receive burst generated). Returns frames handled. */
  poll(): number {
    let work = this.announcement ? this.sendAnnouncement() : 0;
    work += this.mode === 'txonly' ? this.generate() : 0;
    work += this.forward();
    return work;
  }

  private forward(): number {
    const tx = this.tx;
    const ring = tx.ring;
    if (!ring) return 0;
    const n = tx.pop();
    if (n === 0) return 0;
    const c = this.counters;
    const hdr = netHdrSize(ring.features);
    const rx = this.rx;
    const merge = mergeable(ring.features);
    const sendBack = this.mode === 'io' || this.mode === 'macswap';
    for (let i = 0; i < n; i++) {
      if (!tx.frame(i, hdr)) continue;
      let buf = tx.buf;
      let at = tx.at;
      const len = tx.len;
      c.rxPackets++;
      c.rxBytes += len;
      this.pcap?.frame(buf, at, len);
      if (!sendBack) continue;
      if (this.mode === 'macswap' && len >= 12) {
        // The front-end's buffer is device-readable only: swap in a copy.
        this.scratch.set(buf.subarray(at, at + len), 0);
        buf = this.scratch;
        at = 0;
        macSwap(buf, 0);
      }
      if (rx.ring && rx.deliver(buf, at, len, hdr, merge) === 'ok') {
        c.txPackets++;
        c.txBytes += len;
      } else {
        c.dropped++;
      }
    }
    tx.flush();
    rx.flush();
    return n;
  }

  private sendAnnouncement(): number {
    const rx = this.rx;
    const ring = rx.ring;
    const frame = this.announcement;
    if (!ring || !frame) return 0;
    const d = rx.deliver(frame, 0, frame.length, netHdrSize(ring.features), mergeable(ring.features));
    if (d === 'no-buffers') return 0; // try again next round
    this.announcement = undefined;
    if (d === 'ok') {
      this.counters.txPackets++;
      this.counters.txBytes += frame.length;
      rx.flush();
      return 1;
    }
    this.counters.dropped++;
    return 0;
  }

  private generate(): number {
    const rx = this.rx;
    const ring = rx.ring;
    if (!ring) return 0;
    const hdr = netHdrSize(ring.features);
    const merge = mergeable(ring.features);
    const c = this.counters;
    let made = 0;
    while (made < this.burst) {
      const d = rx.deliver(TXONLY, 0, TXONLY_FRAME_SIZE, hdr, merge);
      if (d === 'no-buffers') break;
      if (d === 'too-big') {
        c.dropped++;
        break;
      }
      made++;
    }
    c.txPackets += made;
    c.txBytes += made * TXONLY_FRAME_SIZE;
    rx.flush();
    return made;
  }
}
