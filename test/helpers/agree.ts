// Cheap assertions for the hot path of the model tests: compare with plain code and only hand
// over to vitest's expect (for its diff) when the values differ. expect itself costs tens of
// microseconds per call, which is most of a long run's time.
import { expect } from 'vitest';

function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = a as Uint8Array;
    const y = b as Uint8Array;
    return x.constructor === y.constructor && x.length === y.length && Buffer.compare(x, y) === 0;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** Asserts that `actual` deeply equals `expected` (like toEqual, without undefined-key leniency). */
export function agree<T>(actual: T, expected: T, what: string): void {
  if (!same(actual, expected)) {
    expect(actual, what).toEqual(expected);
    throw new Error(`${what}: values differ`); // toEqual is more lenient than same(); still a failure
  }
}
