// What the split and packed devices do alike, apart from their private record of the buffers
// they hold (device-shadow.ts): the region fields both blocks hold at the same offsets (DEV_*),
// and the end of a pop burst.
import {
  CB_DETAIL, DEV_REGIONS, DEV_NUM_REGIONS, DEV_LAST_REGION, DEV_MAX_CHAIN, DEV_POP_SERIAL,
} from "../layout/queue";
import { ERR_BAD_CONFIG, ERR_SEGMENTS_FULL, ERR_IOTLB_MISS, ERR_BUFFER_NOT_IN_REGIONS } from "../layout/errors";
import { CB_OPTIONS, CB_OPT_IOTLB, MAX_REGIONS, MAX_IOTLB_REGIONS } from "../layout/queue";
import { refuse, endBurst, clearFault } from "./common";
import { regionsCheck } from "./regions";
import { clearShadow } from "./device-shadow";

/** How many entries the device's region table may hold: MAX_IOTLB_REGIONS with CB_OPT_IOTLB, else MAX_REGIONS. */
// @ts-ignore: decorator
@inline function maxRegions(cb: u32): u32 {
  return (load<u32>(cb + CB_OPTIONS) & CB_OPT_IOTLB) != 0 ? <u32>MAX_IOTLB_REGIONS : <u32>MAX_REGIONS;
}

/** Reset check of the region table the host left in the block. Returns 0, or ERR_BAD_CONFIG (detail 0). */
export function checkDeviceRegions(cb: u32): i32 {
  return regionsCheck(load<u32>(cb + DEV_REGIONS), load<u32>(cb + DEV_NUM_REGIONS), maxRegions(cb)) != 0 ? refuse(cb, ERR_BAD_CONFIG, 0) : 0;
}

/**
 * The part of a device reset both layouts share, once every check has passed: the longest
 * chain accepted is at most Queue Size (0 means Queue Size), no region hint, pop serials from 0,
 * no buffer held (the `q` shadow entries at `shadow`), no fault.
 */
export function clearDeviceState(cb: u32, q: u32, shadow: u32): void {
  const maxChain = load<u32>(cb + DEV_MAX_CHAIN);
  if (maxChain == 0 || maxChain > q) store<u32>(cb + DEV_MAX_CHAIN, q);
  store<u32>(cb + DEV_LAST_REGION, 0);
  store<u32>(cb + DEV_POP_SERIAL, 0);
  clearShadow(shadow, q);
  clearFault(cb);
}

/**
 * Replaces the region table (the host changed it while the queue is stopped: vhost-user
 * SET_MEM_TABLE). A bad table marks nothing broken: it is refused (ERR_BAD_CONFIG, detail n) and
 * the old one stays.
 */
export function setRegions(cb: u32, table: u32, n: u32): i32 {
  if (regionsCheck(table, n, maxRegions(cb)) != 0) return refuse(cb, ERR_BAD_CONFIG, n);
  store<u32>(cb + DEV_REGIONS, table);
  store<u32>(cb + DEV_NUM_REGIONS, n);
  store<u32>(cb + DEV_LAST_REGION, 0);
  return 0;
}

/**
 * The end of a pop that took `got` chains and stopped at `err` (0: it did not; CB_DETAIL holds
 * the fault's detail). ERR_SEGMENTS_FULL is the caller's limit, not the driver's fault, and with
 * CB_OPT_IOTLB a buffer outside the region table is an IOTLB miss (ERR_IOTLB_MISS): the queue
 * stays healthy, the chain it stopped at was not taken, and the call returns what it took, or
 * the refusal when that is nothing. Any other error is the driver's and breaks the queue
 * (endBurst).
 */
// @ts-ignore: decorator
@inline export function endPop(cb: u32, got: u32, err: i32): i32 {
  if (err == ERR_BUFFER_NOT_IN_REGIONS && (load<u32>(cb + CB_OPTIONS) & CB_OPT_IOTLB) != 0) err = ERR_IOTLB_MISS;
  if (err == ERR_SEGMENTS_FULL || err == ERR_IOTLB_MISS) return got > 0 ? <i32>got : refuse(cb, err, load<u32>(cb + CB_DETAIL));
  return endBurst(cb, got, err, load<u32>(cb + CB_DETAIL));
}
