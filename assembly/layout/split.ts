// Split virtqueue memory layout (VIRTIO 1.2, section 2.7). Little-endian, as the spec requires
// for non-legacy devices; WebAssembly is little-endian too, so no byte swapping anywhere.
// Shared by AssemblyScript and TypeScript: integer constants only.
//
// Descriptor table: Queue Size entries, 16-byte aligned (2.7, alignment table).
//
//   0       8       12      14      16
//   +-------+-------+-------+-------+
//   | addr  | len   | flags | next  |   struct virtq_desc
//   | u64   | u32   | u16   | u16   |
//   +-------+-------+-------+-------+
export const DESC_SIZE = 16;
export const DESC_ADDR = 0;
export const DESC_LEN = 8;
export const DESC_FLAGS = 12;
export const DESC_NEXT = 14;
export const DESC_ALIGN = 16;

/** The buffer continues in the descriptor named by `next`. */
export const DESC_F_NEXT = 1;
/** The buffer is device-writable (otherwise device-readable). */
export const DESC_F_WRITE = 2;
/** The buffer holds a table of descriptors (VIRTIO_F_INDIRECT_DESC). */
export const DESC_F_INDIRECT = 4;

// Available ring (driver area), 2-byte aligned, 6 + 2 * Queue Size bytes.
//
//   0       2       4                     4+2N
//   +-------+-------+---------------------+------------+
//   | flags | idx   | ring[N]: head u16   | used_event |
//   +-------+-------+---------------------+------------+
export const AVAIL_FLAGS = 0;
export const AVAIL_IDX = 2;
export const AVAIL_RING = 4;
export const AVAIL_ELEM_SIZE = 2;
/** used_event follows ring[N]: AVAIL_RING + N * AVAIL_ELEM_SIZE. */
export const AVAIL_TRAILER = 2;
export const AVAIL_ALIGN = 2;
/** avail.flags bit: the driver asks for no used buffer notifications (2.7.7). */
export const AVAIL_F_NO_INTERRUPT = 1;

// Used ring (device area), 4-byte aligned, 6 + 8 * Queue Size bytes.
//
//   0       2       4                                  4+8N
//   +-------+-------+----------------------------------+-------------+
//   | flags | idx   | ring[N]: { id u32, len u32 }     | avail_event |
//   +-------+-------+----------------------------------+-------------+
export const USED_FLAGS = 0;
export const USED_IDX = 2;
export const USED_RING = 4;
export const USED_ELEM_SIZE = 8;
export const USED_ELEM_ID = 0;
export const USED_ELEM_LEN = 4;
/** avail_event follows ring[N]: USED_RING + N * USED_ELEM_SIZE. */
export const USED_TRAILER = 2;
export const USED_ALIGN = 4;
/** used.flags bit: the device asks for no available buffer notifications (2.7.10). */
export const USED_F_NO_NOTIFY = 1;

/** Queue sizes are powers of two up to 32768 (2.7). */
export const MAX_QUEUE_SIZE = 32768;
