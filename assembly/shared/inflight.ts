// What inflight I/O tracking (vhost-user.rst "Inflight I/O tracking") does alike for both
// layouts: where the region is, the checks of its place and header, and the global counter that
// orders popped chains. The layouts' own steps are split/inflight.ts and packed/inflight.ts.
import { DEV_INFLIGHT, DEV_INFLIGHT_COUNTER } from "../layout/queue";
import { INFLIGHT_VERSION, INFLIGHT_DESC_NUM, INFLIGHT_VERSION_1, INFLIGHT_ALIGN, INFLIGHT_D_INFLIGHT, INFLIGHT_D_COUNTER } from "../layout/inflight";
import { ERR_BAD_CONFIG, ERR_INFLIGHT_BAD_REGION, ERR_INFLIGHT_COUNTERS, ERR_INFLIGHT_OUT_OF_ORDER } from "../layout/errors";
import { refuse, inMemory } from "./common";

/** Wasm offset of the queue's inflight region, 0 when the device does not track. */
// @ts-ignore: decorator
@inline export function inflightRegion(cb: u32): u32 {
  return load<u32>(cb + DEV_INFLIGHT);
}

// @ts-ignore: decorator
@inline export function inflightCounter(cb: u32): u64 {
  return load<u64>(cb + DEV_INFLIGHT_COUNTER);
}

// @ts-ignore: decorator
@inline export function setInflightCounter(cb: u32, c: u64): void {
  store<u64>(cb + DEV_INFLIGHT_COUNTER, c);
}

/**
 * Reset check of the region's place: `bytes` at `region`, INFLIGHT_ALIGN-aligned, inside memory.
 * Returns 0 or ERR_BAD_CONFIG with CB_DETAIL = region.
 */
export function checkInflightArea(cb: u32, region: u32, bytes: u64): i32 {
  if ((region & (INFLIGHT_ALIGN - 1)) != 0 || !inMemory(region, bytes)) return refuse(cb, ERR_BAD_CONFIG, region);
  return 0;
}

/**
 * Recovery check of the header the region carries: formatted (version 1) for a queue of q
 * entries. Returns 0 or ERR_INFLIGHT_BAD_REGION with CB_DETAIL = the version, or desc_num when
 * the version is right.
 */
export function checkInflightHeader(cb: u32, region: u32, q: u32): i32 {
  // [A26] consume the version; pairs with [R26] in the formats (split and packed inflight.ts).
  const version = <u32>atomic.load<u16>(region + INFLIGHT_VERSION);
  if (version != INFLIGHT_VERSION_1) return refuse(cb, ERR_INFLIGHT_BAD_REGION, version);
  const n = <u32>load<u16>(region + INFLIGHT_DESC_NUM);
  if (n != q) return refuse(cb, ERR_INFLIGHT_BAD_REGION, n);
  return 0;
}

/**
 * Recovery, both layouts: counts the entries in flight among the q entries of `stride` bytes from
 * `first` (INFLIGHT_D_INFLIGHT and INFLIGHT_D_COUNTER, where both layouts' DescState put them)
 * and checks their counters run without a gap or a repeat, as chains taken in order and
 * not yet used do. Leaves the oldest one's counter in the global counter for the caller (scratch:
 * the reset that follows formats the region and starts the counter again). Returns the count, or
 * ERR_INFLIGHT_OUT_OF_ORDER (a gap: a chain popped between two still in flight was used first)
 * or ERR_INFLIGHT_COUNTERS (two the same) with CB_DETAIL = the count.
 */
export function inflightRun(cb: u32, first: u32, stride: u32, q: u32): i32 {
  let count: u32 = 0;
  let low: u64 = 0xffff_ffff_ffff_ffff;
  let high: u64 = 0;
  for (let i: u32 = 0; i < q; i++) {
    const e = first + i * stride;
    if (load<u8>(e + INFLIGHT_D_INFLIGHT) != 1) continue;
    const c = load<u64>(e + INFLIGHT_D_COUNTER);
    if (c < low) low = c;
    if (c > high) high = c;
    count++;
  }
  if (count == 0) return 0;
  const span = high - low + 1;
  if (span > <u64>count) return refuse(cb, ERR_INFLIGHT_OUT_OF_ORDER, count);
  if (span < <u64>count) return refuse(cb, ERR_INFLIGHT_COUNTERS, count);
  setInflightCounter(cb, low);
  return <i32>count;
}
