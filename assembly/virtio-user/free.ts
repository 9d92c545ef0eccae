// Frames back to the pool, every buffer of each: what the host frees, what the device used on
// transmit (tx.ts), what a reset takes back, and the frame half received when it ends.
import {
  VUQ_POOL, VUQ_NUM, VUQ_HANDLES, VUQ_USED, VUQ_PEND_HEAD, VUQ_PEND_TAIL, VUQ_PEND_LEFT, VUQ_STASH, VUQ_STASH_AT, VUQ_STASH_LEFT,
  VUB_NEXT,
} from "../layout/virtio-user";
import { USED_REC_SIZE, USED_REC_ID } from "../layout/batch";
import { BUF_HDR_SIZE, POOL_SIZE } from "../layout/mempool";
import { giveBack } from "./block";
import { nextLink } from "./segments";

/**
 * Frees the frames arr[0..n) with every buffer of each (following next links, at most the
 * pool's size per frame: a bad link ends the walk). Returns the buffers freed, or an error code.
 */
export function vuqFree(q: u32, arr: u32, n: u32): i32 {
  return freeFrames(q, arr, n, 4);
}

/**
 * vuqFree over n first-buffer handles `stride` bytes apart (4 in a handle array; USED_REC_SIZE
 * at a used record's id, which spares the transmit reap a pass copying the ids out).
 */
export function freeFrames(q: u32, arr: u32, n: u32, stride: u32): i32 {
  const pool = load<u32>(q + VUQ_POOL);
  const handles = load<u32>(q + VUQ_HANDLES);
  const cap = load<u32>(q + VUQ_NUM);
  const most = load<u32>(pool + POOL_SIZE);
  let k: u32 = 0;
  let total: i32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    let h = load<u32>(arr + i * stride);
    for (let seg: u32 = 0; h != 0 && seg < most; seg++) {
      const next = nextLink(pool, h);
      store<u32>(h + BUF_HDR_SIZE + VUB_NEXT, 0);
      store<u32>(handles + (k << 2), h);
      k++;
      if (k == cap) {
        const rc = giveBack(q, 0, k);
        if (rc < 0) return rc;
        total += <i32>k;
        k = 0;
      }
      h = next;
    }
  }
  const rc = giveBack(q, 0, k);
  if (rc < 0) return rc;
  return total + <i32>k;
}

/**
 * Frees what receiveqN's driver holds between calls (a reset): the frame being assembled and the
 * stashed used records not yet turned into frames. Returns the buffers freed, or an error code.
 */
export function vuqDropPending(q: u32): i32 {
  const stashed = dropStash(q);
  if (stashed < 0) return stashed;
  const head = load<u32>(q + VUQ_PEND_HEAD);
  store<u32>(q + VUQ_PEND_HEAD, 0);
  store<u32>(q + VUQ_PEND_TAIL, 0);
  store<u32>(q + VUQ_PEND_LEFT, 0);
  if (head == 0) return stashed;
  const scratch = load<u32>(q + VUQ_USED); // a free word: the used records are not in use between calls
  store<u32>(scratch, head);
  const rc = vuqFree(q, scratch, 1);
  return rc < 0 ? rc : stashed + rc;
}

/** The stash's buffers (one each: a record names a posted buffer) back to the pool. */
function dropStash(q: u32): i32 {
  const left = load<u32>(q + VUQ_STASH_LEFT);
  const recs = load<u32>(q + VUQ_STASH) + load<u32>(q + VUQ_STASH_AT) * USED_REC_SIZE;
  const handles = load<u32>(q + VUQ_HANDLES);
  for (let i: u32 = 0; i < left; i++) {
    const h = load<u32>(recs + i * USED_REC_SIZE + USED_REC_ID);
    store<u32>(h + BUF_HDR_SIZE + VUB_NEXT, 0);
    store<u32>(handles + (i << 2), h);
  }
  store<u32>(q + VUQ_STASH_AT, 0);
  store<u32>(q + VUQ_STASH_LEFT, 0);
  return giveBack(q, 0, left);
}
