// Checking a front-end's memory table (SET_MEM_TABLE, ADD_MEM_REG) before anything is mapped, and
// planning where each region goes in the back-end's window of Wasm memory. Pure: no fds touched,
// so a refused table changes nothing. The mapping itself is guest-memory.ts.
import * as P from './protocol.js';
import type { MemRegion } from './message.js';

/** A reserved, page-aligned range [offset, offset + size) of the Wasm memory for guest memory. */
export interface MemoryWindow {
  offset: number;
  size: number;
}

/** A region placed in the window: guest and front-end addresses, and where it sits in Wasm memory. */
export interface PlacedRegion extends MemRegion {
  /** Wasm offset of the region's first byte (file offset mmapOffset). */
  offset: number;
}

const U64_END = 1n << 64n;

/**
 * Why `regions` cannot be a memory table (null when they can): each non-empty, page-aligned in
 * size and file offset, not reaching past 2^64 in guest or user address space or file offset, no
 * two overlapping in guest or user address space, at most MEM_TABLE_MAX_REGIONS.
 */
export function memoryTableProblem(regions: readonly MemRegion[], pageSize: number, maxRegions: number = P.MEM_TABLE_MAX_REGIONS): string | null {
  if (regions.length === 0) return 'no regions';
  if (regions.length > maxRegions) return `${regions.length} regions; at most ${maxRegions}`;
  const page = BigInt(pageSize);
  for (const [i, r] of regions.entries()) {
    const name = `region ${i} (gpa 0x${r.gpa.toString(16)}, size 0x${r.size.toString(16)})`;
    if (r.size === 0n) return `${name} is empty`;
    if (r.gpa + r.size > U64_END) return `${name} reaches past the 64-bit guest address space`;
    if (r.uaddr + r.size > U64_END) return `${name}: user address 0x${r.uaddr.toString(16)} + size reaches past 2^64`;
    if (r.mmapOffset + r.size > U64_END) return `${name}: mmap offset 0x${r.mmapOffset.toString(16)} + size reaches past 2^64`;
    if (r.size % page !== 0n) return `${name}: size is not a multiple of the ${pageSize}-byte page`;
    if (r.mmapOffset % page !== 0n) return `${name}: mmap offset 0x${r.mmapOffset.toString(16)} is not page-aligned`;
    for (const [j, q] of regions.slice(0, i).entries()) {
      if (r.gpa < q.gpa + q.size && q.gpa < r.gpa + r.size) return `${name} overlaps region ${j} in guest addresses`;
      if (r.uaddr < q.uaddr + q.size && q.uaddr < r.uaddr + r.size) return `${name} overlaps region ${j} in user addresses`;
    }
  }
  return null;
}

/**
 * Places `regions` one after another from the window's start (each page-aligned, since sizes
 * are). Throws a RangeError when they do not fit.
 */
export function placeRegions(regions: readonly MemRegion[], window: MemoryWindow): PlacedRegion[] {
  const total = regions.reduce((s, r) => s + r.size, 0n);
  if (total > BigInt(window.size)) {
    throw new RangeError(`guest memory of ${total} bytes does not fit the back-end's ${window.size}-byte window`);
  }
  let at = window.offset;
  return regions.map((r) => {
    const placed = { ...r, offset: at };
    at += Number(r.size);
    return placed;
  });
}

/**
 * Places one more region (ADD_MEM_REG) in the first gap of the window that holds it, after the
 * regions already there. Throws a RangeError when no gap is big enough.
 */
export function placeRegion(region: MemRegion, placed: readonly PlacedRegion[], window: MemoryWindow): PlacedRegion {
  const size = Number(region.size);
  const taken = [...placed].sort((a, b) => a.offset - b.offset);
  let at = window.offset;
  for (const r of taken) {
    if (r.offset - at >= size) break;
    at = Math.max(at, r.offset + Number(r.size));
  }
  if (at + size > window.offset + window.size || region.size > BigInt(window.size)) {
    throw new RangeError(`a region of ${region.size} bytes does not fit any gap of the back-end's ${window.size}-byte window`);
  }
  return { ...region, offset: at };
}

/** The Wasm offset of [uaddr, uaddr + length) if it lies inside one region, else undefined. */
export function translateUser(regions: readonly PlacedRegion[], uaddr: bigint, length: number): number | undefined {
  const len = BigInt(length);
  for (const r of regions) {
    if (uaddr >= r.uaddr && uaddr - r.uaddr + len <= r.size) return r.offset + Number(uaddr - r.uaddr);
  }
  return undefined;
}
