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
// Every index read from the region is range-checked: the front-end shares it and may have
// written anything.
import {
  CB_DRIVER_AREA, CB_DEVICE_AREA, DEV_INFLIGHT, DEV_INFLIGHT_COUNTER, SDEV_LAST_AVAIL,
  SDEV_USED_IDX,
} from "../layout/queue";
import {
  INFLIGHT_FEATURES, INFLIGHT_VERSION, INFLIGHT_DESC_NUM, INFLIGHT_VERSION_1, ISPLIT_LAST_BATCH_HEAD,
  ISPLIT_USED_IDX, ISPLIT_HEADER_SIZE, ISPLIT_DESC_SIZE, ISPLIT_D_INFLIGHT, ISPLIT_D_NEXT,
  ISPLIT_D_COUNTER,
} from "../layout/inflight";
import { AVAIL_IDX, AVAIL_RING, AVAIL_ELEM_SIZE, USED_IDX } from "../layout/split";
import { CHAIN_SIZE, CHAIN_ID, USED_REC_SIZE, USED_REC_ID } from "../layout/batch";
import { ERR_INFLIGHT_RANGE, ERR_INFLIGHT_BATCH, ERR_INFLIGHT_COUNTERS, ERR_INFLIGHT_OUT_OF_ORDER } from "../layout/errors";
import { refuse } from "../shared/common";
import { checkInflightHeader, inflightRun, inflightCounter } from "../shared/inflight";

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
 * 2. The heads still in flight are resubmitted in counter order. In general (a device that
 *    completes out of order) that means handing those chains out again ahead of the ring, which
 *    this engine does not do. A device that completes in pop order (the virtio-net device: see
 *    net/forward.ts) leaves exactly the chains read from the available ring at used.idx,
 *    used.idx + 1, ... in flight, in that counter order; then resuming the ring at used.idx pops
 *    them again, in order, and that is the resubmission. This checks that the region says so
 *    (counters without gaps, each head at its ring position, no further than avail.idx) and
 *    refuses when it does not (nothing changed but step 1): ERR_INFLIGHT_BATCH, _RANGE, _COUNTERS
 *    or _OUT_OF_ORDER, with CB_DETAIL the batch size, the head, the count or the head.
 *
 * Sets SDEV_LAST_AVAIL and SDEV_USED_IDX to used.idx and returns how many chains were in flight.
 */
export function splitInflightRecover(cb: u32, q: u32): i32 {
  const region = load<u32>(cb + DEV_INFLIGHT);
  const bad = checkInflightHeader(cb, region, q);
  if (bad != 0) return bad;
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
  const n = inflightRun(cb, region + ISPLIT_HEADER_SIZE, ISPLIT_DESC_SIZE, q);
  if (n < 0) return n;
  const count = <u32>n;
  if (count > 0) {
    const low = inflightCounter(cb);
    // [A3] consume avail.idx; pairs with [R3] in splitDriverAdd.
    const availIdx = <u32>atomic.load<u16>(avail + AVAIL_IDX);
    const offered = (availIdx - usedIdx) & 0xffff;
    if (offered > q || count > offered) return refuse(cb, ERR_INFLIGHT_OUT_OF_ORDER, availIdx);
    for (let i: u32 = 0; i < q; i++) {
      const e = entry(region, i);
      if (load<u8>(e + ISPLIT_D_INFLIGHT) != 1) continue;
      const at = (usedIdx + <u32>(load<u64>(e + ISPLIT_D_COUNTER) - low)) & (q - 1);
      if (<u32>load<u16>(avail + AVAIL_RING + at * AVAIL_ELEM_SIZE) != i) return refuse(cb, ERR_INFLIGHT_OUT_OF_ORDER, i);
    }
  }
  store<u32>(cb + SDEV_LAST_AVAIL, usedIdx);
  store<u32>(cb + SDEV_USED_IDX, usedIdx);
  return <i32>count;
}
