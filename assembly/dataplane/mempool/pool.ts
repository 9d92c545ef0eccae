// Mempool (layout/mempool.ts): header and cache checks, mempoolInit, the free count.
//
// Where the buffers are: a free buffer's handle is either in the free ring or in exactly one
// cache's objs[0..len); a held buffer's handle is with its holder. So at rest
//   ringCount(ring) + sum(cache len) + held == size,
// and mempoolFreeCount returns the first two terms (a snapshot while calls are running).
import {
  POOL_KIND, POOL_SIZE, POOL_ELT_SIZE, POOL_HEADROOM, POOL_DETAIL, POOL_RING, POOL_BUFFERS,
  POOL_CACHES, POOL_NUM_CACHES, POOL_CACHE_STRIDE, POOL_CACHE_SIZE, POOL_FLUSH_THRESH,
  POOL_DATA_ROOM, POOL_HEADER_SIZE, POOL_ALIGN, POOL_ELT_ALIGN, KIND_MEMPOOL,
  BUF_POOL, BUF_INDEX, BUF_DATA_OFF, BUF_DATA_LEN, BUF_STATE, BUF_HDR_SIZE, BUF_STATE_FREE,
  CACHE_POOL, CACHE_INDEX, CACHE_LEN, CACHE_GETS, CACHE_PUTS, CACHE_FAILED_GETS, CACHE_REFILLS,
  CACHE_FLUSHES, CACHE_OBJS, CACHE_ALIGN, CACHE_OBJS_FACTOR, CACHE_MAX_SIZE,
} from "../../layout/mempool";
import {
  RING_CAPACITY, RING_MASK, RING_PROD_HEAD, RING_PROD_TAIL, RING_ENTRIES, RING_MAX_CAPACITY,
} from "../../layout/handle-ring";
import { ERR_BAD_CONTROL_BLOCK, ERR_BAD_CONFIG } from "../../layout/errors";
import { inMemory } from "../../shared/common";
import { enterRingAny, ringInit, countOf } from "../handle-ring/ring";

/** Checks that `pool` is a mempool header and `cache` one of its cache blocks. */
export function enterPool(pool: u32, cache: u32): i32 {
  const rc = enterPoolAny(pool);
  if (rc != 0) return rc;
  const first = load<u32>(pool + POOL_CACHES);
  const end = <u64>first + <u64>load<u32>(pool + POOL_NUM_CACHES) * load<u32>(pool + POOL_CACHE_STRIDE);
  if ((cache & (CACHE_ALIGN - 1)) != 0 || cache < first || <u64>cache >= end || load<u32>(cache + CACHE_POOL) != pool) {
    return refusePool(pool, ERR_BAD_CONTROL_BLOCK, cache);
  }
  return 0;
}

/** Checks that `pool` is a mempool header. */
export function enterPoolAny(pool: u32): i32 {
  if ((pool & (POOL_ALIGN - 1)) != 0 || pool == 0 || !inMemory(pool, POOL_HEADER_SIZE)) return ERR_BAD_CONTROL_BLOCK;
  if (load<i32>(pool + POOL_KIND) != KIND_MEMPOOL) return ERR_BAD_CONTROL_BLOCK;
  return 0;
}

/** Records `detail` for a caller error and returns `code`. */
export function refusePool(pool: u32, code: i32, detail: u32): i32 {
  store<u32>(pool + POOL_DETAIL, detail);
  return code;
}

/** The flush threshold for a cache of `size` (DPDK: 1.5 times the size; here at least size + 1). */
// @ts-ignore: decorator
@inline export function flushThreshFor(size: u32): u32 {
  const half = size >> 1;
  return size + (half > 0 ? half : 1);
}

/**
 * Checks the configuration the host wrote (layout/mempool.ts), writes every buffer header,
 * initialises the free ring and fills it with all handles in index order (buffer 0 is the first
 * one a ring dequeue returns), and empties every cache. Nobody may use the pool meanwhile.
 * Returns 0, ERR_BAD_CONTROL_BLOCK or ERR_BAD_CONFIG (detail: the offending value).
 */
export function mempoolInit(pool: u32): i32 {
  const rc = enterPoolAny(pool);
  if (rc != 0) return rc;
  const size = load<u32>(pool + POOL_SIZE);
  const elt = load<u32>(pool + POOL_ELT_SIZE);
  const headroom = load<u32>(pool + POOL_HEADROOM);
  const bufs = load<u32>(pool + POOL_BUFFERS);
  const ring = load<u32>(pool + POOL_RING);
  const caches = load<u32>(pool + POOL_CACHES);
  const nCaches = load<u32>(pool + POOL_NUM_CACHES);
  const cStride = load<u32>(pool + POOL_CACHE_STRIDE);
  const cSize = load<u32>(pool + POOL_CACHE_SIZE);
  if (size == 0 || size > <u32>RING_MAX_CAPACITY) return refusePool(pool, ERR_BAD_CONFIG, size);
  if ((elt & (POOL_ELT_ALIGN - 1)) != 0 || <u64>elt < <u64>BUF_HDR_SIZE + headroom) return refusePool(pool, ERR_BAD_CONFIG, elt);
  if (bufs == 0 || (bufs & (POOL_ELT_ALIGN - 1)) != 0 || !inMemory(bufs, <u64>size * elt)) return refusePool(pool, ERR_BAD_CONFIG, bufs);
  if (cSize > <u32>CACHE_MAX_SIZE) return refusePool(pool, ERR_BAD_CONFIG, cSize);
  const need = <u64>CACHE_OBJS + (<u64>CACHE_OBJS_FACTOR * cSize + 1) * 4;
  if ((cStride & (CACHE_ALIGN - 1)) != 0 || <u64>cStride < need) return refusePool(pool, ERR_BAD_CONFIG, cStride);
  if (nCaches == 0 || caches == 0 || (caches & (CACHE_ALIGN - 1)) != 0 || !inMemory(caches, <u64>nCaches * cStride)) {
    return refusePool(pool, ERR_BAD_CONFIG, caches);
  }
  if (enterRingAny(ring) != 0 || load<u32>(ring + RING_CAPACITY) < size) return refusePool(pool, ERR_BAD_CONFIG, ring);
  if (ringInit(ring) != 0) return refusePool(pool, ERR_BAD_CONFIG, ring);

  store<u32>(pool + POOL_FLUSH_THRESH, flushThreshFor(cSize));
  store<u32>(pool + POOL_DATA_ROOM, elt - BUF_HDR_SIZE - headroom);
  store<u32>(pool + POOL_DETAIL, 0);
  const mask = load<u32>(ring + RING_MASK);
  const start = load<u32>(ring + RING_PROD_HEAD);
  for (let i: u32 = 0; i < size; i++) {
    const h = bufs + i * elt;
    store<u32>(h + BUF_POOL, pool);
    store<u32>(h + BUF_INDEX, i);
    store<u32>(h + BUF_DATA_OFF, BUF_HDR_SIZE + headroom);
    store<u32>(h + BUF_DATA_LEN, 0);
    atomic.store<u32>(h + BUF_STATE, BUF_STATE_FREE); // [R16] (debug mode's state word; goes out with [R11] below)
    store<u32>(ring + RING_ENTRIES + (((start + i) & mask) << 2), h);
  }
  atomic.store<u32>(ring + RING_PROD_HEAD, start + size);
  // [R11] publish the full ring: pairs with [A11] in dequeue.
  atomic.store<u32>(ring + RING_PROD_TAIL, start + size);
  for (let i: u32 = 0; i < nCaches; i++) {
    const c = caches + i * cStride;
    store<u32>(c + CACHE_POOL, pool);
    store<u32>(c + CACHE_INDEX, i);
    store<u32>(c + CACHE_LEN, 0);
    store<u64>(c + CACHE_GETS, 0);
    store<u64>(c + CACHE_PUTS, 0);
    store<u64>(c + CACHE_FAILED_GETS, 0);
    store<u64>(c + CACHE_REFILLS, 0);
    store<u64>(c + CACHE_FLUSHES, 0);
  }
  return 0;
}

/**
 * Free buffers: in the ring plus in every cache. A snapshot (a refill or flush in progress may
 * be counted on neither side for a moment); exact when no call is running on the pool.
 */
export function mempoolFreeCount(pool: u32): i32 {
  const rc = enterPoolAny(pool);
  if (rc != 0) return rc;
  let free = countOf(load<u32>(pool + POOL_RING));
  const caches = load<u32>(pool + POOL_CACHES);
  const n = load<u32>(pool + POOL_NUM_CACHES);
  const stride = load<u32>(pool + POOL_CACHE_STRIDE);
  // Each len is its owner's word, stored plainly: an atomic load reads it whole, as a snapshot
  // (no ordering is needed, so this pairs with nothing).
  for (let i: u32 = 0; i < n; i++) free += atomic.load<u32>(caches + i * stride + CACHE_LEN);
  return <i32>free;
}
