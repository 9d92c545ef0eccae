// The virtio-user port's queue pairs on a Dataplane worker (Node: it signals kick eventfds).
// Each poll runs one burst of the forwarding mode per pair it was given, with one engine call
// per burst (io, macswap: vuqForward; txonly: vuqRxBurst and vuqTxOnly; rxonly: vuqRxBurst); the
// frames' work is in Wasm, the worker decides per burst and kicks when the block's events ask. The control plane (VirtioUserPort, main thread)
// owns set-up and reclaim: a pair is only touched while its block's state is RUNNING; the
// worker acknowledges every state it sees, so the control plane knows when it may reclaim. An
// engine error stops the pair (ack FAILED, status the code) until the control plane stops it.
import { eventfdWrite } from '../native/index.js';
import type { Task, TaskContext } from '../dataplane/task.js';
import type { Engine } from '../engine.js';
import * as V from '../../assembly/layout/virtio-user.js';
import type { FwdMode } from './forward.js';

export interface PairBlockRef {
  /** The queue pair block (assembly/layout/virtio-user.ts). */
  block: number;
  /** Two handle arrays of `burst` entries, and the txonly frame (frameSize bytes). */
  rx: number;
  tx: number;
  frame: number;
}

export interface VirtioUserWorkerConfig {
  mode: FwdMode;
  burst: number;
  frameSize: number;
  /** io, macswap: send a burst of txonly frames each time a pair starts running (testpmd --tx-first). */
  txFirst?: boolean;
  pairs: PairBlockRef[];
}

/** Polls between two Atomics loads of a running pair's state (plain reads in between). */
const STATE_CHECK_EVERY = 64;

/** The forwarding mode as a number: the poll branches on it per burst (a string compare costs more). */
const enum Kind { Forward, TxOnly, RxOnly }

class PairRunner {
  private readonly u32: Uint32Array;
  private readonly at: (f: number) => number;
  private readonly stateAt: number;
  /** The ack this worker last stored (it is the block's only writer of VUQ_ACK). */
  private ack: number;
  private polls = 0;
  private readonly kind: Kind;
  private readonly swap: number;

  constructor(private readonly engine: Engine, readonly ref: PairBlockRef, private readonly cfg: VirtioUserWorkerConfig) {
    this.kind = cfg.mode === 'txonly' ? Kind.TxOnly : cfg.mode === 'rxonly' ? Kind.RxOnly : Kind.Forward;
    this.swap = cfg.mode === 'macswap' ? 1 : 0;
    this.u32 = engine.u32;
    this.at = (f) => (ref.block + f) >>> 2;
    this.stateAt = this.at(V.VUQ_STATE);
    this.ack = Atomics.load(this.u32, this.at(V.VUQ_ACK));
  }

  private setAck(state: number): void {
    this.ack = state;
    Atomics.store(this.u32, this.at(V.VUQ_ACK), state);
  }

  private failed(rc: number): number {
    this.u32[this.at(V.VUQ_STATUS)] = rc;
    this.setAck(V.VUQ_STATE_FAILED);
    return 0;
  }

  private kicks(): void {
    const ev = this.u32[this.at(V.VUQ_EVENTS)];
    if (ev === 0) return;
    let n = 0;
    if (ev & V.VUQ_EV_KICK_RX) { eventfdWrite(this.u32[this.at(V.VUQ_RX_KICK_FD)]); n++; }
    if (ev & V.VUQ_EV_KICK_TX) { eventfdWrite(this.u32[this.at(V.VUQ_TX_KICK_FD)]); n++; }
    const u64 = new BigUint64Array(this.engine.memory.buffer, this.ref.block + V.VUQ_KICKS, 1);
    u64[0] += BigInt(n);
  }

  /** Frees the frames arr[0, n) (every buffer of each); false (and the pair failed) on an error. */
  private free(arr: number, n: number): boolean {
    if (n <= 0) return true;
    const rc = this.engine.exports.vuqFree(this.ref.block, arr, n);
    if (rc < 0) { this.failed(rc); return false; }
    return true;
  }

  /**
   * The pair's state. A running pair this worker has acknowledged is read plainly, with an
   * Atomics load every STATE_CHECK_EVERY polls; any other read is an Atomics load (the consume
   * of the host's store: the rings it set up, or the stop it asks for).
   */
  private state(): number {
    if (this.ack === V.VUQ_STATE_RUNNING && ++this.polls < STATE_CHECK_EVERY && this.u32[this.stateAt] === V.VUQ_STATE_RUNNING) {
      return V.VUQ_STATE_RUNNING;
    }
    this.polls = 0;
    return Atomics.load(this.u32, this.stateAt);
  }

  poll(): number {
    const st = this.state();
    const ack = this.ack;
    if (st !== V.VUQ_STATE_RUNNING) {
      if (ack !== st) this.setAck(st);
      return 0;
    }
    if (ack === V.VUQ_STATE_FAILED) return 0;
    let first = 0;
    if (ack !== V.VUQ_STATE_RUNNING) {
      this.setAck(V.VUQ_STATE_RUNNING);
      if (this.cfg.txFirst) first = this.txonly();
    }
    const e = this.engine.exports;
    const rx = this.ref.rx;
    const burst = this.cfg.burst;
    const kind = this.kind;
    if (kind === Kind.Forward) {
      // One call: received, sent back, the rest freed, the receive ring refilled.
      const n = e.vuqForward(this.ref.block, rx, burst, this.swap);
      if (n < 0) return this.failed(n);
      this.kicks();
      return first + n + this.u32[this.at(V.VUQ_FWD_SENT)];
    }
    const n = e.vuqRxBurst(this.ref.block, rx, burst);
    if (n < 0) return this.failed(n);
    this.kicks();
    if (!this.free(rx, n)) return 0;
    if (kind === Kind.RxOnly) return n;
    return n + this.txonly();
  }

  /** Sends a burst of fresh txonly frames, as many as the ring has room for (made and sent by the engine in one call). */
  private txonly(): number {
    const sent = this.engine.exports.vuqTxOnly(this.ref.block, this.ref.tx, this.cfg.burst, this.ref.frame, this.cfg.frameSize);
    if (sent < 0) return this.failed(sent);
    this.kicks();
    return sent;
  }
}

export function createTask(config: VirtioUserWorkerConfig, ctx: TaskContext): Task {
  const pairs = config.pairs.map((p) => new PairRunner(ctx.engine, p, config));
  return {
    poll(): number {
      let work = 0;
      for (const p of pairs) work += p.poll();
      return work;
    },
    stop(): unknown {
      return { pairs: pairs.length };
    },
  };
}
