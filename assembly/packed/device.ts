// Packed virtqueue, device side (VIRTIO 1.2, 2.8). The device polls the descriptor ring at its
// next slot for a descriptor the driver made available, walks the list, and later overwrites
// the list's first slot with a used descriptor.
//
// As on the split ring nothing the driver wrote is trusted: every descriptor of a list must be
// available with the expected wrap counter, buffer ids are range-checked and may not already be
// in flight, lists are bounded by maxChain, the driver may never have more descriptors
// outstanding than the ring holds, and every address goes through the region table.
import {
  CB_DETAIL, CB_DESC, CB_DRIVER_AREA, CB_DEVICE_AREA, CB_OPTIONS, CB_OPT_NOTIFY, CB_OPT_STEP_OVER_USED,
  CB_KIND_PACKED_DEVICE, DEV_MAX_CHAIN, DEV_POP_SERIAL, PDEV_NEXT_AVAIL, PDEV_AVAIL_WRAP, PDEV_NEXT_USED,
  PDEV_USED_WRAP, PDEV_IN_FLIGHT, PDEV_IN_FLIGHT_DESCS, PDEV_SHADOW, PDEV_SIGNALLED, PDEV_ORDER,
  PDEV_ORDER_HEAD, DSHADOW_SIZE, DSHADOW_NDESC, DSHADOW_FLAGS, DSHADOW_WRITE_LEN, PDEV_INFLIGHT_HEADS,
  DSHADOW_F_IN_FLIGHT, DSHADOW_F_RESUBMITTED, PDEV_RESUBMIT_NUM, PDEV_RESUBMIT_NEXT, RESUBMIT_PENDING,
  RESUBMIT_SIZE, PDEV_STEPPED,
} from "../layout/queue";
import { IHEAD_AREA_LIST, IHEAD_AREA_STAGING } from "../layout/inflight";
import {
  PDESC_SIZE, PDESC_ADDR, PDESC_LEN, PDESC_ID, PDESC_FLAGS, PDESC_ALIGN, PDESC_F_NEXT,
  PDESC_F_WRITE, PDESC_F_INDIRECT, EVENT_OFF_WRAP, EVENT_FLAGS, EVENT_SIZE, EVENT_ALIGN,
  EVENT_WRAP_SHIFT, RING_EVENT_FLAGS_ENABLE, RING_EVENT_FLAGS_DISABLE, RING_EVENT_FLAGS_DESC,
} from "../layout/packed";
import {
  CHAIN_SIZE, CHAIN_ID, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, CHAIN_READ_LEN, CHAIN_WRITE_LEN,
  CHAIN_DESCS, SEG_SIZE, USED_REC_SIZE, USED_REC_ID, USED_REC_LEN,
} from "../layout/batch";
import {
  ERR_BAD_CONFIG, ERR_BAD_ARGUMENT, ERR_OUT_OF_MEMORY_BOUNDS, ERR_CHAIN_TOO_LONG,
  ERR_INDIRECT_NOT_NEGOTIATED, ERR_INDIRECT_NESTED, ERR_INDIRECT_WITH_NEXT,
  ERR_INDIRECT_BAD_LENGTH, ERR_BUFFER_NOT_IN_REGIONS, ERR_BUFFER_ADDRESS_OVERFLOW,
  ERR_WRITABLE_BEFORE_READABLE, ERR_CHAIN_TOO_MANY_BYTES, ERR_PACKED_DESC_NOT_AVAILABLE,
  ERR_PACKED_ID_OUT_OF_RANGE, ERR_PACKED_ID_IN_FLIGHT, ERR_PACKED_RING_OVERRUN,
  ERR_INDIRECT_IN_LIST,
} from "../layout/errors";
import { F_EVENT_IDX, F_INDIRECT_DESC, F_IN_ORDER } from "../layout/features";
import {
  enter, enterAny, refuse, queueSize, hasFeature, checkArea, inMemory, checkShadowArea, checkOrderArea,
} from "../shared/common";
import { translateWhole, translateInto } from "../shared/regions";
import { recordSingle } from "../shared/chain-record";
import { endPop, checkDeviceRegions, clearDeviceState, setRegions } from "../shared/device-common";
import { inFlight, markPopped, checkUsedRecords, checkLastPopped } from "../shared/device-shadow";
import { inflightRegion, inflightCounter, setInflightCounter, checkInflightArea } from "../shared/inflight";
import { isAvailable, isUsed, usedBits, validPackedQueueSize, packedNeedEvent } from "./flags";
import { logBlock, checkLogBlock, logWasmRange } from "../shared/dirty-log";
import {
  packedInflightBytes, packedInflightHeadsBytes, packedInflightFormat, packedInflightPop,
  packedInflightRelease, packedInflightUsed, packedInflightPushed, packedInflightUnpop,
  packedInflightRecover, packedInflightStage, packedInflightRepop,
} from "./inflight";
import { orderSlot, orderAdvance } from "../shared/order";

const KIND = CB_KIND_PACKED_DEVICE;

/**
 * Checks the configuration and initialises the device side from the positions the host left in
 * PDEV_NEXT_AVAIL / PDEV_AVAIL_WRAP and PDEV_NEXT_USED / PDEV_USED_WRAP (0 and 1 on a fresh
 * ring; vhost-user's SET_VRING_BASE otherwise). Writes only the device event suppression area,
 * and with an inflight region (DEV_INFLIGHT) formats it for this queue, nothing in flight
 * (packed/inflight.ts).
 */
export function packedDeviceReset(cb: u32): i32 {
  const rc = enterAny(cb, KIND);
  if (rc != 0) return rc;
  const q = queueSize(cb);
  if (!validPackedQueueSize(q)) return refuse(cb, ERR_BAD_CONFIG, q);
  const shadow = load<u32>(cb + PDEV_SHADOW);
  const region = inflightRegion(cb);
  const bad = checkPackedAreas(cb, q) || checkShadowArea(cb, shadow, <u64>q * DSHADOW_SIZE)
    || checkOrderArea(cb, q, PDEV_ORDER) || checkDeviceRegions(cb) || (region != 0 ? checkInflight(cb, q, region) : 0)
    || checkLogBlock(cb);
  if (bad != 0) return bad;
  const nextAvail = load<u32>(cb + PDEV_NEXT_AVAIL);
  const nextUsed = load<u32>(cb + PDEV_NEXT_USED);
  if (nextAvail >= q || nextUsed >= q) return refuse(cb, ERR_BAD_CONFIG, nextAvail);
  store<u32>(cb + PDEV_AVAIL_WRAP, load<u32>(cb + PDEV_AVAIL_WRAP) & 1);
  store<u32>(cb + PDEV_USED_WRAP, load<u32>(cb + PDEV_USED_WRAP) & 1);
  store<u32>(cb + PDEV_IN_FLIGHT, 0);
  store<u32>(cb + PDEV_IN_FLIGHT_DESCS, 0);
  store<u32>(cb + PDEV_SIGNALLED, 0);
  store<u32>(cb + PDEV_ORDER_HEAD, 0);
  store<u32>(cb + PDEV_STEPPED, 0);
  clearDeviceState(cb, q, shadow);
  if (load<u32>(cb + PDEV_RESUBMIT_NEXT) == RESUBMIT_PENDING && region != 0) {
    // Right after a recovery: the region describes exactly the buffers to pop again (their marks
    // and copies must outlive this back-end too, until they are used), so it is not formatted.
    store<u32>(cb + PDEV_RESUBMIT_NEXT, 0);
  } else {
    store<u32>(cb + PDEV_RESUBMIT_NUM, 0);
    store<u32>(cb + PDEV_RESUBMIT_NEXT, 0);
    if (region != 0) packedInflightFormat(cb, region, q, nextUsed, load<u32>(cb + PDEV_USED_WRAP));
  }
  writeDeviceEvent(cb, (load<u32>(cb + CB_OPTIONS) & CB_OPT_NOTIFY) != 0);
  return 0;
}

/** The descriptor ring and both event suppression areas aligned and inside memory, else ERR_BAD_CONFIG. */
function checkPackedAreas(cb: u32, q: u32): i32 {
  const desc = load<u32>(cb + CB_DESC);
  const driverArea = load<u32>(cb + CB_DRIVER_AREA);
  const deviceArea = load<u32>(cb + CB_DEVICE_AREA);
  if (checkArea(desc, PDESC_ALIGN, <u64>q * PDESC_SIZE) != 0) return refuse(cb, ERR_BAD_CONFIG, desc);
  if (checkArea(driverArea, EVENT_ALIGN, EVENT_SIZE) != 0) return refuse(cb, ERR_BAD_CONFIG, driverArea);
  if (checkArea(deviceArea, EVENT_ALIGN, EVENT_SIZE) != 0) return refuse(cb, ERR_BAD_CONFIG, deviceArea);
  return 0;
}

/** The inflight region and the private head map (PDEV_INFLIGHT_HEADS) in place, else ERR_BAD_CONFIG. */
function checkInflight(cb: u32, q: u32, region: u32): i32 {
  const heads = load<u32>(cb + PDEV_INFLIGHT_HEADS);
  return checkInflightArea(cb, region, packedInflightBytes(q)) || checkShadowArea(cb, heads, packedInflightHeadsBytes(q));
}

/**
 * After a back-end restart, before the reset: recovers the inflight region (DEV_INFLIGHT) per
 * vhost-user.rst "Inflight I/O tracking", "When reconnecting", and sets the start positions: used
 * at the committed used position, avail past the buffers in flight, which pop hands out again
 * first, from their copies, in counter order (packed/inflight.ts). Returns how many
 * buffers were in flight, ERR_BAD_CONFIG (configuration or no region), ERR_INFLIGHT_BAD_REGION or
 * an ERR_INFLIGHT_* naming what cannot be resumed (the positions and the ring are then left alone).
 */
export function packedDeviceRecoverInflight(cb: u32): i32 {
  const rc = enterAny(cb, KIND);
  if (rc != 0) return rc;
  const q = queueSize(cb);
  if (!validPackedQueueSize(q)) return refuse(cb, ERR_BAD_CONFIG, q);
  const region = inflightRegion(cb);
  if (region == 0) return refuse(cb, ERR_BAD_CONFIG, 0);
  const bad = checkPackedAreas(cb, q) || checkInflight(cb, q, region);
  if (bad != 0) return bad;
  return packedInflightRecover(cb, q);
}

/** Writes the device event suppression structure: kicks wanted or not (2.8.10). */
function writeDeviceEvent(cb: u32, notify: bool): void {
  const area = load<u32>(cb + CB_DEVICE_AREA);
  const flags: u32 = !notify ? RING_EVENT_FLAGS_DISABLE
    : hasFeature(cb, F_EVENT_IDX) ? RING_EVENT_FLAGS_DESC : RING_EVENT_FLAGS_ENABLE;
  const offWrap = load<u32>(cb + PDEV_NEXT_AVAIL) | (load<u32>(cb + PDEV_AVAIL_WRAP) << EVENT_WRAP_SHIFT);
  // [R9] publish the device event suppression structure; pairs with [A9] in
  // packedDriverKickNeeded. One 32-bit store, so the driver never sees new flags with a stale
  // offset.
  atomic.store<u32>(area + EVENT_OFF_WRAP, offWrap | (flags << (EVENT_FLAGS * 8)));
  logWasmRange(cb, area + EVENT_OFF_WRAP, 4);
}

/** Replaces the region table (queue stopped); see splitDeviceSetRegions. */
export function packedDeviceSetRegions(cb: u32, table: u32, n: u32): i32 {
  const rc = enterAny(cb, KIND);
  if (rc != 0) return rc;
  return setRegions(cb, table, n);
}

/**
 * Walks the descriptor list whose first descriptor (flags `headFlags`, already seen available)
 * is at `slot` of the ring at `desc` (the ring, or the staging copy of a list resubmitted after a
 * restart: packed/inflight.ts packedInflightStage) into chain record `rec`, its segments at segs[at ..]. Sets CHAIN_ID to the
 * buffer id (carried by the last descriptor, 2.8.6) and CHAIN_DESCS to the ring slots used.
 * Returns the number of segments, or an error code with CB_DETAIL set.
 */
function walkList(cb: u32, q: u32, desc: u32, slot: u32, wrap: u32, headFlags: u32, rec: u32, segs: u32, at: u32, maxSegs: u32): i32 {
  const maxChain = load<u32>(cb + DEV_MAX_CHAIN);
  let s = slot;
  let w = wrap;
  let n: u32 = 0;
  let nRead: u32 = 0;
  let nWrite: u32 = 0;
  let sawWritable = false;
  let readLen: u64 = 0;
  let writeLen: u64 = 0;
  let k = at;
  let id: u32 = 0;
  // Bound: a list is never longer than maxChain (<= Queue Size, 2.8.17), loops are impossible
  // here since the list runs forward through the ring, but a list that never ends is not.
  while (true) {
    if (n >= maxChain) { store<u32>(cb + CB_DETAIL, slot); return ERR_CHAIN_TOO_LONG; }
    const d = desc + s * PDESC_SIZE;
    const flags = n == 0 ? headFlags : <u32>load<u16>(d + PDESC_FLAGS);
    // 2.8.6: the driver makes every descriptor of a list available before the first one.
    if (n > 0 && !isAvailable(flags, w)) { store<u32>(cb + CB_DETAIL, s); return ERR_PACKED_DESC_NOT_AVAILABLE; }
    const addr = load<u64>(d + PDESC_ADDR);
    const len = load<u32>(d + PDESC_LEN);
    id = load<u16>(d + PDESC_ID);
    n++;
    if ((flags & PDESC_F_INDIRECT) != 0) {
      store<u32>(cb + CB_DETAIL, s);
      // 2.8.19: only if negotiated, and never inside a list linked by NEXT.
      if (!hasFeature(cb, F_INDIRECT_DESC)) return ERR_INDIRECT_NOT_NEGOTIATED;
      if ((flags & PDESC_F_NEXT) != 0) return ERR_INDIRECT_WITH_NEXT;
      if (n > 1) return ERR_INDIRECT_IN_LIST;
      // 2.8.7: the table holds len / 16 descriptors, one after the other.
      if (len == 0 || (len & (PDESC_SIZE - 1)) != 0) return ERR_INDIRECT_BAD_LENGTH;
      // Last-byte form (len > 0 here): a table may end exactly at 2^64, as a region may.
      if (addr > 0xffff_ffff_ffff_ffff - (<u64>len - 1)) return ERR_BUFFER_ADDRESS_OVERFLOW;
      const count = len / PDESC_SIZE;
      if (count > maxChain) return ERR_CHAIN_TOO_LONG;
      const t = translateWhole(cb, addr, len);
      if (t < 0) return ERR_BUFFER_NOT_IN_REGIONS;
      const table = <u32>t;
      for (let j: u32 = 0; j < count; j++) {
        const e = table + j * PDESC_SIZE;
        const ef = <u32>load<u16>(e + PDESC_FLAGS);
        // 2.8.19: WRITE is the only valid flag in a table; a nested table is refused, the
        // other bits are reserved and ignored (2.8.7).
        if ((ef & PDESC_F_INDIRECT) != 0) { store<u32>(cb + CB_DETAIL, j); return ERR_INDIRECT_NESTED; }
        const wr = (ef & PDESC_F_WRITE) != 0;
        const el = load<u32>(e + PDESC_LEN);
        // 2.8.4 / 2.7.5.2: less than 2^32 bytes in a list.
        if (readLen + writeLen + el > 0xffff_ffff) { store<u32>(cb + CB_DETAIL, slot); return ERR_CHAIN_TOO_MANY_BYTES; }
        const r = addBuffer(cb, load<u64>(e + PDESC_ADDR), el, wr, j, segs, k, maxSegs, sawWritable);
        if (r < 0) return r;
        if (wr) sawWritable = true;
        if (wr) { nWrite += <u32>r; writeLen += el; } else { nRead += <u32>r; readLen += el; }
        k += <u32>r;
      }
      break;
    }
    const writable = (flags & PDESC_F_WRITE) != 0;
    if (readLen + writeLen + len > 0xffff_ffff) { store<u32>(cb + CB_DETAIL, slot); return ERR_CHAIN_TOO_MANY_BYTES; }
    const r = addBuffer(cb, addr, len, writable, s, segs, k, maxSegs, sawWritable);
    if (r < 0) return r;
    if (writable) sawWritable = true;
    if (writable) { nWrite += <u32>r; writeLen += len; } else { nRead += <u32>r; readLen += len; }
    k += <u32>r;
    if ((flags & PDESC_F_NEXT) == 0) break;
    s++;
    if (s == q) { s = 0; w ^= 1; }
  }
  if (nRead > 0xffff || nWrite > 0xffff) { store<u32>(cb + CB_DETAIL, slot); return ERR_CHAIN_TOO_LONG; }
  store<u32>(rec + CHAIN_ID, id);
  store<u32>(rec + CHAIN_SEG, at);
  store<u16>(rec + CHAIN_NREAD, nRead);
  store<u16>(rec + CHAIN_NWRITE, nWrite);
  store<u32>(rec + CHAIN_READ_LEN, <u32>readLen);
  store<u32>(rec + CHAIN_WRITE_LEN, <u32>writeLen);
  store<u16>(rec + CHAIN_DESCS, n);
  return <i32>(k - at);
}

/** Checks one buffer element and translates it into segments. Returns segments written or an error. */
function addBuffer(cb: u32, addr: u64, len: u32, writable: bool, where: u32, segs: u32, at: u32, maxSegs: u32, sawWritable: bool): i32 {
  // 2.8.17: device-writable elements come after all device-readable ones (zero-length ones too).
  if (!writable && sawWritable) { store<u32>(cb + CB_DETAIL, where); return ERR_WRITABLE_BEFORE_READABLE; }
  if (len == 0) return 0;
  // [addr, addr + len) must not wrap; its last byte may be 2^64 - 1 (regions may end there).
  if (addr > 0xffff_ffff_ffff_ffff - (<u64>len - 1)) { store<u32>(cb + CB_DETAIL, where); return ERR_BUFFER_ADDRESS_OVERFLOW; }
  const r = translateInto(cb, addr, len, segs, at, maxSegs);
  if (r < 0) store<u32>(cb + CB_DETAIL, where);
  return r;
}

/**
 * The checks of a buffer just walked (id `id`, `n` descriptors): its id in range and not in flight,
 * and the descriptors outstanding no more than the ring holds (2.8). Returns 0 or the error, with
 * CB_DETAIL the id, or `where` for an overrun.
 */
// @ts-ignore: decorator
@inline function poppedProblem(cb: u32, q: u32, shadow: u32, id: u32, n: u32, inFlightDescs: u32, where: u32): i32 {
  if (id >= q) { store<u32>(cb + CB_DETAIL, id); return ERR_PACKED_ID_OUT_OF_RANGE; }
  if (inFlight(shadow, id)) { store<u32>(cb + CB_DETAIL, id); return ERR_PACKED_ID_IN_FLIGHT; }
  if (inFlightDescs + n > q) { store<u32>(cb + CB_DETAIL, where); return ERR_PACKED_RING_OVERRUN; }
  return 0;
}

/**
 * Pops up to `maxChains` available buffers into chain records (same contract as
 * splitDevicePop). CHAIN_ID is the buffer id to return; CHAIN_DESCS the ring slots it took.
 */
export function packedDevicePop(cb: u32, chains: u32, segs: u32, maxChains: u32, maxSegs: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  if (!inMemory(chains, <u64>maxChains * CHAIN_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, chains);
  if (!inMemory(segs, <u64>maxSegs * SEG_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, segs);
  const q = queueSize(cb);
  const desc = load<u32>(cb + CB_DESC);
  const shadow = load<u32>(cb + PDEV_SHADOW);
  const inOrder = hasFeature(cb, F_IN_ORDER);
  const order = load<u32>(cb + PDEV_ORDER);
  let slot = load<u32>(cb + PDEV_NEXT_AVAIL);
  let wrap = load<u32>(cb + PDEV_AVAIL_WRAP);
  let popped = load<u32>(cb + PDEV_IN_FLIGHT);
  let inFlightDescs = load<u32>(cb + PDEV_IN_FLIGHT_DESCS);
  const orderHead = load<u32>(cb + PDEV_ORDER_HEAD);
  const region = inflightRegion(cb);
  let counter = inflightCounter(cb);
  const serial = load<u32>(cb + DEV_POP_SERIAL);
  let got: u32 = 0;
  let segAt: u32 = 0;
  let err: i32 = 0;
  // First the buffers that were in flight when the previous back-end died, in counter order,
  // from their copies in the region (packed/inflight.ts packedInflightRecover), which already
  // records them: no entry is taken and the ring position does not move.
  const resubmitNum = load<u32>(cb + PDEV_RESUBMIT_NUM);
  let resubmitNext = load<u32>(cb + PDEV_RESUBMIT_NEXT);
  if (resubmitNext < resubmitNum && region != 0) {
    const area = load<u32>(cb + PDEV_INFLIGHT_HEADS);
    const staging = area + q * IHEAD_AREA_STAGING;
    for (; got < maxChains && resubmitNext < resubmitNum; got++) {
      const head = load<u32>(area + q * IHEAD_AREA_LIST + resubmitNext * RESUBMIT_SIZE);
      const last = packedInflightStage(cb, region, q, head);
      if (last < 0) { err = last; break; }
      const rec = chains + got * CHAIN_SIZE;
      const r = walkList(cb, q, staging, 0, 1, <u32>load<u16>(staging + PDESC_FLAGS), rec, segs, segAt, maxSegs);
      if (r < 0) { err = r; break; }
      const id = load<u32>(rec + CHAIN_ID);
      const n = <u32>load<u16>(rec + CHAIN_DESCS);
      err = poppedProblem(cb, q, shadow, id, n, inFlightDescs, head);
      if (err != 0) break;
      packedInflightRepop(cb, id, head, <u32>last);
      markPopped(shadow, id, n, load<u32>(rec + CHAIN_WRITE_LEN), serial + got);
      store<u16>(shadow + id * DSHADOW_SIZE + DSHADOW_FLAGS, DSHADOW_F_IN_FLIGHT | DSHADOW_F_RESUBMITTED);
      if (inOrder) store<u16>(orderSlot(order, q, orderHead + popped), id);
      popped++;
      inFlightDescs += n;
      segAt += <u32>r;
      resubmitNext++;
    }
  }
  let stepped: u32 = 0;
  for (; got < maxChains && err == 0 && resubmitNext >= resubmitNum; got++) {
    // [A5] consume the list's first flags (acquire): the rest of the list is read only after
    // them. Pairs with [R5] in packedDriverAdd.
    const headFlags = <u32>atomic.load<u16>(desc + slot * PDESC_SIZE + PDESC_FLAGS);
    if (!isAvailable(headFlags, wrap)) {
      // At most a lap of steps per call, whatever a racing driver writes meanwhile.
      if (popped != 0 || stepped == q || (load<u32>(cb + CB_OPTIONS) & CB_OPT_STEP_OVER_USED) == 0 || !isUsed(headFlags, wrap)) break;
      if (!stepOverUsed(cb, q, slot, wrap, region)) break;
      slot++;
      if (slot == q) { slot = 0; wrap ^= 1; }
      stepped++;
      got--;
      continue;
    }
    const rec = chains + got * CHAIN_SIZE;
    // The common buffer, one direct descriptor in the region of the last one, without a walk;
    // anything else (and any fault) goes through walkList. The id checks below apply to both.
    const d = desc + slot * PDESC_SIZE;
    const single = (headFlags & (PDESC_F_NEXT | PDESC_F_INDIRECT)) == 0
      ? recordSingle(cb, <u32>load<u16>(d + PDESC_ID), load<u64>(d + PDESC_ADDR), load<u32>(d + PDESC_LEN), (headFlags & PDESC_F_WRITE) != 0, rec, segs, segAt, maxSegs)
      : 0;
    const r = single || walkList(cb, q, desc, slot, wrap, headFlags, rec, segs, segAt, maxSegs);
    if (r < 0) { err = r; break; }
    const id = load<u32>(rec + CHAIN_ID);
    const n = <u32>load<u16>(rec + CHAIN_DESCS);
    err = poppedProblem(cb, q, shadow, id, n, inFlightDescs, slot);
    if (err != 0) break;
    if (region != 0) {
      const c = packedInflightPop(cb, region, q, slot, n, id, counter);
      if (c < 0) { err = <i32>c; break; }
      counter = <u64>c;
    }
    markPopped(shadow, id, n, load<u32>(rec + CHAIN_WRITE_LEN), serial + got);
    if (inOrder) store<u16>(orderSlot(order, q, orderHead + popped), id);
    popped++;
    inFlightDescs += n;
    segAt += <u32>r;
    slot += n;
    if (slot >= q) { slot -= q; wrap ^= 1; }
  }
  if (got > 0) {
    store<u32>(cb + PDEV_RESUBMIT_NEXT, resubmitNext);
    store<u32>(cb + PDEV_NEXT_AVAIL, slot);
    store<u32>(cb + PDEV_AVAIL_WRAP, wrap);
    store<u32>(cb + PDEV_IN_FLIGHT, popped);
    store<u32>(cb + PDEV_IN_FLIGHT_DESCS, inFlightDescs);
    store<u32>(cb + DEV_POP_SERIAL, serial + got);
    if (region != 0) setInflightCounter(cb, counter);
  }
  if (got > 0 || stepped > 0) {
    if (hasFeature(cb, F_EVENT_IDX) && (load<u32>(cb + CB_OPTIONS) & CB_OPT_NOTIFY) != 0) writeDeviceEvent(cb, true);
  }
  return endPop(cb, got, err);
}

/**
 * CB_OPT_STEP_OVER_USED (layout/queue.ts): the slot at the next available position (`slot`,
 * `wrap`) is in used form for this lap, and nothing is in flight. When the used position is that
 * same slot, another device used the buffer there in place and the driver took it: both
 * positions move past it (the avail position is the caller's to store), the inflight region's
 * committed used position with them, and true is returned. Anything else (the used position
 * elsewhere: a driver writing used flags) is left alone, false.
 */
function stepOverUsed(cb: u32, q: u32, slot: u32, wrap: u32, region: u32): bool {
  if (load<u32>(cb + PDEV_NEXT_USED) != slot || load<u32>(cb + PDEV_USED_WRAP) != wrap) return false;
  let next = slot + 1;
  let nextWrap = wrap;
  if (next == q) { next = 0; nextWrap ^= 1; }
  store<u32>(cb + PDEV_NEXT_AVAIL, next);
  store<u32>(cb + PDEV_AVAIL_WRAP, nextWrap);
  store<u32>(cb + PDEV_NEXT_USED, next);
  store<u32>(cb + PDEV_USED_WRAP, nextWrap);
  store<u32>(cb + PDEV_STEPPED, load<u32>(cb + PDEV_STEPPED) + 1);
  // Nothing is in flight, so the committed used position is the whole of what the region tracks.
  if (region != 0) packedInflightPushed(cb, region, 0, 0, next, nextWrap);
  return true;
}

/**
 * Marks `n` buffers used (records: id from pop, len written), in completion order, writing each
 * used descriptor over the first slot of its list (2.8.6). With IN_ORDER the records must come
 * in pop order, and a run of buffers used completely (len equal to their writable capacity)
 * ending with any buffer is written as one used descriptor for the last of them (2.8.8). The
 * first descriptor's flags are stored last, so the driver sees the burst whole. Returns n.
 */
export function packedDevicePush(cb: u32, elems: u32, n: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  if (!inMemory(elems, <u64>n * USED_REC_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, elems);
  if (n == 0) return 0;
  const q = queueSize(cb);
  const shadow = load<u32>(cb + PDEV_SHADOW);
  const popped = load<u32>(cb + PDEV_IN_FLIGHT);
  const inOrder = hasFeature(cb, F_IN_ORDER);
  const order = load<u32>(cb + PDEV_ORDER);
  const orderHead = load<u32>(cb + PDEV_ORDER_HEAD);
  if (n > popped) return refuse(cb, ERR_BAD_ARGUMENT, n);
  // Check every record before writing anything: ids in flight, each once (in-order: in pop order).
  const bad = checkUsedRecords(shadow, q, elems, n, inOrder, order, orderHead, USED_REC_SIZE);
  if (bad >= 0) return refuse(cb, ERR_BAD_ARGUMENT, <u32>bad);
  const desc = load<u32>(cb + CB_DESC);
  const region = inflightRegion(cb);
  if (region != 0) packedInflightRelease(cb, region, elems, n);
  const oldSlot = load<u32>(cb + PDEV_NEXT_USED);
  const oldWrap = load<u32>(cb + PDEV_USED_WRAP);
  if (region != 0) {
    // Inflight step 5 (used_idx past the batch, the old position kept) before any byte of the
    // batch reaches the ring: a device that dies while writing the used descriptors then leaves
    // used_idx != old_used_idx, and recovery knows those slots may be overwritten and writes
    // them back from the copies. Written after them, a death in between left slots changed
    // under chains recovery still takes for in flight at their places.
    let s = oldSlot;
    let w = oldWrap;
    for (let i: u32 = 0; i < n; i++) {
      s += <u32>load<u16>(shadow + load<u32>(elems + i * USED_REC_SIZE + USED_REC_ID) * DSHADOW_SIZE + DSHADOW_NDESC);
      if (s >= q) { s -= q; w ^= 1; }
    }
    packedInflightUsed(region, s, w, oldSlot, oldWrap);
  }
  let slot = oldSlot;
  let wrap = oldWrap;
  let firstFlagsAddr: u32 = 0;
  let firstFlags: u32 = 0;
  let groupSlot = slot;
  let groupWrap = wrap;
  let descs: u32 = 0;
  let written: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const e = elems + i * USED_REC_SIZE;
    const id = load<u32>(e + USED_REC_ID);
    const len = load<u32>(e + USED_REC_LEN);
    const sh = shadow + id * DSHADOW_SIZE;
    const nd = <u32>load<u16>(sh + DSHADOW_NDESC);
    const complete = len == load<u32>(sh + DSHADOW_WRITE_LEN);
    store<u16>(sh + DSHADOW_FLAGS, 0);
    descs += nd;
    slot += nd;
    if (slot >= q) { slot -= q; wrap ^= 1; }
    // In order, a buffer used completely may share the used descriptor of a later one.
    if (inOrder && complete && i + 1 < n) continue;
    const d = desc + groupSlot * PDESC_SIZE;
    store<u32>(d + PDESC_LEN, len);
    store<u16>(d + PDESC_ID, id);
    // 2.8.3: WRITE in a used descriptor says the device wrote data.
    const flags = usedBits(groupWrap) | (len > 0 ? PDESC_F_WRITE : 0);
    if (written == 0) { firstFlagsAddr = d + PDESC_FLAGS; firstFlags = flags; }
    else store<u16>(d + PDESC_FLAGS, flags);
    written++;
    groupSlot = slot;
    groupWrap = wrap;
  }
  store<u32>(cb + PDEV_NEXT_USED, slot);
  store<u32>(cb + PDEV_USED_WRAP, wrap);
  store<u32>(cb + PDEV_IN_FLIGHT, popped - n);
  store<u32>(cb + PDEV_IN_FLIGHT_DESCS, load<u32>(cb + PDEV_IN_FLIGHT_DESCS) - descs);
  store<u32>(cb + PDEV_SIGNALLED, load<u32>(cb + PDEV_SIGNALLED) + descs);
  if (inOrder) store<u32>(cb + PDEV_ORDER_HEAD, orderAdvance(q, orderHead, n));
  // [R6] publish the burst (release): the first used descriptor's flags go last. Pairs with
  // [A6] in packedDriverCollect (and packedInflightRecover).
  atomic.store<u16>(firstFlagsAddr, firstFlags);
  // Dirty-page log: the used descriptors written lie in the descs slots from oldSlot.
  if (logBlock(cb) != 0) {
    const firstRun = descs < q - oldSlot ? descs : q - oldSlot;
    logWasmRange(cb, desc + oldSlot * PDESC_SIZE, firstRun * PDESC_SIZE);
    if (firstRun < descs) logWasmRange(cb, desc, (descs - firstRun) * PDESC_SIZE);
  }
  if (region != 0) packedInflightPushed(cb, region, elems, n, slot, wrap);
  return <i32>n;
}

/**
 * Whether the driver wants a used buffer notification for what was pushed since the last call,
 * per the driver event suppression structure (2.8.10). Returns 1 or 0.
 */
export function packedDeviceInterruptNeeded(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  const count = load<u32>(cb + PDEV_SIGNALLED);
  store<u32>(cb + PDEV_SIGNALLED, 0);
  if (count == 0) return 0;
  // [A10] consume the driver event suppression structure; pairs with [R10] in writeDriverEvent
  // (packed/driver.ts). Seq-cst load after the seq-cst [R6] flags store in push: the full
  // barrier 2.8.21.2 asks for.
  const ev = atomic.load<u32>(load<u32>(cb + CB_DRIVER_AREA) + EVENT_OFF_WRAP);
  const flags = (ev >>> (EVENT_FLAGS * 8)) & 3;
  if (flags == RING_EVENT_FLAGS_DISABLE) return 0;
  if (flags != RING_EVENT_FLAGS_DESC || !hasFeature(cb, F_EVENT_IDX)) return 1;
  return packedNeedEvent(ev & 0xffff, load<u32>(cb + PDEV_NEXT_USED), load<u32>(cb + PDEV_USED_WRAP), count, queueSize(cb)) ? 1 : 0;
}

/** Asks for kicks again; returns 1 when a buffer is already available (pop before sleeping). */
export function packedDeviceEnableNotify(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  store<u32>(cb + CB_OPTIONS, load<u32>(cb + CB_OPTIONS) | CB_OPT_NOTIFY);
  writeDeviceEvent(cb, true);
  const slot = load<u32>(cb + PDEV_NEXT_AVAIL);
  // [A5] consume the next slot's flags; pairs with [R5] in packedDriverAdd. After the seq-cst
  // [R9] store: the driver either sees the request or we see the buffer it made available.
  const f = <u32>atomic.load<u16>(load<u32>(cb + CB_DESC) + slot * PDESC_SIZE + PDESC_FLAGS);
  return isAvailable(f, load<u32>(cb + PDEV_AVAIL_WRAP)) ? 1 : 0;
}

/** Stops asking for kicks (a polling device). */
export function packedDeviceDisableNotify(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  store<u32>(cb + CB_OPTIONS, load<u32>(cb + CB_OPTIONS) & ~CB_OPT_NOTIFY);
  writeDeviceEvent(cb, false);
  return 0;
}

/**
 * Gives back the last `n` buffers popped (records at `chains`, in pop order) unused: the next
 * pop reads them again. Same contract as splitDeviceUnpop; the ring position moves back by the
 * slots they took, flipping the wrap counter if it crosses slot 0 (2.8.1). Nothing is written to
 * the ring: the slots are still the driver's available descriptors.
 */
export function packedDeviceUnpop(cb: u32, chains: u32, n: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  if (n == 0) return 0;
  if (!inMemory(chains, <u64>n * CHAIN_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, chains);
  const q = queueSize(cb);
  const popped = load<u32>(cb + PDEV_IN_FLIGHT);
  if (n > popped) return refuse(cb, ERR_BAD_ARGUMENT, n);
  const shadow = load<u32>(cb + PDEV_SHADOW);
  // The last buffers popped, in pop order (see splitDeviceUnpop), each in flight and named once.
  const serial = load<u32>(cb + DEV_POP_SERIAL);
  const late = checkLastPopped(shadow, q, chains, n, serial);
  if (late >= 0) return refuse(cb, ERR_BAD_ARGUMENT, <u32>late);
  const bad = checkUsedRecords(shadow, q, chains, n, hasFeature(cb, F_IN_ORDER), load<u32>(cb + PDEV_ORDER), load<u32>(cb + PDEV_ORDER_HEAD) + popped - n, CHAIN_SIZE);
  if (bad >= 0) return refuse(cb, ERR_BAD_ARGUMENT, <u32>bad);
  // Buffers popped again from the resubmission list come first (see splitDeviceUnpop): they go
  // back on the list, their region entries untouched; the rest go back to the ring.
  let descs: u32 = 0;
  let all: u32 = 0;
  let again: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const sh = shadow + load<u32>(chains + i * CHAIN_SIZE + CHAIN_ID) * DSHADOW_SIZE;
    const nd = <u32>load<u16>(sh + DSHADOW_NDESC);
    all += nd;
    if ((load<u16>(sh + DSHADOW_FLAGS) & DSHADOW_F_RESUBMITTED) != 0) again++;
    else descs += nd;
    store<u16>(sh + DSHADOW_FLAGS, 0);
  }
  const region = inflightRegion(cb);
  if (region != 0) packedInflightUnpop(cb, region, chains + again * CHAIN_SIZE, n - again);
  store<u32>(cb + PDEV_RESUBMIT_NEXT, load<u32>(cb + PDEV_RESUBMIT_NEXT) - again);
  let slot = <i32>load<u32>(cb + PDEV_NEXT_AVAIL) - <i32>descs;
  let wrap = load<u32>(cb + PDEV_AVAIL_WRAP);
  if (slot < 0) { slot += <i32>q; wrap ^= 1; }
  store<u32>(cb + PDEV_NEXT_AVAIL, <u32>slot);
  store<u32>(cb + PDEV_AVAIL_WRAP, wrap);
  store<u32>(cb + PDEV_IN_FLIGHT, popped - n);
  store<u32>(cb + PDEV_IN_FLIGHT_DESCS, load<u32>(cb + PDEV_IN_FLIGHT_DESCS) - all);
  store<u32>(cb + DEV_POP_SERIAL, serial - n);
  return <i32>n;
}
