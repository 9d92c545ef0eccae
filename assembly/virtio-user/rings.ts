// The two driver rings of a virtio-user queue pair (layout/virtio-user.ts), either layout: the
// block's control blocks say which (CB_KIND), and these calls go to the split or packed driver.
import { CB_KIND, CB_KIND_SPLIT_DRIVER, SDRV_NUM_FREE, PDRV_NUM_FREE } from "../layout/queue";
import { splitDriverAddPrechecked, splitDriverCollect, splitDriverKickNeeded, splitDriverReap } from "../split/driver";
import { packedDriverAddPrechecked, packedDriverCollect, packedDriverKickNeeded } from "../packed/driver";

// @ts-ignore: decorator
@inline function isSplit(cb: u32): bool {
  return load<i32>(cb + CB_KIND) == CB_KIND_SPLIT_DRIVER;
}

/** Free descriptors of the ring. */
// @ts-ignore: decorator
@inline export function numFree(cb: u32): u32 {
  return load<u32>(cb + (isSplit(cb) ? SDRV_NUM_FREE : PDRV_NUM_FREE));
}

/**
 * Adds the port's own chain records (built by tx.ts and refill.ts from frames and buffers they
 * checked, so the driver's check pass is skipped).
 */
export function driverAdd(cb: u32, chains: u32, segs: u32, n: u32): i32 {
  return isSplit(cb) ? splitDriverAddPrechecked(cb, chains, segs, n) : packedDriverAddPrechecked(cb, chains, segs, n);
}

export function driverCollect(cb: u32, out: u32, max: u32): i32 {
  return isSplit(cb) ? splitDriverCollect(cb, out, max) : packedDriverCollect(cb, out, max);
}

/**
 * Used chains whose lengths do not matter (transmit): a split ring with IN_ORDER counts them by
 * used.idx alone and leaves the used elements unread (splitDriverReap); otherwise a collect.
 */
export function driverReap(cb: u32, out: u32, max: u32): i32 {
  return isSplit(cb) ? splitDriverReap(cb, out, max) : packedDriverCollect(cb, out, max);
}

export function driverKickNeeded(cb: u32): i32 {
  return isSplit(cb) ? splitDriverKickNeeded(cb) : packedDriverKickNeeded(cb);
}
