// The virtio-user port's data path (layout/virtio-user.ts): the driver side of one virtio-net
// queue pair over mempool buffers, a whole burst per call. The host decides per burst (whether
// to kick, what to do with an error); every frame's work is here. Either ring layout, chosen
// by each control block's kind. Errors come from the driver (a used entry the device got wrong
// breaks the queue: ids not in flight, lengths past the buffer) or the mempool; the block's
// failedCb says whose detail to read.
import {
  VUQ_RX_DRV, VUQ_TX_DRV, VUQ_POOL, VUQ_CACHE, VUQ_DATA_OFF, VUQ_ROOM, VUQ_NUM, VUQ_CHAINS, VUQ_SEGS, VUQ_USED,
  VUQ_HANDLES, VUQ_EVENTS, VUQ_FAILED_CB, VUQ_RX_PACKETS, VUQ_RX_BYTES, VUQ_RX_DROPPED, VUQ_RX_NO_BUFFERS,
  VUQ_TX_PACKETS, VUQ_TX_BYTES, VUQ_TX_FULL, VUQ_EV_KICK_RX, VUQ_EV_KICK_TX, VUQ_NET_HDR_SIZE, VUQ_NET_HDR_NUM_BUFFERS,
  VUQ_MERGEABLE, VUQ_PEND_HEAD, VUQ_PEND_TAIL, VUQ_PEND_LEFT, VUB_NEXT, VUB_NB_SEGS, VUB_PKT_LEN,
} from "../layout/virtio-user";
import { CB_KIND, CB_KIND_SPLIT_DRIVER, SDRV_NUM_FREE, PDRV_NUM_FREE } from "../layout/queue";
import {
  CHAIN_SIZE, CHAIN_ID, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, SEG_SIZE, SEG_OFFSET, SEG_LEN, USED_REC_SIZE, USED_REC_ID,
  USED_REC_LEN,
} from "../layout/batch";
import { BUF_HDR_SIZE, BUF_DATA_OFF, BUF_DATA_LEN, POOL_ELT_SIZE, POOL_DETAIL, POOL_SIZE, POOL_BUFFERS } from "../layout/mempool";
import { ERR_BAD_ARGUMENT } from "../layout/errors";
import { splitDriverAdd, splitDriverCollect, splitDriverKickNeeded } from "../split/driver";
import { packedDriverAdd, packedDriverCollect, packedDriverKickNeeded } from "../packed/driver";
import { mempoolGetBulk } from "../dataplane/mempool/get";
import { mempoolPutBulk } from "../dataplane/mempool/put";

// @ts-ignore: decorator
@inline function isSplit(cb: u32): bool {
  return load<i32>(cb + CB_KIND) == CB_KIND_SPLIT_DRIVER;
}

// @ts-ignore: decorator
@inline function numFree(cb: u32): u32 {
  return load<u32>(cb + (isSplit(cb) ? SDRV_NUM_FREE : PDRV_NUM_FREE));
}

function driverAdd(cb: u32, chains: u32, segs: u32, n: u32): i32 {
  return isSplit(cb) ? splitDriverAdd(cb, chains, segs, n) : packedDriverAdd(cb, chains, segs, n);
}

function driverCollect(cb: u32, out: u32, max: u32): i32 {
  return isSplit(cb) ? splitDriverCollect(cb, out, max) : packedDriverCollect(cb, out, max);
}

function driverKickNeeded(cb: u32): i32 {
  return isSplit(cb) ? splitDriverKickNeeded(cb) : packedDriverKickNeeded(cb);
}

// @ts-ignore: decorator
@inline function count(q: u32, field: u32, n: u64): void {
  store<u64>(q + field, load<u64>(q + field) + n);
}

/** Records whose detail an error carries, and returns it. */
function fail(q: u32, cb: u32, rc: i32): i32 {
  store<u32>(q + VUQ_FAILED_CB, cb);
  return rc;
}

/** Writes chain i of the block's batch: one segment, token `h`. */
// @ts-ignore: decorator
@inline function oneSegment(q: u32, i: u32, h: u32, at: u32, len: u32, writable: bool): void {
  const c = load<u32>(q + VUQ_CHAINS) + i * CHAIN_SIZE;
  const s = load<u32>(q + VUQ_SEGS) + i * SEG_SIZE;
  store<u32>(c + CHAIN_ID, h);
  store<u32>(c + CHAIN_SEG, i);
  store<u16>(c + CHAIN_NREAD, writable ? 0 : 1);
  store<u16>(c + CHAIN_NWRITE, writable ? 1 : 0);
  store<u32>(s + SEG_OFFSET, at);
  store<u32>(s + SEG_LEN, len);
}

/** Puts handles[from, to) back in the pool. */
function giveBack(q: u32, from: u32, to: u32): i32 {
  if (to <= from) return 0;
  const pool = load<u32>(q + VUQ_POOL);
  const rc = mempoolPutBulk(pool, load<u32>(q + VUQ_CACHE), load<u32>(q + VUQ_HANDLES) + (from << 2), to - from);
  return rc < 0 ? fail(q, pool, rc) : rc;
}

// @ts-ignore: decorator
@inline function nextOf(h: u32): u32 {
  return load<u32>(h + BUF_HDR_SIZE + VUB_NEXT);
}

/** Marks `h` a one-buffer frame of `len` bytes. */
// @ts-ignore: decorator
@inline function single(h: u32, len: u32): void {
  store<u32>(h + BUF_HDR_SIZE + VUB_NEXT, 0);
  store<u32>(h + BUF_HDR_SIZE + VUB_NB_SEGS, 1);
  store<u32>(h + BUF_HDR_SIZE + VUB_PKT_LEN, len);
}

/** Whether `h` is a buffer handle of `pool` (a chain link is followed only then). */
function isBuffer(pool: u32, h: u32): bool {
  const first = load<u32>(pool + POOL_BUFFERS);
  const elt = load<u32>(pool + POOL_ELT_SIZE);
  if (h < first) return false;
  const d = h - first;
  return d % elt == 0 && d / elt < load<u32>(pool + POOL_SIZE);
}

/**
 * Frees the frames arr[0..n) with every buffer of each (following next links, at most the
 * pool's size per frame: a bad link ends the walk). Returns the buffers freed, or an error code.
 */
export function vuqFree(q: u32, arr: u32, n: u32): i32 {
  const pool = load<u32>(q + VUQ_POOL);
  const handles = load<u32>(q + VUQ_HANDLES);
  const cap = load<u32>(q + VUQ_NUM);
  const most = load<u32>(pool + POOL_SIZE);
  let k: u32 = 0;
  let total: i32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    let h = load<u32>(arr + (i << 2));
    for (let seg: u32 = 0; h != 0 && seg < most; seg++) {
      const next = nextOf(h);
      store<u32>(h + BUF_HDR_SIZE + VUB_NEXT, 0);
      store<u32>(handles + (k << 2), h);
      k++;
      if (k == cap) {
        const rc = giveBack(q, 0, k);
        if (rc < 0) return rc;
        total += <i32>k;
        k = 0;
      }
      h = next != 0 && isBuffer(pool, next) ? next : 0;
    }
  }
  const rc = giveBack(q, 0, k);
  if (rc < 0) return rc;
  return total + <i32>k;
}

/** Frees the frame being assembled (a reset, or a bad continuation). */
export function vuqDropPending(q: u32): i32 {
  const head = load<u32>(q + VUQ_PEND_HEAD);
  store<u32>(q + VUQ_PEND_HEAD, 0);
  store<u32>(q + VUQ_PEND_TAIL, 0);
  store<u32>(q + VUQ_PEND_LEFT, 0);
  if (head == 0) return 0;
  const scratch = load<u32>(q + VUQ_USED); // a free word: the used records are not in use between calls
  store<u32>(scratch, head);
  return vuqFree(q, scratch, 1);
}

/**
 * Posts as many receive buffers as the ring has room for and the pool can give (the largest
 * of want, want/2, ... it has). Sets VUQ_EV_KICK_RX when the device asks to be told.
 * Returns the buffers posted, or an error code.
 */
export function vuqRefill(q: u32): i32 {
  const rx = load<u32>(q + VUQ_RX_DRV);
  const pool = load<u32>(q + VUQ_POOL);
  const handles = load<u32>(q + VUQ_HANDLES);
  let want = numFree(rx);
  const num = load<u32>(q + VUQ_NUM);
  if (want > num) want = num;
  if (want == 0) return 0;
  let got: i32 = 0;
  while (want > 0) {
    got = mempoolGetBulk(pool, load<u32>(q + VUQ_CACHE), handles, want);
    if (got < 0) return fail(q, pool, got);
    if (got > 0) break;
    want >>= 1;
  }
  if (got == 0) {
    count(q, VUQ_RX_NO_BUFFERS, 1);
    return 0;
  }
  const hdrAt = load<u32>(q + VUQ_DATA_OFF) - VUQ_NET_HDR_SIZE;
  const room = load<u32>(q + VUQ_ROOM);
  for (let i: u32 = 0; i < <u32>got; i++) {
    const h = load<u32>(handles + (i << 2));
    oneSegment(q, i, h, h + hdrAt, room, true);
  }
  const added = driverAdd(rx, load<u32>(q + VUQ_CHAINS), load<u32>(q + VUQ_SEGS), got);
  if (added < 0) {
    giveBack(q, 0, got);
    return fail(q, rx, added);
  }
  const rc = giveBack(q, added, got);
  if (rc < 0) return rc;
  if (added > 0) {
    const k = driverKickNeeded(rx);
    if (k < 0) return fail(q, rx, k);
    if (k > 0) store<u32>(q + VUQ_EVENTS, load<u32>(q + VUQ_EVENTS) | VUQ_EV_KICK_RX);
  }
  return added;
}

/**
 * Received frames into out[0..): collects up to `max` used receive buffers and turns them into
 * frames: each first buffer's data offset and length are set after the header; with
 * VIRTIO_NET_F_MRG_RXBUF the header's num_buffers says how many buffers the frame took (5.1.6.4),
 * and the next ones (their data from the buffer's start, no header) are linked to it, across
 * calls when the burst ends before the frame does. A frame is dropped (counted, its buffers
 * freed) when shorter than the header, when it claims more buffers than the queue has, or when
 * it spans buffers without MRG_RXBUF. Then the ring is refilled. Returns the frames in `out`
 * (first buffers), or an error code. Clears events first.
 */
export function vuqRxBurst(q: u32, out: u32, max: u32): i32 {
  store<u32>(q + VUQ_EVENTS, 0);
  const num = load<u32>(q + VUQ_NUM);
  if (max > num) max = num;
  const rx = load<u32>(q + VUQ_RX_DRV);
  const used = load<u32>(q + VUQ_USED);
  const n = driverCollect(rx, used, max);
  if (n < 0) return fail(q, rx, n);
  const dataOff = load<u32>(q + VUQ_DATA_OFF);
  const handles = load<u32>(q + VUQ_HANDLES);
  const mergeable = load<u32>(q + VUQ_MERGEABLE) != 0;
  let k: u32 = 0;
  let dropped: u32 = 0; // buffers to free, in handles[0..dropped)
  let frames: u32 = 0;
  let bytes: u64 = 0;
  for (let i: u32 = 0; i < <u32>n; i++) {
    const r = used + i * USED_REC_SIZE;
    const h = load<u32>(r + USED_REC_ID);
    const len = load<u32>(r + USED_REC_LEN);
    const left = load<u32>(q + VUQ_PEND_LEFT);
    if (left > 0) {
      // The next buffer of the frame being assembled: its data from the start of what was posted.
      store<u32>(h + BUF_DATA_OFF, dataOff - VUQ_NET_HDR_SIZE);
      store<u32>(h + BUF_DATA_LEN, len);
      single(h, len);
      const head = load<u32>(q + VUQ_PEND_HEAD);
      store<u32>(load<u32>(q + VUQ_PEND_TAIL) + BUF_HDR_SIZE + VUB_NEXT, h);
      store<u32>(q + VUQ_PEND_TAIL, h);
      store<u32>(head + BUF_HDR_SIZE + VUB_NB_SEGS, load<u32>(head + BUF_HDR_SIZE + VUB_NB_SEGS) + 1);
      store<u32>(head + BUF_HDR_SIZE + VUB_PKT_LEN, load<u32>(head + BUF_HDR_SIZE + VUB_PKT_LEN) + len);
      store<u32>(q + VUQ_PEND_LEFT, left - 1);
      if (left == 1) {
        store<u32>(out + (k << 2), head);
        k++;
        bytes += <u64>load<u32>(head + BUF_HDR_SIZE + VUB_PKT_LEN);
        store<u32>(q + VUQ_PEND_HEAD, 0);
        store<u32>(q + VUQ_PEND_TAIL, 0);
      }
      continue;
    }
    const numBuffers = <u32>load<u16>(h + dataOff - VUQ_NET_HDR_SIZE + VUQ_NET_HDR_NUM_BUFFERS);
    if (len < <u32>VUQ_NET_HDR_SIZE || (numBuffers > 1 && (!mergeable || numBuffers > num))) {
      store<u32>(handles + (dropped << 2), h);
      dropped++;
      frames++;
      continue;
    }
    store<u32>(h + BUF_DATA_OFF, dataOff);
    store<u32>(h + BUF_DATA_LEN, len - VUQ_NET_HDR_SIZE);
    single(h, len - VUQ_NET_HDR_SIZE);
    if (numBuffers > 1) {
      store<u32>(q + VUQ_PEND_HEAD, h);
      store<u32>(q + VUQ_PEND_TAIL, h);
      store<u32>(q + VUQ_PEND_LEFT, numBuffers - 1);
      continue;
    }
    store<u32>(out + (k << 2), h);
    bytes += <u64>(len - VUQ_NET_HDR_SIZE);
    k++;
  }
  count(q, VUQ_RX_PACKETS, k);
  count(q, VUQ_RX_BYTES, bytes);
  if (dropped > 0) {
    count(q, VUQ_RX_DROPPED, frames);
    const rc = giveBack(q, 0, dropped);
    if (rc < 0) return rc;
  }
  const rc = vuqRefill(q);
  if (rc < 0) return rc;
  return <i32>k;
}

/** Frees the transmit frames the device has used (every buffer of each); returns how many frames, or an error code. */
export function vuqTxReap(q: u32): i32 {
  const tx = load<u32>(q + VUQ_TX_DRV);
  const used = load<u32>(q + VUQ_USED);
  const n = driverCollect(tx, used, load<u32>(q + VUQ_NUM));
  if (n < 0) return fail(q, tx, n);
  // The tokens (first buffers) in place of the used records: record i's id is at used + 8i.
  for (let i: u32 = 0; i < <u32>n; i++) store<u32>(used + (i << 2), load<u32>(used + i * USED_REC_SIZE + USED_REC_ID));
  const rc = vuqFree(q, used, n);
  return rc < 0 ? rc : n;
}

/**
 * Sends the frames in[0..n): frees what the device used, then adds as many frames as the ring
 * has descriptors for, each a chain of its buffers (the first behind a zeroed header, the others
 * their data, following next links). The rest stay the caller's (counted as txFull). A frame
 * whose first buffer leaves no room for the header, or a buffer whose data passes its end, or a
 * frame of more buffers than the queue has, is refused (ERR_BAD_ARGUMENT, detail its position)
 * before anything is added. Sets VUQ_EV_KICK_TX when the device asks to be told. Returns the
 * frames taken.
 */
export function vuqTxBurst(q: u32, input: u32, n: u32): i32 {
  store<u32>(q + VUQ_EVENTS, 0);
  const reaped = vuqTxReap(q);
  if (reaped < 0) return reaped;
  const tx = load<u32>(q + VUQ_TX_DRV);
  const pool = load<u32>(q + VUQ_POOL);
  const elt = load<u32>(pool + POOL_ELT_SIZE);
  const num = load<u32>(q + VUQ_NUM);
  let free = numFree(tx);
  // Pass 1: check the frames and count how many fit.
  let take: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    let h = load<u32>(input + (i << 2));
    let segs: u32 = 0;
    while (h != 0) {
      const off = load<u32>(h + BUF_DATA_OFF);
      const len = load<u32>(h + BUF_DATA_LEN);
      const low: u32 = segs == 0 ? <u32>(BUF_HDR_SIZE + VUQ_NET_HDR_SIZE) : <u32>BUF_HDR_SIZE;
      if (off < low || <u64>off + <u64>len > <u64>elt || segs == num) {
        store<u32>(pool + POOL_DETAIL, i);
        return fail(q, pool, ERR_BAD_ARGUMENT);
      }
      segs++;
      const next = nextOf(h);
      h = next != 0 && isBuffer(pool, next) ? next : 0;
    }
    if (segs > free) break;
    free -= segs;
    take++;
  }
  if (take < n) count(q, VUQ_TX_FULL, n - take);
  if (take == 0) return 0;
  // Pass 2: the chains.
  const chains = load<u32>(q + VUQ_CHAINS);
  const segsAt = load<u32>(q + VUQ_SEGS);
  let seg: u32 = 0;
  for (let i: u32 = 0; i < take; i++) {
    let h = load<u32>(input + (i << 2));
    const c = chains + i * CHAIN_SIZE;
    store<u32>(c + CHAIN_ID, h);
    store<u32>(c + CHAIN_SEG, seg);
    store<u16>(c + CHAIN_NWRITE, 0);
    let nread: u32 = 0;
    while (h != 0) {
      const off = load<u32>(h + BUF_DATA_OFF);
      const len = load<u32>(h + BUF_DATA_LEN);
      const s = segsAt + seg * SEG_SIZE;
      if (nread == 0) {
        memory.fill(h + off - VUQ_NET_HDR_SIZE, 0, VUQ_NET_HDR_SIZE);
        store<u32>(s + SEG_OFFSET, h + off - VUQ_NET_HDR_SIZE);
        store<u32>(s + SEG_LEN, VUQ_NET_HDR_SIZE + len);
      } else {
        store<u32>(s + SEG_OFFSET, h + off);
        store<u32>(s + SEG_LEN, len);
      }
      seg++;
      nread++;
      const next = nextOf(h);
      h = next != 0 && isBuffer(pool, next) ? next : 0;
    }
    store<u16>(c + CHAIN_NREAD, <u16>nread);
  }
  const added = driverAdd(tx, chains, segsAt, take);
  if (added < 0) return fail(q, tx, added);
  let bytes: u64 = 0;
  for (let i: u32 = 0; i < <u32>added; i++) {
    let h = load<u32>(input + (i << 2));
    for (let k: u32 = 0; h != 0 && k < num; k++) {
      bytes += <u64>load<u32>(h + BUF_DATA_LEN);
      const next = nextOf(h);
      h = next != 0 && isBuffer(pool, next) ? next : 0;
    }
  }
  count(q, VUQ_TX_PACKETS, added);
  count(q, VUQ_TX_BYTES, bytes);
  if (added > 0) {
    const k = driverKickNeeded(tx);
    if (k < 0) return fail(q, tx, k);
    if (k > 0) store<u32>(q + VUQ_EVENTS, load<u32>(q + VUQ_EVENTS) | VUQ_EV_KICK_TX);
  }
  return added;
}

/**
 * Takes n buffers from the pool into out[0..n) and writes the `size` bytes at `frame` into each
 * (data offset: the block's, length: size): a burst of identical frames (txonly). Returns n, 0
 * when the pool cannot give n now, or an error code (size larger than a buffer's data room:
 * ERR_BAD_ARGUMENT).
 */
export function vuqAllocFill(q: u32, out: u32, n: u32, frame: u32, size: u32): i32 {
  const pool = load<u32>(q + VUQ_POOL);
  const dataOff = load<u32>(q + VUQ_DATA_OFF);
  if (<u64>dataOff + <u64>size > <u64>load<u32>(pool + POOL_ELT_SIZE)) {
    store<u32>(pool + POOL_DETAIL, size);
    return fail(q, pool, ERR_BAD_ARGUMENT);
  }
  const got = mempoolGetBulk(pool, load<u32>(q + VUQ_CACHE), out, n);
  if (got <= 0) return got < 0 ? fail(q, pool, got) : 0;
  for (let i: u32 = 0; i < <u32>got; i++) {
    const h = load<u32>(out + (i << 2));
    store<u32>(h + BUF_DATA_OFF, dataOff);
    store<u32>(h + BUF_DATA_LEN, size);
    single(h, size);
    memory.copy(h + dataOff, frame, size);
  }
  return got;
}

/** Swaps the destination and source MAC addresses of the frames arr[0..n) (macswap). Returns n. */
export function vuqMacSwap(arr: u32, n: u32): i32 {
  for (let i: u32 = 0; i < n; i++) {
    const h = load<u32>(arr + (i << 2));
    const at = h + load<u32>(h + BUF_DATA_OFF);
    const d0 = load<u32>(at);
    const d1 = load<u16>(at + 4);
    const s0 = load<u16>(at + 6);
    const s1 = load<u32>(at + 8);
    store<u32>(at, <u32>s0 | (s1 << 16));
    store<u16>(at + 4, <u16>(s1 >>> 16));
    store<u16>(at + 6, <u16>d0);
    store<u32>(at + 8, (d0 >>> 16) | (<u32>d1 << 16));
  }
  return n;
}
