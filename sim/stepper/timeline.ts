// Time travel over a step session: every operation is recorded with its result, and any point of
// the history can be made current again: the session's saved state at the nearest checkpoint at
// or before it is put back, and the recorded operations from there re-applied (a session is a
// function of its operations, session.ts), which restores the exact bytes the queue had there;
// the digest recorded for that point is checked. Applying a new operation at an earlier point
// drops the operations after it, as an editor's undo does.
//
// Checkpoints are taken every `interval` operations; when they would hold more than
// CHECKPOINT_BYTES the interval doubles and every other one is dropped, so a scrub re-applies at
// most `interval` operations and the memory they take stays bounded.
import { StepSession, type SessionState, type StepFault } from './session.js';
import { TRACE_FORMAT, TRACE_VERSION, MAX_TRACE_OPS, type StepConfig, type StepOp, type StepResult, type Trace } from './trace.js';
import type { Engine } from '../../src/engine.js';

export interface TimelineEntry {
  op: StepOp;
  result: StepResult;
  /** The engine error this operation met, where it happened. */
  fault?: StepFault;
}

/** Bytes all checkpoints of one timeline may hold together. */
export const CHECKPOINT_BYTES = 64 << 20;
const FIRST_INTERVAL = 128;

export class Timeline {
  readonly engine: Engine;
  readonly config: StepConfig;
  private entries: TimelineEntry[] = [];
  private live: StepSession;
  /** Saved states by position (0 always). */
  private readonly checkpoints = new Map<number, SessionState>();
  private interval = FIRST_INTERVAL;
  private readonly checkpointBytes: number;

  constructor(engine: Engine, config: StepConfig, range: { start?: number; end?: number } = {}, opts: { checkpointBytes?: number } = {}) {
    this.engine = engine;
    this.checkpointBytes = opts.checkpointBytes ?? CHECKPOINT_BYTES;
    this.live = new StepSession(engine, config, range);
    this.config = this.live.config;
    this.checkpoints.set(0, this.live.save());
  }

  /** Takes a checkpoint at the current position when it falls on the interval, thinning them when they grow too big. */
  private checkpoint(): void {
    const at = this.position;
    if (at === 0 || at % this.interval !== 0 || this.checkpoints.has(at)) return;
    const state = this.live.save();
    this.checkpoints.set(at, state);
    while (this.checkpoints.size * state.bytes.length > this.checkpointBytes && this.checkpoints.size > 2) {
      this.interval *= 2;
      for (const k of [...this.checkpoints.keys()]) if (k % this.interval !== 0) this.checkpoints.delete(k);
    }
  }

  /** Checkpoints held (for tests and the curious). */
  get checkpointCount(): number {
    return this.checkpoints.size;
  }

  /** The session at the current point (its memory holds the queue as it was there). */
  get session(): StepSession {
    return this.live;
  }

  /** Operations recorded (the slider's range is 0..length). */
  get length(): number {
    return this.entries.length;
  }

  /** Operations applied to the current session: the slider's position. */
  get position(): number {
    return this.live.counters.ops;
  }

  get history(): readonly TimelineEntry[] {
    return this.entries;
  }

  /**
   * Applies `op` at the current point, dropping any recorded future first. A StepRefused from the
   * session propagates and records nothing.
   */
  apply(op: StepOp): TimelineEntry {
    if (this.position >= MAX_TRACE_OPS) throw new RangeError(`a history holds at most ${MAX_TRACE_OPS} operations`);
    const before = this.live.lastFault;
    const result = this.live.apply(op);
    this.entries.length = this.position - 1;
    for (const k of this.checkpoints.keys()) if (k >= this.position) this.checkpoints.delete(k);
    this.checkpoint();
    const fault = this.live.lastFault !== before && result.error ? this.live.lastFault : undefined;
    const entry: TimelineEntry = fault ? { op, result, fault } : { op, result };
    this.entries.push(entry);
    return entry;
  }

  /** Makes point `k` (0: before any operation) current: the queue's bytes become those it had there. */
  seek(k: number): void {
    this.moveTo(k, false);
  }

  /** seek(k); with `everyDigest`, each re-applied operation's digest is compared, not only the last. */
  private moveTo(k: number, everyDigest: boolean): void {
    if (!Number.isInteger(k) || k < 0 || k > this.entries.length) throw new RangeError(`no point ${k} in a history of ${this.entries.length}`);
    if (k === this.position) return;
    const base = Math.max(...[...this.checkpoints.keys()].filter((c) => c <= k));
    if (!(this.position <= k && this.position >= base)) this.live.restore(this.checkpoints.get(base)!);
    for (let i = this.position; i < k; i++) {
      const { op, result } = this.entries[i];
      const check = everyDigest || i === k - 1;
      const again = this.live.apply(op, { digest: check });
      if (again.n !== result.n || again.error !== result.error || (check && again.digest !== result.digest)) {
        throw new Error(`history point ${i + 1} (${op.op}) did not reproduce: recorded ${JSON.stringify(result)}, got ${JSON.stringify(again)}`);
      }
      this.checkpoint();
    }
  }

  toTrace(): Trace {
    return {
      format: TRACE_FORMAT, version: TRACE_VERSION, config: this.config,
      ops: this.entries.map((e) => e.op), results: this.entries.map((e) => e.result),
    };
  }

  /** A timeline holding a checked trace's history (replayed, every digest compared: throws at the first that differs), at its end. */
  static fromTrace(engine: Engine, trace: Trace, range: { start?: number; end?: number } = {}): Timeline {
    const t = new Timeline(engine, trace.config, range);
    t.entries = trace.ops.map((op, i) => ({ op, result: trace.results[i] }));
    t.moveTo(t.entries.length, true);
    return t;
  }
}
