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
  PDEV_AVAIL_WRAP, PDEV_NEXT_USED, PDEV_USED_WRAP, PDEV_RESUBMIT_NUM, PDEV_RESUBMIT_NEXT,
  RESUBMIT_PENDING, RESUBMIT_SIZE,
} from "../layout/queue";
import {
  INFLIGHT_FEATURES, INFLIGHT_VERSION, INFLIGHT_DESC_NUM, INFLIGHT_VERSION_1, IPACKED_FREE_HEAD,
  IPACKED_OLD_FREE_HEAD, IPACKED_USED_WORD, IPACKED_HEADER_SIZE, IPACKED_DESC_SIZE,
  IPACKED_D_INFLIGHT, IPACKED_D_NEXT, IPACKED_D_LAST, IPACKED_D_NUM, IPACKED_D_COUNTER, IPACKED_D_ID,
  IPACKED_D_FLAGS, IPACKED_D_LEN, IPACKED_D_ADDR, IHEAD_SIZE, IHEAD_AREA_LIST, IHEAD_AREA_STAGING,
  IHEAD_AREA_SIZE,
} from "../layout/inflight";
import { PDESC_SIZE, PDESC_ADDR, PDESC_LEN, PDESC_ID, PDESC_FLAGS, PDESC_F_NEXT, PDESC_F_WRITE, PDESC_F_INDIRECT, PDESC_F_AVAIL, PDESC_F_USED } from "../layout/packed";
import { CHAIN_SIZE, CHAIN_ID, USED_REC_SIZE, USED_REC_ID } from "../layout/batch";
import {
  ERR_INFLIGHT_INDEX, ERR_INFLIGHT_RANGE, ERR_INFLIGHT_COPY,
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

/** Bytes of the private inflight area (PDEV_INFLIGHT_HEADS, IHEAD_AREA_*) for Queue Size q. */
// @ts-ignore: decorator
@inline export function packedInflightHeadsBytes(q: u32): u64 {
  return <u64>q * IHEAD_AREA_SIZE;
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
  // The list is recorded whole: only now is it in flight. A plain store, as splitInflightPop's:
  // the region is read by another process only once this one has died or stopped the ring (a
  // reconnection), and a process dies between two instructions with every store before it
  // done, so program order is all the recovery needs; a sequentially consistent store here cost
  // a full fence per chain (io 64 B: 1.40x instead of 1.07x for split).
  store<u8>(h + IPACKED_D_INFLIGHT, 1);
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

/**
 * After a back-end restart, before the reset (ring, region and private area already checked):
 * the spec's "When reconnecting" steps for a packed queue, then where the device resumes.
 *
 * 1. used_idx != old_used_idx: a push was under way. If the ring descriptor at old_used_idx no
 *    longer carries the available flags of old_used_wrap_counter, its flags were written (the
 *    driver may have seen the batch): commit (the old copies take the new values); otherwise
 *    roll back (the new values take the old ones).
 * 2. The entries on the free list are not in flight.
 * 3. The buffers still in flight go on the resubmission list (IHEAD_AREA_LIST) in counter order,
 *    whatever order the others were used in: pop hands them out again from their descriptor
 *    copies, before anything from the ring (their slots may have been overwritten by used
 *    descriptors since). Each list popped was used (the used position moved past its
 *    descriptors) or is in flight, so the device had read as far as the committed used position
 *    plus the descriptors in flight: that is where it resumes reading. A rolled-back push had
 *    begun writing used descriptors (all but the first one's flags) over slots that lie within
 *    those: each such slot gets the available form of its lap back, so that the driver never
 *    takes it for used. With buffers used in pop order (the virtio-net device) the list holds
 *    the lists at the committed used position, in ring order, as the ring itself would give them.
 *    The region is the front-end's and may hold anything: every list is checked before anything
 *    changes but step 1 and 2, and refused with ERR_INFLIGHT_RANGE (an index or num out of
 *    range, more descriptors in flight than the ring holds), _COUNTERS (two with one counter),
 *    _COPY (a list not linked as its copies say: NEXT flags, its last entry, a buffer id out of
 *    range or in two lists, an entry in two lists or on the free list), CB_DETAIL the entry.
 *
 * Sets the start positions (PDEV_NEXT_USED / _USED_WRAP to the committed used position,
 * PDEV_NEXT_AVAIL / _AVAIL_WRAP past the descriptors in flight), the list, and returns how many
 * buffers were in flight. The reset that follows keeps the region as it is (the buffers' marks,
 * counters and copies stay until they are used, so a back-end that dies before that resubmits
 * them too) instead of formatting it.
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
  // Step 3: the heads in flight, by counter, onto the list; every list checked before anything
  // else changes, with the head map (buffer ids) and the staging area (entries) as scratch marks.
  const area = load<u32>(cb + PDEV_INFLIGHT_HEADS);
  const list = area + q * IHEAD_AREA_LIST;
  const n = inflightOrder(cb, region + IPACKED_HEADER_SIZE, IPACKED_DESC_SIZE, q, list);
  if (n < 0) return n;
  const count = <u32>n;
  const idSeen = area;
  const entrySeen = area + q * IHEAD_AREA_STAGING;
  memory.fill(idSeen, 0, q * IHEAD_SIZE);
  memory.fill(entrySeen, 0, q);
  let descs: u32 = 0;
  for (let j: u32 = 0; j < count; j++) {
    const head = load<u32>(list + j * RESUBMIT_SIZE);
    const h = entry(region, head);
    const num = <u32>load<u16>(h + IPACKED_D_NUM);
    if (num == 0 || num > q - descs) return refuse(cb, ERR_INFLIGHT_RANGE, head);
    let g = head;
    for (let t: u32 = 0; t < num; t++) {
      if (g >= q) return refuse(cb, ERR_INFLIGHT_RANGE, g);
      if (load<u8>(entrySeen + g) != 0) return refuse(cb, ERR_INFLIGHT_COPY, g);
      store<u8>(entrySeen + g, 1);
      const e = entry(region, g);
      const more = t + 1 < num;
      if (((<u32>load<u16>(e + IPACKED_D_FLAGS) & PDESC_F_NEXT) != 0) != more) return refuse(cb, ERR_INFLIGHT_COPY, g);
      if (more) { g = <u32>load<u16>(e + IPACKED_D_NEXT); continue; }
      const id = <u32>load<u16>(e + IPACKED_D_ID);
      if (g != <u32>load<u16>(h + IPACKED_D_LAST) || id >= q || load<u32>(idSeen + id * IHEAD_SIZE) != 0) return refuse(cb, ERR_INFLIGHT_COPY, g);
      store<u32>(idSeen + id * IHEAD_SIZE, 1);
    }
    descs += num;
  }
  // No entry of a list in flight on the free list (bounded as in step 2).
  f = <u32>load<u16>(region + IPACKED_FREE_HEAD);
  for (let k: u32 = 0; k < q && f < q; k++) {
    if (load<u8>(entrySeen + f) != 0) return refuse(cb, ERR_INFLIGHT_COPY, f);
    f = <u32>load<u16>(entry(region, f) + IPACKED_D_NEXT);
  }
  if (scribbled > descs) return refuse(cb, ERR_INFLIGHT_RANGE, scribbled);
  // The slots a rolled-back push wrote: available again in their lap (never used to the driver).
  let s = at;
  let w = atWrap;
  for (let k: u32 = 0; k < scribbled; k++) {
    const a = desc + s * PDESC_SIZE + PDESC_FLAGS;
    store<u16>(a, (<u32>load<u16>(a) & ~(PDESC_F_AVAIL | PDESC_F_USED)) | (w != 0 ? PDESC_F_AVAIL : PDESC_F_USED));
    s++;
    if (s == q) { s = 0; w ^= 1; }
  }
  let next = at + descs;
  let nextWrap = atWrap;
  if (next >= q) { next -= q; nextWrap ^= 1; }
  store<u32>(cb + PDEV_NEXT_AVAIL, next);
  store<u32>(cb + PDEV_AVAIL_WRAP, nextWrap);
  store<u32>(cb + PDEV_NEXT_USED, at);
  store<u32>(cb + PDEV_USED_WRAP, atWrap);
  store<u32>(cb + PDEV_RESUBMIT_NUM, count);
  store<u32>(cb + PDEV_RESUBMIT_NEXT, RESUBMIT_PENDING);
  return <i32>count;
}

/**
 * Pop, resubmitting: copies the list whose head entry is `head` into the staging descriptors
 * (IHEAD_AREA_STAGING), as ring descriptors made available in lap 1 (only NEXT, WRITE and
 * INDIRECT of each copy's flags kept), for the ring's walk to read from staging slot 0. The region
 * is read again here (the front-end may have changed it since the recovery checked it). Returns
 * the list's last entry, or ERR_INFLIGHT_INDEX with CB_DETAIL the entry out of range.
 */
export function packedInflightStage(cb: u32, region: u32, q: u32, head: u32): i32 {
  const staging = load<u32>(cb + PDEV_INFLIGHT_HEADS) + q * IHEAD_AREA_STAGING;
  if (head >= q) { store<u32>(cb + CB_DETAIL, head); return ERR_INFLIGHT_INDEX; }
  const num = <u32>load<u16>(entry(region, head) + IPACKED_D_NUM);
  if (num == 0 || num > q) { store<u32>(cb + CB_DETAIL, head); return ERR_INFLIGHT_INDEX; }
  let g = head;
  for (let t: u32 = 0; t < num; t++) {
    if (g >= q) { store<u32>(cb + CB_DETAIL, g); return ERR_INFLIGHT_INDEX; }
    const e = entry(region, g);
    const d = staging + t * PDESC_SIZE;
    const keep = <u32>load<u16>(e + IPACKED_D_FLAGS) & (PDESC_F_NEXT | PDESC_F_WRITE | PDESC_F_INDIRECT);
    store<u64>(d + PDESC_ADDR, load<u64>(e + IPACKED_D_ADDR));
    store<u32>(d + PDESC_LEN, load<u32>(e + IPACKED_D_LEN));
    store<u16>(d + PDESC_ID, load<u16>(e + IPACKED_D_ID));
    // The last copy ends the list whatever its flags say now.
    store<u16>(d + PDESC_FLAGS, (t + 1 < num ? keep : keep & ~PDESC_F_NEXT) | PDESC_F_AVAIL);
    if (t + 1 < num) g = <u32>load<u16>(e + IPACKED_D_NEXT);
  }
  return <i32>g;
}

/** Pop, resubmitting: buffer `id` was popped again from the lists at `head`..`last`: its head map entry. */
// @ts-ignore: decorator
@inline export function packedInflightRepop(cb: u32, id: u32, head: u32, last: u32): void {
  store<u32>(load<u32>(cb + PDEV_INFLIGHT_HEADS) + id * IHEAD_SIZE, head | (last << 16));
}
