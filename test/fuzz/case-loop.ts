// The loop of a ring fuzz case, the same for every target: a bounded number of steps, hostile
// acts traced and counted as features, and a failure that names the operation and the ones
// before it (trace.ts).
import type { Rng } from './harness.js';
import type { Trace } from './trace.js';
import { actKind, type HostileAct } from './hostile-values.js';

/** How many calls a broken queue is held to its code before the case resets it. */
export const STICKY_CALLS = 3;

/** Runs `step(i)` for i below `ops`, then `end()`; returns the operations done. */
export function runSteps(ops: number, trace: Trace, step: (i: number) => void, end: () => void): number {
  let i = 0;
  try {
    for (; i < ops; i++) step(i);
    end();
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    throw new Error(`operation ${i}: ${m}\nlast operations:\n${trace.tail()}`, { cause: e });
  }
  return i + 1;
}

/** One hostile act: traced with its details, counted by its kind. */
export function hostileStep(hostile: HostileAct, rng: Rng, trace: Trace, features: Set<string>): void {
  const act = hostile(rng);
  trace.add(act);
  features.add(`hostile:${actKind(act)}`);
}
