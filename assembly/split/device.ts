// Split virtqueue, device side (VIRTIO 1.2, 2.7: the device reads the descriptor table and the
// available ring, and writes the used ring).
//
// Nothing the driver wrote is trusted. Each walk is bounded (a chain may not exceed maxChain
// descriptors, which also catches loops), every index is range-checked, every buffer address
// is overflow-checked and translated through the region table before it reaches the caller,
// and a violation marks the queue broken (CB_STATUS) with the rule it broke.
import {
  CB_STATUS, CB_DETAIL, CB_DESC, CB_DRIVER_AREA, CB_DEVICE_AREA, CB_OPTIONS, CB_OPT_NOTIFY,
  CB_KIND_SPLIT_DEVICE, SDEV_LAST_AVAIL, SDEV_USED_IDX, SDEV_SIGNAL_IDX, SDEV_IN_FLIGHT,
  DEV_MAX_CHAIN, DEV_POP_SERIAL, SDEV_SHADOW, SDEV_ORDER, SDEV_ORDER_HEAD, DSHADOW_SIZE,
  DSHADOW_FLAGS, DSHADOW_WRITE_LEN, DSHADOW_F_IN_FLIGHT, DSHADOW_F_RESUBMITTED, SDEV_RESUBMIT, SDEV_RESUBMIT_NUM,
  SDEV_RESUBMIT_NEXT, RESUBMIT_PENDING, RESUBMIT_SIZE,
} from "../layout/queue";
import {
  DESC_SIZE, DESC_ADDR, DESC_LEN, DESC_FLAGS, DESC_NEXT, DESC_F_NEXT, DESC_F_WRITE,
  DESC_F_INDIRECT, AVAIL_FLAGS, AVAIL_IDX, AVAIL_RING, AVAIL_ELEM_SIZE, AVAIL_F_NO_INTERRUPT,
  USED_FLAGS, USED_IDX, USED_RING, USED_ELEM_SIZE, USED_F_NO_NOTIFY, USED_ELEM_ID, USED_ELEM_LEN,
} from "../layout/split";
import {
  CHAIN_SIZE, CHAIN_ID, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, CHAIN_READ_LEN, CHAIN_WRITE_LEN,
  CHAIN_DESCS, SEG_SIZE, USED_REC_SIZE, USED_REC_ID, USED_REC_LEN,
} from "../layout/batch";
import {
  ERR_BAD_CONFIG, ERR_BAD_ARGUMENT, ERR_OUT_OF_MEMORY_BOUNDS,
  ERR_AVAIL_IDX_JUMP, ERR_HEAD_OUT_OF_RANGE, ERR_NEXT_OUT_OF_RANGE, ERR_CHAIN_TOO_LONG,
  ERR_INDIRECT_NOT_NEGOTIATED, ERR_INDIRECT_NESTED, ERR_INDIRECT_WITH_NEXT,
  ERR_INDIRECT_BAD_LENGTH, ERR_BUFFER_NOT_IN_REGIONS, ERR_BUFFER_ADDRESS_OVERFLOW,
  ERR_WRITABLE_BEFORE_READABLE, ERR_CHAIN_TOO_MANY_BYTES, ERR_HEAD_IN_FLIGHT,
} from "../layout/errors";
import { F_EVENT_IDX, F_INDIRECT_DESC, F_IN_ORDER } from "../layout/features";
import {
  enter, enterAny, breakQueue, refuse, queueSize, hasFeature, needEvent, validQueueSize, inMemory,
  checkShadowArea, checkOrderArea,
} from "../shared/common";
import { translateWhole, translateInto } from "../shared/regions";
import { recordSingle } from "../shared/chain-record";
import { endPop, checkDeviceRegions, clearDeviceState, setRegions } from "../shared/device-common";
import { inFlight, markPopped, checkUsedRecords, checkLastPopped } from "../shared/device-shadow";
import { inflightRegion, inflightCounter, setInflightCounter, checkInflightArea } from "../shared/inflight";
import { usedEventAddr, availEventAddr, checkSplitAreas } from "./areas";
import { logBlock, checkLogBlock, logUsed, logUsedElems } from "../shared/dirty-log";
import {
  splitInflightBytes, splitInflightFormat, splitInflightPop, splitInflightBatch, splitInflightPushed,
  splitInflightUnpop, splitInflightRecover,
} from "./inflight";
import { orderSlot, orderAdvance } from "../shared/order";

const KIND = CB_KIND_SPLIT_DEVICE;

/**
 * Checks the configuration and the region table, and initialises the device side from the
 * indices the host left in SDEV_LAST_AVAIL (vhost-user's SET_VRING_BASE) and SDEV_USED_IDX:
 * writes used.flags, used.idx and avail_event. With an inflight region (DEV_INFLIGHT) formats it
 * for this queue, nothing in flight (split/inflight.ts). Returns 0 or ERR_BAD_CONFIG.
 */
export function splitDeviceReset(cb: u32): i32 {
  const rc = enterAny(cb, KIND);
  if (rc != 0) return rc;
  const q = queueSize(cb);
  if (!validQueueSize(q)) return refuse(cb, ERR_BAD_CONFIG, q);
  const shadow = load<u32>(cb + SDEV_SHADOW);
  const region = inflightRegion(cb);
  const bad = checkSplitAreas(cb, q) || checkDeviceRegions(cb)
    || checkShadowArea(cb, shadow, <u64>q * DSHADOW_SIZE) || checkOrderArea(cb, q, SDEV_ORDER)
    || (region != 0 ? checkInflightArea(cb, region, splitInflightBytes(q)) : 0) || checkLogBlock(cb);
  if (bad != 0) return bad;

  const lastAvail = load<u32>(cb + SDEV_LAST_AVAIL) & 0xffff;
  const usedIdx = load<u32>(cb + SDEV_USED_IDX) & 0xffff;
  store<u32>(cb + SDEV_LAST_AVAIL, lastAvail);
  store<u32>(cb + SDEV_USED_IDX, usedIdx);
  store<u32>(cb + SDEV_SIGNAL_IDX, usedIdx);
  store<u32>(cb + SDEV_IN_FLIGHT, 0);
  store<u32>(cb + SDEV_ORDER_HEAD, 0);
  clearDeviceState(cb, q, shadow);
  if (load<u32>(cb + SDEV_RESUBMIT_NEXT) == RESUBMIT_PENDING && region != 0) {
    // Right after a recovery: the region describes exactly the chains to pop again (their marks
    // must outlive this back-end too, until they are used), so it is not formatted.
    store<u32>(cb + SDEV_RESUBMIT_NEXT, 0);
  } else {
    store<u32>(cb + SDEV_RESUBMIT_NUM, 0);
    store<u32>(cb + SDEV_RESUBMIT_NEXT, 0);
    if (region != 0) splitInflightFormat(cb, region, q, usedIdx);
  }
  const used = load<u32>(cb + CB_DEVICE_AREA);
  const eventIdx = hasFeature(cb, F_EVENT_IDX);
  const notify = (load<u32>(cb + CB_OPTIONS) & CB_OPT_NOTIFY) != 0;
  // 2.7.10.1 (device side of it): with EVENT_IDX the device keeps used.flags at 0.
  store<u16>(used + USED_FLAGS, eventIdx || notify ? 0 : USED_F_NO_NOTIFY);
  store<u16>(availEventAddr(cb, q), lastAvail);
  // [R4] publish used.idx, its starting value (the fields above go with it); pairs with [A4].
  atomic.store<u16>(used + USED_IDX, usedIdx);
  if (logBlock(cb) != 0) {
    logUsed(cb, USED_FLAGS, 4); // flags and idx
    logUsed(cb, USED_RING + q * USED_ELEM_SIZE, 2); // avail_event
  }
  return 0;
}

/**
 * After a back-end restart, before the reset: recovers the inflight region (DEV_INFLIGHT) per
 * vhost-user.rst "Inflight I/O tracking", "When reconnecting", and sets the start indices
 * (SDEV_LAST_AVAIL, SDEV_USED_IDX) to where the device resumes: used.idx, with the chains that
 * were in flight popped again first, in counter order (split/inflight.ts). Returns
 * how many chains were in flight, ERR_BAD_CONFIG (configuration or no region),
 * ERR_INFLIGHT_BAD_REGION or an ERR_INFLIGHT_* naming what cannot be resumed (the indices are
 * then left alone).
 */
export function splitDeviceRecoverInflight(cb: u32): i32 {
  const rc = enterAny(cb, KIND);
  if (rc != 0) return rc;
  const q = queueSize(cb);
  if (!validQueueSize(q)) return refuse(cb, ERR_BAD_CONFIG, q);
  const region = inflightRegion(cb);
  if (region == 0) return refuse(cb, ERR_BAD_CONFIG, 0);
  const bad = checkSplitAreas(cb, q) || checkInflightArea(cb, region, splitInflightBytes(q));
  if (bad != 0) return bad;
  return splitInflightRecover(cb, q);
}

/**
 * Re-checks the region table after the host changed it (vhost-user SET_MEM_TABLE while the
 * queue is stopped). A bad table marks nothing broken: it is refused and the caller decides.
 */
export function splitDeviceSetRegions(cb: u32, table: u32, n: u32): i32 {
  const rc = enterAny(cb, KIND);
  if (rc != 0) return rc;
  return setRegions(cb, table, n);
}

/**
 * Walks the chain starting at descriptor `head` into the chain record `rec`, writing its
 * segments at segs[at ..]. Returns the number of segments written, or an error code (with
 * CB_DETAIL set to the offending descriptor or head).
 */
function walkChain(cb: u32, q: u32, head: u32, rec: u32, segs: u32, at: u32, maxSegs: u32): i32 {
  // 2.7.6: each ring entry names the head of a chain in the descriptor table.
  if (head >= q) { store<u32>(cb + CB_DETAIL, head); return ERR_HEAD_OUT_OF_RANGE; }
  const maxChain = load<u32>(cb + DEV_MAX_CHAIN);
  const indirectOk = hasFeature(cb, F_INDIRECT_DESC);
  let table = load<u32>(cb + CB_DESC);
  let tableSize = q;
  let inIndirect = false;
  // Bound on descriptors visited: 2.7.5.3.1 forbids chains longer than Queue Size, and a loop
  // (forbidden by 2.7.5.2) is just a chain that never ends, so it runs into this bound too.
  let ttl = maxChain;
  let i = head;
  let mainDescs: u32 = 0;
  let nRead: u32 = 0;
  let nWrite: u32 = 0;
  let sawWritable = false;
  let readLen: u64 = 0;
  let writeLen: u64 = 0;
  let k = at;
  while (true) {
    if (ttl == 0) { store<u32>(cb + CB_DETAIL, head); return ERR_CHAIN_TOO_LONG; }
    ttl--;
    if (!inIndirect) mainDescs++;
    const d = table + i * DESC_SIZE;
    const addr = load<u64>(d + DESC_ADDR);
    const len = load<u32>(d + DESC_LEN);
    const flags = <u32>load<u16>(d + DESC_FLAGS);
    const next = <u32>load<u16>(d + DESC_NEXT);
    if ((flags & DESC_F_INDIRECT) != 0) {
      store<u32>(cb + CB_DETAIL, i);
      // 2.7.5.3.1: INDIRECT only if negotiated, never inside a table, never with NEXT.
      if (!indirectOk) return ERR_INDIRECT_NOT_NEGOTIATED;
      if (inIndirect) return ERR_INDIRECT_NESTED;
      if ((flags & DESC_F_NEXT) != 0) return ERR_INDIRECT_WITH_NEXT;
      // 2.7.5.3: the table is len / 16 whole descriptors.
      if (len == 0 || (len & (DESC_SIZE - 1)) != 0) return ERR_INDIRECT_BAD_LENGTH;
      // Last-byte form (len > 0 here): a table may end exactly at 2^64, as a region may.
      if (addr > 0xffff_ffff_ffff_ffff - (<u64>len - 1)) return ERR_BUFFER_ADDRESS_OVERFLOW;
      const t = translateWhole(cb, addr, len);
      if (t < 0) return ERR_BUFFER_NOT_IN_REGIONS;
      // 2.7.5.3.2: the WRITE flag of the descriptor naming the table is ignored.
      table = <u32>t;
      tableSize = len / DESC_SIZE;
      inIndirect = true;
      // The table is a chain of its own, bounded by its size and by maxChain.
      ttl = tableSize < maxChain ? tableSize : maxChain;
      i = 0;
      continue;
    }
    // 2.7.4.2: device-writable descriptors come after all device-readable ones. The rule is
    // about descriptors: a zero-length writable one (which yields no segment) counts too.
    const writable = (flags & DESC_F_WRITE) != 0;
    if (!writable && sawWritable) { store<u32>(cb + CB_DETAIL, i); return ERR_WRITABLE_BEFORE_READABLE; }
    if (writable) sawWritable = true;
    // [addr, addr + len) must not wrap; its last byte may be 2^64 - 1 (regions may end there).
    if (len != 0 && addr > 0xffff_ffff_ffff_ffff - (<u64>len - 1)) { store<u32>(cb + CB_DETAIL, i); return ERR_BUFFER_ADDRESS_OVERFLOW; }
    if (writable) writeLen += len; else readLen += len;
    // 2.7.5.2: less than 2^32 bytes in a chain.
    if (readLen + writeLen > 0xffff_ffff) { store<u32>(cb + CB_DETAIL, head); return ERR_CHAIN_TOO_MANY_BYTES; }
    if (len > 0) {
      const r = translateInto(cb, addr, len, segs, k, maxSegs);
      if (r < 0) { store<u32>(cb + CB_DETAIL, i); return r; }
      k += <u32>r;
      if (writable) nWrite += <u32>r; else nRead += <u32>r;
      if (nRead > 0xffff || nWrite > 0xffff) { store<u32>(cb + CB_DETAIL, head); return ERR_CHAIN_TOO_LONG; }
    }
    if ((flags & DESC_F_NEXT) == 0) break;
    // 2.7.5: next indexes the same table.
    if (next >= tableSize) { store<u32>(cb + CB_DETAIL, next); return ERR_NEXT_OUT_OF_RANGE; }
    i = next;
  }
  store<u32>(rec + CHAIN_ID, head);
  store<u32>(rec + CHAIN_SEG, at);
  store<u16>(rec + CHAIN_NREAD, nRead);
  store<u16>(rec + CHAIN_NWRITE, nWrite);
  store<u32>(rec + CHAIN_READ_LEN, <u32>readLen);
  store<u32>(rec + CHAIN_WRITE_LEN, <u32>writeLen);
  store<u16>(rec + CHAIN_DESCS, mainDescs);
  return <i32>(k - at);
}

/**
 * A chain of one direct descriptor (no NEXT, no INDIRECT) in the region of the last buffer:
 * recorded without a walk (returns 1). Returns 0 for every other chain, which walkChain takes
 * (and reports the faults of).
 */
// @ts-ignore: decorator
@inline function singleDescriptor(cb: u32, q: u32, head: u32, rec: u32, segs: u32, at: u32, maxSegs: u32): i32 {
  if (head >= q) return 0;
  const d = load<u32>(cb + CB_DESC) + head * DESC_SIZE;
  const flags = <u32>load<u16>(d + DESC_FLAGS);
  if ((flags & (DESC_F_NEXT | DESC_F_INDIRECT)) != 0) return 0;
  return recordSingle(cb, head, load<u64>(d + DESC_ADDR), load<u32>(d + DESC_LEN), (flags & DESC_F_WRITE) != 0, rec, segs, at, maxSegs);
}

/**
 * Pops up to `maxChains` available chains into chain records at `chains`, their segments into
 * the array at `segs` (capacity `maxSegs`). Stops early, without consuming it, at a chain whose
 * segments do not fit (ERR_SEGMENTS_FULL if that is the first one). The burst stops at the first
 * chain that breaks a rule: the chains before it are returned as usual and the queue is marked
 * broken, so the next call reports the fault. Returns the number of chains popped.
 */
export function splitDevicePop(cb: u32, chains: u32, segs: u32, maxChains: u32, maxSegs: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  if (!inMemory(chains, <u64>maxChains * CHAIN_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, chains);
  if (!inMemory(segs, <u64>maxSegs * SEG_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, segs);
  const q = queueSize(cb);
  const avail = load<u32>(cb + CB_DRIVER_AREA);
  // [A3] consume avail.idx (acquire): the ring entries and descriptors are read only after the
  // index that covers them. Pairs with [R3] in splitDriverAdd.
  const availIdx = <u32>atomic.load<u16>(avail + AVAIL_IDX);
  let last = load<u32>(cb + SDEV_LAST_AVAIL);
  const pending = (availIdx - last) & 0xffff;
  // 2.7.6 / 2.7.13.3: the driver can have at most Queue Size chains outstanding.
  if (pending > q) return breakQueue(cb, ERR_AVAIL_IDX_JUMP, availIdx);
  const shadow = load<u32>(cb + SDEV_SHADOW);
  const inOrder = hasFeature(cb, F_IN_ORDER);
  const order = load<u32>(cb + SDEV_ORDER);
  const orderHead = load<u32>(cb + SDEV_ORDER_HEAD);
  const popped = load<u32>(cb + SDEV_IN_FLIGHT);
  const region = inflightRegion(cb);
  let counter = inflightCounter(cb);
  const serial = load<u32>(cb + DEV_POP_SERIAL);
  let got: u32 = 0;
  let segAt: u32 = 0;
  let err: i32 = 0;
  // First the chains that were in flight when the previous back-end died, in counter order
  // (split/inflight.ts splitInflightRecover): their region entries already say so.
  const resubmitNum = load<u32>(cb + SDEV_RESUBMIT_NUM);
  let resubmitNext = load<u32>(cb + SDEV_RESUBMIT_NEXT);
  const list = load<u32>(cb + SDEV_RESUBMIT);
  for (; got < maxChains && resubmitNext < resubmitNum; got++) {
    const head = load<u32>(list + resubmitNext * RESUBMIT_SIZE);
    if (head < q && inFlight(shadow, head)) { store<u32>(cb + CB_DETAIL, head); err = ERR_HEAD_IN_FLIGHT; break; }
    const rec = chains + got * CHAIN_SIZE;
    const r = singleDescriptor(cb, q, head, rec, segs, segAt, maxSegs) || walkChain(cb, q, head, rec, segs, segAt, maxSegs);
    if (r < 0) { err = r; break; }
    markPopped(shadow, head, load<u16>(rec + CHAIN_DESCS), load<u32>(rec + CHAIN_WRITE_LEN), serial + got);
    store<u16>(shadow + head * DSHADOW_SIZE + DSHADOW_FLAGS, DSHADOW_F_IN_FLIGHT | DSHADOW_F_RESUBMITTED);
    if (inOrder) store<u16>(orderSlot(order, q, orderHead + popped + got), head);
    segAt += <u32>r;
    resubmitNext++;
  }
  const room = maxChains - got;
  const n = err != 0 ? got : got + (pending < room ? pending : room);
  for (; got < n; got++) {
    const head = <u32>load<u16>(avail + AVAIL_RING + (last & (q - 1)) * AVAIL_ELEM_SIZE);
    // 2.7.13.1: the driver offers only free descriptors, never a chain the device still holds.
    if (head < q && inFlight(shadow, head)) { store<u32>(cb + CB_DETAIL, head); err = ERR_HEAD_IN_FLIGHT; break; }
    const rec = chains + got * CHAIN_SIZE;
    // The common chain, one direct descriptor in the region of the last buffer, without a walk;
    // anything else (and any fault) goes through walkChain, which checks every rule.
    const r = singleDescriptor(cb, q, head, rec, segs, segAt, maxSegs) || walkChain(cb, q, head, rec, segs, segAt, maxSegs);
    if (r < 0) { err = r; break; }
    markPopped(shadow, head, load<u16>(rec + CHAIN_DESCS), load<u32>(rec + CHAIN_WRITE_LEN), serial + got);
    if (region != 0) counter = splitInflightPop(region, head, counter);
    if (inOrder) store<u16>(orderSlot(order, q, orderHead + popped + got), head);
    segAt += <u32>r;
    last = (last + 1) & 0xffff;
  }
  if (got > 0) {
    store<u32>(cb + SDEV_RESUBMIT_NEXT, resubmitNext);
    store<u32>(cb + SDEV_LAST_AVAIL, last);
    store<u32>(cb + SDEV_IN_FLIGHT, popped + got);
    store<u32>(cb + DEV_POP_SERIAL, serial + got);
    if (region != 0) setInflightCounter(cb, counter);
    if (hasFeature(cb, F_EVENT_IDX) && (load<u32>(cb + CB_OPTIONS) & CB_OPT_NOTIFY) != 0) {
      // 2.7.10: ask for a kick when the driver publishes the entry at index `last`.
      // [R7] publish avail_event; pairs with [A7] in splitDriverKickNeeded.
      atomic.store<u16>(availEventAddr(cb, q), last);
      logUsed(cb, USED_RING + q * USED_ELEM_SIZE, 2);
    }
  }
  return endPop(cb, got, err);
}

/**
 * Returns `n` used records (id = head id from pop, len = bytes written) to the driver and
 * publishes used.idx once. The records are checked first (each id popped and not yet returned,
 * named once, no more than Queue Size; with IN_ORDER, in pop order), so a bad burst changes
 * nothing. With IN_ORDER a run of chains used completely (len equal to their writable capacity)
 * ending with any chain takes one used element, for the run's last chain, at the ring position
 * of its first (2.7.9); used.idx still advances by n. Returns n.
 */
export function splitDevicePush(cb: u32, elems: u32, n: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  if (!inMemory(elems, <u64>n * USED_REC_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, elems);
  const q = queueSize(cb);
  const popped = load<u32>(cb + SDEV_IN_FLIGHT);
  // No more than popped, and no more than the used ring holds (2.7.8: Queue Size elements; a
  // driver that broke the rules can have the device pop more than that).
  if (n > popped || n > q) return refuse(cb, ERR_BAD_ARGUMENT, n);
  const shadow = load<u32>(cb + SDEV_SHADOW);
  const inOrder = hasFeature(cb, F_IN_ORDER);
  const orderHead = load<u32>(cb + SDEV_ORDER_HEAD);
  const bad = checkUsedRecords(shadow, q, elems, n, inOrder, load<u32>(cb + SDEV_ORDER), orderHead, USED_REC_SIZE);
  if (bad >= 0) return refuse(cb, ERR_BAD_ARGUMENT, <u32>bad);
  const used = load<u32>(cb + CB_DEVICE_AREA);
  const ring = used + USED_RING;
  const region = inflightRegion(cb);
  if (region != 0) splitInflightBatch(region, elems, n);
  let u = load<u32>(cb + SDEV_USED_IDX);
  // Used elements are written only where they change. The driver reads them (its cache holds
  // the lines shared), and a driver reusing its descriptors in the same order gets the same
  // (id, len) at a slot lap after lap: an unwritten line is not taken back from its cache, and
  // the used.idx store below does not wait for it.
  if (!inOrder) {
    // A used record has the layout of a used element (id, len: one u64).
    for (let i: u32 = 0; i < n; i++) {
      const e = elems + i * USED_REC_SIZE;
      const slot = ring + ((u + i) & (q - 1)) * USED_ELEM_SIZE;
      const v = load<u64>(e);
      if (load<u64>(slot) != v) store<u64>(slot, v);
      store<u16>(shadow + load<u32>(e + USED_REC_ID) * DSHADOW_SIZE + DSHADOW_FLAGS, 0);
    }
  } else {
    let runStart = u;
    for (let i: u32 = 0; i < n; i++) {
      const e = elems + i * USED_REC_SIZE;
      const id = load<u32>(e + USED_REC_ID);
      const len = load<u32>(e + USED_REC_LEN);
      const sh = shadow + id * DSHADOW_SIZE;
      const complete = len == load<u32>(sh + DSHADOW_WRITE_LEN);
      store<u16>(sh + DSHADOW_FLAGS, 0);
      if (complete && i + 1 < n) continue;
      const slot = ring + (runStart & (q - 1)) * USED_ELEM_SIZE;
      if (load<u32>(slot + USED_ELEM_ID) != id || load<u32>(slot + USED_ELEM_LEN) != len) {
        store<u32>(slot + USED_ELEM_ID, id);
        store<u32>(slot + USED_ELEM_LEN, len);
      }
      runStart = (u + i + 1) & 0xffff;
    }
    store<u32>(cb + SDEV_ORDER_HEAD, orderAdvance(q, orderHead, n));
  }
  u = (u + n) & 0xffff;
  store<u32>(cb + SDEV_USED_IDX, u);
  store<u32>(cb + SDEV_IN_FLIGHT, popped - n);
  // [R4] publish used.idx (release): 2.7.8.2 wants len (and the data) written before the index
  // moves. Pairs with [A4] in splitDriverCollect (and splitInflightRecover).
  atomic.store<u16>(used + USED_IDX, u);
  // Dirty-page log: the elements written (in order: within the n from the old used.idx) and idx.
  if (logBlock(cb) != 0) {
    logUsedElems(cb, q, (u - n) & 0xffff, n, USED_RING, USED_ELEM_SIZE);
    logUsed(cb, USED_IDX, 2);
  }
  if (region != 0) splitInflightPushed(region, elems, n, u);
  return <i32>n;
}

/**
 * Whether the driver wants a used buffer notification for the entries pushed since the last
 * call (2.7.7.2): with EVENT_IDX, when used_event lies among them; otherwise unless avail.flags
 * says NO_INTERRUPT. Returns 1 to notify, 0 not to.
 */
export function splitDeviceInterruptNeeded(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  const newIdx = load<u32>(cb + SDEV_USED_IDX);
  const oldIdx = load<u32>(cb + SDEV_SIGNAL_IDX);
  store<u32>(cb + SDEV_SIGNAL_IDX, newIdx);
  if (newIdx == oldIdx) return 0;
  // [A8] consume the driver's interrupt request (used_event, or avail.flags); pairs with [R8]
  // in splitDriverCollect and splitDriver{Enable,Disable}Interrupts. Full barrier between the
  // [R4] used.idx store (seq-cst, in push) and these seq-cst loads.
  if (hasFeature(cb, F_EVENT_IDX)) {
    const event = <u32>atomic.load<u16>(usedEventAddr(cb, queueSize(cb))); // [A8] used_event
    return needEvent(event, newIdx, oldIdx) ? 1 : 0;
  }
  const avail = load<u32>(cb + CB_DRIVER_AREA);
  return (atomic.load<u16>(avail + AVAIL_FLAGS) & AVAIL_F_NO_INTERRUPT) != 0 ? 0 : 1; // [A8] avail.flags
}

/**
 * Asks the driver for available buffer notifications (kicks) again (2.7.10). Returns 1 when
 * chains are already waiting, so a polling loop pops again before it sleeps.
 */
export function splitDeviceEnableNotify(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  const q = queueSize(cb);
  const avail = load<u32>(cb + CB_DRIVER_AREA);
  const used = load<u32>(cb + CB_DEVICE_AREA);
  const last = load<u32>(cb + SDEV_LAST_AVAIL);
  store<u32>(cb + CB_OPTIONS, load<u32>(cb + CB_OPTIONS) | CB_OPT_NOTIFY);
  // [R7] publish the request (avail_event, or used.flags); pairs with [A7] in splitDriverKickNeeded.
  if (hasFeature(cb, F_EVENT_IDX)) {
    atomic.store<u16>(availEventAddr(cb, q), last);
    logUsed(cb, USED_RING + q * USED_ELEM_SIZE, 2);
  } else {
    atomic.store<u16>(used + USED_FLAGS, 0);
    logUsed(cb, USED_FLAGS, 2);
  }
  // [A3] consume avail.idx; pairs with [R3] in splitDriverAdd. Sequentially consistent store,
  // then load: the driver either sees the request or we see the chains it published before
  // looking.
  return <u32>atomic.load<u16>(avail + AVAIL_IDX) != last ? 1 : 0;
}

/** Stops asking for kicks (a polling device). With EVENT_IDX avail_event just stops moving. */
export function splitDeviceDisableNotify(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  store<u32>(cb + CB_OPTIONS, load<u32>(cb + CB_OPTIONS) & ~CB_OPT_NOTIFY);
  if (!hasFeature(cb, F_EVENT_IDX)) {
    // [R7] publish used.flags NO_NOTIFY; pairs with [A7] in splitDriverKickNeeded.
    atomic.store<u16>(load<u32>(cb + CB_DEVICE_AREA) + USED_FLAGS, USED_F_NO_NOTIFY);
    logUsed(cb, USED_FLAGS, 2);
  }
  return 0;
}

/**
 * Gives back the last `n` chains popped (their records at `chains`, in pop order) unused, as if
 * they had never been popped: the next pop reads them again from the available ring. A device
 * takes a burst of buffers and returns the ones it did not fill, instead of holding them (so a
 * stopped ring's last_avail_idx counts only buffers that were really used, vhost-user
 * GET_VRING_BASE). The records must be the last n chains popped, in pop order, none of them
 * pushed since (a chain popped after them and already pushed stands in the way); each is
 * checked, by its pop serial and its shadow entry, else nothing changes and ERR_BAD_ARGUMENT is
 * returned. Returns n.
 */
export function splitDeviceUnpop(cb: u32, chains: u32, n: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  if (n == 0) return 0;
  if (!inMemory(chains, <u64>n * CHAIN_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, chains);
  const q = queueSize(cb);
  const popped = load<u32>(cb + SDEV_IN_FLIGHT);
  if (n > popped) return refuse(cb, ERR_BAD_ARGUMENT, n);
  const shadow = load<u32>(cb + SDEV_SHADOW);
  // The last chains popped, in pop order (nothing popped after them was pushed in between: the
  // ring position moves back over exactly them), each in flight and named once.
  const serial = load<u32>(cb + DEV_POP_SERIAL);
  const late = checkLastPopped(shadow, q, chains, n, serial);
  if (late >= 0) return refuse(cb, ERR_BAD_ARGUMENT, <u32>late);
  const bad = checkUsedRecords(shadow, q, chains, n, hasFeature(cb, F_IN_ORDER), load<u32>(cb + SDEV_ORDER), load<u32>(cb + SDEV_ORDER_HEAD) + popped - n, CHAIN_SIZE);
  if (bad >= 0) return refuse(cb, ERR_BAD_ARGUMENT, <u32>bad);
  // Chains popped again from the resubmission list come before any from the ring (they are
  // popped first), so they are the first `again` of these: they go back on the list, their
  // region entries untouched; the rest go back to the ring.
  let again: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const f = shadow + load<u32>(chains + i * CHAIN_SIZE + CHAIN_ID) * DSHADOW_SIZE + DSHADOW_FLAGS;
    if ((load<u16>(f) & DSHADOW_F_RESUBMITTED) != 0) again++;
    store<u16>(f, 0);
  }
  const region = inflightRegion(cb);
  if (region != 0) splitInflightUnpop(cb, region, chains + again * CHAIN_SIZE, n - again);
  store<u32>(cb + SDEV_RESUBMIT_NEXT, load<u32>(cb + SDEV_RESUBMIT_NEXT) - again);
  store<u32>(cb + SDEV_LAST_AVAIL, (load<u32>(cb + SDEV_LAST_AVAIL) - (n - again)) & 0xffff);
  store<u32>(cb + SDEV_IN_FLIGHT, popped - n);
  store<u32>(cb + DEV_POP_SERIAL, serial - n);
  return <i32>n;
}
