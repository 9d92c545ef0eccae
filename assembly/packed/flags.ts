// Descriptor state in a packed ring (VIRTIO 1.2, 2.8.1): a descriptor is available when its
// AVAIL bit matches the wrap counter and its USED bit does not; used when both match.
import { PDESC_F_AVAIL, PDESC_F_USED, PACKED_MAX_QUEUE_SIZE } from "../layout/packed";

// @ts-ignore: decorator
@inline export function isAvailable(flags: u32, wrap: u32): bool {
  const a: u32 = (flags & PDESC_F_AVAIL) != 0 ? 1 : 0;
  const u: u32 = (flags & PDESC_F_USED) != 0 ? 1 : 0;
  return a == wrap && u != wrap;
}

// @ts-ignore: decorator
@inline export function isUsed(flags: u32, wrap: u32): bool {
  const a: u32 = (flags & PDESC_F_AVAIL) != 0 ? 1 : 0;
  const u: u32 = (flags & PDESC_F_USED) != 0 ? 1 : 0;
  return a == wrap && u == wrap;
}

/** AVAIL/USED bits of a descriptor the driver makes available with wrap counter `wrap`. */
// @ts-ignore: decorator
@inline export function availableBits(wrap: u32): u32 {
  return wrap != 0 ? PDESC_F_AVAIL : PDESC_F_USED;
}

/** AVAIL/USED bits of a descriptor the device marks used with wrap counter `wrap`. */
// @ts-ignore: decorator
@inline export function usedBits(wrap: u32): u32 {
  return wrap != 0 ? PDESC_F_AVAIL | PDESC_F_USED : 0;
}

/** Packed queues hold 1 to 32768 descriptors, any number (2.8: "up to 2^15 entries"). */
export function validPackedQueueSize(q: u32): bool {
  return q >= 1 && q <= <u32>PACKED_MAX_QUEUE_SIZE;
}

/**
 * The packed event index rule: the other side asked (off_wrap) to hear when the descriptor at
 * that ring offset and wrap is made available/used. We moved from `count` descriptors before
 * `next` (with wrap counter `wrap`) to `next`. An event offset from the previous lap is moved
 * back by q so both live on one line, then the split ring's rule applies modulo 2^16.
 */
export function packedNeedEvent(offWrap: u32, next: u32, wrap: u32, count: u32, q: u32): bool {
  if (count >= q) return true;
  let event = offWrap & 0x7fff;
  if ((offWrap >>> 15) != wrap) event -= q;
  const oldPos = next - count;
  return ((next - event - 1) & 0xffff) < ((next - oldPos) & 0xffff);
}
