// Inflight I/O tracking for the split device (vhost-user.rst "Inflight I/O tracking", the split
// virtqueue part): the queue region at DEV_INFLIGHT (layout/inflight.ts ISPLIT_*) kept up to
// date by pop, push and unpop, and read back when a restarted back-end starts the ring again.
//
// The spec's order, which is what makes the region right whatever instant the back-end dies at:
//   pop:  desc[head].counter = counter++, then desc[head].inflight = 1;
//   push: each head's desc[head].next = last_batch_head, last_batch_head = the batch's last head,
//         then used.idx published ([R4]), then each head's inflight = 0, then used_idx = used.idx
//         ([R24]). A death between [R4] and [R24] leaves used_idx behind used.idx: recovery then
//         walks the last batch list and clears what the push did not get to.
// last_batch_head is stored once per batch (its value when the list is complete); before [R4]
// nothing reads it, so this is the spec's result with fewer stores.
//
// After a restart the chains that were in flight are popped again from a private list, in counter
// order, before the available ring (splitInflightRecover): their entries keep their marks and
// counters until they are used, and pop and unpop leave those entries alone.
//
// Every index read from the region is range-checked: the front-end shares it and may have
// written anything.
import {
  CB_DRIVER_AREA, CB_DEVICE_AREA, DEV_INFLIGHT, DEV_INFLIGHT_COUNTER, SDEV_LAST_AVAIL,
  SDEV_USED_IDX, SDEV_RESUBMIT, SDEV_RESUBMIT_NUM, SDEV_RESUBMIT_NEXT, RESUBMIT_PENDING, RESUBMIT_SIZE,
} from "../layout/queue";
import {
  INFLIGHT_FEATURES, INFLIGHT_VERSION, INFLIGHT_DESC_NUM, INFLIGHT_VERSION_1, ISPLIT_LAST_BATCH_HEAD,
  ISPLIT_USED_IDX, ISPLIT_HEADER_SIZE, ISPLIT_DESC_SIZE, ISPLIT_D_INFLIGHT, ISPLIT_D_NEXT,
  ISPLIT_D_COUNTER,
} from "../layout/inflight";
import { AVAIL_IDX, AVAIL_RING, AVAIL_ELEM_SIZE, USED_IDX } from "../layout/split";
import { CHAIN_SIZE, CHAIN_ID, USED_REC_SIZE, USED_REC_ID } from "../layout/batch";
import { ERR_BAD_CONFIG, ERR_INFLIGHT_RANGE, ERR_INFLIGHT_BATCH, ERR_INFLIGHT_OUT_OF_ORDER } from "../layout/errors";
import { refuse, inMemory } from "../shared/common";
import { checkInflightHeader, inflightOrder } from "../shared/inflight";

// @ts-ignore: decorator
@inline function entry(region: u32, head: u32): u32 {
  return region + ISPLIT_HEADER_SIZE + head * ISPLIT_DESC_SIZE;
}

/** Bytes of a split region for Queue Size q (without the stride's rounding). */
// @ts-ignore: decorator
@inline export function splitInflightBytes(q: u32): u64 {
  return <u64>ISPLIT_HEADER_SIZE + <u64>q * ISPLIT_DESC_SIZE;
}

/**
 * Reset: the region describes a queue of q entries, none in flight, used_idx = `usedIdx` (the
 * ring's start). used_idx first, then the inflight fields, then the version ([R26]).
 */
export function splitInflightFormat(cb: u32, region: u32, q: u32, usedIdx: u32): void {
  store<u16>(region + ISPLIT_USED_IDX, usedIdx);
  store<u16>(region + ISPLIT_LAST_BATCH_HEAD, 0);
  store<u64>(region + INFLIGHT_FEATURES, 0);
  store<u16>(region + INFLIGHT_DESC_NUM, q);
  for (let i: u32 = 0; i < q; i++) store<u8>(entry(region, i) + ISPLIT_D_INFLIGHT, 0);
  store<u64>(cb + DEV_INFLIGHT_COUNTER, 0);
  // [R26] publish the formatted region (version 1); pairs with [A26] in checkInflightHeader.
  atomic.store<u16>(region + INFLIGHT_VERSION, INFLIGHT_VERSION_1);
}

/** Pop: records `head` as in flight with the next counter value (returned incremented). */
// @ts-ignore: decorator
@inline export function splitInflightPop(region: u32, head: u32, counter: u64): u64 {
  const e = entry(region, head);
  store<u64>(e + ISPLIT_D_COUNTER, counter);
  store<u8>(e + ISPLIT_D_INFLIGHT, 1);
  return counter + 1;
}

/** Push, before used.idx moves: the batch's heads linked into the last batch list. */
export function splitInflightBatch(region: u32, elems: u32, n: u32): void {
  let last = <u32>load<u16>(region + ISPLIT_LAST_BATCH_HEAD);
  for (let i: u32 = 0; i < n; i++) {
    const head = load<u32>(elems + i * USED_REC_SIZE + USED_REC_ID);
    store<u16>(entry(region, head) + ISPLIT_D_NEXT, last);
    last = head;
  }
  store<u16>(region + ISPLIT_LAST_BATCH_HEAD, last);
}

/** Push, after used.idx moved to `usedIdx`: the batch's heads no longer in flight, then used_idx. */
export function splitInflightPushed(region: u32, elems: u32, n: u32, usedIdx: u32): void {
  for (let i: u32 = 0; i < n; i++) {
    store<u8>(entry(region, load<u32>(elems + i * USED_REC_SIZE + USED_REC_ID)) + ISPLIT_D_INFLIGHT, 0);
  }
  // [R24] publish used_idx: the inflight fields of the batch are cleared. Pairs with [A24] in
  // splitInflightRecover.
  atomic.store<u16>(region + ISPLIT_USED_IDX, usedIdx);
}

/**
 * Unpop: the last `n` chains popped (records at `chains`, in pop order) are no longer in flight,
 * newest first (so the ones still marked are always a run of consecutive counters), and the
 * counter goes back by n.
 */
export function splitInflightUnpop(cb: u32, region: u32, chains: u32, n: u32): void {
  for (let i = <i32>n - 1; i >= 0; i--) {
    store<u8>(entry(region, load<u32>(chains + <u32>i * CHAIN_SIZE + CHAIN_ID)) + ISPLIT_D_INFLIGHT, 0);
  }
  store<u64>(cb + DEV_INFLIGHT_COUNTER, load<u64>(cb + DEV_INFLIGHT_COUNTER) - n);
}

/**
 * After a back-end restart, before the reset (the areas and the region already checked): the
 * spec's "When reconnecting" steps for a split queue, then where the device resumes.
 *
 * 1. used_idx behind used.idx: the back-end died between publishing a batch and clearing its
 *    inflight fields; clear them along the last batch list (used.idx - used_idx heads) and set
 *    used_idx to used.idx.
 * 2. The heads still in flight go on the resubmission list (SDEV_RESUBMIT) in counter order (the
 *    order they were popped), whatever order the chains popped with them were used in: pop hands
 *    them out again before anything from the available ring. Each chain popped was used once or
 *    is in flight, so the device had read used.idx + count entries of the available ring: that is
 *    where it resumes reading (libvhost-user resumes there too). With chains used in pop order
 *    (the virtio-net device: net/forward.ts) the list holds the heads at used.idx, used.idx + 1,
 *    ..., which is what popping the ring again from used.idx would give.
 *    The region is the front-end's and may hold anything: an `inflight` byte other than 0 or 1,
 *    two heads with the same counter, more heads in flight than the ring made available beyond
 *    used.idx, or a head in flight that the ring offers again among the entries not yet read
 *    (2.7.13.1: the driver never offers a chain the device holds) is refused, with nothing
 *    changed but step 1: ERR_INFLIGHT_BATCH, _RANGE, _COUNTERS or _OUT_OF_ORDER, with CB_DETAIL
 *    the batch size, the head (or entry), the count, or avail.idx / the head offered again.
 *
 * Sets SDEV_LAST_AVAIL to used.idx + count, SDEV_USED_IDX to used.idx, the list, and returns how
 * many chains were in flight. The reset that follows keeps the region as it is (their marks and
 * counters stay until they are used again, so a back-end that dies before that resubmits them
 * too) instead of formatting it.
 */
export function splitInflightRecover(cb: u32, q: u32): i32 {
  const region = load<u32>(cb + DEV_INFLIGHT);
  const bad = checkInflightHeader(cb, region, q);
  if (bad != 0) return bad;
  const list = load<u32>(cb + SDEV_RESUBMIT);
  if (list == 0 || !inMemory(list, <u64>q * RESUBMIT_SIZE)) return refuse(cb, ERR_BAD_CONFIG, list);
  const used = load<u32>(cb + CB_DEVICE_AREA);
  const avail = load<u32>(cb + CB_DRIVER_AREA);
  // [A4] consume used.idx (what the driver was told); pairs with [R4] in splitDevicePush.
  const usedIdx = <u32>atomic.load<u16>(used + USED_IDX);
  // [A24] consume used_idx; pairs with [R24] in splitInflightPushed.
  const regionUsed = <u32>atomic.load<u16>(region + ISPLIT_USED_IDX);
  if (regionUsed != usedIdx) {
    const batch = (usedIdx - regionUsed) & 0xffff;
    if (batch > q) return refuse(cb, ERR_INFLIGHT_BATCH, batch);
    let head = <u32>load<u16>(region + ISPLIT_LAST_BATCH_HEAD);
    for (let k: u32 = 0; k < batch; k++) {
      if (head >= q) return refuse(cb, ERR_INFLIGHT_RANGE, head);
      const e = entry(region, head);
      store<u8>(e + ISPLIT_D_INFLIGHT, 0);
      head = <u32>load<u16>(e + ISPLIT_D_NEXT);
    }
    store<u16>(region + ISPLIT_USED_IDX, usedIdx);
  }
  const n = inflightOrder(cb, region + ISPLIT_HEADER_SIZE, ISPLIT_DESC_SIZE, q, list);
  if (n < 0) return n;
  const count = <u32>n;
  // [A3] consume avail.idx; pairs with [R3] in splitDriverAdd.
  const availIdx = <u32>atomic.load<u16>(avail + AVAIL_IDX);
  const offered = (availIdx - usedIdx) & 0xffff;
  if (offered > q || count > offered) return refuse(cb, ERR_INFLIGHT_OUT_OF_ORDER, availIdx);
  const resume = (usedIdx + count) & 0xffff;
  for (let p = resume; p != availIdx; p = (p + 1) & 0xffff) {
    const head = <u32>load<u16>(avail + AVAIL_RING + (p & (q - 1)) * AVAIL_ELEM_SIZE);
    if (head < q && load<u8>(entry(region, head) + ISPLIT_D_INFLIGHT) == 1) return refuse(cb, ERR_INFLIGHT_OUT_OF_ORDER, head);
  }
  store<u32>(cb + SDEV_LAST_AVAIL, resume);
  store<u32>(cb + SDEV_USED_IDX, usedIdx);
  store<u32>(cb + SDEV_RESUBMIT_NUM, count);
  store<u32>(cb + SDEV_RESUBMIT_NEXT, RESUBMIT_PENDING);
  return <i32>count;
}
