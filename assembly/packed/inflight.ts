// Inflight I/O tracking for the packed device (vhost-user.rst "Inflight I/O tracking", the packed
// virtqueue part): the queue region at DEV_INFLIGHT (layout/inflight.ts IPACKED_*) kept up to
// date by pop, push and unpop, and read back when a restarted back-end starts the ring again.
//
// Pop takes one region entry per descriptor of the list from the free list (the first is the
// head entry: num, last, counter, inflight) and copies each descriptor into its entry. Push, per
// the spec: (1-4) each buffer's entries go back to the free list (desc[last].next = free_head,
// free_head = head), (5) used_idx and used_wrap_counter move past the batch, (6) the used flags
// are written ([R6], the burst's publish), (7) the head entries are no longer in flight, (8)
// old_free_head, old_used_idx and old_used_wrap_counter catch up ([R25]). A back-end that dies
// between 5 and 8 leaves used_idx != old_used_idx, and recovery looks at the ring to see whether
// the flags were written (commit) or not (roll back).
//
// Two places differ from the spec's literal order, with the same result for any reader:
//   - pop sets the head entry's inflight field last (the spec sets it first), so that a list
//     half recorded when the back-end died is not taken for one in flight;
//   - used_idx, old_used_idx and both wrap counters are stored together as one u64
//     (IPACKED_USED_WORD), so that no recovery ever sees an index with the other lap's counter.
// Each popped buffer's head and last entries are also kept privately (PDEV_INFLIGHT_HEADS), so a
// push never takes an index from the shared region; pop does (free_head, next), and checks each.
import {
  CB_DETAIL, CB_DESC, DEV_INFLIGHT, DEV_INFLIGHT_COUNTER, PDEV_INFLIGHT_HEADS, PDEV_NEXT_AVAIL,
  PDEV_AVAIL_WRAP, PDEV_NEXT_USED, PDEV_USED_WRAP,
} from "../layout/queue";
import {
  INFLIGHT_FEATURES, INFLIGHT_VERSION, INFLIGHT_DESC_NUM, INFLIGHT_VERSION_1, IPACKED_FREE_HEAD,
  IPACKED_OLD_FREE_HEAD, IPACKED_USED_WORD, IPACKED_HEADER_SIZE, IPACKED_DESC_SIZE,
  IPACKED_D_INFLIGHT, IPACKED_D_NEXT, IPACKED_D_LAST, IPACKED_D_NUM, IPACKED_D_COUNTER, IPACKED_D_ID,
  IPACKED_D_FLAGS, IPACKED_D_LEN, IPACKED_D_ADDR, IHEAD_SIZE,
} from "../layout/inflight";
import { PDESC_SIZE, PDESC_ADDR, PDESC_LEN, PDESC_ID, PDESC_FLAGS, PDESC_F_NEXT } from "../layout/packed";
import { CHAIN_SIZE, CHAIN_ID, USED_REC_SIZE, USED_REC_ID } from "../layout/batch";
import {
  ERR_INFLIGHT_INDEX, ERR_INFLIGHT_RANGE, ERR_INFLIGHT_OUT_OF_ORDER, ERR_INFLIGHT_COPY,
} from "../layout/errors";
import { refuse } from "../shared/common";
import { checkInflightHeader, inflightOrder } from "../shared/inflight";
import { isAvailable } from "./flags";


// @ts-ignore: decorator
@inline function entry(region: u32, i: u32): u32 {
  return region + IPACKED_HEADER_SIZE + i * IPACKED_DESC_SIZE;
}

/** The IPACKED_USED_WORD value: used_idx, old_used_idx, used_wrap_counter, old_used_wrap_counter. */
// @ts-ignore: decorator
@inline function usedWord(used: u32, oldUsed: u32, wrap: u32, oldWrap: u32): u64 {
  return <u64>used | (<u64>oldUsed << 16) | (<u64>wrap << 32) | (<u64>oldWrap << 40);
}

/** Bytes of a packed region for Queue Size q (without the stride's rounding). */
// @ts-ignore: decorator
@inline export function packedInflightBytes(q: u32): u64 {
  return <u64>IPACKED_HEADER_SIZE + <u64>q * IPACKED_DESC_SIZE;
}

/** Bytes of the private head map (PDEV_INFLIGHT_HEADS) for Queue Size q. */
// @ts-ignore: decorator
@inline export function packedInflightHeadsBytes(q: u32): u64 {
  return <u64>q * IHEAD_SIZE;
}

/**
 * Reset: the region describes a queue of q entries, none in flight, every entry free (entry i's
 * next is i + 1, as DPDK formats it), the used position (and its old copy) at the ring's start.
 * The version last ([R26]).
 */
export function packedInflightFormat(cb: u32, region: u32, q: u32, usedSlot: u32, usedWrap: u32): void {
  store<u64>(region + IPACKED_USED_WORD, usedWord(usedSlot, usedSlot, usedWrap, usedWrap));
  store<u16>(region + IPACKED_FREE_HEAD, 0);
  store<u16>(region + IPACKED_OLD_FREE_HEAD, 0);
  for (let i: u32 = 0; i < q; i++) {
    const e = entry(region, i);
    store<u8>(e + IPACKED_D_INFLIGHT, 0);
    store<u16>(e + IPACKED_D_NEXT, i + 1);
  }
  store<u64>(region + INFLIGHT_FEATURES, 0);
  store<u16>(region + INFLIGHT_DESC_NUM, q);
  store<u64>(cb + DEV_INFLIGHT_COUNTER, 0);
  // [R26] publish the formatted region (version 1); pairs with [A26] in checkInflightHeader.
  atomic.store<u16>(region + INFLIGHT_VERSION, INFLIGHT_VERSION_1);
}

/**
 * Pop: records buffer `id`, whose list of `n` descriptors starts at ring `slot`, in entries
 * taken from the free list, with global counter `counter`. Returns the next counter value, or
 * ERR_INFLIGHT_INDEX (CB_DETAIL = the entry) when the free list names an entry out of range; the
 * buffer is then not marked in flight.
 */
export function packedInflightPop(cb: u32, region: u32, q: u32, slot: u32, n: u32, id: u32, counter: u64): i64 {
  const desc = load<u32>(cb + CB_DESC);
  const head = <u32>load<u16>(region + IPACKED_OLD_FREE_HEAD);
  if (head >= q) { store<u32>(cb + CB_DETAIL, head); return ERR_INFLIGHT_INDEX; }
  const h = entry(region, head);
  store<u16>(h + IPACKED_D_NUM, 0);
  store<u64>(h + IPACKED_D_COUNTER, counter);
  let f = head;
  let s = slot;
  let last: u32 = head;
  for (let k: u32 = 0; k < n; k++) {
    if (f >= q) { store<u32>(cb + CB_DETAIL, f); return ERR_INFLIGHT_INDEX; }
    if (k + 1 == n) { store<u16>(h + IPACKED_D_LAST, f); last = f; }
    store<u16>(h + IPACKED_D_NUM, k + 1);
    const d = desc + s * PDESC_SIZE;
    const e = entry(region, f);
    store<u64>(e + IPACKED_D_ADDR, load<u64>(d + PDESC_ADDR));
    store<u32>(e + IPACKED_D_LEN, load<u32>(d + PDESC_LEN));
    store<u16>(e + IPACKED_D_FLAGS, load<u16>(d + PDESC_FLAGS));
    store<u16>(e + IPACKED_D_ID, load<u16>(d + PDESC_ID));
    f = <u32>load<u16>(e + IPACKED_D_NEXT);
    store<u16>(region + IPACKED_FREE_HEAD, f);
    s++;
    if (s == q) s = 0;
  }
  store<u16>(region + IPACKED_OLD_FREE_HEAD, f);
  store<u32>(load<u32>(cb + PDEV_INFLIGHT_HEADS) + id * IHEAD_SIZE, head | (last << 16));
  // The list is recorded whole: only now is it in flight.
  atomic.store<u8>(h + IPACKED_D_INFLIGHT, 1);
  return <i64>(counter + 1);
}

/** Push steps 1-4: each buffer's entries back on the free list (head first, as the spec links them). */
export function packedInflightRelease(cb: u32, region: u32, elems: u32, n: u32): void {
  const heads = load<u32>(cb + PDEV_INFLIGHT_HEADS);
  let free = <u32>load<u16>(region + IPACKED_FREE_HEAD);
  for (let i: u32 = 0; i < n; i++) {
    const v = load<u32>(heads + load<u32>(elems + i * USED_REC_SIZE + USED_REC_ID) * IHEAD_SIZE);
    store<u16>(entry(region, v >>> 16) + IPACKED_D_NEXT, free);
    free = v & 0xffff;
  }
  store<u16>(region + IPACKED_FREE_HEAD, free);
}

/** Push step 5, before the flags: used_idx and used_wrap_counter past the batch (the old ones kept). */
// @ts-ignore: decorator
@inline export function packedInflightUsed(region: u32, slot: u32, wrap: u32, oldSlot: u32, oldWrap: u32): void {
  store<u64>(region + IPACKED_USED_WORD, usedWord(slot, oldSlot, wrap, oldWrap));
}

/** Push steps 7 and 8, after the flags: the heads no longer in flight, then the old copies catch up. */
export function packedInflightPushed(cb: u32, region: u32, elems: u32, n: u32, slot: u32, wrap: u32): void {
  const heads = load<u32>(cb + PDEV_INFLIGHT_HEADS);
  for (let i: u32 = 0; i < n; i++) {
    const v = load<u32>(heads + load<u32>(elems + i * USED_REC_SIZE + USED_REC_ID) * IHEAD_SIZE);
    store<u8>(entry(region, v & 0xffff) + IPACKED_D_INFLIGHT, 0);
  }
  store<u16>(region + IPACKED_OLD_FREE_HEAD, load<u16>(region + IPACKED_FREE_HEAD));
  // [R25] publish the committed used position (old_used_idx and its wrap counter): the batch is
  // used and its entries free. Pairs with [A25] in packedInflightRecover.
  atomic.store<u64>(region + IPACKED_USED_WORD, usedWord(slot, slot, wrap, wrap));
}

/**
 * Unpop: the last `n` buffers popped (records at `chains`, in pop order) leave the region as if
 * never popped: newest first (the ones still marked are always a run of consecutive counters),
 * each no longer in flight and its entries back on the free list; the counter goes back by n.
 */
export function packedInflightUnpop(cb: u32, region: u32, chains: u32, n: u32): void {
  const heads = load<u32>(cb + PDEV_INFLIGHT_HEADS);
  let free = <u32>load<u16>(region + IPACKED_FREE_HEAD);
  for (let i = <i32>n - 1; i >= 0; i--) {
    const v = load<u32>(heads + load<u32>(chains + <u32>i * CHAIN_SIZE + CHAIN_ID) * IHEAD_SIZE);
    store<u8>(entry(region, v & 0xffff) + IPACKED_D_INFLIGHT, 0);
    store<u16>(entry(region, v >>> 16) + IPACKED_D_NEXT, free);
    free = v & 0xffff;
  }
  store<u16>(region + IPACKED_FREE_HEAD, free);
  store<u16>(region + IPACKED_OLD_FREE_HEAD, free);
  store<u64>(cb + DEV_INFLIGHT_COUNTER, load<u64>(cb + DEV_INFLIGHT_COUNTER) - n);
}

/** Whether ring slot `s` holds exactly the descriptor copied in entry `e`. */
// @ts-ignore: decorator
@inline function sameAsCopy(d: u32, e: u32): bool {
  return load<u64>(d + PDESC_ADDR) == load<u64>(e + IPACKED_D_ADDR) && load<u32>(d + PDESC_LEN) == load<u32>(e + IPACKED_D_LEN)
    && load<u16>(d + PDESC_ID) == load<u16>(e + IPACKED_D_ID) && load<u16>(d + PDESC_FLAGS) == load<u16>(e + IPACKED_D_FLAGS);
}

/**
 * After a back-end restart, before the reset (ring, region and head map already checked): the
 * spec's "When reconnecting" steps for a packed queue, then where the device resumes.
 *
 * 1. used_idx != old_used_idx: a push was under way. If the ring descriptor at old_used_idx no
 *    longer carries the available flags of old_used_wrap_counter, its flags were written (the
 *    driver may have seen the batch): commit (the old copies take the new values); otherwise
 *    roll back (the new values take the old ones).
 * 2. The entries on the free list are not in flight.
 * 3. The buffers still in flight are resubmitted in counter order. In general (a device that
 *    completes out of order) that means handing them out again ahead of the ring, which this
 *    engine does not do. A device that completes in pop order (the virtio-net device) leaves in
 *    flight exactly the lists that follow the committed used position, in ring order; resuming
 *    the ring there pops them again, and that is the resubmission. This checks that the region
 *    says so: counters without gaps, each list's copies available in the lap of its slots, linked
 *    with NEXT up to its last entry, and equal to the ring's descriptors, except in the slots of a
 *    rolled-back push, which the device had begun overwriting with used descriptors: those are
 *    written back from the copies (the driver has not been told of them: their first flags were
 *    never written). Anything else is refused, the ring left alone: ERR_INFLIGHT_RANGE (an index
 *    or num out of range), _COUNTERS, _COPY (a copy not available in its lap or not linked as
 *    its list), _OUT_OF_ORDER (a copy that is not the ring's descriptor at its slot).
 *
 * Sets the start positions (PDEV_NEXT_AVAIL / _AVAIL_WRAP and PDEV_NEXT_USED / _USED_WRAP) to the
 * committed used position and returns how many buffers were in flight.
 */
export function packedInflightRecover(cb: u32, q: u32): i32 {
  const region = load<u32>(cb + DEV_INFLIGHT);
  const bad = checkInflightHeader(cb, region, q);
  if (bad != 0) return bad;
  const desc = load<u32>(cb + CB_DESC);
  // [A25] consume the used position; pairs with [R25] in packedInflightPushed.
  const word = atomic.load<u64>(region + IPACKED_USED_WORD);
  const used = <u32>(word & 0xffff);
  const oldUsed = <u32>((word >>> 16) & 0xffff);
  const wrap = <u32>((word >>> 32) & 0xff);
  const oldWrap = <u32>((word >>> 40) & 0xff);
  if (used >= q || oldUsed >= q || wrap > 1 || oldWrap > 1) return refuse(cb, ERR_INFLIGHT_RANGE, used);
  // Step 1, and the spec's roll back of whatever else was under way (a pop or an unpop moving
  // free_head): `scribbled` counts the slots from the committed position that a rolled-back push
  // may have written.
  let scribbled: u32 = 0;
  const pushing = used != oldUsed || wrap != oldWrap;
  // [A6] consume the flags of the batch's first used descriptor; pairs with [R6] in packedDevicePush.
  if (pushing && !isAvailable(<u32>atomic.load<u16>(desc + oldUsed * PDESC_SIZE + PDESC_FLAGS), oldWrap)) {
    store<u16>(region + IPACKED_OLD_FREE_HEAD, load<u16>(region + IPACKED_FREE_HEAD));
    store<u64>(region + IPACKED_USED_WORD, usedWord(used, used, wrap, wrap));
  } else {
    if (pushing) scribbled = used > oldUsed ? used - oldUsed : used + q - oldUsed;
    store<u16>(region + IPACKED_FREE_HEAD, load<u16>(region + IPACKED_OLD_FREE_HEAD));
    store<u64>(region + IPACKED_USED_WORD, usedWord(oldUsed, oldUsed, oldWrap, oldWrap));
  }
  const at = <u32>(atomic.load<u64>(region + IPACKED_USED_WORD) >>> 16) & 0xffff;
  const atWrap = <u32>(load<u8>(region + IPACKED_USED_WORD + 5));
  // Step 2, bounded: a list that loops or runs out of range just ends.
  let f = <u32>load<u16>(region + IPACKED_FREE_HEAD);
  for (let k: u32 = 0; k < q && f < q; k++) {
    const e = entry(region, f);
    store<u8>(e + IPACKED_D_INFLIGHT, 0);
    f = <u32>load<u16>(e + IPACKED_D_NEXT);
  }
  // Step 3: the heads in flight, by counter, into the head map (scratch until the reset). Packed
  // rings are resubmitted in order only: the counters must run without a gap.
  const order = load<u32>(cb + PDEV_INFLIGHT_HEADS);
  const n = inflightOrder(cb, region + IPACKED_HEADER_SIZE, IPACKED_DESC_SIZE, q, order);
  if (n < 0) return n;
  const count = <u32>n;
  if (count > 0) {
    const low = load<u64>(entry(region, load<u32>(order)) + IPACKED_D_COUNTER);
    for (let j: u32 = 1; j < count; j++) {
      const i = load<u32>(order + j * IHEAD_SIZE);
      if (load<u64>(entry(region, i) + IPACKED_D_COUNTER) != low + j) return refuse(cb, ERR_INFLIGHT_OUT_OF_ORDER, i);
    }
    // Check every list before writing anything.
    const r = walkInflight(cb, region, q, desc, order, count, at, atWrap, scribbled, false);
    if (r < 0) return r;
    if (scribbled > 0) walkInflight(cb, region, q, desc, order, count, at, atWrap, scribbled, true);
  }
  store<u32>(cb + PDEV_NEXT_AVAIL, at);
  store<u32>(cb + PDEV_AVAIL_WRAP, atWrap);
  store<u32>(cb + PDEV_NEXT_USED, at);
  store<u32>(cb + PDEV_USED_WRAP, atWrap);
  return <i32>count;
}

/**
 * Walks the lists in flight (head entries at order[0 .. count), by counter) through the ring from
 * slot `at` with wrap counter `w`. Checking (`restore` false): returns 0 or an ERR_INFLIGHT_* refusal
 * (CB_DETAIL = the entry). Restoring: writes the copies back into the first `scribbled` slots,
 * each descriptor's flags last.
 */
function walkInflight(cb: u32, region: u32, q: u32, desc: u32, order: u32, count: u32, at: u32, w: u32, scribbled: u32, restore: bool): i32 {
  let s = at;
  let pos: u32 = 0;
  for (let j: u32 = 0; j < count; j++) {
    const head = load<u32>(order + j * IHEAD_SIZE);
    const h = entry(region, head);
    const num = <u32>load<u16>(h + IPACKED_D_NUM);
    if (num == 0 || num > q - pos) return refuse(cb, ERR_INFLIGHT_RANGE, head);
    let f = head;
    for (let t: u32 = 0; t < num; t++) {
      if (f >= q) return refuse(cb, ERR_INFLIGHT_RANGE, f);
      const e = entry(region, f);
      const d = desc + s * PDESC_SIZE;
      if (restore) {
        if (pos < scribbled) {
          store<u64>(d + PDESC_ADDR, load<u64>(e + IPACKED_D_ADDR));
          store<u32>(d + PDESC_LEN, load<u32>(e + IPACKED_D_LEN));
          store<u16>(d + PDESC_ID, load<u16>(e + IPACKED_D_ID));
          store<u16>(d + PDESC_FLAGS, load<u16>(e + IPACKED_D_FLAGS));
        }
      } else {
        const flags = <u32>load<u16>(e + IPACKED_D_FLAGS);
        const more = t + 1 < num;
        if (!isAvailable(flags, w) || ((flags & PDESC_F_NEXT) != 0) != more) return refuse(cb, ERR_INFLIGHT_COPY, f);
        if (!more && (f != <u32>load<u16>(h + IPACKED_D_LAST) || <u32>load<u16>(e + IPACKED_D_ID) >= q)) return refuse(cb, ERR_INFLIGHT_COPY, f);
        if (pos >= scribbled && !sameAsCopy(d, e)) return refuse(cb, ERR_INFLIGHT_OUT_OF_ORDER, f);
      }
      pos++;
      s++;
      if (s == q) { s = 0; w ^= 1; }
      if (t + 1 < num) f = <u32>load<u16>(e + IPACKED_D_NEXT);
    }
  }
  return 0;
}
