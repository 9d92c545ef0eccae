// Packed virtqueue memory layout (VIRTIO 1.2, section 2.8). Little-endian.
// Shared by AssemblyScript and TypeScript: integer constants only.
//
// Descriptor ring: Queue Size entries (up to 32768, not necessarily a power of two), 16-byte
// aligned, zero-initialised. Driver and device both write it.
//
//   0       8       12      14      16
//   +-------+-------+-------+-------+
//   | addr  | len   | id    | flags |   struct pvirtq_desc
//   | u64   | u32   | u16   | u16   |
//   +-------+-------+-------+-------+
export const PDESC_SIZE = 16;
export const PDESC_ADDR = 0;
export const PDESC_LEN = 8;
export const PDESC_ID = 12;
export const PDESC_FLAGS = 14;
export const PDESC_ALIGN = 16;

// Flags. NEXT, WRITE and INDIRECT have the split ring's values.
export const PDESC_F_NEXT = 1;
export const PDESC_F_WRITE = 2;
export const PDESC_F_INDIRECT = 4;
/** Set to the Driver Ring Wrap Counter when the driver makes a descriptor available (2.8.1). */
export const PDESC_F_AVAIL = 0x80;
/** Set to the Device Ring Wrap Counter (and AVAIL to the same) when the device uses it (2.8.1). */
export const PDESC_F_USED = 0x8000;

// Event suppression structure (driver area and device area), 4 bytes, 4-byte aligned.
//
//   0                         2                  4
//   +-------------------------+------------------+
//   | desc: off:15 | wrap:1   | flags:2 | rsvd   |
//   +-------------------------+------------------+
export const EVENT_OFF_WRAP = 0;
export const EVENT_FLAGS = 2;
export const EVENT_SIZE = 4;
export const EVENT_ALIGN = 4;
/** Bit of off_wrap holding the wrap counter; the low 15 bits are the descriptor offset. */
export const EVENT_WRAP_SHIFT = 15;
export const RING_EVENT_FLAGS_ENABLE = 0;
export const RING_EVENT_FLAGS_DISABLE = 1;
/** Only with VIRTIO_F_EVENT_IDX: notify when the descriptor at off_wrap is made available/used. */
export const RING_EVENT_FLAGS_DESC = 2;

export const PACKED_MAX_QUEUE_SIZE = 32768;
