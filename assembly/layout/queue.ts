// Control blocks: all per-queue state of the engine lives here, in shared memory, never in Wasm
// globals. The host reserves a block (QUEUE_CB_SIZE bytes, QUEUE_CB_ALIGN-aligned), writes the
// configuration fields, and calls the matching `*Reset` export, which checks them and initialises
// the rest. Every other export takes the block's address.
//
// A block belongs to exactly one side of one queue and is touched by one thread at a time
// (the thread that runs that side). The rings themselves are the only memory both sides share.
//
// Prefixes: CB_ the common header (every kind); SDRV_ split driver; SDEV_ split device; PDRV_
// packed driver; PDEV_ packed device; DEV_ the fields both device blocks hold at the same offsets.
// Per-entry private state: SHADOW_ (both drivers), DSHADOW_ (both devices); REGION_ a region
// table entry.
//
// Common header (all kinds), CB_*:
//
//   0         4         8         12        16        20        24        28        32        36        40
//   +---------+---------+---------+---------+---------+---------+---------+---------+---------+---------+
//   | KIND    | QUEUE_  | FEATURES| FEATURES| STATUS  | DETAIL  | DESC    | DRIVER_ | DEVICE_ | OPTIONS |
//   |         | SIZE    | _LO     | _HI     |         |         |         | AREA    | AREA    |         |
//   +---------+---------+---------+---------+---------+---------+---------+---------+---------+---------+
//   CB_KIND         CB_KIND_*: checked by every export, so a wrong address fails cleanly
//   CB_QUEUE_SIZE   Queue Size, 1..32768 (split: a power of two)
//   CB_FEATURES_LO/HI  negotiated feature bits 0..31 / 32..63 (see features.ts)
//   CB_STATUS       0 while healthy; otherwise the ERR_* code that broke the queue (sticky until reset)
//   CB_DETAIL       a number that locates the fault (ring index, descriptor index, id ...)
//   CB_DESC         Wasm offset of the descriptor area (split: descriptor table)
//   CB_DRIVER_AREA  Wasm offset of the driver area (split: available ring)
//   CB_DEVICE_AREA  Wasm offset of the device area (split: used ring)
//   CB_OPTIONS      CB_OPT_* bits
export const CB_KIND = 0;
export const CB_QUEUE_SIZE = 4;
export const CB_FEATURES_LO = 8;
export const CB_FEATURES_HI = 12;
export const CB_STATUS = 16;
export const CB_DETAIL = 20;
export const CB_DESC = 24;
export const CB_DRIVER_AREA = 28;
export const CB_DEVICE_AREA = 32;
/** Option bits (CB_OPT_*), written by the host before reset and changed by the enable/disable exports. */
export const CB_OPTIONS = 36;

export const CB_KIND_SPLIT_DRIVER = 0x51d1;
export const CB_KIND_SPLIT_DEVICE = 0x51de;
export const CB_KIND_PACKED_DRIVER = 0x9ad1;
export const CB_KIND_PACKED_DEVICE = 0x9ade;

/** Side wants the peer's notifications (driver: used buffer notifications; device: kicks). */
export const CB_OPT_NOTIFY = 1;
/**
 * Packed driver: take a used descriptor's length without VIRTQ_DESC_F_WRITE too (still checked
 * against the buffer's writable capacity). 2.8.3 and 2.8.4 say a device that wrote into a buffer
 * sets WRITE in its used descriptor and that drivers ignore the length otherwise; QEMU's device
 * model (virtqueue_packed_fill_desc, 7.2) never sets it, and Linux's and DPDK's drivers read the
 * length regardless. Off by default; written by the host before reset.
 */
export const CB_OPT_USED_LEN_WITHOUT_WRITE = 2;
/**
 * Device: the region table is an IOTLB's (vhost-user with VIRTIO_F_ACCESS_PLATFORM: keyed by
 * IOVA, built from the translations the front-end sent so far), so a buffer outside it is a miss,
 * not the driver's fault: the pop stops before that chain without consuming it and returns
 * ERR_IOTLB_MISS (when it took nothing), DEV_MISS_IOVA holds the address, and the queue stays
 * healthy. Written by the host before reset (which keeps it).
 */
export const CB_OPT_IOTLB = 4;
/**
 * Packed device: step over a slot at the next available position that is already in its lap's
 * used form (AVAIL and USED both equal to the wrap counter, 2.8.1) when nothing is in flight and
 * the used position is that same slot: another device wrote it while this one was not running,
 * and the driver has taken it. QEMU 7.2 does this when a vhost-user back-end dies: it keeps no
 * packed position for the back-end, restores a stale one, and its own virtio-net drops what the
 * guest transmits while the link is down by marking it used in place, possibly a lap ahead of
 * where the restarted back-end resumes (its state file). Without the option the device waits at
 * that slot for ever and the guest at the next one. Each step moves both positions by one slot,
 * which is right for the buffers such a device writes when each takes one slot (Linux drivers
 * with VIRTIO_RING_F_INDIRECT_DESC, or single-descriptor frames). PDEV_STEPPED counts the steps.
 * Off by default (the spec's device never does this); written by the host before reset.
 */
export const CB_OPT_STEP_OVER_USED = 8;

export const QUEUE_CB_SIZE = 192;
export const QUEUE_CB_ALIGN = 64;

// Split driver block (split/driver.ts), SDRV_*, after the common header:
//
//   40 SDRV_FREE_HEAD     first free descriptor (NONE_16 when none)
//   44 SDRV_NUM_FREE      free descriptors
//   48 SDRV_AVAIL_IDX     next value of avail.idx to publish (free-running, low 16 bits meaningful)
//   52 SDRV_KICK_IDX      avail.idx when the driver last decided whether to notify (event index "old")
//   56 SDRV_LAST_USED     next used ring index to collect (free-running)
//   60 SDRV_IN_FLIGHT     chains made available and not collected yet
//   64 SDRV_SHADOW        Wasm offset of the private per-descriptor state (qsize * SHADOW_SIZE bytes)
//   68 SDRV_INDIRECT      Wasm offset of the indirect tables (qsize * indMax * DESC_SIZE bytes), 0 = none
//   72 SDRV_INDIRECT_MAX  descriptors per indirect table
//   76 SDRV_FREE_TAIL     last free descriptor (IN_ORDER: used chains go to the tail, keeping ring order)
//   80 SDRV_OLDEST        head of the oldest chain in flight (IN_ORDER)
//   96 DRV_ADDR_BASE      u64, shared with the packed driver block (below)
export const SDRV_FREE_HEAD = 40;
export const SDRV_NUM_FREE = 44;
export const SDRV_AVAIL_IDX = 48;
export const SDRV_KICK_IDX = 52;
export const SDRV_LAST_USED = 56;
export const SDRV_IN_FLIGHT = 60;
export const SDRV_SHADOW = 64;
export const SDRV_INDIRECT = 68;
export const SDRV_INDIRECT_MAX = 72;
export const SDRV_FREE_TAIL = 76;
export const SDRV_OLDEST = 80;

// Driver shadow entry, SHADOW_*, private to the driver (the device never sees it, so a device
// scribbling on the descriptor table cannot corrupt the driver's free list): one per descriptor
// (split) or per buffer id (packed):
//
//   0         4             8      10      12     14      16
//   +---------+-------------+------+-------+------+-------+
//   | TOKEN   | WRITE_LEN   | NEXT | NDESC | TAIL | FLAGS |
//   +---------+-------------+------+-------+------+-------+
//   SHADOW_TOKEN      the caller's cookie for the chain headed here, returned when it is used
//   SHADOW_WRITE_LEN  device-writable capacity of the chain: a used length above it is rejected
//   SHADOW_NEXT       free list / chain link (split: what the driver wrote in desc.next; packed:
//                     the free id list)
//   SHADOW_NDESC      ring descriptors the chain holds (1 when indirect; packed: what the device skips)
//   SHADOW_TAIL       last descriptor of the chain, so freeing it is O(1) (split only)
//   SHADOW_FLAGS      SHADOW_F_*
export const SHADOW_SIZE = 16;
export const SHADOW_TOKEN = 0;
export const SHADOW_WRITE_LEN = 4;
export const SHADOW_NEXT = 8;
export const SHADOW_NDESC = 10;
export const SHADOW_TAIL = 12;
export const SHADOW_FLAGS = 14;
export const SHADOW_F_IN_FLIGHT = 1;
export const SHADOW_F_INDIRECT = 2;
export const NONE_16 = 0xffff;

// Fields both device blocks hold at the same offsets, DEV_*, so shared/regions.ts and the shared
// device checks serve both layouts:
//
//   56 DEV_REGIONS      Wasm offset of the region table (REGION_* entries)
//   60 DEV_NUM_REGIONS  entries in the region table
//   64 DEV_LAST_REGION  index of the region that translated the last address (a hint only)
//   68 DEV_MAX_CHAIN    longest chain accepted, in descriptors (0 = Queue Size)
export const DEV_REGIONS = 56;
export const DEV_NUM_REGIONS = 60;
export const DEV_LAST_REGION = 64;
export const DEV_MAX_CHAIN = 68;

// Inflight I/O tracking (vhost-user.rst "Inflight I/O tracking"; layout/inflight.ts), the same
// offsets in both device blocks, after every layout's own fields:
//
//   96  DEV_INFLIGHT          Wasm offset of this queue's inflight region, 0 = no tracking
//   100 PDEV_INFLIGHT_HEADS   packed only: Wasm offset of the private inflight area (layout/inflight.ts
//                             IHEAD_AREA_*): the head and last region entry of each popped buffer
//                             id, the resubmission list and its staging descriptors
//   104 DEV_INFLIGHT_COUNTER  u64: the global counter the next popped chain gets
export const DEV_INFLIGHT = 96;
export const PDEV_INFLIGHT_HEADS = 100;
export const DEV_INFLIGHT_COUNTER = 104;

// The pop serial, the same offset in both device blocks:
//
//   112 DEV_POP_SERIAL  the serial the next popped chain gets (DSHADOW_SERIAL; 0 after reset): unpop
//                       gives back only the last chains popped, whose serials run up to it
export const DEV_POP_SERIAL = 112;

// Dirty-page logging (layout/dirty-log.ts), the same offset in both device blocks:
//
//   116 DEV_LOG  Wasm offset of the queue's log block (LOG_*), 0 = not logging
export const DEV_LOG = 116;

// IOTLB misses (CB_OPT_IOTLB), the same offset in both device blocks:
//
//   128 DEV_MISS_IOVA  u64: the first address the last pop found outside the region table (written
//                      on that path only; meaningful after ERR_IOTLB_MISS or ERR_BUFFER_NOT_IN_REGIONS)
export const DEV_MISS_IOVA = 128;

// Split device block (split/device.ts), SDEV_*, after the common header:
//
//   40 SDEV_LAST_AVAIL  next available ring index to read (free-running)
//   44 SDEV_USED_IDX    next value of used.idx to publish (free-running)
//   48 SDEV_SIGNAL_IDX  used.idx when the device last decided whether to interrupt (event index "old")
//   52 SDEV_IN_FLIGHT   chains popped and not pushed back yet
//   56..71              DEV_REGIONS, DEV_NUM_REGIONS, DEV_LAST_REGION, DEV_MAX_CHAIN
//   72 SDEV_SHADOW      Wasm offset of per-head state (qsize * DSHADOW_SIZE bytes): which heads are
//                       in flight, their writable capacity
//   76 SDEV_ORDER       Wasm offset of the FIFO of popped heads (qsize u16), IN_ORDER only
//   80 SDEV_ORDER_HEAD  FIFO slot of the oldest popped head
//   84 SDEV_RESUBMIT       Wasm offset of the resubmission list (qsize u32: the heads that were in
//                          flight when the previous back-end died, in counter order), 0 = none
//   88 SDEV_RESUBMIT_NUM   heads on it (set by inflight recovery)
//   92 SDEV_RESUBMIT_NEXT  the next one pop takes again; RESUBMIT_PENDING from the recovery to the
//                          reset that follows it (which then keeps the region as recovery left it)
//   96..111             DEV_INFLIGHT, DEV_INFLIGHT_COUNTER
export const SDEV_LAST_AVAIL = 40;
export const SDEV_USED_IDX = 44;
export const SDEV_SIGNAL_IDX = 48;
export const SDEV_IN_FLIGHT = 52;
export const SDEV_SHADOW = 72;
export const SDEV_ORDER = 76;
export const SDEV_ORDER_HEAD = 80;
export const SDEV_RESUBMIT = 84;
export const SDEV_RESUBMIT_NUM = 88;
export const SDEV_RESUBMIT_NEXT = 92;
export const RESUBMIT_PENDING = 0xffff_ffff;
/** Bytes of a resubmission list entry (a head, u32). */
export const RESUBMIT_SIZE = 4;

// Region table entry, REGION_*: guest address range [gpa, gpa + size) is at Wasm offset `offset`.
//
//   0                  8                  16       20       24
//   +------------------+------------------+--------+--------+
//   | GPA u64          | LEN u64          | OFFSET | pad    |
//   +------------------+------------------+--------+--------+
export const REGION_SIZE = 24;
export const REGION_GPA = 0;
export const REGION_LEN = 8;
export const REGION_OFFSET = 16;
/** vhost-user allows 8 regions by default and more with CONFIGURE_MEM_SLOTS; we cap the table. */
export const MAX_REGIONS = 64;
/**
 * Entries a device's region table may hold with CB_OPT_IOTLB: an IOTLB's translations, often a
 * page each (a guest's IOMMU maps its pages where they lie). Checked in one pass when sorted by
 * address, as the host builds them.
 */
export const MAX_IOTLB_REGIONS = 1024;

// Packed driver block (packed/driver.ts), PDRV_*, after the common header. The shadow entries
// (SHADOW_*) are per buffer id.
//
//   40 PDRV_NEXT_AVAIL    ring slot the next descriptor goes to
//   44 PDRV_AVAIL_WRAP    Driver Ring Wrap Counter (2.8.1), starts at 1
//   48 PDRV_NEXT_USED     ring slot where the next used descriptor will appear
//   52 PDRV_USED_WRAP     wrap counter that used descriptor will carry
//   56 PDRV_NUM_FREE      free ring slots
//   60 PDRV_FREE_ID       first free buffer id (NONE_16 when none)
//   64 PDRV_IN_FLIGHT     buffers made available and not collected
//   68 PDRV_SHADOW        Wasm offset of per-id state (qsize * SHADOW_SIZE bytes)
//   72 PDRV_INDIRECT      Wasm offset of indirect tables (qsize * indMax * PDESC_SIZE), 0 = none
//   76 PDRV_INDIRECT_MAX  descriptors per indirect table
//   80 PDRV_ADDED         descriptors made available since the last kick decision
//   84 PDRV_ORDER         Wasm offset of the in-order FIFO of buffer ids (qsize u16), IN_ORDER only
//   88 PDRV_ORDER_HEAD    FIFO slot of the oldest buffer in flight
//   96 DRV_ADDR_BASE      u64, shared with the split driver block (below)
export const PDRV_NEXT_AVAIL = 40;
export const PDRV_AVAIL_WRAP = 44;
export const PDRV_NEXT_USED = 48;
export const PDRV_USED_WRAP = 52;
export const PDRV_NUM_FREE = 56;
export const PDRV_FREE_ID = 60;
export const PDRV_IN_FLIGHT = 64;
export const PDRV_SHADOW = 68;
export const PDRV_INDIRECT = 72;
export const PDRV_INDIRECT_MAX = 76;
export const PDRV_ADDED = 80;
export const PDRV_ORDER = 84;
export const PDRV_ORDER_HEAD = 88;

// The driver's address base, the same offset in both driver blocks:
//
//   96 DRV_ADDR_BASE  u64: the address a descriptor carries for Wasm offset x is x + base. A
//                     descriptor's addr is a "physical address" (VIRTIO 1.2 2.7.5 "guest-physical"; 2.8.4): with
//                     VIRTIO_F_ACCESS_PLATFORM (6) the device reaches it through the platform's
//                     IOMMU. 0 for vhost-user, whose guest addresses are Wasm offsets; VFIO: the
//                     IOVA the memory was DMA-mapped at. Written by the host before reset (which
//                     keeps it, as CB_OPTIONS); every descriptor address the driver writes,
//                     indirect tables' included, gets it added. Reset refuses a base with which
//                     the memory's last byte would pass 2^64 - 1.
export const DRV_ADDR_BASE = 96;

// Packed device block (packed/device.ts), PDEV_*, after the common header:
//
//   40 PDEV_NEXT_AVAIL       ring slot where the next available descriptor is expected
//   44 PDEV_AVAIL_WRAP       wrap counter it must carry
//   48 PDEV_NEXT_USED        ring slot the next used descriptor goes to
//   52 PDEV_USED_WRAP        Device Ring Wrap Counter (2.8.1), starts at 1
//   56..71                   DEV_REGIONS, DEV_NUM_REGIONS, DEV_LAST_REGION, DEV_MAX_CHAIN
//   72 PDEV_IN_FLIGHT        buffers popped and not pushed back
//   76 PDEV_IN_FLIGHT_DESCS  ring slots those buffers hold
//   80 PDEV_SHADOW           Wasm offset of per-id state (qsize * DSHADOW_SIZE bytes)
//   84 PDEV_SIGNALLED        used descriptors written since the last interrupt decision
//   88 PDEV_ORDER            Wasm offset of the in-order FIFO of popped ids (qsize u16), IN_ORDER only
//   92 PDEV_ORDER_HEAD       FIFO slot of the oldest popped buffer
//   96..111                  DEV_INFLIGHT, PDEV_INFLIGHT_HEADS, DEV_INFLIGHT_COUNTER
//   120 PDEV_RESUBMIT_NUM    buffers on the resubmission list (layout/inflight.ts IHEAD_AREA_LIST)
//   124 PDEV_RESUBMIT_NEXT   the next one pop takes again; RESUBMIT_PENDING from the recovery to
//                            the reset that follows it (as SDEV_RESUBMIT_NEXT)
//   128..135                 DEV_MISS_IOVA
//   136 PDEV_STEPPED         slots stepped over since the reset (CB_OPT_STEP_OVER_USED)
export const PDEV_NEXT_AVAIL = 40;
export const PDEV_AVAIL_WRAP = 44;
export const PDEV_NEXT_USED = 48;
export const PDEV_USED_WRAP = 52;
export const PDEV_IN_FLIGHT = 72;
export const PDEV_IN_FLIGHT_DESCS = 76;
export const PDEV_SHADOW = 80;
export const PDEV_SIGNALLED = 84;
export const PDEV_ORDER = 88;
export const PDEV_ORDER_HEAD = 92;
export const PDEV_RESUBMIT_NUM = 120;
export const PDEV_RESUBMIT_NEXT = 124;
export const PDEV_STEPPED = 136;

// Device shadow entry, DSHADOW_*, private to the device: one per buffer id (packed) or per
// chain head (split), written by shared/device-shadow.ts.
//
//   0       2       4             8             12
//   +-------+-------+-------------+-------------+
//   | NDESC | FLAGS | WRITE_LEN   | SERIAL      |
//   +-------+-------+-------------+-------------+
//   DSHADOW_NDESC      u16: ring slots the buffer took (what to skip when it is used)
//   DSHADOW_FLAGS      u16: DSHADOW_F_IN_FLIGHT, DSHADOW_F_RESUBMITTED (popped again from the
//                      resubmission list), DSHADOW_F_PUSHING (transient, while a push checks
//                      its records)
//   DSHADOW_WRITE_LEN  u32: writable capacity (in-order: a used length equal to it may be coalesced)
//   DSHADOW_SERIAL     u32: DEV_POP_SERIAL when it was popped (pop order, for unpop)
export const DSHADOW_SIZE = 12;
export const DSHADOW_NDESC = 0;
export const DSHADOW_FLAGS = 2;
export const DSHADOW_WRITE_LEN = 4;
export const DSHADOW_SERIAL = 8;
export const DSHADOW_F_IN_FLIGHT = 1;
export const DSHADOW_F_RESUBMITTED = 2;
export const DSHADOW_F_PUSHING = 0x8000;
