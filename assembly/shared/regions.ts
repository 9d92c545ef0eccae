// Guest address translation for the device side. A region table maps guest address ranges to
// offsets in Wasm memory; the simulator uses identity regions, vhost-user fills the table from
// the frontend's memory table. Nothing the driver wrote is dereferenced without passing here.
import {
  REGION_SIZE, REGION_GPA, REGION_LEN, REGION_OFFSET, MAX_REGIONS,
  DEV_REGIONS, DEV_NUM_REGIONS, DEV_LAST_REGION, DEV_MISS_IOVA,
} from "../layout/queue";
import { SEG_SIZE, SEG_OFFSET, SEG_LEN } from "../layout/batch";
import {
  ERR_BAD_CONFIG, ERR_BUFFER_NOT_IN_REGIONS, ERR_SEGMENTS_FULL,
} from "../layout/errors";
import { inMemory, memoryBytes } from "./common";

/**
 * Checks a region table: at most `max` entries (MAX_REGIONS, or MAX_IOTLB_REGIONS for an
 * IOTLB's), each non-empty, not wrapping the 64-bit guest address space, inside Wasm memory, and
 * no two overlapping in guest address space (in one pass when they come sorted by address).
 * Returns 0 or ERR_BAD_CONFIG.
 */
export function regionsCheck(table: u32, n: u32, max: u32 = <u32>MAX_REGIONS): i32 {
  if (n > max) return ERR_BAD_CONFIG;
  if (n > 0 && (table == 0 || !inMemory(table, <u64>n * REGION_SIZE))) return ERR_BAD_CONFIG;
  const mem = memoryBytes();
  let sorted = true;
  let prevLast: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const e = table + i * REGION_SIZE;
    const gpa = load<u64>(e + REGION_GPA);
    const size = load<u64>(e + REGION_LEN);
    const off = load<u32>(e + REGION_OFFSET);
    if (size == 0) return ERR_BAD_CONFIG;
    if (gpa > 0xffff_ffff_ffff_ffff - (size - 1)) return ERR_BAD_CONFIG; // gpa + size - 1 must not wrap
    if (<u64>off + size > mem) return ERR_BAD_CONFIG;
    // Sorted and disjoint so far: each starts after the last byte of the one before.
    if (i > 0 && gpa <= prevLast) sorted = false;
    prevLast = gpa + (size - 1);
  }
  if (sorted) return 0;
  for (let i: u32 = 0; i < n; i++) {
    const e = table + i * REGION_SIZE;
    const gpa = load<u64>(e + REGION_GPA);
    const size = load<u64>(e + REGION_LEN);
    for (let j: u32 = 0; j < i; j++) {
      const f = table + j * REGION_SIZE;
      const g = load<u64>(f + REGION_GPA);
      const s = load<u64>(f + REGION_LEN);
      // [gpa, gpa+size) and [g, g+s) overlap when each starts before the other ends (in
      // last-byte form, which cannot overflow after the check above).
      if (gpa <= g + (s - 1) && g <= gpa + (size - 1)) return ERR_BAD_CONFIG;
    }
  }
  return 0;
}

/**
 * Wasm offset of [gpa, gpa + len) (len > 0) when it lies whole in the region that translated the
 * last address, or -1 (then the caller takes the general path). The common case of a burst:
 * every buffer in the same region, so one range test per buffer.
 */
// @ts-ignore: decorator
@inline export function translateHinted(cb: u32, gpa: u64, len: u32): i64 {
  const hint = load<u32>(cb + DEV_LAST_REGION);
  if (hint >= load<u32>(cb + DEV_NUM_REGIONS)) return -1;
  const e = load<u32>(cb + DEV_REGIONS) + hint * REGION_SIZE;
  // Unsigned: gpa below the base wraps to a huge delta and fails; len within what is left of
  // the region also rules out gpa + len wrapping 64 bits.
  const delta = gpa - load<u64>(e + REGION_GPA);
  const size = load<u64>(e + REGION_LEN);
  if (delta >= size || <u64>len > size - delta) return -1;
  return <i64>(load<u32>(e + REGION_OFFSET) + <u32>delta);
}

/** Index of the region holding guest address `gpa`, or -1. Remembers the hit as a hint. */
function findRegion(cb: u32, gpa: u64): i32 {
  const table = load<u32>(cb + DEV_REGIONS);
  const n = load<u32>(cb + DEV_NUM_REGIONS);
  const hint = load<u32>(cb + DEV_LAST_REGION);
  if (hint < n) {
    const e = table + hint * REGION_SIZE;
    // Unsigned subtraction: gpa below the base wraps to a huge value and fails the test.
    if (gpa - load<u64>(e + REGION_GPA) < load<u64>(e + REGION_LEN)) return <i32>hint;
  }
  for (let i: u32 = 0; i < n; i++) {
    const e = table + i * REGION_SIZE;
    if (gpa - load<u64>(e + REGION_GPA) < load<u64>(e + REGION_LEN)) {
      store<u32>(cb + DEV_LAST_REGION, i);
      return <i32>i;
    }
  }
  return -1;
}

/**
 * Wasm offset of [gpa, gpa + len) when that range lies inside one region, or -1 (DEV_MISS_IOVA
 * then holds the first address outside: gpa, or the end of the region holding gpa).
 * The caller has already checked that gpa + len does not overflow.
 */
export function translateWhole(cb: u32, gpa: u64, len: u64): i64 {
  const r = findRegion(cb, gpa);
  if (r < 0) { store<u64>(cb + DEV_MISS_IOVA, gpa); return -1; }
  const e = load<u32>(cb + DEV_REGIONS) + <u32>r * REGION_SIZE;
  const delta = gpa - load<u64>(e + REGION_GPA);
  const size = load<u64>(e + REGION_LEN);
  if (len > size - delta) { store<u64>(cb + DEV_MISS_IOVA, gpa + (size - delta)); return -1; }
  return <i64>(load<u32>(e + REGION_OFFSET) + <u32>delta);
}

/**
 * Translates [gpa, gpa + len) into segments written at segs[at ..], splitting it where it
 * crosses from one region into the next. Returns the number of segments written, or
 * ERR_BUFFER_NOT_IN_REGIONS (DEV_MISS_IOVA: the first address outside) / ERR_SEGMENTS_FULL.
 * `len` > 0, and gpa + len does not overflow.
 */
export function translateInto(cb: u32, gpa: u64, len: u32, segs: u32, at: u32, maxSegs: u32): i32 {
  // Bound: regions do not overlap, so each piece ends a region or the buffer; a buffer can
  // therefore cross at most nRegions regions.
  let ttl = load<u32>(cb + DEV_NUM_REGIONS);
  let left: u64 = len;
  let a = gpa;
  let k: u32 = 0;
  while (left > 0) {
    if (ttl == 0) { store<u64>(cb + DEV_MISS_IOVA, a); return ERR_BUFFER_NOT_IN_REGIONS; }
    ttl--;
    const r = findRegion(cb, a);
    if (r < 0) { store<u64>(cb + DEV_MISS_IOVA, a); return ERR_BUFFER_NOT_IN_REGIONS; }
    if (at + k >= maxSegs) return ERR_SEGMENTS_FULL;
    const e = load<u32>(cb + DEV_REGIONS) + <u32>r * REGION_SIZE;
    const delta = a - load<u64>(e + REGION_GPA);
    const room = load<u64>(e + REGION_LEN) - delta;
    const take = left < room ? left : room;
    const s = segs + (at + k) * SEG_SIZE;
    store<u32>(s + SEG_OFFSET, load<u32>(e + REGION_OFFSET) + <u32>delta);
    store<u32>(s + SEG_LEN, <u32>take);
    k++;
    a += take;
    left -= take;
  }
  return <i32>k;
}
