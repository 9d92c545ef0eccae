// What inflight I/O tracking (vhost-user.rst "Inflight I/O tracking") does alike for both
// layouts: where the region is, the checks of its place and header, and the global counter that
// orders popped chains. The layouts' own steps are split/inflight.ts and packed/inflight.ts.
import { DEV_INFLIGHT, DEV_INFLIGHT_COUNTER, RESUBMIT_SIZE } from "../layout/queue";
import { INFLIGHT_VERSION, INFLIGHT_DESC_NUM, INFLIGHT_VERSION_1, INFLIGHT_ALIGN, INFLIGHT_D_INFLIGHT, INFLIGHT_D_COUNTER } from "../layout/inflight";
import { ERR_BAD_CONFIG, ERR_INFLIGHT_BAD_REGION, ERR_INFLIGHT_COUNTERS, ERR_INFLIGHT_RANGE } from "../layout/errors";
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

/** The counter of entry `idx` (the region is shared: read each time, never trusted). */
// @ts-ignore: decorator
@inline function counterOf(first: u32, stride: u32, idx: u32): u64 {
  return load<u64>(first + idx * stride + INFLIGHT_D_COUNTER);
}

/** Heapsort step: sinks list[at] within list[0 .. n) by counter. */
function sink(list: u32, n: u32, at: u32, first: u32, stride: u32): void {
  let i: u32 = at;
  for (;;) {
    let big = i;
    const l: u32 = 2 * i + 1;
    const r: u32 = l + 1;
    if (l < n && counterOf(first, stride, load<u32>(list + l * RESUBMIT_SIZE)) > counterOf(first, stride, load<u32>(list + big * RESUBMIT_SIZE))) big = l;
    if (r < n && counterOf(first, stride, load<u32>(list + r * RESUBMIT_SIZE)) > counterOf(first, stride, load<u32>(list + big * RESUBMIT_SIZE))) big = r;
    if (big == i) return;
    const t = load<u32>(list + i * RESUBMIT_SIZE);
    store<u32>(list + i * RESUBMIT_SIZE, load<u32>(list + big * RESUBMIT_SIZE));
    store<u32>(list + big * RESUBMIT_SIZE, t);
    i = big;
  }
}

/**
 * Recovery, both layouts: the entries in flight among the q entries of `stride` bytes from
 * `first` (INFLIGHT_D_INFLIGHT and INFLIGHT_D_COUNTER, where both layouts' DescState put them),
 * written to `list` (q entries of RESUBMIT_SIZE, private) as entry indices in counter order: the order the chains
 * were popped, which is the order they are resubmitted in (vhost-user.rst, "Inflight I/O
 * tracking": "resubmit ... in order of their counter"). Counters may have gaps (chains popped
 * between them were used first: out-of-order completion); two the same are refused. An
 * `inflight` byte other than 0 or 1 is garbage and refused. Leaves the highest counter + 1 in
 * the global counter, so the chains popped after them come after them. Returns the count, or
 * ERR_INFLIGHT_RANGE (CB_DETAIL = the entry with a bad `inflight` byte) or ERR_INFLIGHT_COUNTERS
 * (CB_DETAIL = the count).
 */
export function inflightOrder(cb: u32, first: u32, stride: u32, q: u32, list: u32): i32 {
  let count: u32 = 0;
  for (let i: u32 = 0; i < q; i++) {
    const f = load<u8>(first + i * stride + INFLIGHT_D_INFLIGHT);
    if (f > 1) return refuse(cb, ERR_INFLIGHT_RANGE, i);
    if (f == 1) { store<u32>(list + count * RESUBMIT_SIZE, i); count++; }
  }
  if (count == 0) return 0;
  // Heapsort by counter: O(q log q) whatever the region holds, no extra memory.
  for (let i = <i32>(count / 2) - 1; i >= 0; i--) sink(list, count, <u32>i, first, stride);
  for (let end = count - 1; end > 0; end--) {
    const t = load<u32>(list);
    store<u32>(list, load<u32>(list + end * RESUBMIT_SIZE));
    store<u32>(list + end * RESUBMIT_SIZE, t);
    sink(list, end, 0, first, stride);
  }
  // Read each counter once more, in order: strictly increasing, or refused.
  let prev = counterOf(first, stride, load<u32>(list));
  for (let j: u32 = 1; j < count; j++) {
    const c = counterOf(first, stride, load<u32>(list + j * RESUBMIT_SIZE));
    if (c <= prev) return refuse(cb, ERR_INFLIGHT_COUNTERS, count);
    prev = c;
  }
  setInflightCounter(cb, prev + 1);
  return <i32>count;
}
