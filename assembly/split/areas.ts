// The three areas of a split virtqueue as both sides see them (VIRTIO 1.2, 2.7): their sizes and
// alignments, checked by either side's reset, and the two event index fields that sit just past
// the rings (2.7.7 and 2.7.10). The driver writes used_event and reads avail_event; the device
// the other way round.
import { CB_DESC, CB_DRIVER_AREA, CB_DEVICE_AREA } from "../layout/queue";
import {
  DESC_SIZE, DESC_ALIGN, AVAIL_RING, AVAIL_ELEM_SIZE, AVAIL_TRAILER, AVAIL_ALIGN, USED_RING,
  USED_ELEM_SIZE, USED_TRAILER, USED_ALIGN,
} from "../layout/split";
import { ERR_BAD_CONFIG } from "../layout/errors";
import { refuse, checkArea } from "../shared/common";

/** used_event: after the available ring's q entries; the driver asks for used buffer notifications there. */
// @ts-ignore: decorator
@inline export function usedEventAddr(cb: u32, q: u32): u32 {
  return load<u32>(cb + CB_DRIVER_AREA) + AVAIL_RING + q * AVAIL_ELEM_SIZE;
}

/** avail_event: after the used ring's q entries; the device asks for kicks there. */
// @ts-ignore: decorator
@inline export function availEventAddr(cb: u32, q: u32): u32 {
  return load<u32>(cb + CB_DEVICE_AREA) + USED_RING + q * USED_ELEM_SIZE;
}

/**
 * Checks the descriptor table, the available ring and the used ring of a queue of `q` entries:
 * each aligned and inside memory, trailer included. Returns 0, or ERR_BAD_CONFIG with CB_DETAIL
 * set to the first bad area's address.
 */
export function checkSplitAreas(cb: u32, q: u32): i32 {
  const desc = load<u32>(cb + CB_DESC);
  const avail = load<u32>(cb + CB_DRIVER_AREA);
  const used = load<u32>(cb + CB_DEVICE_AREA);
  if (checkArea(desc, DESC_ALIGN, <u64>q * DESC_SIZE) != 0) return refuse(cb, ERR_BAD_CONFIG, desc);
  if (checkArea(avail, AVAIL_ALIGN, <u64>q * AVAIL_ELEM_SIZE + AVAIL_RING + AVAIL_TRAILER) != 0) return refuse(cb, ERR_BAD_CONFIG, avail);
  if (checkArea(used, USED_ALIGN, <u64>q * USED_ELEM_SIZE + USED_RING + USED_TRAILER) != 0) return refuse(cb, ERR_BAD_CONFIG, used);
  return 0;
}
