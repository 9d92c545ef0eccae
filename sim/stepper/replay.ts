// Replaying a step trace (trace.ts) on a fresh session: the same operations in order, each
// result and digest compared with the recording. A replay that matches produced the same counts,
// the same errors and the same queue bytes after every operation.
import { StepSession, StepRefused, type StepCounters } from './session.js';
import type { Trace, StepResult } from './trace.js';
import type { Engine } from '../../src/engine.js';

export interface ReplayMismatch {
  /** Index of the first operation whose result differs. */
  at: number;
  op: string;
  recorded: StepResult;
  replayed: StepResult | { refused: string };
}

export interface ReplayReport {
  layout: string;
  queueSize: number;
  features: string[];
  ops: number;
  /** Operations replayed whose result and digest equal the recording's. */
  matched: number;
  identical: boolean;
  mismatch?: ReplayMismatch;
  /** Digest after the last operation replayed. */
  digest: string;
  errors: string[];
  counters: StepCounters;
}

/** Replays `trace` over the engine's memory; stops at the first operation that does not match. */
export function replayTrace(engine: Engine, trace: Trace, onProgress?: (done: number, total: number) => void): ReplayReport {
  const session = new StepSession(engine, trace.config);
  const report = (matched: number, mismatch?: ReplayMismatch): ReplayReport => ({
    layout: trace.config.layout, queueSize: trace.config.queueSize, features: trace.config.features,
    ops: trace.ops.length, matched, identical: mismatch === undefined && matched === trace.ops.length,
    ...(mismatch ? { mismatch } : {}),
    digest: session.digest(), errors: errorsOf(trace.results.slice(0, matched)), counters: { ...session.counters },
  });
  for (let i = 0; i < trace.ops.length; i++) {
    const recorded = trace.results[i];
    let replayed: StepResult;
    try {
      replayed = session.apply(trace.ops[i]);
    } catch (e) {
      if (!(e instanceof StepRefused)) throw e;
      return report(i, { at: i, op: trace.ops[i].op, recorded, replayed: { refused: e.message } });
    }
    if (replayed.n !== recorded.n || replayed.error !== recorded.error || replayed.digest !== recorded.digest) {
      return report(i, { at: i, op: trace.ops[i].op, recorded, replayed });
    }
    if (onProgress && (i + 1) % 1000 === 0) onProgress(i + 1, trace.ops.length);
  }
  return report(trace.ops.length);
}

const errorsOf = (results: readonly StepResult[]): string[] => results.flatMap((r) => (r.error ? [r.error] : []));
