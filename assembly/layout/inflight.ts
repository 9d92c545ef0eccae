// Inflight I/O tracking (QEMU docs/interop/vhost-user.rst, "Inflight I/O tracking"): for each
// queue a region that the device keeps up to date as it pops and pushes chains, in shared memory
// that outlives the back-end process (a memfd the front-end keeps across back-end restarts,
// GET_INFLIGHT_FD / SET_INFLIGHT_FD, or the back-end's own state file), so that a restarted
// back-end knows which chains were in flight and where the device was. These bytes are the
// spec's: QEMU's libvhost-user (VuVirtqInflight) and DPDK (rte_vhost_inflight_info_split /
// _packed) lay them out the same, and a front-end may hand the region to any back-end.
// Little-endian. Integer constants only (compiled by AssemblyScript and TypeScript).
//
// A buffer holds one region per queue, each starting INFLIGHT_ALIGN-aligned (the stride is the
// region size rounded up to INFLIGHT_ALIGN, as DPDK computes it):
//
//   +---------------+---------------+-----+---------------+
//   | queue0 region | queue1 region | ... | queueN region |
//   +---------------+---------------+-----+---------------+
//
// Both regions start with the same three fields, INFLIGHT_*:
//   INFLIGHT_FEATURES  u64: feature flags of the region, 0
//   INFLIGHT_VERSION   u16: 1; 0 is a buffer nobody has formatted yet (a fresh GET_INFLIGHT_FD)
//   INFLIGHT_DESC_NUM  u16: entries in desc[], the Queue Size
export const INFLIGHT_FEATURES = 0;
export const INFLIGHT_VERSION = 8;
export const INFLIGHT_DESC_NUM = 10;
/** The one version there is. */
export const INFLIGHT_VERSION_1 = 1;
/** Each queue's region starts at a multiple of this in the buffer. */
export const INFLIGHT_ALIGN = 64;

// Split queue region (QueueRegionSplit), ISPLIT_*: a 16-byte header, then desc_num DescStateSplit
// entries, one per descriptor index (only heads are ever marked):
//
//   0                   8         10         12                14         16
//   +-------------------+---------+----------+-----------------+----------+------------+
//   | features u64      | version | desc_num | last_batch_head | used_idx | desc[] ... |
//   +-------------------+---------+----------+-----------------+----------+------------+
//   ISPLIT_LAST_BATCH_HEAD  u16: head of the list (through desc[].next) of the last batch pushed
//   ISPLIT_USED_IDX         u16: used.idx once the last batch's inflight fields were cleared
//
//   DescStateSplit, ISPLIT_D_*, 16 bytes:
//   0          1                6      8                  16
//   +----------+----------------+------+------------------+
//   | inflight | padding[5]     | next | counter u64      |
//   +----------+----------------+------+------------------+
//   ISPLIT_D_INFLIGHT  u8: 1 while the chain headed here is popped and not used
//   ISPLIT_D_NEXT      u16: the last batch list
//   ISPLIT_D_COUNTER   u64: the device's global counter when the chain was popped (pop order)
export const ISPLIT_LAST_BATCH_HEAD = 12;
export const ISPLIT_USED_IDX = 14;
export const ISPLIT_HEADER_SIZE = 16;
export const ISPLIT_DESC_SIZE = 16;
/** Both layouts' DescState entries start with `inflight` (u8) and hold `counter` (u64) at 8. */
export const INFLIGHT_D_INFLIGHT = 0;
export const INFLIGHT_D_COUNTER = 8;
export const ISPLIT_D_INFLIGHT = INFLIGHT_D_INFLIGHT;
export const ISPLIT_D_NEXT = 6;
export const ISPLIT_D_COUNTER = INFLIGHT_D_COUNTER;

// Packed queue region (QueueRegionPacked), IPACKED_*: a 32-byte header (7 bytes of padding and 3
// of alignment before desc[], whose entries hold a u64), then desc_num DescStatePacked entries.
// Entries are taken from a free list, one per descriptor of a popped list (the first one is the
// head entry), and given back when the buffer is used:
//
//   0                 8         10         12          14              16         18
//   +-----------------+---------+----------+-----------+---------------+----------+
//   | features u64    | version | desc_num | free_head | old_free_head | used_idx |
//   +-----------------+---------+----------+-----------+---------------+----------+
//   18             20          21              22                       32
//   +--------------+-----------+---------------+------------------------+------------+
//   | old_used_idx | used_wrap | old_used_wrap | padding[7], alignment  | desc[] ... |
//   +--------------+-----------+---------------+------------------------+------------+
//   IPACKED_FREE_HEAD      u16: first free entry (the list runs through desc[].next)
//   IPACKED_OLD_FREE_HEAD  u16: free_head when the last pop or push was complete
//   IPACKED_USED_IDX       u16: ring slot of the next used descriptor (a push in progress)
//   IPACKED_OLD_USED_IDX   u16: the same once the push's flags were written (committed)
//   IPACKED_USED_WRAP / IPACKED_OLD_USED_WRAP  u8: their Device Ring Wrap Counters
//   IPACKED_USED_WORD      the u64 at 16: used_idx, old_used_idx, both wraps and two bytes of
//                          padding, which the device stores in one go so none is ever torn
//
//   DescStatePacked, IPACKED_D_*, 32 bytes:
//   0          1         2      4      6      8                 16     18      20      24            32
//   +----------+---------+------+------+------+-----------------+------+-------+-------+-------------+
//   | inflight | padding | next | last | num  | counter u64     | id   | flags | len   | addr u64    |
//   +----------+---------+------+------+------+-----------------+------+-------+-------+-------------+
//   IPACKED_D_INFLIGHT  u8: 1 on the head entry of a popped, not yet used list
//   IPACKED_D_NEXT      u16: the free list; within a popped list, the entry of its next descriptor
//   IPACKED_D_LAST      u16: head entry only: the entry holding the list's last descriptor
//   IPACKED_D_NUM       u16: head entry only: descriptors in the list
//   IPACKED_D_COUNTER   u64: head entry only: the global counter at pop
//   IPACKED_D_ID / _FLAGS / _LEN / _ADDR: a copy of the ring descriptor as it was popped
export const IPACKED_FREE_HEAD = 12;
export const IPACKED_OLD_FREE_HEAD = 14;
export const IPACKED_USED_IDX = 16;
export const IPACKED_OLD_USED_IDX = 18;
export const IPACKED_USED_WRAP = 20;
export const IPACKED_OLD_USED_WRAP = 21;
export const IPACKED_USED_WORD = 16;
export const IPACKED_HEADER_SIZE = 32;
export const IPACKED_DESC_SIZE = 32;
export const IPACKED_D_INFLIGHT = INFLIGHT_D_INFLIGHT;
export const IPACKED_D_NEXT = 2;
export const IPACKED_D_LAST = 4;
export const IPACKED_D_NUM = 6;
export const IPACKED_D_COUNTER = INFLIGHT_D_COUNTER;
export const IPACKED_D_ID = 16;
export const IPACKED_D_FLAGS = 18;
export const IPACKED_D_LEN = 20;
export const IPACKED_D_ADDR = 24;

// The packed device's private inflight area (layout/queue.ts PDEV_INFLIGHT_HEADS), for Queue
// Size q, IHEAD_AREA_*:
//
//   0             4q                   8q                                   24q
//   +-------------+--------------------+------------------------------------+
//   | head map    | resubmission list  | staging (q packed descriptors)     |
//   +-------------+--------------------+------------------------------------+
//   head map     u32 per buffer id: the head entry of the popped list in bits 0-15, its last
//                entry in bits 16-31. Kept privately so that a push never takes an index from the
//                shared region.
//   list         u32 per buffer in flight when the previous back-end died: its head entry, in
//                counter order (layout/queue.ts PDEV_RESUBMIT_NUM / _NEXT), RESUBMIT_SIZE each
//   staging      the descriptor copies of the list being popped again, laid out as ring
//                descriptors (layout/packed.ts PDESC_*) so that the ring's own walk reads them
export const IHEAD_SIZE = 4;
/** Offsets in the area, in units of Queue Size (multiply by q). */
export const IHEAD_AREA_LIST = 4;
export const IHEAD_AREA_STAGING = 8;
export const IHEAD_AREA_SIZE = 24;

// -- The back-end's state file (ours, not part of the spec) --------------------------------------
//
// For front-ends that never send GET/SET_INFLIGHT_FD (QEMU's virtio-net), the back-end keeps the
// same regions in a file of its own next to its socket, so that the next back-end process finds
// them. A header (64 + 64 * vrings bytes, rounded up to whole pages) comes first; vring i's
// region is STATE_SLOT * i bytes after it, the file being sparse. Each vring has a 64-byte record saying
// whose ring the region tracks, so a region is resumed only by the ring it was written for:
//
//   0        8         12        16
//   +--------+---------+---------+---------------+-----------------------------------+
//   | magic  | version | vrings  | pad (48)      | record 0 (64) | record 1 (64) | ...
//   +--------+---------+---------+---------------+-----------------------------------+
//   STATE_MAGIC     u64: "VQINFLT1" as the 8 bytes 0x56 0x51 0x49 0x4e 0x46 0x4c 0x54 0x31
//   STATE_VERSION   u32: 1
//   STATE_VRINGS    u32: records (and region slots) in the file
//
//   Record, STATE_R_*, 64 bytes:
//   0        4        8          12    16        24        32        40        48        56   64
//   +--------+--------+----------+-----+---------+---------+---------+---------+---------+----+
//   | state  | layout | num      | pad | dev u64 | ino u64 | desc    | avail   | used    |pad |
//   +--------+--------+----------+-----+---------+---------+---------+---------+---------+----+
//   STATE_R_STATE   u32: STATE_RUNNING while the device runs the ring and the front-end has not
//                   been told its position (GET_VRING_BASE); STATE_STOPPED otherwise
//   STATE_R_LAYOUT  u32: STATE_LAYOUT_SPLIT or STATE_LAYOUT_PACKED
//   STATE_R_NUM     u32: Queue Size
//   STATE_R_DEV / STATE_R_INO  u64: st_dev and st_ino of the guest memory file holding the ring
//   STATE_R_DESC / _AVAIL / _USED  u64: the ring's addresses as SET_VRING_ADDR gave them
export const STATE_MAGIC_LO = 0x4e495156; // "VQIN", little-endian
export const STATE_MAGIC_HI = 0x3154464c; // "FLT1"
export const STATE_MAGIC = 0;
export const STATE_VERSION = 8;
export const STATE_VRINGS = 12;
export const STATE_VERSION_1 = 1;
export const STATE_RECORDS = 64;
export const STATE_RECORD_SIZE = 64;
export const STATE_R_STATE = 0;
export const STATE_R_LAYOUT = 4;
export const STATE_R_NUM = 8;
export const STATE_R_DEV = 16;
export const STATE_R_INO = 24;
export const STATE_R_DESC = 32;
export const STATE_R_AVAIL = 40;
export const STATE_R_USED = 48;
export const STATE_STOPPED = 0;
export const STATE_RUNNING = 1;
export const STATE_LAYOUT_SPLIT = 1;
export const STATE_LAYOUT_PACKED = 2;
/** Bytes of a vring's region slot: the largest region (packed, 32768 entries), in whole pages. */
export const STATE_SLOT = 1052672;
