// Packed virtqueue, driver side (VIRTIO 1.2, 2.8.21 "Supplying Buffers to The Device" and
// 2.8.22 "Receiving Used Buffers From The Device").
//
// The driver writes descriptors into consecutive ring slots and tells the device which buffer
// they belong to by a buffer id. Used descriptors come back in the same ring; each is checked
// against the driver's private per-id state before anything is freed or reported.
//
// Buffer id policy (the reference model mirrors it): free ids form a LIFO list through the
// private shadow `next` links, starting 0, 1, 2, ...; a collected id goes back on the front.
// Every descriptor of a list carries the id (the spec needs it only in the last, 2.8.6).
import {
  CB_DESC, CB_DRIVER_AREA, CB_DEVICE_AREA, CB_OPTIONS, CB_OPT_NOTIFY, CB_OPT_USED_LEN_WITHOUT_WRITE, CB_KIND_PACKED_DRIVER,
  PDRV_NEXT_AVAIL, PDRV_AVAIL_WRAP, PDRV_NEXT_USED, PDRV_USED_WRAP, PDRV_NUM_FREE, PDRV_FREE_ID,
  PDRV_IN_FLIGHT, PDRV_SHADOW, PDRV_INDIRECT, PDRV_INDIRECT_MAX, PDRV_ADDED, PDRV_ORDER,
  PDRV_ORDER_HEAD, DRV_ADDR_BASE, SHADOW_SIZE, SHADOW_TOKEN, SHADOW_WRITE_LEN, SHADOW_NEXT, SHADOW_NDESC,
  SHADOW_FLAGS, SHADOW_F_IN_FLIGHT, SHADOW_F_INDIRECT, NONE_16,
} from "../layout/queue";
import {
  PDESC_SIZE, PDESC_ADDR, PDESC_LEN, PDESC_ID, PDESC_FLAGS, PDESC_ALIGN, PDESC_F_NEXT,
  PDESC_F_WRITE, PDESC_F_INDIRECT, EVENT_OFF_WRAP, EVENT_FLAGS, EVENT_SIZE, EVENT_ALIGN,
  EVENT_WRAP_SHIFT, RING_EVENT_FLAGS_ENABLE, RING_EVENT_FLAGS_DISABLE, RING_EVENT_FLAGS_DESC,
} from "../layout/packed";
import {
  CHAIN_SIZE, CHAIN_ID, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, SEG_SIZE, SEG_OFFSET, SEG_LEN,
  USED_REC_SIZE, USED_REC_ID, USED_REC_LEN,
} from "../layout/batch";
import {
  ERR_BAD_CONFIG, ERR_OUT_OF_MEMORY_BOUNDS, ERR_SEGMENTS_FULL, ERR_USED_ID_NOT_IN_FLIGHT,
} from "../layout/errors";
import { F_EVENT_IDX, F_INDIRECT_DESC, F_IN_ORDER } from "../layout/features";
import {
  enter, enterAny, refuse, queueSize, hasFeature, checkArea, inMemory, endBurst, clearFault, checkShadowArea,
  checkOrderArea,
} from "../shared/common";
import {
  checkAddBurst, checkUsedEntry, detachAll, checkIndirectArea, resetDriverShadow, checkAddressBase,
} from "../shared/driver-common";
import { isUsed, availableBits, validPackedQueueSize, packedNeedEvent } from "./flags";
import { orderSlot, orderAdvance } from "../shared/order";

const KIND = CB_KIND_PACKED_DRIVER;

/** Writes the driver event suppression structure: used buffer notifications wanted or not. */
function writeDriverEvent(cb: u32, notify: bool): void {
  const area = load<u32>(cb + CB_DRIVER_AREA);
  const flags: u32 = !notify ? RING_EVENT_FLAGS_DISABLE
    : hasFeature(cb, F_EVENT_IDX) ? RING_EVENT_FLAGS_DESC : RING_EVENT_FLAGS_ENABLE;
  const offWrap = load<u32>(cb + PDRV_NEXT_USED) | (load<u32>(cb + PDRV_USED_WRAP) << EVENT_WRAP_SHIFT);
  // [R10] publish the driver event suppression structure; pairs with [A10] in
  // packedDeviceInterruptNeeded. One 32-bit store, so the device never sees new flags with a
  // stale offset.
  atomic.store<u32>(area + EVENT_OFF_WRAP, offWrap | (flags << (EVENT_FLAGS * 8)));
}

/**
 * Checks the configuration and starts the ring afresh: zeroes the descriptor ring (2.8.13),
 * both wrap counters at 1 (2.8.1), all ids free, and the driver event structure.
 */
export function packedDriverReset(cb: u32): i32 {
  const rc = enterAny(cb, KIND);
  if (rc != 0) return rc;
  const q = queueSize(cb);
  if (!validPackedQueueSize(q)) return refuse(cb, ERR_BAD_CONFIG, q);
  const desc = load<u32>(cb + CB_DESC);
  const shadow = load<u32>(cb + PDRV_SHADOW);
  if (checkArea(desc, PDESC_ALIGN, <u64>q * PDESC_SIZE) != 0) return refuse(cb, ERR_BAD_CONFIG, desc);
  if (checkArea(load<u32>(cb + CB_DRIVER_AREA), EVENT_ALIGN, EVENT_SIZE) != 0) return refuse(cb, ERR_BAD_CONFIG, 0);
  if (checkArea(load<u32>(cb + CB_DEVICE_AREA), EVENT_ALIGN, EVENT_SIZE) != 0) return refuse(cb, ERR_BAD_CONFIG, 0);
  const bad = checkShadowArea(cb, shadow, <u64>q * SHADOW_SIZE) || checkOrderArea(cb, q, PDRV_ORDER)
    || checkIndirectArea(cb, q, PDRV_INDIRECT, PDRV_INDIRECT_MAX, PDESC_ALIGN, PDESC_SIZE) || checkAddressBase(cb);
  if (bad != 0) return bad;
  memory.fill(desc, 0, q * PDESC_SIZE);
  store<u32>(cb + PDRV_NEXT_AVAIL, 0);
  store<u32>(cb + PDRV_AVAIL_WRAP, 1);
  store<u32>(cb + PDRV_NEXT_USED, 0);
  store<u32>(cb + PDRV_USED_WRAP, 1);
  store<u32>(cb + PDRV_NUM_FREE, q);
  store<u32>(cb + PDRV_FREE_ID, 0);
  store<u32>(cb + PDRV_IN_FLIGHT, 0);
  store<u32>(cb + PDRV_ADDED, 0);
  store<u32>(cb + PDRV_ORDER_HEAD, 0);
  clearFault(cb);
  resetDriverShadow(shadow, q);
  writeDriverEvent(cb, (load<u32>(cb + CB_OPTIONS) & CB_OPT_NOTIFY) != 0);
  return 0;
}

/**
 * Makes up to `n` chains available (same contract as splitDriverAdd). Each list's descriptors go
 * into consecutive slots; the flags of the burst's first descriptor are stored last, after
 * everything else, so the device (which polls slots in order) never sees a partial list (2.8.6).
 */
export function packedDriverAdd(cb: u32, chains: u32, segs: u32, n: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  // Pass 1: check every record; nothing is written.
  const bad = checkAddBurst(cb, queueSize(cb), chains, segs, n);
  if (bad != 0) return bad;
  return addChains(cb, chains, segs, n);
}

/**
 * packedDriverAdd without pass 1, for records the engine built itself from what it had checked (the
 * virtio-user port's frames and receive buffers: every chain 1 to Queue Size segments, fewer than
 * 2^32 bytes, in the port's own record arrays). Pass 1 was a tenth of a txonly burst's cost.
 */
export function packedDriverAddPrechecked(cb: u32, chains: u32, segs: u32, n: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  return addChains(cb, chains, segs, n);
}

/** Pass 2 of packedDriverAdd: writes the (checked) chains in order while descriptors last. */
function addChains(cb: u32, chains: u32, segs: u32, n: u32): i32 {
  const q = queueSize(cb);
  const indirect = load<u32>(cb + PDRV_INDIRECT);
  const useIndirect = indirect != 0 && hasFeature(cb, F_INDIRECT_DESC);
  const indMax: u32 = useIndirect ? load<u32>(cb + PDRV_INDIRECT_MAX) : 0;

  // Pass 2: write lists while ids and slots last.
  const desc = load<u32>(cb + CB_DESC);
  const shadow = load<u32>(cb + PDRV_SHADOW);
  const inOrder = hasFeature(cb, F_IN_ORDER);
  const order = load<u32>(cb + PDRV_ORDER);
  const orderHead = load<u32>(cb + PDRV_ORDER_HEAD);
  let slot = load<u32>(cb + PDRV_NEXT_AVAIL);
  let wrap = load<u32>(cb + PDRV_AVAIL_WRAP);
  let numFree = load<u32>(cb + PDRV_NUM_FREE);
  let freeId = load<u32>(cb + PDRV_FREE_ID);
  let inFlight = load<u32>(cb + PDRV_IN_FLIGHT);
  // 2.8.4: "Element Address corresponds to the physical address of the buffer element": Wasm offset + the block's base.
  const base = load<u64>(cb + DRV_ADDR_BASE);
  let added: u32 = 0;
  let descs: u32 = 0;
  let firstFlagsAddr: u32 = 0;
  let firstFlags: u32 = 0;
  for (; added < n; added++) {
    const c = chains + added * CHAIN_SIZE;
    const nRead = <u32>load<u16>(c + CHAIN_NREAD);
    const k = nRead + <u32>load<u16>(c + CHAIN_NWRITE);
    const first = segs + load<u32>(c + CHAIN_SEG) * SEG_SIZE;
    const viaTable = useIndirect && k > 1 && k <= indMax;
    const need: u32 = viaTable ? 1 : k;
    if (need > numFree || freeId == NONE_16) break;
    const id = freeId;
    const h = shadow + id * SHADOW_SIZE;
    freeId = load<u16>(h + SHADOW_NEXT);
    const avail = availableBits(wrap);
    let writeLen: u32 = 0;
    if (viaTable) {
      const table = indirect + id * indMax * PDESC_SIZE;
      for (let j: u32 = 0; j < k; j++) {
        const s = first + j * SEG_SIZE;
        const e = table + j * PDESC_SIZE;
        const len = load<u32>(s + SEG_LEN);
        // 2.8.19: WRITE is the only flag inside a table.
        let flags: u32 = 0;
        if (j >= nRead) { flags = PDESC_F_WRITE; writeLen += len; }
        store<u64>(e + PDESC_ADDR, base + <u64>load<u32>(s + SEG_OFFSET));
        store<u32>(e + PDESC_LEN, len);
        store<u16>(e + PDESC_ID, 0);
        store<u16>(e + PDESC_FLAGS, flags);
      }
      const d = desc + slot * PDESC_SIZE;
      store<u64>(d + PDESC_ADDR, base + <u64>table);
      store<u32>(d + PDESC_LEN, k * PDESC_SIZE);
      store<u16>(d + PDESC_ID, id);
      const flags = PDESC_F_INDIRECT | avail;
      if (added == 0) { firstFlagsAddr = d + PDESC_FLAGS; firstFlags = flags; }
      else store<u16>(d + PDESC_FLAGS, flags);
      slot++;
      if (slot == q) { slot = 0; wrap ^= 1; }
    } else {
      for (let j: u32 = 0; j < k; j++) {
        const s = first + j * SEG_SIZE;
        const d = desc + slot * PDESC_SIZE;
        const len = load<u32>(s + SEG_LEN);
        // The wrap counter may flip inside a list: each descriptor carries the counter of its own slot.
        let flags: u32 = availableBits(wrap) | (j + 1 < k ? PDESC_F_NEXT : 0);
        if (j >= nRead) { flags |= PDESC_F_WRITE; writeLen += len; }
        store<u64>(d + PDESC_ADDR, base + <u64>load<u32>(s + SEG_OFFSET));
        store<u32>(d + PDESC_LEN, len);
        store<u16>(d + PDESC_ID, id);
        if (added == 0 && j == 0) { firstFlagsAddr = d + PDESC_FLAGS; firstFlags = flags; }
        else store<u16>(d + PDESC_FLAGS, flags);
        slot++;
        if (slot == q) { slot = 0; wrap ^= 1; }
      }
    }
    numFree -= need;
    descs += need;
    store<u32>(h + SHADOW_TOKEN, load<u32>(c + CHAIN_ID));
    store<u32>(h + SHADOW_WRITE_LEN, writeLen);
    store<u16>(h + SHADOW_NDESC, need);
    store<u16>(h + SHADOW_FLAGS, SHADOW_F_IN_FLIGHT | (viaTable ? SHADOW_F_INDIRECT : 0));
    if (inOrder) store<u16>(orderSlot(order, q, orderHead + inFlight), id);
    inFlight++;
  }
  if (added > 0) {
    store<u32>(cb + PDRV_NEXT_AVAIL, slot);
    store<u32>(cb + PDRV_AVAIL_WRAP, wrap);
    store<u32>(cb + PDRV_NUM_FREE, numFree);
    store<u32>(cb + PDRV_FREE_ID, freeId);
    store<u32>(cb + PDRV_IN_FLIGHT, inFlight);
    store<u32>(cb + PDRV_ADDED, load<u32>(cb + PDRV_ADDED) + descs);
    // [R5] publish the burst (release): every descriptor written above is visible once this
    // one is. Pairs with [A5] in packedDevicePop.
    atomic.store<u16>(firstFlagsAddr, firstFlags);
  }
  return <i32>added;
}

/** Whether the device wants a kick for what was added since the last call (2.8.21.2). */
export function packedDriverKickNeeded(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  const count = load<u32>(cb + PDRV_ADDED);
  store<u32>(cb + PDRV_ADDED, 0);
  if (count == 0) return 0;
  // [A9] consume the device event suppression structure; pairs with [R9] in writeDeviceEvent
  // (packed/device.ts). Seq-cst load after the seq-cst [R5] flags store in add: the barrier
  // 2.8.21.3.1 requires.
  const ev = atomic.load<u32>(load<u32>(cb + CB_DEVICE_AREA) + EVENT_OFF_WRAP);
  const flags = (ev >>> (EVENT_FLAGS * 8)) & 3;
  if (flags == RING_EVENT_FLAGS_DISABLE) return 0;
  if (flags != RING_EVENT_FLAGS_DESC || !hasFeature(cb, F_EVENT_IDX)) return 1;
  return packedNeedEvent(ev & 0xffff, load<u32>(cb + PDRV_NEXT_AVAIL), load<u32>(cb + PDRV_AVAIL_WRAP), count, queueSize(cb)) ? 1 : 0;
}

/** Frees buffer id `id` (its slots go back to the ring) and writes its used record. */
// @ts-ignore: decorator
@inline function release(cb: u32, h: u32, id: u32, o: u32, len: u32, freeId: u32): void {
  store<u32>(o + USED_REC_ID, load<u32>(h + SHADOW_TOKEN));
  store<u32>(o + USED_REC_LEN, len);
  store<u16>(h + SHADOW_NEXT, freeId);
  store<u16>(h + SHADOW_FLAGS, 0);
}

/**
 * Collects up to `max` used buffers (same contract as splitDriverCollect). With IN_ORDER, one
 * used descriptor for id X also returns every buffer made available before X, each with its full
 * writable length (2.8.8); `max` must then be at least the queue size or the call may return
 * ERR_SEGMENTS_FULL for a batch that does not fit.
 */
export function packedDriverCollect(cb: u32, out: u32, max: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  if (!inMemory(out, <u64>max * USED_REC_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, out);
  const q = queueSize(cb);
  const desc = load<u32>(cb + CB_DESC);
  const shadow = load<u32>(cb + PDRV_SHADOW);
  const inOrder = hasFeature(cb, F_IN_ORDER);
  const order = load<u32>(cb + PDRV_ORDER);
  let orderHead = load<u32>(cb + PDRV_ORDER_HEAD);
  let slot = load<u32>(cb + PDRV_NEXT_USED);
  let wrap = load<u32>(cb + PDRV_USED_WRAP);
  let numFree = load<u32>(cb + PDRV_NUM_FREE);
  let freeId = load<u32>(cb + PDRV_FREE_ID);
  let inFlight = load<u32>(cb + PDRV_IN_FLIGHT);
  const lenWithoutWrite = (load<u32>(cb + CB_OPTIONS) & CB_OPT_USED_LEN_WITHOUT_WRITE) != 0;
  let got: u32 = 0;
  let err: i32 = 0;
  let detail: u32 = 0;
  while (got < max && inFlight > 0) {
    const d = desc + slot * PDESC_SIZE;
    // [A6] consume the used descriptor (acquire); pairs with [R6], the store of the burst's
    // first used flags in packedDevicePush.
    const flags = <u32>atomic.load<u16>(d + PDESC_FLAGS);
    if (!isUsed(flags, wrap)) break;
    const id = <u32>load<u16>(d + PDESC_ID);
    // 2.8.4: the length is meaningful only when the device says it wrote (WRITE), unless the
    // host asked to take it regardless (CB_OPT_USED_LEN_WITHOUT_WRITE: QEMU's device model).
    const len = (flags & PDESC_F_WRITE) != 0 || lenWithoutWrite ? load<u32>(d + PDESC_LEN) : 0;
    const bad = checkUsedEntry(shadow, q, id, len);
    if (bad != 0) { err = bad; detail = id; break; }
    const h = shadow + id * SHADOW_SIZE;
    let count: u32 = 1;
    if (inOrder) {
      // Find X in the order of availability; everything before it was used completely.
      count = 0;
      while (count < inFlight && <u32>load<u16>(orderSlot(order, q, orderHead + count)) != id) count++;
      if (count == inFlight) { err = ERR_USED_ID_NOT_IN_FLIGHT; detail = id; break; }
      count++;
      if (got + count > max) {
        if (got == 0) return refuse(cb, ERR_SEGMENTS_FULL, count);
        break;
      }
      for (let j: u32 = 0; j + 1 < count; j++) {
        const sid = <u32>load<u16>(orderSlot(order, q, orderHead + j));
        const sh = shadow + sid * SHADOW_SIZE;
        const nd = <u32>load<u16>(sh + SHADOW_NDESC);
        release(cb, sh, sid, out + (got + j) * USED_REC_SIZE, load<u32>(sh + SHADOW_WRITE_LEN), freeId);
        freeId = sid;
        numFree += nd;
        slot += nd;
        if (slot >= q) { slot -= q; wrap ^= 1; }
      }
      orderHead = orderAdvance(q, orderHead, count);
    }
    const nd = <u32>load<u16>(h + SHADOW_NDESC);
    release(cb, h, id, out + (got + count - 1) * USED_REC_SIZE, len, freeId);
    freeId = id;
    numFree += nd;
    slot += nd;
    if (slot >= q) { slot -= q; wrap ^= 1; }
    got += count;
    inFlight -= count;
  }
  if (got > 0) {
    store<u32>(cb + PDRV_NEXT_USED, slot);
    store<u32>(cb + PDRV_USED_WRAP, wrap);
    store<u32>(cb + PDRV_NUM_FREE, numFree);
    store<u32>(cb + PDRV_FREE_ID, freeId);
    store<u32>(cb + PDRV_IN_FLIGHT, inFlight);
    store<u32>(cb + PDRV_ORDER_HEAD, orderHead);
    if (hasFeature(cb, F_EVENT_IDX) && (load<u32>(cb + CB_OPTIONS) & CB_OPT_NOTIFY) != 0) writeDriverEvent(cb, true);
  }
  return endBurst(cb, got, err, detail);
}

/** Asks for used buffer notifications again; returns 1 when a used buffer is already waiting. */
export function packedDriverEnableInterrupts(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  store<u32>(cb + CB_OPTIONS, load<u32>(cb + CB_OPTIONS) | CB_OPT_NOTIFY);
  writeDriverEvent(cb, true);
  if (load<u32>(cb + PDRV_IN_FLIGHT) == 0) return 0;
  const slot = load<u32>(cb + PDRV_NEXT_USED);
  // [A6] consume the next slot's flags; pairs with [R6] in packedDevicePush. After the seq-cst
  // [R10] store: the device either sees the request or we see the buffer it used.
  const f = <u32>atomic.load<u16>(load<u32>(cb + CB_DESC) + slot * PDESC_SIZE + PDESC_FLAGS);
  return isUsed(f, load<u32>(cb + PDRV_USED_WRAP)) ? 1 : 0;
}

/** Stops asking for used buffer notifications. */
export function packedDriverDisableInterrupts(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  store<u32>(cb + CB_OPTIONS, load<u32>(cb + CB_OPTIONS) & ~CB_OPT_NOTIFY);
  writeDriverEvent(cb, false);
  return 0;
}

/** Takes back every buffer in flight, broken queue or not (see splitDriverDetach). */
export function packedDriverDetach(cb: u32, out: u32, max: u32): i32 {
  const rc = enterAny(cb, KIND);
  if (rc != 0) return rc;
  return detachAll(cb, queueSize(cb), load<u32>(cb + PDRV_SHADOW), PDRV_IN_FLIGHT, out, max);
}
