// Event suppression on the packed ring (VIRTIO 1.2, 2.8.10 and 2.8.14): each side publishes a
// 4-byte structure telling the other when it wants to be notified.
//
//   desc  (le16): desc_event_off (15 bits) | desc_event_wrap (bit 15)
//   flags (le16): desc_event_flags (2 bits): ENABLE 0, DISABLE 1, DESC 2 (only with EVENT_IDX)
//
// The driver area holds the driver's structure (used buffer notifications), the device area the
// device's (available buffer notifications).
import * as P from '../../assembly/layout/packed.js';
import type { RingPosition } from './packed-ring.js';

export interface EventSuppression {
  /** desc_event_off and desc_event_wrap, packed as in memory. */
  offWrap: number;
  /** desc_event_flags: the low two bits of the flags field; the rest is reserved. */
  flags: number;
}

export function readEvent(view: DataView, area: number): EventSuppression {
  return {
    offWrap: view.getUint16(area + P.EVENT_OFF_WRAP, true),
    flags: view.getUint16(area + P.EVENT_FLAGS, true) & 3,
  };
}

/**
 * Writes a side's structure: notifications wanted or not and, with them, the ring position the
 * side will look at next (DESC when VIRTIO_F_EVENT_IDX was negotiated, else ENABLE).
 */
export function writeEvent(view: DataView, area: number, want: boolean, eventIdx: boolean, next: RingPosition): void {
  const flags = !want ? P.RING_EVENT_FLAGS_DISABLE : eventIdx ? P.RING_EVENT_FLAGS_DESC : P.RING_EVENT_FLAGS_ENABLE;
  view.setUint16(area + P.EVENT_OFF_WRAP, next.slot | (next.wrapCounter << P.EVENT_WRAP_SHIFT), true);
  view.setUint16(area + P.EVENT_FLAGS, flags, true);
}

/**
 * Whether a side that just moved `count` descriptors forward, ending at `next`, passed the
 * descriptor the other side named in `offWrap` (2.8.10: "notify when the descriptor at this
 * offset and wrap counter is made available / used").
 *
 * The `count` positions just passed are the ones before `next`. Put them on one line with the
 * current lap at 0..q-1 and the previous lap at -q..-1; the named descriptor sits at its offset
 * when its wrap counter is the current one, in the previous lap otherwise. A whole lap or more
 * passes every descriptor.
 */
export function passedEvent(offWrap: number, next: RingPosition, count: number, q: number): boolean {
  if (count >= q) return true;
  const offset = offWrap & 0x7fff;
  const wrap = offWrap >>> P.EVENT_WRAP_SHIFT;
  const event = wrap === next.wrapCounter ? offset : offset - q;
  return next.slot - count <= event && event < next.slot;
}
