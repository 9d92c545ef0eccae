// Mempool (assembly/dataplane/mempool/), after DPDK's rte_mempool: a fixed number of fixed-size
// buffers in shared memory, a free ring of their handles (layout/handle-ring.ts, used
// multi-producer and multi-consumer), and one cache per worker so that most gets and puts touch
// only memory that worker owns.
//
// A handle is the Wasm offset of the buffer's header (never 0: page 0 is not planned). The
// holder reaches the data without a lookup (data = handle + dataOff), the handle fits the
// ring's 32-bit entries as is, and the header's pool and index fields let a debug put check it.
//
// Pool header, one 64-byte line, written at init only (so every core keeps it cached). The host
// writes kind .. cacheSize before mempoolInit; init writes flushThresh and dataRoom.
//
//   0        4        8        12       16       20       24       28       32
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   | kind   | size   | elt    | headrm | flags  | detail | ring   | bufs   |
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   | caches | nCache | cStride| cSize  | flushT | dataRm |
//   +--------+--------+--------+--------+--------+--------+
//   32       36       40       44       48       52       56
//   kind     KIND_MEMPOOL
//   size     buffers in the pool, 1..RING_MAX_CAPACITY
//   elt      bytes from one buffer header to the next: a multiple of POOL_ELT_ALIGN, so no two
//            buffers share a cache line, and at least BUF_HDR_SIZE + headroom
//   headrm   bytes left free between the header and the data (dataOff = BUF_HDR_SIZE + headroom)
//   flags    POOL_F_*
//   detail   locates the last caller error (same offset as a queue's CB_DETAIL)
//   ring     Wasm offset of the free ring's header: capacity >= size; the host writes its kind,
//            capacity and start index, mempoolInit initialises and fills it
//   bufs     Wasm offset of buffer 0's header (POOL_ELT_ALIGN-aligned); buffer i at bufs + i * elt
//   caches   Wasm offset of cache block 0 (CACHE_ALIGN-aligned); block i at caches + i * cStride
//   nCache   cache blocks, one per worker (at least 1)
//   cStride  bytes per cache block: a multiple of CACHE_ALIGN and at least
//            CACHE_OBJS + (CACHE_OBJS_FACTOR * cSize + 1) * 4
//   cSize    cache size (DPDK cache_size), 0..CACHE_MAX_SIZE; 0 = every get/put on the ring
//   flushT   flush threshold: cSize + max(1, cSize / 2) (DPDK's 1.5 multiplier)
//   dataRm   data bytes per buffer after the headroom: elt - BUF_HDR_SIZE - headroom
export const POOL_KIND = 0;
export const POOL_SIZE = 4;
export const POOL_ELT_SIZE = 8;
export const POOL_HEADROOM = 12;
export const POOL_FLAGS = 16;
export const POOL_DETAIL = 20;
export const POOL_RING = 24;
export const POOL_BUFFERS = 28;
export const POOL_CACHES = 32;
export const POOL_NUM_CACHES = 36;
export const POOL_CACHE_STRIDE = 40;
export const POOL_CACHE_SIZE = 44;
export const POOL_FLUSH_THRESH = 48;
export const POOL_DATA_ROOM = 52;
export const POOL_HEADER_SIZE = 64;
export const POOL_ALIGN = 64;
export const POOL_ELT_ALIGN = 64;

export const KIND_MEMPOOL = 0x6d70;

/**
 * Debug mode (DPDK's RTE_LIBRTE_MEMPOOL_DEBUG cookies): get marks each buffer BUF_STATE_HELD,
 * put checks that each handle is a buffer of this pool and held, and marks it free. Catches
 * double puts and foreign handles at the cost of touching every buffer's header line.
 */
export const POOL_F_DEBUG = 1;

// Buffer header, at the handle; the data area follows the headroom.
//
//   0        4        8        12       16       20              32
//   +--------+--------+--------+--------+--------+---------------+
//   | pool   | index  | dataOff| dataLen| state  | (spare)       |
//   +--------+--------+--------+--------+--------+---------------+
//   pool     the pool header's Wasm offset: the pool id (unique in one memory), as mbuf->pool
//   index    i, for buffer i (handle = bufs + i * elt)
//   dataOff  offset of the first data byte from the handle; init: BUF_HDR_SIZE + headroom.
//            The holder may move it (and dataLen); the pool never reads either after init.
//   dataLen  bytes of data the holder put there; init 0
//   state    BUF_STATE_FREE or BUF_STATE_HELD (kept up to date in debug mode only)
export const BUF_POOL = 0;
export const BUF_INDEX = 4;
export const BUF_DATA_OFF = 8;
export const BUF_DATA_LEN = 12;
export const BUF_STATE = 16;
export const BUF_HDR_SIZE = 32;
export const BUF_STATE_FREE = 0x46524545;
export const BUF_STATE_HELD = 0x48454c44;

// Cache block, one per worker: written by its owner only (plain stores), read by anyone at any
// time (the counters and len are aligned words, so a reader sees an old or a new value, never a
// torn one). Counters are u64 and count buffers, not calls.
//
//   0        4        8        12       16                24                32
//   +--------+--------+--------+--------+-----------------+-----------------+
//   | pool   | index  | len    |        | gets            | puts            |
//   +--------+--------+--------+--------+-----------------+-----------------+
//   | failedGets      | refills         | flushes         |                 |
//   +-----------------+-----------------+-----------------+-----------------+
//   32                40                48                56                64
//   objs[...] u32 from CACHE_OBJS: the cached handles, objs[len - 1] the most recently put
//   pool        the owning pool's header offset (checked by every call)
//   index       the block's number (the worker slot)
//   len         handles in objs now
//   gets        buffers handed out;  puts  buffers taken back
//   failedGets  buffers asked for and refused (pool exhausted)
//   refills     ring dequeues into the cache;  flushes  ring enqueues from the cache
export const CACHE_POOL = 0;
export const CACHE_INDEX = 4;
export const CACHE_LEN = 8;
export const CACHE_GETS = 16;
export const CACHE_PUTS = 24;
export const CACHE_FAILED_GETS = 32;
export const CACHE_REFILLS = 40;
export const CACHE_FLUSHES = 48;
export const CACHE_OBJS = 64;
export const CACHE_ALIGN = 64;
/** objs holds at least CACHE_OBJS_FACTOR * cacheSize + 1 handles (flushThresh + cacheSize fits). */
export const CACHE_OBJS_FACTOR = 3;
/** DPDK's RTE_MEMPOOL_CACHE_MAX_SIZE. */
export const CACHE_MAX_SIZE = 512;
