// Engine result codes. Exports return a count (>= 0) or one of these (< 0). Messages and spec
// sections live at the edge, in src/errors.ts. Codes in the "peer" ranges also mark the queue
// broken (CB_STATUS) until it is reset; "caller" codes leave the queue exactly as it was.

// Caller errors: the host passed something wrong; nothing was changed.
export const ERR_BAD_CONTROL_BLOCK = -1;
export const ERR_BAD_CONFIG = -2;
export const ERR_BAD_ARGUMENT = -3;
export const ERR_OUT_OF_MEMORY_BOUNDS = -4;
export const ERR_SEGMENTS_FULL = -5;
// Device with CB_OPT_IOTLB: the next chain has a buffer (at DEV_MISS_IOVA) outside the region
// table, an IOVA the IOTLB has no translation for yet; the chain was not taken.
export const ERR_IOTLB_MISS = -6;

// Device-side findings about the driver's rings (queue marked broken).
export const ERR_AVAIL_IDX_JUMP = -20;
export const ERR_HEAD_OUT_OF_RANGE = -21;
export const ERR_NEXT_OUT_OF_RANGE = -22;
export const ERR_CHAIN_TOO_LONG = -23;
export const ERR_INDIRECT_NOT_NEGOTIATED = -24;
export const ERR_INDIRECT_NESTED = -25;
export const ERR_INDIRECT_WITH_NEXT = -26;
export const ERR_INDIRECT_BAD_LENGTH = -27;
export const ERR_BUFFER_NOT_IN_REGIONS = -28;
export const ERR_BUFFER_ADDRESS_OVERFLOW = -29;
export const ERR_WRITABLE_BEFORE_READABLE = -30;
export const ERR_CHAIN_TOO_MANY_BYTES = -31;
// Packed ring specifics (device side).
export const ERR_PACKED_DESC_NOT_AVAILABLE = -32;
export const ERR_PACKED_ID_OUT_OF_RANGE = -33;
export const ERR_PACKED_ID_IN_FLIGHT = -34;
export const ERR_PACKED_RING_OVERRUN = -35;
export const ERR_INDIRECT_IN_LIST = -36;
// The available ring names a head whose chain the device has popped and not returned.
export const ERR_HEAD_IN_FLIGHT = -37;

// Driver-side findings about the device's used ring (queue marked broken).
export const ERR_USED_IDX_JUMP = -40;
export const ERR_USED_ID_OUT_OF_RANGE = -41;
export const ERR_USED_ID_NOT_IN_FLIGHT = -42;
export const ERR_USED_LEN_TOO_LARGE = -43;

// Inflight I/O tracking (vhost-user.rst "Inflight I/O tracking"; layout/inflight.ts). The
// region is shared with the front-end, so nothing read from it is trusted.
// Recovery: the region's header is not one for this queue (version, desc_num); nothing changed.
export const ERR_INFLIGHT_BAD_REGION = -50;
// Recovery refusals, each naming what in the region cannot be resumed (nothing changed but the
// spec's fix-up of an interrupted push): an index or count read from it out of range;
export const ERR_INFLIGHT_RANGE = -51;
// the split last batch (used.idx - used_idx) longer than the queue;
export const ERR_INFLIGHT_BATCH = -53;
// two chains in flight with the same counter;
export const ERR_INFLIGHT_COUNTERS = -54;
// split: more chains in flight than the available ring holds beyond used.idx, or one of them
// offered again among the entries not yet read;
export const ERR_INFLIGHT_OUT_OF_ORDER = -55;
// packed descriptor copies not linked as their list says (NEXT flags against num, the last entry,
// a buffer id out of range or in two lists, an entry in two lists or on the free list).
export const ERR_INFLIGHT_COPY = -56;
// Pop: the region's free list named an entry out of range (queue marked broken).
export const ERR_INFLIGHT_INDEX = -52;

// Dataplane: handle rings (dataplane/handle-ring/) and mempools (dataplane/mempool/). Bad
// addresses, configurations and burst arrays reuse the caller codes above (-1 .. -4).
// A multi-producer (multi-consumer) waited RING_SPIN_LIMIT polls for an earlier one to publish
// and gave up: that thread stopped (or was terminated) inside a call. The ring is broken (sticky
// RING_STATUS) until ringInit; the entries of the calls caught in between are lost.
export const ERR_RING_STALLED = -60;
// Mempool put, MEMPOOL_F_DEBUG only: the handle is not a buffer of this pool.
export const ERR_MEMPOOL_BAD_HANDLE = -61;
// Mempool put, MEMPOOL_F_DEBUG only: the buffer is not held (put twice, or never taken).
export const ERR_MEMPOOL_NOT_HELD = -62;
// Mempool put: the free ring had no room, so more buffers came back than were taken
// (a buffer put twice, or a foreign handle). Nothing was put.
export const ERR_MEMPOOL_OVERFLOW = -63;
