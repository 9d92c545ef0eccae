// Mempool put: n buffers back, through the calling worker's cache (DPDK's
// rte_mempool_generic_put, classic algorithm, in our own words), and the cache flush.
//
//   n > cacheSize (always when cacheSize is 0): straight onto the free ring, bulk.
//   otherwise: append to the cache; when it then holds flushThresh or more, move everything
//     above the first cacheSize entries to the ring with one bulk enqueue (len = cacheSize).
// The free ring's capacity is at least the pool's size, so an enqueue of buffers that were
// really taken always fits; if it does not, more came back than went out (ERR_MEMPOOL_OVERFLOW)
// and the call changes nothing.
import {
  POOL_FLAGS, POOL_RING, POOL_CACHE_SIZE, POOL_FLUSH_THRESH, POOL_F_DEBUG, CACHE_LEN,
  CACHE_PUTS, CACHE_FLUSHES, CACHE_OBJS,
} from "../../layout/mempool";
import { RING_CAPACITY } from "../../layout/handle-ring";
import { ERR_OUT_OF_MEMORY_BOUNDS, ERR_MEMPOOL_OVERFLOW } from "../../layout/errors";
import { inMemory } from "../../shared/common";
import { enqueue } from "../handle-ring/enqueue";
import { enterPool, refusePool } from "./pool";
import { markFree, unmarkFree } from "./debug";

/** Bulk enqueue onto the free ring; 0 when it has no room (or n exceeds its capacity). */
// @ts-ignore: decorator
@inline function toRing(ring: u32, src: u32, n: u32): i32 {
  return n <= load<u32>(ring + RING_CAPACITY) ? enqueue(ring, src, n, true, true) : 0;
}

/**
 * Returns handles objs[0..n) to `pool` through `cache`. Returns n, or a code with nothing
 * changed: ERR_MEMPOOL_OVERFLOW, ERR_RING_STALLED, and in debug mode ERR_MEMPOOL_BAD_HANDLE or
 * ERR_MEMPOOL_NOT_HELD (detail: the position in objs).
 */
export function mempoolPutBulk(pool: u32, cache: u32, objs: u32, n: u32): i32 {
  const rc = enterPool(pool, cache);
  if (rc != 0) return rc;
  if (!inMemory(objs, <u64>n << 2)) return refusePool(pool, ERR_OUT_OF_MEMORY_BOUNDS, objs);
  if (n == 0) return 0;
  const debug = (load<u32>(pool + POOL_FLAGS) & POOL_F_DEBUG) != 0;
  if (debug) {
    const bad = markFree(pool, objs, n);
    if (bad != 0) return bad;
  }
  const ring = load<u32>(pool + POOL_RING);
  const cSize = load<u32>(pool + POOL_CACHE_SIZE);

  let rc2: i32 = 0;
  if (n > cSize) {
    rc2 = toRing(ring, objs, n);
  } else {
    const cobjs = cache + CACHE_OBJS;
    let len = load<u32>(cache + CACHE_LEN);
    for (let i: u32 = 0; i < n; i++) store<u32>(cobjs + ((len + i) << 2), load<u32>(objs + (i << 2)));
    len += n;
    if (len >= load<u32>(pool + POOL_FLUSH_THRESH)) {
      rc2 = toRing(ring, cobjs + (cSize << 2), len - cSize);
      if (rc2 > 0) {
        len = cSize;
        store<u64>(cache + CACHE_FLUSHES, load<u64>(cache + CACHE_FLUSHES) + 1);
      }
    } else {
      rc2 = 1;
    }
    // Only a successful call changes len: on failure the copies above the old len are dropped.
    if (rc2 > 0) store<u32>(cache + CACHE_LEN, len);
  }
  if (rc2 <= 0) {
    if (debug) unmarkFree(objs, n);
    return rc2 < 0 ? rc2 : refusePool(pool, ERR_MEMPOOL_OVERFLOW, n);
  }
  store<u64>(cache + CACHE_PUTS, load<u64>(cache + CACHE_PUTS) + n);
  return <i32>n;
}

/**
 * Moves every handle in `cache` to the free ring (a worker about to stop, or a host reclaiming
 * a stopped worker's cache). Returns how many, or a code with nothing changed.
 */
export function mempoolCacheFlush(pool: u32, cache: u32): i32 {
  const rc = enterPool(pool, cache);
  if (rc != 0) return rc;
  const len = load<u32>(cache + CACHE_LEN);
  if (len == 0) return 0;
  const r = toRing(load<u32>(pool + POOL_RING), cache + CACHE_OBJS, len);
  if (r < 0) return r;
  if (r == 0) return refusePool(pool, ERR_MEMPOOL_OVERFLOW, len);
  store<u32>(cache + CACHE_LEN, 0);
  store<u64>(cache + CACHE_FLUSHES, load<u64>(cache + CACHE_FLUSHES) + 1);
  return r;
}
