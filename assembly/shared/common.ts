// Helpers every queue kind shares: control block checks, memory bounds, the event index rule.
import {
  CB_KIND, CB_STATUS, CB_DETAIL, CB_QUEUE_SIZE, CB_FEATURES_LO, CB_FEATURES_HI,
  QUEUE_CB_SIZE, QUEUE_CB_ALIGN,
} from "../layout/queue";
import { ERR_BAD_CONTROL_BLOCK, ERR_BAD_CONFIG } from "../layout/errors";
import { MAX_QUEUE_SIZE } from "../layout/split";
import { F_IN_ORDER } from "../layout/features";

/** Bytes of linear memory. u64 because 65536 pages (4 GiB) does not fit in u32. */
// @ts-ignore: decorator
@inline export function memoryBytes(): u64 {
  return (<u64>memory.size()) << 16;
}

/** True when [ptr, ptr + len) lies inside linear memory. */
// @ts-ignore: decorator
@inline export function inMemory(ptr: u32, len: u64): bool {
  return <u64>ptr + len <= memoryBytes();
}

/**
 * Checks that `cb` is a control block of `kind` and that the queue is not broken.
 * Returns 0, ERR_BAD_CONTROL_BLOCK, or the sticky status that broke the queue.
 */
export function enter(cb: u32, kind: i32): i32 {
  if ((cb & (QUEUE_CB_ALIGN - 1)) != 0 || cb == 0 || !inMemory(cb, QUEUE_CB_SIZE)) return ERR_BAD_CONTROL_BLOCK;
  if (load<i32>(cb + CB_KIND) != kind) return ERR_BAD_CONTROL_BLOCK;
  return load<i32>(cb + CB_STATUS);
}

/** Like `enter`, but a broken queue is fine (for teardown paths). */
export function enterAny(cb: u32, kind: i32): i32 {
  if ((cb & (QUEUE_CB_ALIGN - 1)) != 0 || cb == 0 || !inMemory(cb, QUEUE_CB_SIZE)) return ERR_BAD_CONTROL_BLOCK;
  if (load<i32>(cb + CB_KIND) != kind) return ERR_BAD_CONTROL_BLOCK;
  return 0;
}

/** Marks the queue broken with `code` (sticky until reset) and returns `code`. */
export function breakQueue(cb: u32, code: i32, detail: u32): i32 {
  store<i32>(cb + CB_STATUS, code);
  store<u32>(cb + CB_DETAIL, detail);
  return code;
}

/** Makes the queue healthy again (reset): no status, no detail. */
export function clearFault(cb: u32): void {
  store<i32>(cb + CB_STATUS, 0);
  store<u32>(cb + CB_DETAIL, 0);
}

/** Records `detail` for a caller error (the queue stays healthy) and returns `code`. */
export function refuse(cb: u32, code: i32, detail: u32): i32 {
  store<u32>(cb + CB_DETAIL, detail);
  return code;
}

/**
 * The end of a burst that took `got` entries and then stopped at `err` (0: it did not): a fault
 * breaks the queue (with `detail`), and the call still returns what it took before the fault;
 * only a burst that took nothing returns the fault itself. The next call reports it (sticky).
 */
// @ts-ignore: decorator
@inline export function endBurst(cb: u32, got: u32, err: i32, detail: u32): i32 {
  if (err != 0) {
    breakQueue(cb, err, detail);
    return got > 0 ? <i32>got : err;
  }
  return <i32>got;
}

// @ts-ignore: decorator
@inline export function queueSize(cb: u32): u32 {
  return load<u32>(cb + CB_QUEUE_SIZE);
}

/** Whether feature bit `bit` (0..63) was negotiated for this queue. */
// @ts-ignore: decorator
@inline export function hasFeature(cb: u32, bit: i32): bool {
  return bit < 32
    ? (load<u32>(cb + CB_FEATURES_LO) >>> bit) & 1 ? true : false
    : (load<u32>(cb + CB_FEATURES_HI) >>> (bit - 32)) & 1 ? true : false;
}

/**
 * The event index rule (2.7.7.2 and 2.7.10.2): having moved an index from `oldIdx` to `newIdx`,
 * notify the other side if the index it asked to hear about (`event`) was among the entries just
 * published, i.e. event lies in [oldIdx, newIdx) modulo 2^16.
 */
// @ts-ignore: decorator
@inline export function needEvent(event: u32, newIdx: u32, oldIdx: u32): bool {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

/** Queue Size is a power of two from 1 to 32768 (2.7). */
export function validQueueSize(q: u32): bool {
  return q >= 1 && q <= <u32>MAX_QUEUE_SIZE && (q & (q - 1)) == 0;
}

/** Checks a ring area: aligned to `align` and `size` bytes inside memory. */
export function checkArea(ptr: u32, align: u32, size: u64): i32 {
  if (ptr == 0 || (ptr & (align - 1)) != 0 || !inMemory(ptr, size)) return ERR_BAD_CONFIG;
  return 0;
}

/**
 * Reset check of a side's private per-entry state (driver or device shadow): `bytes` at `shadow`,
 * 4-aligned, inside memory. Returns 0, or ERR_BAD_CONFIG with CB_DETAIL = shadow.
 */
export function checkShadowArea(cb: u32, shadow: u32, bytes: u64): i32 {
  return checkArea(shadow, 4, bytes) != 0 ? refuse(cb, ERR_BAD_CONFIG, shadow) : 0;
}

/**
 * Reset check of the in-order FIFO (q u16 ids at the address in field `field` of the block),
 * needed only with IN_ORDER. Returns 0, or ERR_BAD_CONFIG with CB_DETAIL = 0.
 */
export function checkOrderArea(cb: u32, q: u32, field: u32): i32 {
  return hasFeature(cb, F_IN_ORDER) && checkArea(load<u32>(cb + field), 2, <u64>q * 2) != 0 ? refuse(cb, ERR_BAD_CONFIG, 0) : 0;
}
