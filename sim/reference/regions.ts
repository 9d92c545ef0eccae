// Guest address translation for the reference device: a list of non-overlapping guest ranges,
// each placed at a Wasm offset. Plain loops over a plain array; the engine's version is
// assembly/shared/regions.ts.
import * as Q from '../../assembly/layout/queue.js';
import type { RefRegion, RefSegment } from './types.js';

const U64_MAX = (1n << 64n) - 1n;

/** Whether a region table is acceptable: at most MAX_REGIONS, non-empty, not wrapping, in memory, disjoint. */
export function regionsValid(regions: readonly RefRegion[], memoryBytes: number): boolean {
  if (regions.length > Q.MAX_REGIONS) return false;
  for (let i = 0; i < regions.length; i++) {
    const r = regions[i];
    if (r.size <= 0n || r.gpa < 0n) return false;
    if (r.gpa + r.size - 1n > U64_MAX) return false;
    if (BigInt(r.offset) + r.size > BigInt(memoryBytes)) return false;
    for (let j = 0; j < i; j++) {
      const o = regions[j];
      const overlap = r.gpa < o.gpa + o.size && o.gpa < r.gpa + r.size;
      if (overlap) return false;
    }
  }
  return true;
}

/** The region holding guest address `gpa`, if any. */
export function regionOf(regions: readonly RefRegion[], gpa: bigint): RefRegion | undefined {
  return regions.find((r) => gpa >= r.gpa && gpa < r.gpa + r.size);
}

/** Wasm offset of [gpa, gpa + len) when the whole range lies in one region, else undefined. */
export function translateWhole(regions: readonly RefRegion[], gpa: bigint, len: bigint): number | undefined {
  const r = regionOf(regions, gpa);
  if (r === undefined || gpa + len > r.gpa + r.size) return undefined;
  return r.offset + Number(gpa - r.gpa);
}

export type Pieces = { pieces: RefSegment[] } | { fault: 'not-in-regions' | 'segments-full' };

/**
 * Splits [gpa, gpa + len) (len > 0) into one piece per region it crosses. `room` is how many
 * pieces the caller can still take; needing more is 'segments-full'. A part outside every
 * region is 'not-in-regions'. The faults are reported in the order the pieces are met.
 */
export function translatePieces(regions: readonly RefRegion[], gpa: bigint, len: number, writable: boolean, room: number): Pieces {
  const pieces: RefSegment[] = [];
  let at = gpa;
  let left = BigInt(len);
  while (left > 0n) {
    const r = regionOf(regions, at);
    if (r === undefined) return { fault: 'not-in-regions' };
    if (pieces.length >= room) return { fault: 'segments-full' };
    const inRegion = r.gpa + r.size - at;
    const take = left < inRegion ? left : inRegion;
    pieces.push({ offset: r.offset + Number(at - r.gpa), len: Number(take), writable });
    at += take;
    left -= take;
  }
  return { pieces };
}
