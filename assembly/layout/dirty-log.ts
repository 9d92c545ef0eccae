// Dirty-page logging for live migration (vhost-user.rst "Migration"; VHOST_F_LOG_ALL,
// PROTOCOL_F_LOG_SHMFD, SET_LOG_BASE, VHOST_VRING_F_LOG in SET_VRING_ADDR). While the front-end
// migrates, every write the device makes to guest memory marks the pages it touched in a bitmap
// the front-end shares: one bit per LOG_PAGE bytes of guest physical address space, page p at
// bit p % 8 of byte p / 8 (the same bits as QEMU's u64 chunks on a little-endian host, and as
// DPDK's vhost_log_page). Bits are set with atomic ORs (the front-end clears them as it syncs).
// Integer constants only (compiled by AssemblyScript and TypeScript).
//
// A device block (layout/queue.ts DEV_LOG) points at a log block, LOG_*, 16 bytes, 8-aligned,
// which the host writes before the reset and does not change while the queue runs:
//
//   0             4             8                          16
//   +-------------+-------------+--------------------------+
//   | BITMAP      | SIZE        | USED_GPA u64             |
//   +-------------+-------------+--------------------------+
//   LOG_BITMAP    Wasm offset of the bitmap (the log fd mapped at its mmap_offset)
//   LOG_SIZE      bytes of bitmap the front-end declared (mmap_size): no bit at or past
//                 LOG_SIZE * 8 is ever written, whatever address the guest's chains name
//   LOG_USED_GPA  split rings: the log address SET_VRING_ADDR gave (log_guest_addr, the used
//                 ring's guest physical address); used ring writes are logged there. Packed
//                 rings log their descriptor write-backs and device area through the region
//                 table, as buffer writes are.
export const LOG_BITMAP = 0;
export const LOG_SIZE = 4;
export const LOG_USED_GPA = 8;
export const LOG_BLOCK_SIZE = 16;
export const LOG_BLOCK_ALIGN = 8;
/** VHOST_LOG_PAGE: bytes of guest memory per bit. */
export const LOG_PAGE = 4096;
export const LOG_PAGE_SHIFT = 12;
