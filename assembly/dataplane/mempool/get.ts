// Mempool get: n buffers or none, through the calling worker's cache (DPDK's
// rte_mempool_generic_get, classic algorithm, in our own words).
//
//   n > cacheSize (always when cacheSize is 0): straight from the free ring, bulk.
//   otherwise, when the cache holds fewer than n: refill it from the ring with one bulk dequeue
//     of cacheSize + n - len (so the cache is left holding cacheSize); if the ring has fewer,
//     with one of just n - len; if even that fails the get fails and the cache keeps what it had.
//   then hand out the n most recently cached handles (the top of objs, newest first: warm
//     buffers go out first).
// Only the cache's own block is written unless a refill is needed. Never blocks: an exhausted
// pool returns 0 (and counts the refused buffers in failedGets).
import {
  POOL_SIZE, POOL_FLAGS, POOL_RING, POOL_CACHE_SIZE, POOL_F_DEBUG, CACHE_LEN, CACHE_GETS,
  CACHE_FAILED_GETS, CACHE_REFILLS, CACHE_OBJS,
} from "../../layout/mempool";
import { RING_CAPACITY } from "../../layout/handle-ring";
import { ERR_BAD_ARGUMENT, ERR_OUT_OF_MEMORY_BOUNDS } from "../../layout/errors";
import { inMemory } from "../../shared/common";
import { dequeue } from "../handle-ring/dequeue";
import { enterPool, refusePool } from "./pool";
import { markHeld } from "./debug";

/**
 * Takes n buffers from `pool` through `cache` (the calling worker's block) into objs[0..n).
 * Returns n, 0 when the pool cannot supply n now, or a code: ERR_BAD_ARGUMENT when n exceeds
 * the pool's size (it never could), ERR_RING_STALLED if the free ring broke.
 */
export function mempoolGetBulk(pool: u32, cache: u32, objs: u32, n: u32): i32 {
  const rc = enterPool(pool, cache);
  if (rc != 0) return rc;
  if (!inMemory(objs, <u64>n << 2)) return refusePool(pool, ERR_OUT_OF_MEMORY_BOUNDS, objs);
  if (n > load<u32>(pool + POOL_SIZE)) return refusePool(pool, ERR_BAD_ARGUMENT, n);
  if (n == 0) return 0;
  const ring = load<u32>(pool + POOL_RING);
  const cSize = load<u32>(pool + POOL_CACHE_SIZE);

  let got: i32;
  if (n > cSize) {
    got = dequeue(ring, objs, n, true, true);
    if (got < 0) return got;
  } else {
    let len = load<u32>(cache + CACHE_LEN);
    const cobjs = cache + CACHE_OBJS;
    if (len < n) {
      const at = cobjs + (len << 2);
      const fill = cSize + n - len;
      let r: i32 = fill <= load<u32>(ring + RING_CAPACITY) ? dequeue(ring, at, fill, true, true) : 0;
      if (r == 0) r = dequeue(ring, at, n - len, true, true);
      if (r < 0) return r;
      if (r > 0) {
        len += <u32>r;
        store<u64>(cache + CACHE_REFILLS, load<u64>(cache + CACHE_REFILLS) + 1);
      }
    }
    if (len >= n) {
      for (let i: u32 = 0; i < n; i++) store<u32>(objs + (i << 2), load<u32>(cobjs + ((len - 1 - i) << 2)));
      len -= n;
      got = <i32>n;
    } else {
      got = 0;
    }
    store<u32>(cache + CACHE_LEN, len);
  }

  if (got == 0) {
    store<u64>(cache + CACHE_FAILED_GETS, load<u64>(cache + CACHE_FAILED_GETS) + n);
    return 0;
  }
  if ((load<u32>(pool + POOL_FLAGS) & POOL_F_DEBUG) != 0) markHeld(objs, n);
  store<u64>(cache + CACHE_GETS, load<u64>(cache + CACHE_GETS) + n);
  return got;
}
