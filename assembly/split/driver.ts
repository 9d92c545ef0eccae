// Split virtqueue, driver side (VIRTIO 1.2, 2.7.13 "Supplying Buffers to The Device" and
// 2.7.14 "Receiving Used Buffers From The Device").
//
// The driver owns the descriptor table and the available ring; it reads the used ring, which
// the device writes and which it therefore does not trust: every used entry is checked against
// the driver's private shadow state before anything is freed or reported.
//
// Descriptor allocation policy (the reference model in sim/ mirrors it exactly): free
// descriptors form a list threaded through the private shadow `next` links, 0, 1, ... q-1 after
// reset; a chain takes the first k free descriptors in list order. A used chain goes back on the
// front of the list (LIFO), or with VIRTIO_F_IN_ORDER on its tail, which keeps allocation in ring
// order as 2.7.5.2 asks (next = x + 1, and 0 after the last descriptor of the table).
import {
  CB_DESC, CB_DRIVER_AREA, CB_DEVICE_AREA, CB_OPTIONS, CB_OPT_NOTIFY, CB_KIND_SPLIT_DRIVER,
  SDRV_FREE_HEAD, SDRV_NUM_FREE, SDRV_AVAIL_IDX, SDRV_KICK_IDX, SDRV_LAST_USED, SDRV_IN_FLIGHT,
  SDRV_SHADOW, SDRV_INDIRECT, SDRV_INDIRECT_MAX, SDRV_FREE_TAIL, SDRV_OLDEST, DRV_ADDR_BASE, SHADOW_SIZE,
  SHADOW_TOKEN, SHADOW_WRITE_LEN, SHADOW_NEXT, SHADOW_NDESC, SHADOW_TAIL, SHADOW_FLAGS,
  SHADOW_F_IN_FLIGHT, SHADOW_F_INDIRECT, NONE_16,
} from "../layout/queue";
import {
  DESC_SIZE, DESC_ADDR, DESC_LEN, DESC_FLAGS, DESC_NEXT, DESC_ALIGN, DESC_F_NEXT, DESC_F_WRITE,
  DESC_F_INDIRECT, AVAIL_FLAGS, AVAIL_IDX, AVAIL_RING, AVAIL_ELEM_SIZE, AVAIL_F_NO_INTERRUPT,
  USED_FLAGS, USED_IDX, USED_RING, USED_ELEM_SIZE, USED_ELEM_ID, USED_ELEM_LEN, USED_F_NO_NOTIFY,
} from "../layout/split";
import {
  CHAIN_SIZE, CHAIN_ID, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, SEG_SIZE, SEG_OFFSET, SEG_LEN,
  USED_REC_SIZE, USED_REC_ID, USED_REC_LEN,
} from "../layout/batch";
import {
  ERR_BAD_CONFIG, ERR_OUT_OF_MEMORY_BOUNDS, ERR_USED_IDX_JUMP, ERR_USED_ID_NOT_IN_FLIGHT,
  ERR_SEGMENTS_FULL,
} from "../layout/errors";
import { F_EVENT_IDX, F_INDIRECT_DESC, F_IN_ORDER } from "../layout/features";
import {
  enter, enterAny, breakQueue, refuse, queueSize, hasFeature, needEvent, validQueueSize, inMemory,
  endBurst, clearFault, checkShadowArea,
} from "../shared/common";
import {
  checkAddBurst, checkUsedEntry, detachAll, checkIndirectArea, resetDriverShadow, checkAddressBase,
} from "../shared/driver-common";
import { usedEventAddr, availEventAddr, checkSplitAreas } from "./areas";

const KIND = CB_KIND_SPLIT_DRIVER;

/**
 * Checks the configuration the host wrote into the block and initialises the driver side:
 * empty free list of all descriptors, avail.flags, avail.idx and used_event. The starting
 * index is whatever the host left in SDRV_AVAIL_IDX (0 after a device reset; tests start near
 * 65535 to cross the 16-bit wrap early). Returns 0 or ERR_BAD_CONFIG.
 */
export function splitDriverReset(cb: u32): i32 {
  const rc = enterAny(cb, KIND);
  if (rc != 0) return rc;
  const q = queueSize(cb);
  if (!validQueueSize(q)) return refuse(cb, ERR_BAD_CONFIG, q);
  const shadow = load<u32>(cb + SDRV_SHADOW);
  const bad = checkSplitAreas(cb, q) || checkShadowArea(cb, shadow, <u64>q * SHADOW_SIZE)
    || checkIndirectArea(cb, q, SDRV_INDIRECT, SDRV_INDIRECT_MAX, DESC_ALIGN, DESC_SIZE) || checkAddressBase(cb);
  if (bad != 0) return bad;

  const start = load<u32>(cb + SDRV_AVAIL_IDX) & 0xffff;
  store<u32>(cb + SDRV_AVAIL_IDX, start);
  store<u32>(cb + SDRV_KICK_IDX, start);
  store<u32>(cb + SDRV_LAST_USED, start);
  store<u32>(cb + SDRV_IN_FLIGHT, 0);
  store<u32>(cb + SDRV_FREE_HEAD, 0);
  store<u32>(cb + SDRV_FREE_TAIL, q - 1);
  store<u32>(cb + SDRV_OLDEST, 0);
  store<u32>(cb + SDRV_NUM_FREE, q);
  clearFault(cb);
  resetDriverShadow(shadow, q);
  const avail = load<u32>(cb + CB_DRIVER_AREA);
  const eventIdx = hasFeature(cb, F_EVENT_IDX);
  const notify = (load<u32>(cb + CB_OPTIONS) & CB_OPT_NOTIFY) != 0;
  // 2.7.7.1: with EVENT_IDX the driver MUST keep avail.flags at 0; otherwise flags is 0 or 1.
  store<u16>(avail + AVAIL_FLAGS, eventIdx || notify ? 0 : AVAIL_F_NO_INTERRUPT);
  store<u16>(usedEventAddr(cb, q), start);
  // [R3] publish avail.idx, its starting value (the fields above go with it); pairs with [A3].
  atomic.store<u16>(avail + AVAIL_IDX, start);
  return 0;
}

/**
 * Makes up to `n` chains available. `chains` points at n chain records (layout/batch.ts) whose
 * segments are in the array at `segs`; CHAIN_ID is the caller's token. The whole burst is
 * checked first (no empty chain, none longer than Queue Size, fewer than 2^32 bytes each), so
 * a bad record changes nothing; then chains are added in order until the descriptors run
 * out. With VIRTIO_F_INDIRECT_DESC and an indirect area, a chain of 2 to
 * indMax segments takes one ring descriptor pointing at its own indirect table.
 * Publishes avail.idx once for the whole burst. Returns the number of chains added.
 */
export function splitDriverAdd(cb: u32, chains: u32, segs: u32, n: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  // Pass 1: check every record; nothing is written.
  const bad = checkAddBurst(cb, queueSize(cb), chains, segs, n);
  if (bad != 0) return bad;
  return addChains(cb, chains, segs, n);
}

/**
 * splitDriverAdd without pass 1, for records the engine built itself from what it had checked (the
 * virtio-user port's frames and receive buffers: every chain 1 to Queue Size segments, fewer than
 * 2^32 bytes, in the port's own record arrays). Pass 1 was a tenth of a txonly burst's cost.
 */
export function splitDriverAddPrechecked(cb: u32, chains: u32, segs: u32, n: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  return addChains(cb, chains, segs, n);
}

/** Pass 2 of splitDriverAdd: writes the (checked) chains in order while descriptors last. */
function addChains(cb: u32, chains: u32, segs: u32, n: u32): i32 {
  const q = queueSize(cb);
  const indirect = load<u32>(cb + SDRV_INDIRECT);
  const useIndirect = indirect != 0 && hasFeature(cb, F_INDIRECT_DESC);
  const indMax: u32 = useIndirect ? load<u32>(cb + SDRV_INDIRECT_MAX) : 0;

  // Pass 2: write descriptors and ring entries, in order, while descriptors last.
  const desc = load<u32>(cb + CB_DESC);
  const avail = load<u32>(cb + CB_DRIVER_AREA);
  const shadow = load<u32>(cb + SDRV_SHADOW);
  let freeHead = load<u32>(cb + SDRV_FREE_HEAD);
  let numFree = load<u32>(cb + SDRV_NUM_FREE);
  let availIdx = load<u32>(cb + SDRV_AVAIL_IDX);
  const inFlight = load<u32>(cb + SDRV_IN_FLIGHT);
  // 2.7.5: a descriptor's addr is the buffer's guest-physical address: Wasm offset + the block's base.
  const base = load<u64>(cb + DRV_ADDR_BASE);
  let added: u32 = 0;
  for (; added < n; added++) {
    const c = chains + added * CHAIN_SIZE;
    const nRead = <u32>load<u16>(c + CHAIN_NREAD);
    const k = nRead + <u32>load<u16>(c + CHAIN_NWRITE);
    const first = segs + load<u32>(c + CHAIN_SEG) * SEG_SIZE;
    const viaTable = useIndirect && k > 1 && k <= indMax;
    const need: u32 = viaTable ? 1 : k;
    if (need > numFree) break;
    const head = freeHead;
    let writeLen: u32 = 0;
    let tail = head;
    if (viaTable) {
      const table = indirect + head * indMax * DESC_SIZE;
      for (let j: u32 = 0; j < k; j++) {
        const s = first + j * SEG_SIZE;
        const d = table + j * DESC_SIZE;
        const len = load<u32>(s + SEG_LEN);
        let flags: u32 = j + 1 < k ? DESC_F_NEXT : 0;
        if (j >= nRead) { flags |= DESC_F_WRITE; writeLen += len; }
        store<u64>(d + DESC_ADDR, base + <u64>load<u32>(s + SEG_OFFSET));
        store<u32>(d + DESC_LEN, len);
        store<u16>(d + DESC_FLAGS, flags);
        store<u16>(d + DESC_NEXT, j + 1 < k ? j + 1 : 0);
      }
      const d = desc + head * DESC_SIZE;
      store<u64>(d + DESC_ADDR, base + <u64>table);
      store<u32>(d + DESC_LEN, k * DESC_SIZE);
      store<u16>(d + DESC_FLAGS, DESC_F_INDIRECT);
      store<u16>(d + DESC_NEXT, 0);
      freeHead = load<u16>(shadow + head * SHADOW_SIZE + SHADOW_NEXT);
    } else {
      let i = head;
      for (let j: u32 = 0; j < k; j++) {
        const s = first + j * SEG_SIZE;
        const d = desc + i * DESC_SIZE;
        const len = load<u32>(s + SEG_LEN);
        const next = <u32>load<u16>(shadow + i * SHADOW_SIZE + SHADOW_NEXT);
        let flags: u32 = j + 1 < k ? DESC_F_NEXT : 0;
        if (j >= nRead) { flags |= DESC_F_WRITE; writeLen += len; }
        store<u64>(d + DESC_ADDR, base + <u64>load<u32>(s + SEG_OFFSET));
        store<u32>(d + DESC_LEN, len);
        store<u16>(d + DESC_FLAGS, flags);
        store<u16>(d + DESC_NEXT, j + 1 < k ? next : 0);
        tail = i;
        i = next;
      }
      freeHead = i;
    }
    numFree -= need;
    if (inFlight + added == 0) store<u32>(cb + SDRV_OLDEST, head);
    const h = shadow + head * SHADOW_SIZE;
    store<u32>(h + SHADOW_TOKEN, load<u32>(c + CHAIN_ID));
    store<u32>(h + SHADOW_WRITE_LEN, writeLen);
    store<u16>(h + SHADOW_NDESC, need);
    store<u16>(h + SHADOW_TAIL, tail);
    store<u16>(h + SHADOW_FLAGS, SHADOW_F_IN_FLIGHT | (viaTable ? SHADOW_F_INDIRECT : 0));
    // A ring entry is written only when it changes: with IN_ORDER (and often without) a slot
    // gets the same head lap after lap, and an unwritten line stays shared with the device's
    // cache instead of moving to ours and back (DPDK's virtio driver does the same).
    const slot = avail + AVAIL_RING + (availIdx & (q - 1)) * AVAIL_ELEM_SIZE;
    if (<u32>load<u16>(slot) != head) store<u16>(slot, head);
    availIdx = (availIdx + 1) & 0xffff;
  }
  if (added > 0) {
    store<u32>(cb + SDRV_FREE_HEAD, freeHead);
    store<u32>(cb + SDRV_NUM_FREE, numFree);
    store<u32>(cb + SDRV_AVAIL_IDX, availIdx);
    store<u32>(cb + SDRV_IN_FLIGHT, inFlight + added);
    // [R3] publish avail.idx (release): the descriptors and ring entries written above are
    // visible before the new index. Pairs with [A3] in splitDevicePop.
    atomic.store<u16>(avail + AVAIL_IDX, availIdx);
  }
  return <i32>added;
}

/**
 * Whether the device wants to hear about the chains added since the last call (2.7.13.4):
 * with EVENT_IDX, when avail_event lies among them; otherwise unless used.flags says
 * NO_NOTIFY. Returns 1 to notify, 0 not to.
 */
export function splitDriverKickNeeded(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  const newIdx = load<u32>(cb + SDRV_AVAIL_IDX);
  const oldIdx = load<u32>(cb + SDRV_KICK_IDX);
  store<u32>(cb + SDRV_KICK_IDX, newIdx);
  if (newIdx == oldIdx) return 0;
  // [A7] consume the device's kick request (avail_event, or used.flags); pairs with [R7] in
  // splitDevicePop and splitDevice{Enable,Disable}Notify. The [R3] store in splitDriverAdd and
  // these loads are sequentially consistent atomics, which gives the full barrier 2.7.13.4 asks
  // for: either the device sees our new index, or we see the request it wrote before it looked.
  if (hasFeature(cb, F_EVENT_IDX)) {
    const event = <u32>atomic.load<u16>(availEventAddr(cb, queueSize(cb))); // [A7] avail_event
    return needEvent(event, newIdx, oldIdx) ? 1 : 0;
  }
  const used = load<u32>(cb + CB_DEVICE_AREA);
  return (atomic.load<u16>(used + USED_FLAGS) & USED_F_NO_NOTIFY) != 0 ? 0 : 1; // [A7] used.flags
}

/**
 * Collects up to `max` used chains into used records at `out` (id = the caller's token,
 * len = bytes the device wrote). Every entry is checked (2.7.8): the id names a chain in
 * flight, the length fits that chain's writable capacity, and used.idx never runs ahead of
 * what is in flight. The burst stops at the first bad entry: what came before it is returned
 * as usual, and the queue is marked broken so the next call reports the fault.
 */
export function splitDriverCollect(cb: u32, out: u32, max: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  if (!inMemory(out, <u64>max * USED_REC_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, out);
  const q = queueSize(cb);
  const used = load<u32>(cb + CB_DEVICE_AREA);
  const shadow = load<u32>(cb + SDRV_SHADOW);
  // [A4] consume used.idx (acquire): the used elements below are read only after the index
  // that covers them. Pairs with [R4] in splitDevicePush.
  const usedIdx = <u32>atomic.load<u16>(used + USED_IDX);
  let last = load<u32>(cb + SDRV_LAST_USED);
  const inFlight = load<u32>(cb + SDRV_IN_FLIGHT);
  const pending = (usedIdx - last) & 0xffff;
  if (pending > inFlight) return breakQueue(cb, ERR_USED_IDX_JUMP, usedIdx);
  if (hasFeature(cb, F_IN_ORDER)) return collectInOrder(cb, q, out, max, usedIdx, pending);
  const n = pending < max ? pending : max;
  let freeHead = load<u32>(cb + SDRV_FREE_HEAD);
  let numFree = load<u32>(cb + SDRV_NUM_FREE);
  let got: u32 = 0;
  let err: i32 = 0;
  let detail: u32 = 0;
  for (; got < n; got++) {
    const e = used + USED_RING + (last & (q - 1)) * USED_ELEM_SIZE;
    const id = load<u32>(e + USED_ELEM_ID);
    const len = load<u32>(e + USED_ELEM_LEN);
    const bad = checkUsedEntry(shadow, q, id, len);
    if (bad != 0) { err = bad; detail = id; break; }
    const h = shadow + id * SHADOW_SIZE;
    const o = out + got * USED_REC_SIZE;
    store<u32>(o + USED_REC_ID, load<u32>(h + SHADOW_TOKEN));
    store<u32>(o + USED_REC_LEN, len);
    // Give the chain's descriptors back: its tail now links to the old free list.
    const tail = <u32>load<u16>(h + SHADOW_TAIL);
    store<u16>(shadow + tail * SHADOW_SIZE + SHADOW_NEXT, freeHead);
    freeHead = id;
    numFree += load<u16>(h + SHADOW_NDESC);
    store<u16>(h + SHADOW_FLAGS, 0);
    last = (last + 1) & 0xffff;
  }
  if (got > 0) {
    store<u32>(cb + SDRV_FREE_HEAD, freeHead);
    store<u32>(cb + SDRV_NUM_FREE, numFree);
    store<u32>(cb + SDRV_LAST_USED, last);
    store<u32>(cb + SDRV_IN_FLIGHT, inFlight - got);
    if (hasFeature(cb, F_EVENT_IDX) && (load<u32>(cb + CB_OPTIONS) & CB_OPT_NOTIFY) != 0) {
      // 2.7.7.1: ask to be notified when the device writes the entry at index `last`.
      // [R8] publish used_event; pairs with [A8] in splitDeviceInterruptNeeded.
      atomic.store<u16>(usedEventAddr(cb, q), last);
    }
  }
  return endBurst(cb, got, err, detail);
}

/**
 * splitDriverCollect with VIRTIO_F_IN_ORDER (2.7.9): the used element at lastUsed names the
 * last chain of a run; every chain made available before it in the run was used completely
 * (reported with its whole writable length) and the index moves past the whole run. Chains are
 * in flight in ring order from SDRV_OLDEST, each nDesc descriptors after the one before.
 */
function collectInOrder(cb: u32, q: u32, out: u32, max: u32, usedIdx: u32, pending: u32): i32 {
  const used = load<u32>(cb + CB_DEVICE_AREA);
  const shadow = load<u32>(cb + SDRV_SHADOW);
  let last = load<u32>(cb + SDRV_LAST_USED);
  let inFlight = load<u32>(cb + SDRV_IN_FLIGHT);
  let got: u32 = 0;
  let err: i32 = 0;
  let detail: u32 = 0;
  while (pending > 0 && got < max) {
    const e = used + USED_RING + (last & (q - 1)) * USED_ELEM_SIZE;
    const id = load<u32>(e + USED_ELEM_ID);
    const len = load<u32>(e + USED_ELEM_LEN);
    const bad = checkUsedEntry(shadow, q, id, len);
    if (bad != 0) { err = bad; detail = id; break; }
    // Count the run: from the oldest chain to `id`, bounded by the chains in flight.
    let count: u32 = 1;
    let h = load<u32>(cb + SDRV_OLDEST);
    while (h != id && count < inFlight) {
      h = (h + <u32>load<u16>(shadow + h * SHADOW_SIZE + SHADOW_NDESC)) & (q - 1);
      count++;
    }
    if (h != id) { err = ERR_USED_ID_NOT_IN_FLIGHT; detail = id; break; }
    // The run is `count` buffers: used.idx must have been moved past all of them.
    if (count > pending) { err = ERR_USED_IDX_JUMP; detail = usedIdx; break; }
    if (got + count > max) {
      if (got == 0) return refuse(cb, ERR_SEGMENTS_FULL, count);
      break;
    }
    releaseOldest(cb, q, shadow, out + got * USED_REC_SIZE, count, len, true);
    got += count;
    inFlight -= count;
    pending -= count;
    last = (last + count) & 0xffff;
  }
  if (got > 0) finishInOrder(cb, q, last, inFlight);
  return endBurst(cb, got, err, detail);
}

/**
 * Collects up to `max` used chains whose lengths the caller does not need (a transmit queue's).
 * With VIRTIO_F_IN_ORDER by used.idx alone: the device uses buffers in the order they were made
 * available and used.idx counts them, whatever entries it wrote for them (2.7.9), so the oldest
 * chains in flight are the used ones and the used elements are not read (their cache lines stay
 * with the device that writes them); each record's len is 0. Without IN_ORDER it is
 * splitDriverCollect. Returns the records written, or an error code.
 */
export function splitDriverReap(cb: u32, out: u32, max: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  if (!hasFeature(cb, F_IN_ORDER)) return splitDriverCollect(cb, out, max);
  if (!inMemory(out, <u64>max * USED_REC_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, out);
  const q = queueSize(cb);
  // [A4] consume used.idx (acquire), as in splitDriverCollect: the device is done with every
  // buffer the index covers before the buffers are handed back.
  const usedIdx = <u32>atomic.load<u16>(load<u32>(cb + CB_DEVICE_AREA) + USED_IDX);
  const last = load<u32>(cb + SDRV_LAST_USED);
  const inFlight = load<u32>(cb + SDRV_IN_FLIGHT);
  const pending = (usedIdx - last) & 0xffff;
  if (pending > inFlight) return breakQueue(cb, ERR_USED_IDX_JUMP, usedIdx);
  const n = pending < max ? pending : max;
  if (n == 0) return 0;
  // The records say nothing of lengths here: every len is 0.
  releaseOldest(cb, q, load<u32>(cb + SDRV_SHADOW), out, n, 0, false);
  finishInOrder(cb, q, (last + n) & 0xffff, inFlight - n);
  return <i32>n;
}

/**
 * Hands the `count` oldest chains in flight back (in order: each onto the tail of the free list,
 * so the ring order of descriptors is kept), writing their records at `out`: the token, and
 * with `wholeLens` the whole writable length, `lastLen` for the last one (0 for all without).
 */
function releaseOldest(cb: u32, q: u32, shadow: u32, out: u32, count: u32, lastLen: u32, wholeLens: bool): void {
  let oldest = load<u32>(cb + SDRV_OLDEST);
  let freeHead = load<u32>(cb + SDRV_FREE_HEAD);
  let freeTail = load<u32>(cb + SDRV_FREE_TAIL);
  let numFree = load<u32>(cb + SDRV_NUM_FREE);
  for (let j: u32 = 0; j < count; j++) {
    const c = oldest;
    const sh = shadow + c * SHADOW_SIZE;
    const o = out + j * USED_REC_SIZE;
    store<u32>(o + USED_REC_ID, load<u32>(sh + SHADOW_TOKEN));
    store<u32>(o + USED_REC_LEN, wholeLens && j + 1 < count ? load<u32>(sh + SHADOW_WRITE_LEN) : lastLen);
    const nd = <u32>load<u16>(sh + SHADOW_NDESC);
    const tail = <u32>load<u16>(sh + SHADOW_TAIL);
    store<u16>(shadow + tail * SHADOW_SIZE + SHADOW_NEXT, NONE_16);
    if (freeHead == NONE_16) freeHead = c;
    else store<u16>(shadow + freeTail * SHADOW_SIZE + SHADOW_NEXT, c);
    freeTail = tail;
    numFree += nd;
    store<u16>(sh + SHADOW_FLAGS, 0);
    oldest = (c + nd) & (q - 1);
  }
  store<u32>(cb + SDRV_OLDEST, oldest);
  store<u32>(cb + SDRV_FREE_HEAD, freeHead);
  store<u32>(cb + SDRV_FREE_TAIL, freeTail);
  store<u32>(cb + SDRV_NUM_FREE, numFree);
}

/** After an in-order collect: where the driver is in the used ring, and used_event when it wants interrupts. */
function finishInOrder(cb: u32, q: u32, last: u32, inFlight: u32): void {
  store<u32>(cb + SDRV_LAST_USED, last);
  store<u32>(cb + SDRV_IN_FLIGHT, inFlight);
  if (hasFeature(cb, F_EVENT_IDX) && (load<u32>(cb + CB_OPTIONS) & CB_OPT_NOTIFY) != 0) {
    atomic.store<u16>(usedEventAddr(cb, q), last); // [R8] publish used_event, as in splitDriverCollect
  }
}

/**
 * Asks for used buffer notifications again (2.7.7). Returns 1 when used entries are already
 * waiting (collect before sleeping: the device may have finished before it saw the request).
 */
export function splitDriverEnableInterrupts(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  const q = queueSize(cb);
  const avail = load<u32>(cb + CB_DRIVER_AREA);
  const used = load<u32>(cb + CB_DEVICE_AREA);
  const last = load<u32>(cb + SDRV_LAST_USED);
  store<u32>(cb + CB_OPTIONS, load<u32>(cb + CB_OPTIONS) | CB_OPT_NOTIFY);
  // [R8] publish the request (used_event, or avail.flags); pairs with [A8] in
  // splitDeviceInterruptNeeded.
  if (hasFeature(cb, F_EVENT_IDX)) atomic.store<u16>(usedEventAddr(cb, q), last);
  else atomic.store<u16>(avail + AVAIL_FLAGS, 0);
  // [A4] consume used.idx; pairs with [R4] in splitDevicePush. Sequentially consistent store,
  // then load: the device either sees the request or we see the entries it published before
  // looking.
  return <u32>atomic.load<u16>(used + USED_IDX) != last ? 1 : 0;
}

/**
 * Stops asking for used buffer notifications. With EVENT_IDX, used_event simply stops
 * moving (2.7.7.1 forbids avail.flags there), so at most one late notification can follow.
 */
export function splitDriverDisableInterrupts(cb: u32): i32 {
  const rc = enter(cb, KIND);
  if (rc != 0) return rc;
  store<u32>(cb + CB_OPTIONS, load<u32>(cb + CB_OPTIONS) & ~CB_OPT_NOTIFY);
  if (!hasFeature(cb, F_EVENT_IDX)) {
    // [R8] publish avail.flags NO_INTERRUPT; pairs with [A8] in splitDeviceInterruptNeeded.
    atomic.store<u16>(load<u32>(cb + CB_DRIVER_AREA) + AVAIL_FLAGS, AVAIL_F_NO_INTERRUPT);
  }
  return 0;
}

/**
 * Takes back every chain still in flight, broken queue or not (teardown, reset, a device
 * that went away), writing used records with len 0 so the caller can release their buffers.
 * Returns the number written (at most `max`); call again until it returns 0, then reset.
 */
export function splitDriverDetach(cb: u32, out: u32, max: u32): i32 {
  const rc = enterAny(cb, KIND);
  if (rc != 0) return rc;
  return detachAll(cb, queueSize(cb), load<u32>(cb + SDRV_SHADOW), SDRV_IN_FLIGHT, out, max);
}
