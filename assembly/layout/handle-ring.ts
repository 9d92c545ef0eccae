// Ring of 32-bit handles (assembly/dataplane/handle-ring/), after DPDK's rte_ring: a fixed-size
// lockless FIFO in shared memory that any number of worker threads may use at once, each through
// the export whose name states its concurrency contract (Sp/Mp enqueue, Sc/Mc dequeue).
//
// The four indices are free-running unsigned 32-bit counters: they are never masked when stored,
// only when an entry is addressed (entry = index & mask), and all differences are taken modulo
// 2^32. So "entries in the ring" is prodTail - consTail and "room" is capacity - (prodHead -
// consTail), whatever the values, even across the 2^32 wrap. Capacity is a power of two and the
// whole capacity is usable (no empty slot is kept, unlike DPDK's size - 1).
//
// The producer state and the consumer state sit on separate 64-byte cache lines, so producers
// and consumers do not invalidate each other's line on every call; the first line is written
// only at init (and once more if the ring breaks), so every core keeps it cached.
//
// Line 0, configuration (the host writes kind, capacity, flags, start, spin before ringInit):
//
//   0        4        8        12       16       20       24       28       32
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   | kind   | cap    | mask   | flags  | status | detail | start  | spin   |
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   kind    KIND_RING: checked by every export, so a wrong address fails cleanly
//   cap     capacity in entries: a power of two, 1..RING_MAX_CAPACITY
//   mask    cap - 1 (written by ringInit)
//   flags   RING_F_*: the modes the host chose for this ring, so every thread that attaches to
//           it binds the same exports (the engine does not read those two: the export is the
//           contract), and RING_F_SLEEP, which the engine's multi-producer/consumer wait reads.
//   status  0 while healthy; ERR_RING_STALLED once a waiter gave up (sticky until ringInit)
//   detail  a number that locates the last caller error (same offset as a queue's CB_DETAIL, so
//           the host's Engine.check reads it the same way). Several threads may write it.
//   start   the index all four counters start from (0 normally; tests start near 2^32 - 16 to
//           cross the wrap early)
//   spin    polls a multi-producer (multi-consumer) waits for earlier ones to publish before it
//           gives up and breaks the ring; 0 means RING_DEFAULT_SPIN_LIMIT (a sleep counts as
//           RING_SLEEP_POLLS polls)
//
// Line 1, producer state:         Line 2, consumer state:
//   64 prodHead  next index to reserve     128 consHead  next index to reserve
//   68 prodTail  entries published up to   132 consTail  entries released up to
//
// Entries: cap u32 handles from RING_ENTRIES (192), entry i at RING_ENTRIES + 4 * (i & mask).
export const RING_KIND = 0;
export const RING_CAPACITY = 4;
export const RING_MASK = 8;
export const RING_FLAGS = 12;
export const RING_STATUS = 16;
export const RING_DETAIL = 20;
export const RING_START = 24;
export const RING_SPIN_LIMIT = 28;

export const RING_PROD_HEAD = 64;
export const RING_PROD_TAIL = 68;
export const RING_CONS_HEAD = 128;
export const RING_CONS_TAIL = 132;

export const RING_ENTRIES = 192;
export const RING_ENTRY_SIZE = 4;
export const RING_ALIGN = 64;
export const RING_CACHE_LINE = 64;

export const KIND_RING = 0x7269;

/** Only one thread enqueues (DPDK RING_F_SP_ENQ): bind the *Sp enqueue exports. */
export const RING_F_SP_ENQ = 1;
/** Only one thread dequeues (DPDK RING_F_SC_DEQ): bind the *Sc dequeue exports. */
export const RING_F_SC_DEQ = 2;

/**
 * A multi-producer (multi-consumer) that has polled RING_SPIN_BEFORE_SLEEP times for an earlier
 * one to publish then sleeps RING_SLEEP_NS at a time (memory.atomic.wait32 on the tail), giving
 * its core to the thread it waits for. For rings used by more threads than there are cores: a
 * pure spin then convoys (each waiter burns its time slice waiting for a descheduled one). Only
 * for rings that no thread which must not block uses (a browser's main thread traps on a wait;
 * every Node thread may wait).
 */
export const RING_F_SLEEP = 4;

/** 2^28 entries (1 GiB of handles): far more than a 32-bit memory can usefully hold. */
export const RING_MAX_CAPACITY = 0x10000000;
/** 2^31 - 1 polls: a second or more on any machine, far beyond a preempted thread's wait. */
export const RING_DEFAULT_SPIN_LIMIT = 0x7fffffff;
/** A waiter re-reads the ring's status every this many polls (a power of two), and after every sleep. */
export const RING_STATUS_POLL = 1024;
/** Polls before a RING_F_SLEEP waiter starts sleeping (a few microseconds). */
export const RING_SPIN_BEFORE_SLEEP = 4096;
/** Longest single sleep of a RING_F_SLEEP waiter, in nanoseconds. */
export const RING_SLEEP_NS = 50000;
/** What one sleep counts towards the spin limit: about the polls it would have spun. */
export const RING_SLEEP_POLLS = 65536;
