// Ring of 32-bit handles (layout/handle-ring.ts): the header checks, ringInit, the counters, and
// the one place a multi-producer or multi-consumer call waits for another thread.
//
// Modes: the concurrency contract is in the export's name (ringEnqueueBulkSp, ...Mp, ...) rather
// than in a mode flag the engine reads on every call. The contract is a property of the callers,
// which the host knows when it builds its handle (src/dataplane/handle-ring.ts binds the exports
// once, from the ring's RING_F_* flags); a name keeps it visible at every call site and in stack
// traces, and costs no load or branch on the data path. The Sp/Sc variants skip the compare-and-swap and
// the wait; calling one while another thread uses the same side is a caller bug the engine cannot
// see (as in DPDK).
//
// Waiting (Mp enqueue, Mc dequeue): after reserving [head, next) with a compare-and-swap on the
// head, a call must publish its tail in order, so it waits until the tail reaches `head`, i.e.
// until every earlier reservation is published. The code between reserving and publishing makes
// no call and touches no memory it has not checked, so only a thread that is stopped there (a
// terminated worker, or one descheduled by the OS) can hold the others up. A descheduled thread
// comes back within milliseconds; a terminated one never does. So the wait is bounded: after
// RING_SPIN_LIMIT polls (default RING_DEFAULT_SPIN_LIMIT: a second or more) the waiter gives up,
// marks the ring broken (ERR_RING_STALLED, sticky until ringInit) and returns that code; every
// other waiter sees the status within RING_STATUS_POLL polls and returns too, and every later
// call fails fast. The ring is then unusable (some reserved entries will never be published),
// which is also true of DPDK's ring after a thread dies there; here nobody hangs. Hosts must
// stop workers with a flag, never Worker.terminate(), while they may be inside a ring call.
//
// Spin or sleep: DPDK spins, because its threads own their cores. Node workers do not: with more
// workers than cores, a spinning waiter burns its whole time slice while the thread it waits for
// sits descheduled, and since the waiter holds a reservation itself, the waits chain up (a
// convoy, as with any ticket lock). Measured here: 4 Mp/Mc workers on 2 cores took from 0.3 s to
// over a minute for the same work. So a ring can ask its waiters to sleep (RING_F_SLEEP): after
// RING_SPIN_BEFORE_SLEEP polls each further poll first waits on the tail for up to RING_SLEEP_NS
// (memory.atomic.wait32; publishers never notify, so the fast path stays a plain store), which
// hands the core to the descheduled thread. It is a flag rather than the rule because a wait
// traps on a browser's main thread. Wasm has no pause or yield instruction.
import {
  RING_KIND, RING_CAPACITY, RING_MASK, RING_FLAGS, RING_STATUS, RING_DETAIL, RING_START, RING_SPIN_LIMIT,
  RING_PROD_HEAD, RING_PROD_TAIL, RING_CONS_HEAD, RING_CONS_TAIL, RING_ENTRIES, RING_ENTRY_SIZE,
  RING_ALIGN, KIND_RING, RING_MAX_CAPACITY, RING_DEFAULT_SPIN_LIMIT, RING_STATUS_POLL, RING_F_SLEEP,
  RING_SPIN_BEFORE_SLEEP, RING_SLEEP_NS, RING_SLEEP_POLLS,
} from "../../layout/handle-ring";
import { ERR_BAD_CONTROL_BLOCK, ERR_BAD_CONFIG, ERR_RING_STALLED } from "../../layout/errors";
import { inMemory } from "../../shared/common";

/** Checks that `r` is a ring header; returns 0, ERR_BAD_CONTROL_BLOCK, or the sticky status. */
export function enterRing(r: u32): i32 {
  const rc = enterRingAny(r);
  // [A13] consume the status; pairs with [R13] in ringInit (healthy, and the indices it set) and
  // in waitTurn (broken).
  return rc != 0 ? rc : atomic.load<i32>(r + RING_STATUS);
}

/** Like enterRing, but a broken ring is fine (init and the counters). */
export function enterRingAny(r: u32): i32 {
  if ((r & (RING_ALIGN - 1)) != 0 || r == 0 || !inMemory(r, RING_ENTRIES)) return ERR_BAD_CONTROL_BLOCK;
  if (load<i32>(r + RING_KIND) != KIND_RING) return ERR_BAD_CONTROL_BLOCK;
  return 0;
}

/** Records `detail` for a caller error (the ring is unchanged) and returns `code`. */
export function refuseRing(r: u32, code: i32, detail: u32): i32 {
  store<u32>(r + RING_DETAIL, detail);
  return code;
}

/**
 * Checks the configuration the host wrote (kind, capacity) and empties the ring: all four
 * indices start at RING_START, status and detail are cleared. Nobody may use the ring meanwhile.
 * Returns 0, ERR_BAD_CONTROL_BLOCK or ERR_BAD_CONFIG.
 */
export function ringInit(r: u32): i32 {
  const rc = enterRingAny(r);
  if (rc != 0) return rc;
  const cap = load<u32>(r + RING_CAPACITY);
  if (cap == 0 || cap > <u32>RING_MAX_CAPACITY || (cap & (cap - 1)) != 0) return refuseRing(r, ERR_BAD_CONFIG, cap);
  if (!inMemory(r, <u64>RING_ENTRIES + <u64>cap * RING_ENTRY_SIZE)) return refuseRing(r, ERR_BAD_CONFIG, cap);
  const start = load<u32>(r + RING_START);
  store<u32>(r + RING_MASK, cap - 1);
  store<u32>(r + RING_DETAIL, 0);
  // The four indices go out with [R13] below (nobody may use the ring during an init).
  atomic.store<u32>(r + RING_PROD_HEAD, start);
  atomic.store<u32>(r + RING_CONS_HEAD, start);
  atomic.store<u32>(r + RING_CONS_TAIL, start);
  atomic.store<u32>(r + RING_PROD_TAIL, start);
  // [R13] publish the empty ring; pairs with [A13] in enterRing (a thread that sees status 0
  // after this sees the indices above).
  atomic.store<i32>(r + RING_STATUS, 0);
  return 0;
}

/**
 * Entries published and not yet released (prodTail - consTail, at most the capacity). A
 * snapshot: exact when no call is running on the ring. Works on a broken ring too.
 */
export function ringCount(r: u32): i32 {
  const rc = enterRingAny(r);
  if (rc != 0) return rc;
  return <i32>countOf(r);
}

/** Room left for enqueues: capacity - ringCount. A snapshot, like ringCount. */
export function ringFreeCount(r: u32): i32 {
  const rc = enterRingAny(r);
  if (rc != 0) return rc;
  return <i32>(load<u32>(r + RING_CAPACITY) - countOf(r));
}

// @ts-ignore: decorator
@inline export function countOf(r: u32): u32 {
  const cap = load<u32>(r + RING_CAPACITY);
  // [A12] consume consTail, then [A11] prodTail: pairs with [R12] in dequeue and [R11] in
  // enqueue (and mempoolInit's fill). In this order the tail read second is the newer one, so
  // the difference is never negative; it can exceed the capacity (the consumers moved on
  // meanwhile), hence the clamp.
  const consTail = atomic.load<u32>(r + RING_CONS_TAIL); // [A12]
  const n = atomic.load<u32>(r + RING_PROD_TAIL) - consTail; // [A11]
  return n > cap ? cap : n;
}

/**
 * Multi-producer/multi-consumer only: waits until the tail at `tailAt` reaches `turn` (every
 * earlier reservation on that side is published). Returns 0, ERR_RING_STALLED when this waiter
 * gives up after the spin limit, or the ring's status when it finds the ring broken meanwhile
 * (another waiter gave up). See the header comment.
 */
export function waitTurn(r: u32, tailAt: u32, turn: u32): i32 {
  let limit = <u64>load<u32>(r + RING_SPIN_LIMIT);
  if (limit == 0) limit = <u64>RING_DEFAULT_SPIN_LIMIT;
  const sleep = (load<u32>(r + RING_FLAGS) & RING_F_SLEEP) != 0;
  let polls: u64 = 0;
  // [A11] / [A12] consume the tail (prodTail for a producer, consTail for a consumer): pairs
  // with the earlier producer's [R11] (consumer's [R12]) store of the same tail.
  for (let tail = atomic.load<u32>(tailAt); tail != turn; tail = atomic.load<u32>(tailAt)) {
    polls++;
    let checkStatus = (polls & (RING_STATUS_POLL - 1)) == 0;
    if (sleep && polls > <u64>RING_SPIN_BEFORE_SLEEP) {
      // Returns at once if the tail moved meanwhile; otherwise sleeps (nobody notifies).
      atomic.wait<i32>(tailAt, <i32>tail, RING_SLEEP_NS);
      polls += RING_SLEEP_POLLS;
      checkStatus = true;
    }
    if (checkStatus) {
      const status = atomic.load<i32>(r + RING_STATUS); // [A13], as in enterRing
      if (status != 0) return status;
    }
    if (polls >= limit) {
      // [R13] publish the breakage; pairs with [A13] here and in enterRing.
      if (atomic.cmpxchg<i32>(r + RING_STATUS, 0, ERR_RING_STALLED) == 0) store<u32>(r + RING_DETAIL, turn);
      return ERR_RING_STALLED;
    }
  }
  return 0;
}

/** Copies n handles from `src` into the entries from index `idx` on (wrapping at the mask). */
// @ts-ignore: decorator
@inline export function copyIn(r: u32, idx: u32, src: u32, n: u32): void {
  const mask = load<u32>(r + RING_MASK);
  const at = idx & mask;
  const room = mask + 1 - at;
  const first = n < room ? n : room;
  const e = r + RING_ENTRIES;
  const to = e + (at << 2);
  for (let i: u32 = 0; i < first; i++) store<u32>(to + (i << 2), load<u32>(src + (i << 2)));
  for (let i = first; i < n; i++) store<u32>(e + ((i - first) << 2), load<u32>(src + (i << 2)));
}

/** Copies n handles from the entries from index `idx` on into `dst`. */
// @ts-ignore: decorator
@inline export function copyOut(r: u32, idx: u32, dst: u32, n: u32): void {
  const mask = load<u32>(r + RING_MASK);
  const at = idx & mask;
  const room = mask + 1 - at;
  const first = n < room ? n : room;
  const e = r + RING_ENTRIES;
  const from = e + (at << 2);
  for (let i: u32 = 0; i < first; i++) store<u32>(dst + (i << 2), load<u32>(from + (i << 2)));
  for (let i = first; i < n; i++) store<u32>(dst + (i << 2), load<u32>(e + ((i - first) << 2)));
}
