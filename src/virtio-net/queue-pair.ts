// The host side of the engine's virtio-net data path (assembly/net/, layout in
// assembly/layout/net.ts): one block per queue pair, with its burst arrays, in shared memory.
// Browser-safe. A block is planned once (NetQueuePair.create) and then driven from whichever
// thread runs the pair (NetQueuePair.at over the same address in a worker): attach the two
// queues' device control blocks, then one Wasm call moves a burst (forward, inject).
import * as N from '../../assembly/layout/net.js';
import * as B from '../../assembly/layout/batch.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';
import { VirtqueueError } from '../errors.js';

/** What the pair does with frames the front-end transmits (testpmd's forwarding modes). */
export const NET_MODES = ['io', 'macswap', 'rxonly', 'txonly'] as const;
export type NetMode = (typeof NET_MODES)[number];

export interface NetQueuePairConfig {
  /** Chains per transmit pop (default 32). */
  burst?: number;
  /** virtio_net_hdr bytes (5.1.6): 12 (VERSION_1 or MRG_RXBUF) or 10. */
  hdrSize: number;
  /** MRG_RXBUF negotiated: a frame may span receive buffers. */
  mergeable: boolean;
  mode: NetMode;
  /** Keep transmit chains until txComplete() (to read the frames first, e.g. for a capture). */
  holdTx?: boolean;
  /** Longest frame taken from the transmit queue, after the header (default 65536). */
  maxFrame?: number;
}

/** Segments one popped burst may hold (a chain never has more descriptors than its ring's size). */
export const MAX_BURST_SEGS = 32768 + 1024;

export interface NetCounters {
  /** Frames taken from the front-end's transmit queue, and their bytes (without header). */
  rxPackets: number;
  rxBytes: number;
  /** Frames delivered into the front-end's receive queue. */
  txPackets: number;
  txBytes: number;
  /** Frames not delivered: no receive buffer, or too big for one without MRG_RXBUF. */
  dropped: number;
  /** Transmit chains too short for a header or too long for a frame. */
  txErrors: number;
  /** Receive buffers with nothing device-writable. */
  rxErrors: number;
  /** Bursts after which the front-end wanted an interrupt, per queue. */
  txCalls: number;
  rxCalls: number;
  /** Kicks the front-end sent, per queue (counted by whoever watches the kick eventfds). */
  txKicks: number;
  rxKicks: number;
}

const COUNTER_FIELDS: [keyof NetCounters, number][] = [
  ['rxPackets', N.NETQ_RX_PACKETS], ['rxBytes', N.NETQ_RX_BYTES], ['txPackets', N.NETQ_TX_PACKETS],
  ['txBytes', N.NETQ_TX_BYTES], ['dropped', N.NETQ_DROPPED], ['txErrors', N.NETQ_TX_ERRORS],
  ['rxErrors', N.NETQ_RX_ERRORS], ['txCalls', N.NETQ_TX_CALLS], ['rxCalls', N.NETQ_RX_CALLS],
  ['txKicks', N.NETQ_TX_KICKS], ['rxKicks', N.NETQ_RX_KICKS],
];

export const zeroNetCounters = (): NetCounters =>
  Object.fromEntries(COUNTER_FIELDS.map(([k]) => [k, 0])) as unknown as NetCounters;

export function addNetCounters(into: NetCounters, c: NetCounters): NetCounters {
  for (const [k] of COUNTER_FIELDS) into[k] += c[k];
  return into;
}

function optionBits(c: NetQueuePairConfig): number {
  const fwd = c.mode === 'io' || c.mode === 'macswap';
  return (c.mergeable ? N.NETQ_OPT_MRG_RXBUF : 0) | (fwd ? N.NETQ_OPT_FORWARD : 0)
    | (c.mode === 'macswap' ? N.NETQ_OPT_MACSWAP : 0) | (c.holdTx ? N.NETQ_OPT_HOLD_TX : 0);
}

export class NetQueuePair {
  private readonly u32: Uint32Array;
  private readonly u64: BigUint64Array;

  private constructor(readonly engine: Engine, readonly addr: number) {
    this.u32 = engine.u32;
    this.u64 = new BigUint64Array(engine.memory.buffer);
  }

  /** Plans a block and its burst arrays (about 300 KiB at burst 32) and configures it. */
  static create(engine: Engine, plan: MemoryPlan, config: NetQueuePairConfig): NetQueuePair {
    const burst = config.burst ?? 32;
    if (!Number.isInteger(burst) || burst < 1 || burst > 4096) throw new RangeError(`burst must be 1 to 4096 chains, got ${burst}`);
    const rxChains = 4 * burst + 64;
    const q = new NetQueuePair(engine, plan.alloc(N.NETQ_SIZE, N.NETQ_ALIGN, 'net queue pair'));
    engine.u8.fill(0, q.addr, q.addr + N.NETQ_SIZE);
    q.set(N.NETQ_KIND, N.NETQ_KIND_MAGIC);
    q.set(N.NETQ_BURST, burst);
    q.set(N.NETQ_TX_MAX_CHAINS, burst);
    q.set(N.NETQ_TX_CHAINS, plan.alloc(burst * B.CHAIN_SIZE, 64, 'net tx chains'));
    q.set(N.NETQ_TX_MAX_SEGS, MAX_BURST_SEGS);
    q.set(N.NETQ_TX_SEGS, plan.alloc(MAX_BURST_SEGS * B.SEG_SIZE, 64, 'net tx segments'));
    q.set(N.NETQ_RX_MAX_CHAINS, rxChains);
    q.set(N.NETQ_RX_CHAINS, plan.alloc(rxChains * B.CHAIN_SIZE, 64, 'net rx chains'));
    q.set(N.NETQ_RX_MAX_SEGS, MAX_BURST_SEGS);
    q.set(N.NETQ_RX_SEGS, plan.alloc(MAX_BURST_SEGS * B.SEG_SIZE, 64, 'net rx segments'));
    q.set(N.NETQ_TX_USED, plan.alloc(burst * B.USED_REC_SIZE, 64, 'net tx used'));
    q.set(N.NETQ_RX_USED, plan.alloc(rxChains * B.USED_REC_SIZE, 64, 'net rx used'));
    q.configure(config);
    q.check(engine.exports.netReset(q.addr), 'configure');
    return q;
  }

  /** The block at `addr` (planned elsewhere, e.g. by the main thread), for this thread's engine. */
  static at(engine: Engine, addr: number): NetQueuePair {
    const q = new NetQueuePair(engine, addr);
    if (q.get(N.NETQ_KIND) !== N.NETQ_KIND_MAGIC) throw new RangeError(`no net queue pair block at ${addr}`);
    return q;
  }

  /**
   * Sets header size, mode and options (a new session's features), keeping the counters; by the
   * thread that runs the pair, between calls. The header size must be 10 or 12.
   */
  configure(c: NetQueuePairConfig): void {
    if (c.hdrSize !== N.NET_HDR_SIZE && c.hdrSize !== N.NET_HDR_LEGACY_SIZE) {
      throw new RangeError(`virtio_net_hdr is 12 or 10 bytes (VIRTIO 1.2 5.1.6), got ${c.hdrSize}`);
    }
    this.set(N.NETQ_HDR_SIZE, c.hdrSize);
    this.set(N.NETQ_OPTIONS, optionBits(c));
    this.set(N.NETQ_MAX_FRAME, c.maxFrame ?? 65536);
    if (c.burst !== undefined) this.set(N.NETQ_BURST, Math.min(c.burst, this.get(N.NETQ_TX_MAX_CHAINS)));
  }

  /** Chains per transmit pop. */
  get burst(): number { return this.get(N.NETQ_BURST); }

  /** Hands the pair its transmit / receive queue (a device control block), or 0 to detach. */
  attach(tx: number, rx: number): void {
    this.set(N.NETQ_TX_DEV, tx);
    this.set(N.NETQ_RX_DEV, rx);
  }

  get txDevice(): number { return this.get(N.NETQ_TX_DEV); }
  get rxDevice(): number { return this.get(N.NETQ_RX_DEV); }

  /**
   * One burst from the transmit queue (forwarded to the receive queue in io and macswap).
   * Returns transmit chains taken; a negative code when a queue broke (see `events`).
   */
  forward(): number {
    return this.engine.exports.netForward(this.addr);
  }

  /** With holdTx: returns the transmit chains the last forward() took. */
  txComplete(): number {
    return this.engine.exports.netTxComplete(this.addr);
  }

  /** Sends `copies` copies of the frame at Wasm offset `src` (`len` bytes, no header). Returns how many went. */
  inject(src: number, len: number, copies: number): number {
    return this.engine.exports.netInject(this.addr, src, len, copies);
  }

  /** NETQ_EV_* bits the last call left: interrupts wanted, queues broken. */
  get events(): number { return this.get(N.NETQ_EVENTS); }
  /** The code of the last error a call met (0: none). */
  get status(): number { return this.engine.i32[(this.addr + N.NETQ_STATUS) >>> 2]; }

  /** Chain records and segments of the transmit chains the last forward() took (to read frames). */
  get txChains(): number { return this.get(N.NETQ_TX_CHAINS); }
  get txSegs(): number { return this.get(N.NETQ_TX_SEGS); }
  get held(): number { return this.get(N.NETQ_HELD); }

  /** Counters, read atomically field by field (safe from another thread while the pair runs). */
  counters(): NetCounters {
    const c = {} as NetCounters;
    for (const [k, off] of COUNTER_FIELDS) c[k] = Number(Atomics.load(this.u64, (this.addr + off) >>> 3));
    return c;
  }

  /** Adds `n` kicks on the transmit (or receive) queue: for the thread that watches kick eventfds. */
  addKicks(rx: boolean, n: number): void {
    Atomics.add(this.u64, (this.addr + (rx ? N.NETQ_RX_KICKS : N.NETQ_TX_KICKS)) >>> 3, BigInt(n));
  }

  /** Throws for an error code from a call that does not break a queue (configuration). */
  private check(rc: number, what: string): number {
    if (rc >= 0) return rc;
    throw new VirtqueueError(rc, 0, `net queue pair ${what}`);
  }

  private get(field: number): number { return this.u32[(this.addr + field) >>> 2]; }
  private set(field: number, v: number): void { this.u32[(this.addr + field) >>> 2] = v; }
}
