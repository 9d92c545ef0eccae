// Ring dequeue (consumer side), the mirror image of enqueue.ts:
//
//   Sc: consHead is this thread's alone: read it, count the entries published up to prodTail,
//       copy them out, move consHead and publish consTail (releasing the slots to producers).
//   Mc: reserve [head, head + n) with a compare-and-swap on consHead, copy the entries out, wait
//       until consTail == head (the earlier consumers have released theirs, see ring.ts), then
//       publish consTail = head + n.
//
// Bulk takes all n or none (0); burst takes as many as there are. A bulk of more than the
// capacity is refused (ERR_BAD_ARGUMENT). The output array is bounds-checked first.
import {
  RING_CAPACITY, RING_PROD_TAIL, RING_CONS_HEAD, RING_CONS_TAIL, RING_ENTRY_SIZE,
} from "../../layout/handle-ring";
import { ERR_BAD_ARGUMENT, ERR_OUT_OF_MEMORY_BOUNDS } from "../../layout/errors";
import { inMemory } from "../../shared/common";
import { enterRing, refuseRing, waitTurn, copyOut } from "./ring";

/** Dequeues up to n handles into dst[0..n); see enqueue() for the constant flags. */
// @ts-ignore: decorator
@inline export function dequeue(r: u32, dst: u32, n: u32, bulk: bool, multi: bool): i32 {
  const rc = enterRing(r);
  if (rc != 0) return rc;
  if (!inMemory(dst, <u64>n * RING_ENTRY_SIZE)) return refuseRing(r, ERR_OUT_OF_MEMORY_BOUNDS, dst);
  if (bulk && n > load<u32>(r + RING_CAPACITY)) return refuseRing(r, ERR_BAD_ARGUMENT, n);
  if (n == 0) return 0;

  let head: u32;
  let k: u32;
  if (multi) {
    // [A15] read consHead; pairs with the other consumers' [R15] compare-and-swap.
    head = atomic.load<u32>(r + RING_CONS_HEAD);
    for (;;) {
      // [A11] consume prodTail: pairs with [R11] in enqueue or mempoolInit (those entries are
      // written). If `head` is stale the difference may be too large; the compare-and-swap
      // below then fails.
      const ready = atomic.load<u32>(r + RING_PROD_TAIL) - head;
      k = n <= ready ? n : bulk ? 0 : ready;
      if (k == 0) return 0;
      // [R15] claim [head, head + k) by moving consHead; pairs with [A15] (and, failing, reads
      // the head another consumer moved, as [A15] does).
      const seen = atomic.cmpxchg<u32>(r + RING_CONS_HEAD, head, head + k);
      if (seen == head) break;
      head = seen;
    }
  } else {
    head = load<u32>(r + RING_CONS_HEAD); // written by this thread only
    // [A11] consume prodTail: pairs with [R11] in enqueue or mempoolInit (those entries are
    // written).
    const ready = atomic.load<u32>(r + RING_PROD_TAIL) - head;
    k = n <= ready ? n : bulk ? 0 : ready;
    if (k == 0) return 0;
    store<u32>(r + RING_CONS_HEAD, head + k);
  }

  copyOut(r, head, dst, k);
  if (multi) {
    const w = waitTurn(r, r + RING_CONS_TAIL, head);
    if (w != 0) return w;
  }
  // [R12] publish the free slots: pairs with [A12] in enqueue (a producer may now overwrite
  // them), in a later consumer's waitTurn, and in ringCount.
  atomic.store<u32>(r + RING_CONS_TAIL, head + k);
  return <i32>k;
}

/** Single consumer, all n or none. */
export function ringDequeueBulkSc(r: u32, dst: u32, n: u32): i32 { return dequeue(r, dst, n, true, false); }
/** Any number of consumers, all n or none. */
export function ringDequeueBulkMc(r: u32, dst: u32, n: u32): i32 { return dequeue(r, dst, n, true, true); }
/** Single consumer, as many as there are. */
export function ringDequeueBurstSc(r: u32, dst: u32, n: u32): i32 { return dequeue(r, dst, n, false, false); }
/** Any number of consumers, as many as there are. */
export function ringDequeueBurstMc(r: u32, dst: u32, n: u32): i32 { return dequeue(r, dst, n, false, true); }
