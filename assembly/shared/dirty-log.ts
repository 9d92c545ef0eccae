// Dirty-page logging (layout/dirty-log.ts; vhost-user.rst "Migration"): the device marks every
// page of guest memory it writes while the queue has a log block (DEV_LOG). Buffer writes are
// logged by the code that fills buffers (net/forward.ts, for each chain before it is pushed),
// ring writes by the layouts' device code. Every bit is bounded by the declared log size, so an
// address the guest chose can make the device set a bit only inside the log it was given.
import { DEV_LOG, DEV_REGIONS, DEV_NUM_REGIONS, DEV_LAST_REGION, REGION_SIZE, REGION_GPA, REGION_LEN, REGION_OFFSET } from "../layout/queue";
import { LOG_BITMAP, LOG_SIZE, LOG_USED_GPA, LOG_BLOCK_SIZE, LOG_BLOCK_ALIGN, LOG_PAGE_SHIFT } from "../layout/dirty-log";
import { CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, SEG_SIZE, SEG_OFFSET, SEG_LEN } from "../layout/batch";
import { ERR_BAD_CONFIG } from "../layout/errors";
import { refuse, inMemory } from "./common";

/** The queue's log block, 0 when it does not log. */
// @ts-ignore: decorator
@inline export function logBlock(cb: u32): u32 {
  return load<u32>(cb + DEV_LOG);
}

/**
 * Reset check of the log block: aligned and inside memory, its bitmap non-empty and inside
 * memory. Returns 0 or ERR_BAD_CONFIG with CB_DETAIL = the block's address.
 */
export function checkLogBlock(cb: u32): i32 {
  const b = logBlock(cb);
  if (b == 0) return 0;
  if ((b & (LOG_BLOCK_ALIGN - 1)) != 0 || !inMemory(b, LOG_BLOCK_SIZE)) return refuse(cb, ERR_BAD_CONFIG, b);
  const bitmap = load<u32>(b + LOG_BITMAP);
  const size = load<u32>(b + LOG_SIZE);
  if (bitmap == 0 || size == 0 || !inMemory(bitmap, size)) return refuse(cb, ERR_BAD_CONFIG, b);
  return 0;
}

/**
 * Marks the pages of guest physical range [gpa, gpa + len) (len > 0) in the log of block `b`:
 * `log[page / 8] |= 1 << page % 8`, atomically. Pages past the log's last bit are not marked.
 */
export function logGuestRange(b: u32, gpa: u64, len: u64): void {
  const bitmap = load<u32>(b + LOG_BITMAP);
  const bits = <u64>load<u32>(b + LOG_SIZE) << 3;
  const first = gpa >> LOG_PAGE_SHIFT;
  // Last byte, saturated so that a range reaching the top of the address space does not wrap.
  const end = len - 1 > 0xffff_ffff_ffff_ffff - gpa ? 0xffff_ffff_ffff_ffff : gpa + (len - 1);
  let last = end >> LOG_PAGE_SHIFT;
  if (last >= bits) {
    if (first >= bits) return;
    last = bits - 1;
  }
  for (let p = first; p <= last; p++) {
    atomic.or<u8>(bitmap + <u32>(p >> 3), <u8>(<u32>1 << <u32>(p & 7)));
  }
}

/**
 * Marks the pages behind [off, off + len) of Wasm memory, found through the queue's region
 * table (offset back to guest address). A range outside every region (not guest memory) marks
 * nothing; one that crosses regions is marked piece by piece.
 */
export function logWasmRange(cb: u32, off: u32, len: u32): void {
  const b = logBlock(cb);
  if (b == 0 || len == 0) return;
  const table = load<u32>(cb + DEV_REGIONS);
  const n = load<u32>(cb + DEV_NUM_REGIONS);
  let a: u64 = off;
  let left: u64 = len;
  // Each piece ends a region or the range, and regions do not overlap: at most n + 1 rounds.
  for (let ttl: u32 = 0; ttl <= n && left > 0; ttl++) {
    let found = false;
    const hint = load<u32>(cb + DEV_LAST_REGION);
    for (let k: u32 = 0; k <= n; k++) {
      const i = k == 0 ? hint : k - 1;
      if (i >= n || (k > 0 && i == hint)) continue;
      const e = table + i * REGION_SIZE;
      const delta = a - <u64>load<u32>(e + REGION_OFFSET);
      const size = load<u64>(e + REGION_LEN);
      if (delta >= size) continue;
      const take = left < size - delta ? left : size - delta;
      logGuestRange(b, load<u64>(e + REGION_GPA) + delta, take);
      a += take;
      left -= take;
      found = true;
      break;
    }
    if (!found) return;
  }
}

/**
 * Marks the first `len` bytes of a popped chain's device-writable segments (chain record `rec`,
 * its segments in `segs`): what the device wrote into the buffer before using it with `len`.
 */
export function logChainWrites(cb: u32, rec: u32, segs: u32, len: u32): void {
  let s = load<u32>(rec + CHAIN_SEG) + <u32>load<u16>(rec + CHAIN_NREAD);
  const end = s + <u32>load<u16>(rec + CHAIN_NWRITE);
  for (; s < end && len > 0; s++) {
    const d = segs + s * SEG_SIZE;
    const l = load<u32>(d + SEG_LEN);
    const take = len < l ? len : l;
    logWasmRange(cb, load<u32>(d + SEG_OFFSET), take);
    len -= take;
  }
}

/** Split rings: marks bytes [at, at + len) of the used ring, at the log address SET_VRING_ADDR gave. */
export function logUsed(cb: u32, at: u32, len: u32): void {
  const b = logBlock(cb);
  if (b == 0) return;
  const gpa = load<u64>(b + LOG_USED_GPA);
  if (<u64>at > 0xffff_ffff_ffff_ffff - gpa) return;
  logGuestRange(b, gpa + <u64>at, len);
}

/** Split rings: marks used ring elements [start, start + n) (ring indices mod q, q a power of two). */
export function logUsedElems(cb: u32, q: u32, start: u32, n: u32, ring: u32, elem: u32): void {
  if (logBlock(cb) == 0 || n == 0) return;
  const s = start & (q - 1);
  const first = n < q - s ? n : q - s;
  logUsed(cb, ring + s * elem, first * elem);
  if (first < n) logUsed(cb, ring, (n - first) * elem);
}
