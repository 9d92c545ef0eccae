// The device's private record of what it has popped and not yet returned, one entry per buffer
// id (packed) or chain head (split), in the format of layout/queue.ts DSHADOW_*. With it the
// device refuses a driver that offers a buffer twice, and a caller that returns one twice; with
// IN_ORDER a FIFO of popped ids also checks that buffers are returned in the order they came;
// each entry's pop serial lets unpop take back only the chains popped last.
import {
  DSHADOW_SIZE, DSHADOW_NDESC, DSHADOW_FLAGS, DSHADOW_WRITE_LEN, DSHADOW_SERIAL,
  DSHADOW_F_IN_FLIGHT, DSHADOW_F_PUSHING,
} from "../layout/queue";
import { USED_REC_ID, CHAIN_SIZE, CHAIN_ID } from "../layout/batch";
import { orderSlot } from "./order";

// @ts-ignore: decorator
@inline export function inFlight(shadow: u32, id: u32): bool {
  return (load<u16>(shadow + id * DSHADOW_SIZE + DSHADOW_FLAGS) & DSHADOW_F_IN_FLIGHT) != 0;
}

/** Records id as popped: the ring slots it took, its writable capacity and its pop serial. */
// @ts-ignore: decorator
@inline export function markPopped(shadow: u32, id: u32, nDesc: u32, writeLen: u32, serial: u32): void {
  const e = shadow + id * DSHADOW_SIZE;
  store<u16>(e + DSHADOW_NDESC, nDesc);
  store<u16>(e + DSHADOW_FLAGS, DSHADOW_F_IN_FLIGHT);
  store<u32>(e + DSHADOW_WRITE_LEN, writeLen);
  store<u32>(e + DSHADOW_SERIAL, serial);
}

/**
 * Unpop's own rule: the `n` chain records at `chains` are the last n chains popped, in pop order
 * (their serials are nextSerial - n .. nextSerial - 1, modulo 2^32). Without it a caller could
 * give back a chain popped before others it had already pushed: the ring position would move
 * back over those instead, so one of them would be popped again and the chain given back never
 * would. Returns -1 when they are, else the index of the first record that is not (ids below q
 * only; checkUsedRecords checks the rest).
 */
export function checkLastPopped(shadow: u32, q: u32, chains: u32, n: u32, nextSerial: u32): i32 {
  for (let i: u32 = 0; i < n; i++) {
    const id = load<u32>(chains + i * CHAIN_SIZE + CHAIN_ID);
    if (id >= q || load<u32>(shadow + id * DSHADOW_SIZE + DSHADOW_SERIAL) != nextSerial - n + i) return <i32>i;
  }
  return -1;
}

export function clearShadow(shadow: u32, q: u32): void {
  for (let i: u32 = 0; i < q; i++) store<u16>(shadow + i * DSHADOW_SIZE + DSHADOW_FLAGS, 0);
}

/**
 * Checks `n` used records before anything is written: every id below q, popped and not yet
 * returned, named once in the burst, and with `inOrder` in pop order (the FIFO at `order`,
 * oldest at `orderHead`). Returns -1 when all are good, else the index of the first bad record
 * (and leaves every entry as it was). Records are `stride` bytes apart with the id first: used
 * records (push), or chain records (unpop: the same checks for buffers given back unused).
 */
export function checkUsedRecords(shadow: u32, q: u32, elems: u32, n: u32, inOrder: bool, order: u32, orderHead: u32, stride: u32): i32 {
  let bad: i32 = -1;
  let i: u32 = 0;
  for (; i < n; i++) {
    const id = load<u32>(elems + i * stride + USED_REC_ID);
    if (id >= q) { bad = <i32>i; break; }
    const a = shadow + id * DSHADOW_SIZE + DSHADOW_FLAGS;
    const f = <u32>load<u16>(a);
    // PUSHING marks the ids already seen in this burst, so a second record for one fails.
    if ((f & DSHADOW_F_IN_FLIGHT) == 0 || (f & DSHADOW_F_PUSHING) != 0) { bad = <i32>i; break; }
    if (inOrder && <u32>load<u16>(orderSlot(order, q, orderHead + i)) != id) { bad = <i32>i; break; }
    store<u16>(a, f | DSHADOW_F_PUSHING);
  }
  // Undo the marks (on success the caller clears the whole entry as it writes each record).
  if (bad >= 0) {
    for (let j: u32 = 0; j < i; j++) {
      const a = shadow + load<u32>(elems + j * stride + USED_REC_ID) * DSHADOW_SIZE + DSHADOW_FLAGS;
      store<u16>(a, load<u16>(a) & ~DSHADOW_F_PUSHING);
    }
  }
  return bad;
}
