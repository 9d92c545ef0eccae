// Mempool debug mode (POOL_F_DEBUG): each buffer's header tracks whether it is held, so a put of
// a foreign handle, of a buffer put twice, or of one never taken is refused instead of
// corrupting the free ring. Off by default: it touches every buffer's header on get and put.
import {
  POOL_SIZE, POOL_ELT_SIZE, POOL_BUFFERS, BUF_POOL, BUF_STATE, BUF_STATE_FREE, BUF_STATE_HELD,
} from "../../layout/mempool";
import { ERR_MEMPOOL_BAD_HANDLE, ERR_MEMPOOL_NOT_HELD } from "../../layout/errors";
import { refusePool } from "./pool";

/**
 * Marks handles objs[0..n) held (after a get). [R16] publish each buffer's state; pairs with [A16]
 * in markFree, on whichever thread puts the buffer (the handle travels there through a ring,
 * [R11]/[A11], or stays on this thread).
 */
export function markHeld(objs: u32, n: u32): void {
  for (let i: u32 = 0; i < n; i++) atomic.store<u32>(load<u32>(objs + (i << 2)) + BUF_STATE, BUF_STATE_HELD);
}

/**
 * Before a put: checks that every handle in objs[0..n) is a buffer of `pool`, then moves each
 * from held to free with a compare-and-swap (so two threads putting the same buffer cannot both
 * succeed). On a failure every buffer this call freed is marked held again and the code returned
 * (detail: the position in objs). Returns 0 when all n are now free.
 */
export function markFree(pool: u32, objs: u32, n: u32): i32 {
  const bufs = load<u32>(pool + POOL_BUFFERS);
  const elt = load<u32>(pool + POOL_ELT_SIZE);
  const end = <u64>bufs + <u64>load<u32>(pool + POOL_SIZE) * elt;
  for (let i: u32 = 0; i < n; i++) {
    const h = load<u32>(objs + (i << 2));
    if (h < bufs || <u64>h >= end || (h - bufs) % elt != 0 || load<u32>(h + BUF_POOL) != pool) {
      return refusePool(pool, ERR_MEMPOOL_BAD_HANDLE, i);
    }
  }
  for (let i: u32 = 0; i < n; i++) {
    const h = load<u32>(objs + (i << 2));
    // [A16] consume the state (HELD from [R16] in markHeld) and move it to FREE, in one step.
    if (atomic.cmpxchg<u32>(h + BUF_STATE, BUF_STATE_HELD, BUF_STATE_FREE) != BUF_STATE_HELD) {
      // [R16] hold again the buffers this call freed.
      for (let j: u32 = 0; j < i; j++) atomic.store<u32>(load<u32>(objs + (j << 2)) + BUF_STATE, BUF_STATE_HELD);
      return refusePool(pool, ERR_MEMPOOL_NOT_HELD, i);
    }
  }
  return 0;
}

/** After a put failed past markFree: the buffers are still the caller's. */
export function unmarkFree(objs: u32, n: u32): void {
  markHeld(objs, n);
}
