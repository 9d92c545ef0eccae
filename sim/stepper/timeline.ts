// Time travel over a step session: every operation is recorded with its result, and any point of
// the history can be made current again by rebuilding the session over the same memory and
// re-applying the operations up to it (a session is a function of its operations, session.ts),
// which restores the exact bytes the queue had there. Applying a new operation at an earlier
// point drops the operations after it, as an editor's undo does.
import { StepSession, type StepFault } from './session.js';
import { TRACE_FORMAT, TRACE_VERSION, MAX_TRACE_OPS, type StepConfig, type StepOp, type StepResult, type Trace } from './trace.js';
import type { Engine } from '../../src/engine.js';

export interface TimelineEntry {
  op: StepOp;
  result: StepResult;
  /** The engine error this operation met, where it happened. */
  fault?: StepFault;
}

export class Timeline {
  readonly engine: Engine;
  readonly config: StepConfig;
  private readonly range: { start?: number; end?: number };
  private entries: TimelineEntry[] = [];
  private live: StepSession;

  constructor(engine: Engine, config: StepConfig, range: { start?: number; end?: number } = {}) {
    this.engine = engine;
    this.range = range;
    this.live = new StepSession(engine, config, range);
    this.config = this.live.config;
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
    const fault = this.live.lastFault !== before && result.error ? this.live.lastFault : undefined;
    const entry: TimelineEntry = fault ? { op, result, fault } : { op, result };
    this.entries.push(entry);
    return entry;
  }

  /** Makes point `k` (0: before any operation) current: the queue's bytes become those it had there. */
  seek(k: number): void {
    if (!Number.isInteger(k) || k < 0 || k > this.entries.length) throw new RangeError(`no point ${k} in a history of ${this.entries.length}`);
    if (k === this.position) return;
    const from = k > this.position ? this.position : 0;
    if (from === 0) this.live = new StepSession(this.engine, this.config, this.range);
    for (let i = from; i < k; i++) {
      const { op, result } = this.entries[i];
      const again = this.live.apply(op);
      if (again.digest !== result.digest || again.n !== result.n || again.error !== result.error) {
        throw new Error(`history point ${i + 1} (${op.op}) did not reproduce: recorded ${JSON.stringify(result)}, got ${JSON.stringify(again)}`);
      }
    }
  }

  toTrace(): Trace {
    return {
      format: TRACE_FORMAT, version: TRACE_VERSION, config: this.config,
      ops: this.entries.map((e) => e.op), results: this.entries.map((e) => e.result),
    };
  }

  /** A timeline holding a checked trace's history (replayed, every digest compared), at its end. */
  static fromTrace(engine: Engine, trace: Trace, range: { start?: number; end?: number } = {}): Timeline {
    const t = new Timeline(engine, trace.config, range);
    t.entries = trace.ops.map((op, i) => ({ op, result: trace.results[i] }));
    t.seek(t.entries.length);
    return t;
  }
}
