// What the split and packed devices do alike, apart from their private record of the buffers
// they hold (device-shadow.ts): the end of a pop burst.
import { CB_DETAIL } from "../layout/queue";
import { ERR_SEGMENTS_FULL } from "../layout/errors";
import { refuse, endBurst } from "./common";

/**
 * The end of a pop that took `got` chains and stopped at `err` (0: it did not; CB_DETAIL holds
 * the fault's detail). ERR_SEGMENTS_FULL is the caller's limit, not the driver's fault: the
 * queue stays healthy and the call returns what it took, or the refusal when that is nothing.
 * Any other error is the driver's and breaks the queue (endBurst).
 */
// @ts-ignore: decorator
@inline export function endPop(cb: u32, got: u32, err: i32): i32 {
  if (err == ERR_SEGMENTS_FULL) return got > 0 ? <i32>got : refuse(cb, err, load<u32>(cb + CB_DETAIL));
  return endBurst(cb, got, err, load<u32>(cb + CB_DETAIL));
}
