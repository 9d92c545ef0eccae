// Configuration checks shared by both sides of the model: a ring area must be non-null, aligned
// as 2.7 requires, and inside memory (the engine's checkArea, over the model's own buffer).
import * as S from '../../assembly/layout/split.js';

export function validQueueSize(q: number): boolean {
  return Number.isInteger(q) && q >= 1 && q <= S.MAX_QUEUE_SIZE && (q & (q - 1)) === 0;
}

export function areaOk(view: DataView, ptr: number, align: number, size: number): boolean {
  return ptr !== 0 && ptr % align === 0 && ptr + size <= view.byteLength;
}

/**
 * Checks the three split ring areas of a queue of `q` entries (2.7, alignment and size table).
 * Returns the address of the first badly placed area, or undefined when all three are fine.
 */
export function badRingArea(view: DataView, q: number, desc: number, avail: number, used: number): number | undefined {
  if (!areaOk(view, desc, S.DESC_ALIGN, q * S.DESC_SIZE)) return desc;
  if (!areaOk(view, avail, S.AVAIL_ALIGN, S.AVAIL_RING + q * S.AVAIL_ELEM_SIZE + S.AVAIL_TRAILER)) return avail;
  if (!areaOk(view, used, S.USED_ALIGN, S.USED_RING + q * S.USED_ELEM_SIZE + S.USED_TRAILER)) return used;
  return undefined;
}
