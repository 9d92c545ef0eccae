// The host's view of the virtqueue's shared layout (assembly/layout/*.ts, compiled by both
// sides), plus the few sizes derived from it.
export * as split from '../../assembly/layout/split.js';
export * as queue from '../../assembly/layout/queue.js';
export * as batch from '../../assembly/layout/batch.js';
export * as features from '../../assembly/layout/features.js';
export * as errors from '../../assembly/layout/errors.js';
import * as S from '../../assembly/layout/split.js';

/** Bytes of each split ring area for a queue of `n` entries (2.7, size column). */
export function splitAreaSizes(n: number): { desc: number; avail: number; used: number } {
  return {
    desc: n * S.DESC_SIZE,
    avail: S.AVAIL_RING + n * S.AVAIL_ELEM_SIZE + S.AVAIL_TRAILER,
    used: S.USED_RING + n * S.USED_ELEM_SIZE + S.USED_TRAILER,
  };
}

/** Offset of used_event inside the available ring. */
export const usedEventOffset = (n: number): number => S.AVAIL_RING + n * S.AVAIL_ELEM_SIZE;
/** Offset of avail_event inside the used ring. */
export const availEventOffset = (n: number): number => S.USED_RING + n * S.USED_ELEM_SIZE;
