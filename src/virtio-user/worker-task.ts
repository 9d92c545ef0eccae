// The virtio-user port's queue pairs on a Dataplane worker (Node: it signals kick eventfds).
// Each poll runs one burst of the forwarding mode per pair it was given, with one engine call
// per direction (vuqRxBurst, vuqTxBurst); the frames' work is in Wasm, the worker decides per
// burst and kicks when the block's events ask. The control plane (VirtioUserPort, main thread)
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

class PairRunner {
  private readonly u32: Uint32Array;
  private readonly at: (f: number) => number;

  constructor(private readonly engine: Engine, readonly ref: PairBlockRef, private readonly cfg: VirtioUserWorkerConfig) {
    this.u32 = engine.u32;
    this.at = (f) => (ref.block + f) >>> 2;
  }

  private failed(rc: number): number {
    this.u32[this.at(V.VUQ_STATUS)] = rc;
    Atomics.store(this.u32, this.at(V.VUQ_ACK), V.VUQ_STATE_FAILED);
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

  /** Hands back handles [from, to) of array `arr`; false (and the pair failed) on an error. */
  private put(arr: number, from: number, to: number): boolean {
    if (to <= from) return true;
    const rc = this.engine.exports.mempoolPutBulk(this.u32[this.at(V.VUQ_POOL)], this.u32[this.at(V.VUQ_CACHE)], arr + from * 4, to - from);
    if (rc < 0) { this.failed(rc); return false; }
    return true;
  }

  /** Sends handles arr[0, n); frees what the ring did not take. Returns how many went. */
  private send(arr: number, n: number): number {
    const e = this.engine.exports;
    const took = e.vuqTxBurst(this.ref.block, arr, n);
    if (took < 0) { this.put(arr, 0, n); return this.failed(took); }
    this.kicks();
    this.put(arr, took, n);
    return took;
  }

  poll(): number {
    const st = Atomics.load(this.u32, this.at(V.VUQ_STATE));
    const ack = Atomics.load(this.u32, this.at(V.VUQ_ACK));
    if (st !== V.VUQ_STATE_RUNNING) {
      if (ack !== st) Atomics.store(this.u32, this.at(V.VUQ_ACK), st);
      return 0;
    }
    if (ack === V.VUQ_STATE_FAILED) return 0;
    let first = 0;
    if (ack !== V.VUQ_STATE_RUNNING) {
      Atomics.store(this.u32, this.at(V.VUQ_ACK), V.VUQ_STATE_RUNNING);
      if (this.cfg.txFirst) first = this.txonly();
    }
    const e = this.engine.exports;
    const rx = this.ref.rx;
    const burst = this.cfg.burst;
    const n = e.vuqRxBurst(this.ref.block, rx, burst);
    if (n < 0) return this.failed(n);
    this.kicks();
    const mode = this.cfg.mode;
    if (mode === 'io' || mode === 'macswap') {
      if (n === 0) return first;
      if (mode === 'macswap') this.swap(n);
      return first + n + this.send(rx, n);
    }
    if (n > 0 && !this.put(rx, 0, n)) return 0;
    if (mode === 'rxonly') return n;
    return n + this.txonly();
  }

  /** Sends a burst of fresh txonly frames (filled by the engine); returns how many went. */
  private txonly(): number {
    const got = this.engine.exports.vuqAllocFill(this.ref.block, this.ref.tx, this.cfg.burst, this.ref.frame, this.cfg.frameSize);
    if (got < 0) return this.failed(got);
    return got === 0 ? 0 : this.send(this.ref.tx, got);
  }

  private swap(n: number): void {
    this.engine.exports.vuqMacSwap(this.ref.rx, n);
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
