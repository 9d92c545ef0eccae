// The packed ring's descriptor states and ring positions (VIRTIO 1.2, 2.8.1), as the reference
// model reads them: plain booleans and a (slot, wrapCounter) pair that walks forward.
//
// 2.8.1: the driver makes a descriptor available by setting its AVAIL bit to the Driver Ring
// Wrap Counter and its USED bit to the inverse; the device marks it used by setting both bits to
// the Device Ring Wrap Counter. Both counters start at 1 and flip each time the ring wraps.
import * as P from '../../assembly/layout/packed.js';

const bit = (flags: number, mask: number): number => ((flags & mask) !== 0 ? 1 : 0);

/** Available for a reader expecting wrap counter `wrapCounter`: AVAIL matches it, USED does not. */
export function isAvailable(flags: number, wrapCounter: number): boolean {
  return bit(flags, P.PDESC_F_AVAIL) === wrapCounter && bit(flags, P.PDESC_F_USED) !== wrapCounter;
}

/** Used, for a reader expecting wrap counter `wrapCounter`: AVAIL and USED both match it. */
export function isUsed(flags: number, wrapCounter: number): boolean {
  return bit(flags, P.PDESC_F_AVAIL) === wrapCounter && bit(flags, P.PDESC_F_USED) === wrapCounter;
}

/** AVAIL/USED bits the driver writes to make a descriptor available in a lap with `wrapCounter`. */
export function availableBits(wrapCounter: number): number {
  return (wrapCounter ? P.PDESC_F_AVAIL : 0) | (wrapCounter ? 0 : P.PDESC_F_USED);
}

/** AVAIL/USED bits the device writes to mark a descriptor used in a lap with `wrapCounter`. */
export function usedBits(wrapCounter: number): number {
  return wrapCounter ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0;
}

/** Packed queues hold 1 to 32768 descriptors, any number (2.8: "up to 2^15 entries"). */
export function validPackedQueueSize(q: number): boolean {
  return Number.isInteger(q) && q >= 1 && q <= P.PACKED_MAX_QUEUE_SIZE;
}

/** A place in the ring: a slot and the wrap counter of the lap it is in. */
export interface RingPosition {
  slot: number;
  wrapCounter: number;
}

/** The position `n` descriptors after `pos` in a ring of `q` slots: the counter flips at each wrap. */
export function advance(pos: RingPosition, n: number, q: number): RingPosition {
  let { slot, wrapCounter } = pos;
  for (let i = 0; i < n; i++) {
    slot++;
    if (slot === q) {
      slot = 0;
      wrapCounter ^= 1;
    }
  }
  return { slot, wrapCounter };
}
