// Ring enqueue (producer side), DPDK's __rte_ring_move_prod_head + update_tail in our own words.
//
//   Sp: prodHead is this thread's alone: read it, check the room against consTail, copy the
//       entries in, move prodHead and publish prodTail.
//   Mp: reserve [head, head + n) with a compare-and-swap on prodHead (retrying while other
//       producers win), copy the entries in, wait until prodTail == head (the earlier
//       producers have published, see ring.ts), then publish prodTail = head + n.
//
// Bulk moves all n or none (0); burst moves as many as there is room for. A bulk of more than
// the capacity can never succeed and is refused (ERR_BAD_ARGUMENT) rather than returning 0.
// The handle array is bounds-checked before anything is reserved.
import {
  RING_CAPACITY, RING_PROD_HEAD, RING_PROD_TAIL, RING_CONS_TAIL, RING_ENTRY_SIZE,
} from "../../layout/handle-ring";
import { ERR_BAD_ARGUMENT, ERR_OUT_OF_MEMORY_BOUNDS } from "../../layout/errors";
import { inMemory } from "../../shared/common";
import { enterRing, refuseRing, waitTurn, copyIn } from "./ring";

/**
 * Enqueues handles src[0..n) on ring `r`; `bulk` and `multi` are constants at every call site,
 * so each export compiles to its own straight-line variant. Returns the count moved or a code.
 */
// @ts-ignore: decorator
@inline export function enqueue(r: u32, src: u32, n: u32, bulk: bool, multi: bool): i32 {
  const rc = enterRing(r);
  if (rc != 0) return rc;
  if (!inMemory(src, <u64>n * RING_ENTRY_SIZE)) return refuseRing(r, ERR_OUT_OF_MEMORY_BOUNDS, src);
  const cap = load<u32>(r + RING_CAPACITY);
  if (bulk && n > cap) return refuseRing(r, ERR_BAD_ARGUMENT, n);
  if (n == 0) return 0;

  let head: u32;
  let k: u32;
  if (multi) {
    // [A14] read prodHead; pairs with the other producers' [R14] compare-and-swap.
    head = atomic.load<u32>(r + RING_PROD_HEAD);
    for (;;) {
      // [A12] consume consTail: pairs with [R12] in dequeue (those slots are free). If `head`
      // is stale the difference may wrap; the compare-and-swap below then fails.
      const room = cap - (head - atomic.load<u32>(r + RING_CONS_TAIL));
      k = n <= room ? n : bulk ? 0 : room;
      if (k == 0) return 0;
      // [R14] claim [head, head + k) by moving prodHead; pairs with [A14] (and, failing, reads
      // the head another producer moved, as [A14] does).
      const seen = atomic.cmpxchg<u32>(r + RING_PROD_HEAD, head, head + k);
      if (seen == head) break;
      head = seen;
    }
  } else {
    head = load<u32>(r + RING_PROD_HEAD); // written by this thread only
    // [A12] consume consTail: pairs with [R12] in dequeue (those slots are free).
    const room = cap - (head - atomic.load<u32>(r + RING_CONS_TAIL));
    k = n <= room ? n : bulk ? 0 : room;
    if (k == 0) return 0;
    store<u32>(r + RING_PROD_HEAD, head + k);
  }

  copyIn(r, head, src, k);
  if (multi) {
    const w = waitTurn(r, r + RING_PROD_TAIL, head);
    if (w != 0) return w;
  }
  // [R11] publish the entries: pairs with [A11] in dequeue (and in a later producer's
  // waitTurn, and in ringCount).
  atomic.store<u32>(r + RING_PROD_TAIL, head + k);
  return <i32>k;
}

/** Single producer, all n or none. */
export function ringEnqueueBulkSp(r: u32, src: u32, n: u32): i32 { return enqueue(r, src, n, true, false); }
/** Any number of producers, all n or none. */
export function ringEnqueueBulkMp(r: u32, src: u32, n: u32): i32 { return enqueue(r, src, n, true, true); }
/** Single producer, as many as fit. */
export function ringEnqueueBurstSp(r: u32, src: u32, n: u32): i32 { return enqueue(r, src, n, false, false); }
/** Any number of producers, as many as fit. */
export function ringEnqueueBurstMp(r: u32, src: u32, n: u32): i32 { return enqueue(r, src, n, false, true); }
