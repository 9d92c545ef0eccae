// Finds bytes of a memory that changed outside the ranges a call was allowed to write.

/** [start, end) byte range. */
export type Range = readonly [start: number, end: number];

/**
 * Describes each stretch outside `allowed` where `after` differs from `before` (empty when
 * nothing else changed): "offset: old -> new" for the first differing byte of the stretch.
 */
export function changesOutside(before: Uint8Array, after: Uint8Array, allowed: readonly Range[]): string[] {
  if (before.length !== after.length) return [`memory size changed: ${before.length} -> ${after.length}`];
  const sorted = [...allowed].sort((a, b) => a[0] - b[0]);
  const gaps: Range[] = [];
  let pos = 0;
  for (const [s, e] of sorted) {
    if (s > pos) gaps.push([pos, s]);
    pos = Math.max(pos, e);
  }
  if (pos < before.length) gaps.push([pos, before.length]);
  const out: string[] = [];
  for (const [s, e] of gaps) {
    if (Buffer.compare(before.subarray(s, e), after.subarray(s, e)) === 0) continue;
    let i = s;
    while (before[i] === after[i]) i++;
    out.push(`${i}: ${before[i]} -> ${after[i]}`);
  }
  return out;
}
