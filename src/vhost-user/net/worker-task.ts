// The virtio-net device's data path on a Dataplane worker (Node: it signals call eventfds and
// may write a capture file). One task serves the queue pairs given to its worker: each poll it
// applies what the control plane handed over (handoff.ts), then moves one burst per pair with
// one engine call (netForward, or netInject for txonly) and signals the front-end when the
// engine says it wants an interrupt. While frames flow the rings' kicks stay disabled; before
// the worker sleeps, arm() enables them and re-checks the rings (the engine's EnableNotify
// contract), and a kick then rings this worker's doorbell through the control plane's watcher.
import { eventfdWrite } from '../../native/index.js';
import type { Task, TaskContext } from '../../dataplane/task.js';
import type { Engine } from '../../engine.js';
import { NetQueuePair, type NetMode } from '../../virtio-net/queue-pair.js';
import { txonlyFrame, rarpFrame, TXONLY_FRAME_SIZE } from '../../virtio-net/frames.js';
import * as N from '../../../assembly/layout/net.js';
import * as B from '../../../assembly/layout/batch.js';
import * as Q from '../../../assembly/layout/queue.js';
import { HandoffReader } from '../handoff.js';
import { PcapWriter } from './pcap.js';

/** One queue pair served by the worker: its engine block, its two handoff records, 128 bytes of scratch. */
export interface PairRef {
  index: number;
  netq: number;
  rx: number;
  tx: number;
  scratch: number;
}

export interface NetWorkerConfig {
  mode: NetMode;
  pairs: PairRef[];
  /** Capture what the front-end transmits (one worker only). */
  pcap?: { path: string; maxFrames: number };
}

const SCRATCH_TXONLY = 0;
const SCRATCH_RARP = 64;
export const PAIR_SCRATCH_BYTES = 128;

class PairWorker {
  readonly q: NetQueuePair;
  readonly rx: HandoffReader;
  readonly tx: HandoffReader;
  private announcement = false;
  /**
   * NETQ_EV_BROKEN_TX / _RX of rings the engine stopped since they were last handed over: each
   * is reported once, and a broken transmit ring is not polled again until the control plane
   * hands it over anew (a broken receive ring only means frames are dropped, as with no buffers).
   */
  private broken = 0;
  private readonly u8: Uint8Array;
  private readonly frame = new Uint8Array(65536 + 64);
  /** io and macswap: frames go back on the pair's receive ring (txReady). */
  private readonly forwarding: boolean;

  constructor(private readonly engine: Engine, readonly ref: PairRef, private readonly mode: NetMode,
              private readonly pcap: PcapWriter | undefined) {
    this.q = NetQueuePair.at(engine, ref.netq);
    this.rx = new HandoffReader(engine.memory, ref.rx);
    this.tx = new HandoffReader(engine.memory, ref.tx);
    this.u8 = engine.u8;
    this.u8.set(txonlyFrame(), ref.scratch + SCRATCH_TXONLY);
    this.forwarding = mode === 'io' || mode === 'macswap';
  }

  get changed(): boolean {
    return this.rx.changed || this.tx.changed;
  }

  /** changed, with Atomics loads (before sleeping). */
  changedNow(): boolean {
    return this.rx.changedNow() || this.tx.changedNow();
  }

  /** Applies the control plane's changes to both rings; acknowledges each. */
  sync(): void {
    // A ring's broken mark goes with the change that hands it over anew, in the same step: the
    // control plane may publish the next change at any moment (it hands over the transmit ring
    // as soon as the receive ring's change is acknowledged), and a change applied without
    // clearing the mark would leave a new session's transmit ring unpolled for good.
    if (this.rx.changedNow()) {
      this.broken &= ~N.NETQ_EV_BROKEN_RX;
      const mac = this.rx.apply((r) => this.use(r));
      // A RARP waits for a receive buffer, but never outlives the ring it was asked on.
      if (this.rx.cb === 0) this.announcement = false;
      else if (mac) {
        this.u8.set(rarpFrame(mac), this.ref.scratch + SCRATCH_RARP);
        this.announcement = true;
      }
    }
    if (this.tx.changedNow()) {
      this.broken &= ~N.NETQ_EV_BROKEN_TX;
      this.tx.apply((r) => this.use(r));
    }
  }

  private use(r: HandoffReader): void {
    // Kicks stay off while the worker polls (arm() turns them on before it sleeps).
    if (r.cb !== 0) this.engine.exports.deviceDisableNotify(r.cb);
    const hold = this.pcap !== undefined;
    this.q.attach(this.tx.cb, this.rx.cb);
    // The session's header size and MRG_RXBUF come with whichever ring changed last (both carry them).
    this.q.configure({ hdrSize: r.hdrSize, mergeable: r.mergeable, mode: this.mode, holdTx: hold });
  }

  poll(): number {
    let work = 0;
    if (this.announcement && this.rx.cb !== 0) this.announce();
    if (this.mode === 'txonly' && this.rx.cb !== 0) {
      const n = this.q.inject(this.ref.scratch + SCRATCH_TXONLY, TXONLY_FRAME_SIZE, this.q.burst);
      this.after(n);
      if (n > 0) work += n;
    }
    // io and macswap take from the transmit ring only while the receive ring runs too, as DPDK's
    // vhost library polls a device only while all its rings are ready: a frame taken with no
    // receive ring to echo it to would be dropped, where left on its ring it waits for the
    // receive ring to start (or for the next back-end: the front-end stops the receive ring
    // first, QEMU by GET_VRING_BASE in ring order, and so does this back-end's own stop; behind
    // an IOTLB, the receive ring may still wait for its translations or be rebuilt after one).
    if (this.txReady()) {
      const n = this.q.forward();
      if (n > 0 && this.pcap) this.capture(n);
      this.after(n);
      if (n > 0) work += n;
    }
    return work;
  }

  private announce(): void {
    const dropped = this.q.counters().dropped;
    const n = this.q.inject(this.ref.scratch + SCRATCH_RARP, 60, 1);
    this.after(n);
    // Sent, or refused for good (too big for the buffers): either way it is done.
    if (n === 1 || this.q.counters().dropped !== dropped) this.announcement = false;
  }

  /** Interrupts the engine asked for; faults recorded for the control plane. */
  private after(rc: number): void {
    const ev = this.q.events;
    if (ev === 0) return;
    if (ev & N.NETQ_EV_CALL_TX && this.tx.callFd >= 0) eventfdWrite(this.tx.callFd, 1);
    if (ev & N.NETQ_EV_CALL_RX && this.rx.callFd >= 0) eventfdWrite(this.rx.callFd, 1);
    // IOTLB misses: the control plane asks the front-end for the translation, and hands the
    // rings over anew once it comes; nothing was taken meanwhile.
    if (ev & N.NETQ_EV_MISS_TX && this.tx.cb !== 0) this.tx.miss(this.missIova(this.tx.cb));
    if (ev & N.NETQ_EV_MISS_RX && this.rx.cb !== 0) this.rx.miss(this.missIova(this.rx.cb));
    const fresh = ev & ~this.broken;
    if (fresh & N.NETQ_EV_BROKEN_TX) this.tx.fault(rc < 0 ? rc : this.q.status);
    if (fresh & N.NETQ_EV_BROKEN_RX) this.rx.fault(this.q.status);
    this.broken |= ev & (N.NETQ_EV_BROKEN_TX | N.NETQ_EV_BROKEN_RX);
  }

  private missIova(cb: number): bigint {
    return new DataView(this.engine.memory.buffer).getBigUint64(cb + Q.DEV_MISS_IOVA, true);
  }

  /** Writes the frames the last forward() took to the capture, then returns their chains. */
  private capture(n: number): void {
    const u32 = this.engine.u32;
    const u16 = this.engine.u16;
    const chains = this.q.txChains;
    const segs = this.q.txSegs;
    const hdr = this.tx.hdrSize;
    const frame = this.frame;
    for (let i = 0; i < n; i++) {
      const c = chains + i * B.CHAIN_SIZE;
      const first = u32[(c + B.CHAIN_SEG) >>> 2];
      const nRead = u16[(c + B.CHAIN_NREAD) >>> 1];
      let w = 0;
      let skip = hdr;
      for (let s = first; s < first + nRead; s++) {
        let off = u32[(segs + s * B.SEG_SIZE + B.SEG_OFFSET) >>> 2];
        let len = u32[(segs + s * B.SEG_SIZE + B.SEG_LEN) >>> 2];
        const cut = Math.min(skip, len);
        skip -= cut; off += cut; len -= cut;
        len = Math.min(len, frame.length - w);
        frame.set(this.u8.subarray(off, off + len), w);
        w += len;
      }
      this.pcap!.frame(frame, 0, w);
    }
    this.q.txComplete();
  }

  /**
   * Turns kicks on for the rings whose new buffers are work; false when one already has some
   * (then the worker polls on). Transmit buffers are always work. Receive buffers are work only
   * for txonly and for a RARP waiting to go: in the other modes a receive buffer only matters
   * once a frame comes, and that frame's kick is on the transmit queue.
   */
  arm(): boolean {
    if (this.changedNow()) return false;
    let idle = true;
    for (const cb of this.armed()) {
      if (this.engine.exports.deviceEnableNotify(cb) === 1) idle = false;
    }
    return idle;
  }

  disarm(): void {
    for (const cb of this.armed()) this.engine.exports.deviceDisableNotify(cb);
  }

  /** Whether the transmit ring is polled: running, not broken, and in io and macswap with the receive ring running too. */
  private txReady(): boolean {
    return this.tx.cb !== 0 && (!this.forwarding || this.rx.cb !== 0) && (this.broken & N.NETQ_EV_BROKEN_TX) === 0;
  }

  private armed(): number[] {
    const rxWork = this.mode === 'txonly' || this.announcement;
    return [this.txReady() ? this.tx.cb : 0, rxWork ? this.rx.cb : 0].filter((cb) => cb !== 0);
  }
}

export function createTask(config: NetWorkerConfig, ctx: TaskContext): Task {
  const pcap = config.pcap ? new PcapWriter(config.pcap.path, config.pcap.maxFrames) : undefined;
  const pairs = config.pairs.map((p) => new PairWorker(ctx.engine, p, config.mode, pcap));
  return {
    poll(): number {
      let work = 0;
      for (const p of pairs) {
        if (p.changed) p.sync();
        work += p.poll();
      }
      return work;
    },
    arm(): boolean {
      for (const p of pairs) if (!p.arm()) return false;
      return true;
    },
    disarm(): void {
      for (const p of pairs) p.disarm();
    },
    stop(): unknown {
      // Nothing is held between polls (transmit chains go back in the same call, receive
      // buffers not taken are given back); let go of every ring so the control plane can reuse it.
      for (const p of pairs) { p.rx.apply(() => undefined); p.tx.apply(() => undefined); }
      pcap?.close();
      return { written: pcap?.written ?? 0 };
    },
  };
}
