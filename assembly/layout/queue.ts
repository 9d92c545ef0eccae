// Control blocks: all per-queue state of the engine lives here, in shared memory, never in Wasm
// globals. The host reserves a block (QUEUE_CB_SIZE bytes, QUEUE_CB_ALIGN-aligned), writes the
// configuration fields, and calls the matching `*Reset` export, which checks them and initialises
// the rest. Every other export takes the block's address.
//
// A block belongs to exactly one side of one queue and is touched by one thread at a time
// (the thread that runs that side). The rings themselves are the only memory both sides share.
//
// Common header (all kinds):
//
//   0        4        8        12       16       20       24       28       32       36
//   +--------+--------+--------+--------+--------+--------+--------+--------+--------+
//   | kind   | qsize  | featLo | featHi | status | detail | desc   | driver | device |
//   +--------+--------+--------+--------+--------+--------+--------+--------+--------+
//   kind    CB_KIND_*: checked by every export, so a wrong address fails cleanly
//   qsize   Queue Size (power of two, 1..32768)
//   featLo/featHi  negotiated feature bits 0..31 / 32..63 (see features.ts)
//   status  0 while healthy; otherwise the ERR_* code that broke the queue (sticky until reset)
//   detail  a number that locates the fault (ring index, descriptor index, id ...)
//   desc    Wasm offset of the descriptor area (split: descriptor table)
//   driver  Wasm offset of the driver area (split: available ring)
//   device  Wasm offset of the device area (split: used ring)
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

export const QUEUE_CB_SIZE = 128;
export const QUEUE_CB_ALIGN = 64;

// Split driver block, after the common header:
//
//   40 freeHead    first free descriptor (NONE_16 when none)
//   44 numFree     free descriptors
//   48 availIdx    next value of avail.idx to publish (free-running, low 16 bits meaningful)
//   52 kickIdx     avail.idx when the driver last decided whether to notify (event index "old")
//   56 lastUsed    next used ring index to collect (free-running)
//   60 inFlight    chains made available and not collected yet
//   64 shadow      Wasm offset of the private per-descriptor state (qsize * SHADOW_SIZE bytes)
//   68 indirect    Wasm offset of the indirect tables (qsize * indMax * DESC_SIZE bytes), 0 = none
//   72 indMax      descriptors per indirect table
//   76 freeTail    last free descriptor (IN_ORDER: used chains go to the tail, keeping ring order)
//   80 oldest      head of the oldest chain in flight (IN_ORDER)
export const DRV_FREE_HEAD = 40;
export const DRV_NUM_FREE = 44;
export const DRV_AVAIL_IDX = 48;
export const DRV_KICK_IDX = 52;
export const DRV_LAST_USED = 56;
export const DRV_IN_FLIGHT = 60;
export const DRV_SHADOW = 64;
export const DRV_INDIRECT = 68;
export const DRV_INDIRECT_MAX = 72;
export const DRV_FREE_TAIL = 76;
export const DRV_OLDEST = 80;

// Driver shadow entry, one per descriptor, private to the driver (the device never sees it, so a
// device scribbling on the descriptor table cannot corrupt the driver's free list):
//
//   0        4        8      10     12     14     16
//   +--------+--------+------+------+------+------+
//   | token  | wrLen  | next | nDesc| tail | flags|
//   +--------+--------+------+------+------+------+
//   token  the caller's cookie for the chain headed here, returned when it is used
//   wrLen  device-writable capacity of the chain: a used length above it is rejected
//   next   free list / chain link (what the driver wrote in desc.next)
//   nDesc  ring descriptors the chain holds (1 when indirect)
//   tail   last descriptor of the chain, so freeing it is O(1)
//   flags  SHADOW_F_*
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

// Split device block, after the common header:
//
//   40 lastAvail   next available ring index to read (free-running)
//   44 usedIdx     next value of used.idx to publish (free-running)
//   48 signalIdx   used.idx when the device last decided whether to interrupt (event index "old")
//   52 inFlight    chains popped and not pushed back yet
//   56 regions     Wasm offset of the region table
//   60 nRegions    entries in the region table
//   64 lastRegion  index of the region that translated the last address (a hint only)
//   68 maxChain    longest chain accepted, in descriptors (0 = Queue Size)
//   72 shadow      Wasm offset of per-head state (qsize * PDEV_SHADOW_SIZE bytes, the packed
//                  device's entry format): which heads are in flight, their writable capacity
//   76 order       Wasm offset of the FIFO of popped heads (qsize u16), IN_ORDER only
//   80 orderHead   FIFO slot of the oldest popped head
export const DEV_LAST_AVAIL = 40;
export const DEV_USED_IDX = 44;
export const DEV_SIGNAL_IDX = 48;
export const DEV_IN_FLIGHT = 52;
export const DEV_REGIONS = 56;
export const DEV_NUM_REGIONS = 60;
export const DEV_LAST_REGION = 64;
export const DEV_MAX_CHAIN = 68;
export const DEV_SHADOW = 72;
export const DEV_ORDER = 76;
export const DEV_ORDER_HEAD = 80;

// Region table entry: guest address range [gpa, gpa + size) is at Wasm offset `offset`.
//
//   0                8                16       20       24
//   +----------------+----------------+--------+--------+
//   | gpa u64        | size u64       | offset | pad    |
//   +----------------+----------------+--------+--------+
export const REGION_SIZE = 24;
export const REGION_GPA = 0;
export const REGION_LEN = 8;
export const REGION_OFFSET = 16;
/** vhost-user allows 8 regions by default and more with CONFIGURE_MEM_SLOTS; we cap the table. */
export const MAX_REGIONS = 64;

// Packed driver block (packed/driver.ts), after the common header. The shadow entries are per
// buffer id (SHADOW_NEXT links the free id list; SHADOW_NDESC is what the device skips).
//
//   40 nextAvail   ring slot the next descriptor goes to
//   44 availWrap   Driver Ring Wrap Counter (2.8.1), starts at 1
//   48 nextUsed    ring slot where the next used descriptor will appear
//   52 usedWrap    wrap counter that used descriptor will carry
//   56 numFree     free ring slots
//   60 freeId      first free buffer id (NONE_16 when none)
//   64 inFlight    buffers made available and not collected
//   68 shadow      Wasm offset of per-id state (qsize * SHADOW_SIZE bytes)
//   72 indirect    Wasm offset of indirect tables (qsize * indMax * PDESC_SIZE), 0 = none
//   76 indMax      descriptors per indirect table
//   80 added       descriptors made available since the last kick decision
//   84 order       Wasm offset of the in-order FIFO of buffer ids (qsize u16), IN_ORDER only
//   88 orderHead   FIFO slot of the oldest buffer in flight
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

// Packed device block (packed/device.ts), after the common header. Region fields sit at the
// same offsets as the split device's (DEV_REGIONS .. DEV_MAX_CHAIN), so shared/regions.ts serves both.
//
//   40 nextAvail   ring slot where the next available descriptor is expected
//   44 availWrap   wrap counter it must carry
//   48 nextUsed    ring slot the next used descriptor goes to
//   52 usedWrap    Device Ring Wrap Counter (2.8.1), starts at 1
//   56..71         regions, nRegions, lastRegion, maxChain (as DEV_*)
//   72 inFlight    buffers popped and not pushed back
//   76 inFlightDescs  ring slots those buffers hold
//   80 shadow      Wasm offset of per-id state (qsize * PDEV_SHADOW_SIZE bytes)
//   84 signalled   used descriptors written since the last interrupt decision
//   88 order       Wasm offset of the in-order FIFO of popped ids (qsize u16), IN_ORDER only
//   92 orderHead   FIFO slot of the oldest popped buffer
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

// Device shadow entry, per buffer id (packed) or per head (split):
//   0 nDesc u16   ring slots the buffer took (what to skip when it is used)
//   2 flags u16   PDEV_F_IN_FLIGHT, PDEV_F_PUSHING (transient, while a push checks its records)
//   4 wrLen u32   writable capacity (in-order: a used length equal to it may be coalesced)
export const PDEV_SHADOW_SIZE = 8;
export const PDEV_SHADOW_NDESC = 0;
export const PDEV_SHADOW_FLAGS = 2;
export const PDEV_SHADOW_WRITE_LEN = 4;
export const PDEV_F_IN_FLIGHT = 1;
export const PDEV_F_PUSHING = 0x8000;
