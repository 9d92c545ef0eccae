// The virtio-net device's data path for one queue pair (VIRTIO 1.2 5.1), a whole burst per call:
// frames the front-end transmits are taken from transmitqN and, when forwarding, copied once,
// straight from the transmit chain's device-readable segments into receive buffers of
// receiveqN; frames the device makes are written into receive buffers from contiguous memory.
// Per frame nothing crosses into the host: the host makes one call per burst and reads the
// counters and event bits the call leaves in the block (layout/net.ts).
//
// Receive buffers are popped as frames need them and every one a frame did not take is given
// back unused (deviceUnpop) before the call returns, so between calls the device holds no
// receive buffer: a ring stopped between two calls reports a last_avail_idx that counts only
// buffers really used, and nothing is lost to a front-end that resumes there.
import {
  NETQ_KIND, NETQ_KIND_MAGIC, NETQ_TX_DEV, NETQ_RX_DEV, NETQ_HDR_SIZE, NETQ_OPTIONS, NETQ_BURST,
  NETQ_MAX_FRAME, NETQ_EVENTS, NETQ_TX_CHAINS, NETQ_TX_MAX_CHAINS, NETQ_TX_SEGS, NETQ_TX_MAX_SEGS,
  NETQ_RX_CHAINS, NETQ_RX_MAX_CHAINS, NETQ_RX_SEGS, NETQ_RX_MAX_SEGS, NETQ_TX_USED, NETQ_RX_USED,
  NETQ_HELD, NETQ_STATUS, NETQ_RX_POPPED, NETQ_RX_TAKEN, NETQ_SCRATCH_HDR, NETQ_SCRATCH_MAC,
  NETQ_SCRATCH_SEG, NETQ_RX_PACKETS, NETQ_RX_BYTES, NETQ_TX_PACKETS, NETQ_TX_BYTES, NETQ_DROPPED,
  NETQ_TX_ERRORS, NETQ_RX_ERRORS, NETQ_TX_CALLS, NETQ_RX_CALLS, NETQ_COUNTERS, NETQ_NUM_COUNTERS,
  NETQ_SIZE, NETQ_ALIGN, NETQ_OPT_MRG_RXBUF, NETQ_OPT_FORWARD, NETQ_OPT_MACSWAP, NETQ_OPT_HOLD_TX,
  NETQ_EV_CALL_TX, NETQ_EV_CALL_RX, NETQ_EV_BROKEN_TX, NETQ_EV_BROKEN_RX, NETQ_EV_MISS_TX, NETQ_EV_MISS_RX, NET_HDR_SIZE,
  NET_HDR_LEGACY_SIZE, NET_HDR_NUM_BUFFERS,
} from "../layout/net";
import {
  CHAIN_SIZE, CHAIN_ID, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, CHAIN_READ_LEN, CHAIN_WRITE_LEN,
  SEG_SIZE, SEG_OFFSET, SEG_LEN, USED_REC_SIZE, USED_REC_ID, USED_REC_LEN,
} from "../layout/batch";
import { ERR_BAD_CONTROL_BLOCK, ERR_BAD_CONFIG, ERR_BAD_ARGUMENT, ERR_SEGMENTS_FULL, ERR_IOTLB_MISS } from "../layout/errors";
import { inMemory } from "../shared/common";
import { devicePop, devicePush, deviceUnpop, deviceInterruptNeeded } from "./device";
import { scatterStream, gatherHead } from "./scatter";
import { copyBytes } from "../shared/copy";
import { logBlock, logChainWrites } from "../shared/dirty-log";

function netEnter(q: u32): i32 {
  if ((q & (NETQ_ALIGN - 1)) != 0 || q == 0 || !inMemory(q, NETQ_SIZE)) return ERR_BAD_CONTROL_BLOCK;
  if (load<u32>(q + NETQ_KIND) != NETQ_KIND_MAGIC) return ERR_BAD_CONTROL_BLOCK;
  return 0;
}

// @ts-ignore: decorator
@inline function count(q: u32, field: u32, by: u64): void {
  store<u64>(q + field, load<u64>(q + field) + by);
}

/**
 * Checks the configuration the host wrote (header size, burst arrays inside memory, burst no
 * larger than its arrays) and zeroes the counters and per-call state. The queues stay as
 * attached. Returns 0 or ERR_BAD_CONFIG.
 */
export function netReset(q: u32): i32 {
  const rc = netEnter(q);
  if (rc != 0) return rc;
  const hdr = load<u32>(q + NETQ_HDR_SIZE);
  if (hdr != NET_HDR_SIZE && hdr != NET_HDR_LEGACY_SIZE) return ERR_BAD_CONFIG;
  const txMax = load<u32>(q + NETQ_TX_MAX_CHAINS);
  const rxMax = load<u32>(q + NETQ_RX_MAX_CHAINS);
  const burst = load<u32>(q + NETQ_BURST);
  if (burst == 0 || burst > txMax || rxMax == 0) return ERR_BAD_CONFIG;
  if (!inMemory(load<u32>(q + NETQ_TX_CHAINS), <u64>txMax * CHAIN_SIZE)) return ERR_BAD_CONFIG;
  if (!inMemory(load<u32>(q + NETQ_TX_SEGS), <u64>load<u32>(q + NETQ_TX_MAX_SEGS) * SEG_SIZE)) return ERR_BAD_CONFIG;
  if (!inMemory(load<u32>(q + NETQ_RX_CHAINS), <u64>rxMax * CHAIN_SIZE)) return ERR_BAD_CONFIG;
  if (!inMemory(load<u32>(q + NETQ_RX_SEGS), <u64>load<u32>(q + NETQ_RX_MAX_SEGS) * SEG_SIZE)) return ERR_BAD_CONFIG;
  if (!inMemory(load<u32>(q + NETQ_TX_USED), <u64>txMax * USED_REC_SIZE)) return ERR_BAD_CONFIG;
  if (!inMemory(load<u32>(q + NETQ_RX_USED), <u64>rxMax * USED_REC_SIZE)) return ERR_BAD_CONFIG;
  store<u32>(q + NETQ_EVENTS, 0);
  store<u32>(q + NETQ_HELD, 0);
  store<i32>(q + NETQ_STATUS, 0);
  for (let i: i32 = 0; i < NETQ_NUM_COUNTERS; i++) store<u64>(q + NETQ_COUNTERS + <u32>i * 8, 0);
  return 0;
}

/** Records a queue that broke (its control block says why) and returns `code`. */
function broke(q: u32, code: i32, bit: u32): i32 {
  store<i32>(q + NETQ_STATUS, code);
  store<u32>(q + NETQ_EVENTS, load<u32>(q + NETQ_EVENTS) | bit);
  return code;
}

/**
 * Pops up to `want` more receive chains after the ones this call already popped; returns how
 * many chains are popped in all. A receive queue that breaks is recorded (and has no buffers);
 * so is an IOTLB miss (NETQ_EV_MISS_RX: no buffers until the translation comes).
 */
function popRx(q: u32, rx: u32, want: u32): u32 {
  const m = load<u32>(q + NETQ_RX_POPPED);
  const maxChains = load<u32>(q + NETQ_RX_MAX_CHAINS);
  if (m >= maxChains || want == 0) return m;
  const chains = load<u32>(q + NETQ_RX_CHAINS);
  let segAt: u32 = 0;
  if (m > 0) {
    const last = chains + (m - 1) * CHAIN_SIZE;
    segAt = load<u32>(last + CHAIN_SEG) + <u32>load<u16>(last + CHAIN_NREAD) + <u32>load<u16>(last + CHAIN_NWRITE);
  }
  const maxSegs = load<u32>(q + NETQ_RX_MAX_SEGS);
  if (segAt >= maxSegs) return m;
  const k = want < maxChains - m ? want : maxChains - m;
  const r = devicePop(rx, chains + m * CHAIN_SIZE, load<u32>(q + NETQ_RX_SEGS) + segAt * SEG_SIZE, k, maxSegs - segAt);
  if (r < 0) {
    if (r == ERR_IOTLB_MISS) store<u32>(q + NETQ_EVENTS, load<u32>(q + NETQ_EVENTS) | NETQ_EV_MISS_RX);
    else if (r != ERR_SEGMENTS_FULL) broke(q, r, NETQ_EV_BROKEN_RX);
    return m;
  }
  // Pop numbered the new chains' segments from the array start it was given.
  if (segAt > 0) {
    for (let i: u32 = m; i < m + <u32>r; i++) {
      const rec = chains + i * CHAIN_SIZE;
      store<u32>(rec + CHAIN_SEG, load<u32>(rec + CHAIN_SEG) + segAt);
    }
  }
  store<u32>(q + NETQ_RX_POPPED, m + <u32>r);
  return m + <u32>r;
}

/**
 * Claims receive buffers for a frame of `need` bytes (header included) from the chains popped
 * so far, popping more (up to `more` at a time) when they run out. Buffers with nothing
 * device-writable at the head are returned used with len 0 (counted as rxErrors). Without
 * MRG_RXBUF the frame needs one buffer that holds it whole (5.1.6.3.1 asks the driver for such
 * buffers); with it, as many as hold it (5.1.6.4). Returns how many buffers, 0 when the frame
 * cannot be delivered (it is dropped and the buffers stay for the next frame).
 */
function claimRx(q: u32, rx: u32, need: u32, more: u32): u32 {
  const chains = load<u32>(q + NETQ_RX_CHAINS);
  const used = load<u32>(q + NETQ_RX_USED);
  let k = load<u32>(q + NETQ_RX_TAKEN);
  let m = load<u32>(q + NETQ_RX_POPPED);
  for (;;) {
    if (k == m) {
      m = popRx(q, rx, more);
      if (k == m) return 0;
    }
    const rec = chains + k * CHAIN_SIZE;
    if (load<u32>(rec + CHAIN_WRITE_LEN) != 0) break;
    store<u32>(used + k * USED_REC_SIZE + USED_REC_ID, load<u32>(rec + CHAIN_ID));
    store<u32>(used + k * USED_REC_SIZE + USED_REC_LEN, 0);
    count(q, NETQ_RX_ERRORS, 1);
    k++;
    store<u32>(q + NETQ_RX_TAKEN, k);
  }
  let room = <u64>load<u32>(chains + k * CHAIN_SIZE + CHAIN_WRITE_LEN);
  if ((load<u32>(q + NETQ_OPTIONS) & NETQ_OPT_MRG_RXBUF) == 0) return room >= <u64>need ? 1 : 0;
  let nb: u32 = 1;
  while (room < <u64>need) {
    if (k + nb == m) {
      m = popRx(q, rx, more);
      if (k + nb == m) return 0;
    }
    room += <u64>load<u32>(chains + (k + nb) * CHAIN_SIZE + CHAIN_WRITE_LEN);
    nb++;
  }
  // num_buffers is a u16 (5.1.6): a frame never spans more buffers than that counts.
  return nb <= 0xffff ? nb : 0;
}

/**
 * Writes a frame into the `nb` buffers claimRx found: the header (zero but num_buffers, 5.1.6.4:
 * no checksum or GSO offload is offered), then `len` bytes from segs[first ..] after `skip`,
 * with destination and source MAC swapped when `macswap` (frames shorter than 12 bytes are
 * copied as they are). Then the buffers count as taken.
 */
function deliver(q: u32, nb: u32, segs: u32, first: u32, skip: u32, len: u32, macswap: bool): void {
  const hdr = load<u32>(q + NETQ_HDR_SIZE);
  const k = load<u32>(q + NETQ_RX_TAKEN);
  store<u32>(q + NETQ_RX_TAKEN, k + nb);
  const rxChains = load<u32>(q + NETQ_RX_CHAINS);
  const rxSegs = load<u32>(q + NETQ_RX_SEGS);
  const rxUsed = load<u32>(q + NETQ_RX_USED);
  // The common case, one writable segment that holds header and frame and a frame that lies in
  // one segment of the source: write the header in place and copy the frame with one move.
  if (nb == 1) {
    const rec = rxChains + k * CHAIN_SIZE;
    if (load<u16>(rec + CHAIN_NWRITE) == 1 && load<u32>(rec + CHAIN_WRITE_LEN) >= hdr + len) {
      const src = contiguous(segs, first, skip, len);
      if (src != 0 || len == 0) {
        const dst = load<u32>(rxSegs + (load<u32>(rec + CHAIN_SEG) + <u32>load<u16>(rec + CHAIN_NREAD)) * SEG_SIZE + SEG_OFFSET);
        store<u64>(dst, 0);
        if (hdr == NET_HDR_SIZE) store<u32>(dst + 8, 1 << 16); // num_buffers = 1 (bytes 10-11)
        else store<u16>(dst + 8, 0);
        copyBytes(dst + hdr, src, len);
        if (macswap && len >= 12) swapMacs(dst + hdr);
        store<u32>(rxUsed + k * USED_REC_SIZE + USED_REC_ID, load<u32>(rec + CHAIN_ID));
        store<u32>(rxUsed + k * USED_REC_SIZE + USED_REC_LEN, hdr + len);
        return;
      }
    }
  }
  const h = q + NETQ_SCRATCH_HDR;
  store<u64>(h, 0);
  store<u32>(h + 8, 0);
  // num_buffers sits in the 12-byte header only (5.1.6); it is 1 without MRG_RXBUF.
  if (hdr == NET_HDR_SIZE) store<u16>(h + NET_HDR_NUM_BUFFERS, <u16>nb);
  let pre: u32 = 0;
  if (macswap && len >= 12) {
    const mac = q + NETQ_SCRATCH_MAC;
    gatherHead(segs, first, skip, mac, 12);
    swapMacs(mac);
    pre = 12;
  }
  scatterStream(rxChains, rxSegs, k, nb, rxUsed, h, hdr, q + NETQ_SCRATCH_MAC, pre, segs, first, skip + pre, len - pre);
}

/** Swaps the 6-byte destination and source MAC addresses at p (testpmd's macswap). */
// @ts-ignore: decorator
@inline function swapMacs(p: u32): void {
  const d0 = load<u32>(p);
  const d1 = load<u16>(p + 4);
  store<u32>(p, load<u32>(p + 6));
  store<u16>(p + 4, load<u16>(p + 10));
  store<u32>(p + 6, d0);
  store<u16>(p + 10, d1);
}

/** Where bytes [skip, skip + len) of the segments from segs[first] lie, when in one segment; else 0. */
function contiguous(segs: u32, first: u32, skip: u32, len: u32): u32 {
  let s = segs + first * SEG_SIZE;
  for (;;) {
    const l = load<u32>(s + SEG_LEN);
    if (skip < l || (skip == l && len == 0)) return l - skip >= len ? load<u32>(s + SEG_OFFSET) + skip : 0;
    skip -= l;
    s += SEG_SIZE;
  }
  return 0; // not reached: the caller's segments hold skip + len bytes
}

/**
 * Ends a call's use of receiveqN: pushes the buffers frames took, gives back the ones they did
 * not (newest first popped last, so they are exactly the newest in flight), and asks whether
 * the front-end wants an interrupt. Returns 0 or the error that broke the queue.
 */
function finishRx(q: u32, rx: u32): i32 {
  const m = load<u32>(q + NETQ_RX_POPPED);
  const k = load<u32>(q + NETQ_RX_TAKEN);
  store<u32>(q + NETQ_RX_POPPED, 0);
  store<u32>(q + NETQ_RX_TAKEN, 0);
  if (k > 0) {
    // Dirty-page log (migration): the bytes written into each buffer, before it is used.
    if (logBlock(rx) != 0) {
      const rxChains = load<u32>(q + NETQ_RX_CHAINS);
      const rxSegs = load<u32>(q + NETQ_RX_SEGS);
      const rxUsed = load<u32>(q + NETQ_RX_USED);
      for (let c: u32 = 0; c < k; c++) {
        logChainWrites(rx, rxChains + c * CHAIN_SIZE, rxSegs, load<u32>(rxUsed + c * USED_REC_SIZE + USED_REC_LEN));
      }
    }
    const r = devicePush(rx, load<u32>(q + NETQ_RX_USED), k);
    if (r < 0) return broke(q, r, NETQ_EV_BROKEN_RX);
  }
  if (m > k) {
    const r = deviceUnpop(rx, load<u32>(q + NETQ_RX_CHAINS) + k * CHAIN_SIZE, m - k);
    if (r < 0) return broke(q, r, NETQ_EV_BROKEN_RX);
  }
  if (k > 0 && deviceInterruptNeeded(rx) == 1) {
    store<u32>(q + NETQ_EVENTS, load<u32>(q + NETQ_EVENTS) | NETQ_EV_CALL_RX);
    count(q, NETQ_RX_CALLS, 1);
  }
  return 0;
}

/** Returns `n` transmit chains used (len 0: the device writes nothing into them, 2.7.8.2). */
function completeTx(q: u32, tx: u32, n: u32): i32 {
  const r = devicePush(tx, load<u32>(q + NETQ_TX_USED), n);
  if (r < 0) return broke(q, r, NETQ_EV_BROKEN_TX);
  if (deviceInterruptNeeded(tx) == 1) {
    store<u32>(q + NETQ_EVENTS, load<u32>(q + NETQ_EVENTS) | NETQ_EV_CALL_TX);
    count(q, NETQ_TX_CALLS, 1);
  }
  return 0;
}

/**
 * One burst: pops up to `burst` chains from transmitqN; with NETQ_OPT_FORWARD copies each frame
 * (after its virtio_net_hdr, 5.1.6.2) into receive buffers of receiveqN; returns the transmit
 * chains used (unless NETQ_OPT_HOLD_TX: then netTxComplete does). A frame that finds no room is
 * dropped, as a NIC whose receive ring is full drops: the transmit side never waits for the
 * receive side, except for an IOTLB miss on receiveqN (NETQ_EV_MISS_RX): the frame waits, in
 * its transmit chain, with the ones after it (given back untaken), for the translation. An IOTLB
 * miss on transmitqN (NETQ_EV_MISS_TX) ends the burst before the chain that missed. Returns the
 * number of transmit chains taken, or a negative code when transmitqN broke (NETQ_EVENTS says
 * which queues broke; their control blocks say why).
 */
export function netForward(q: u32): i32 {
  const rc = netEnter(q);
  if (rc != 0) return rc;
  store<u32>(q + NETQ_EVENTS, 0);
  const tx = load<u32>(q + NETQ_TX_DEV);
  if (tx == 0) return 0;
  const opts = load<u32>(q + NETQ_OPTIONS);
  if (load<u32>(q + NETQ_HELD) != 0) return ERR_BAD_ARGUMENT; // netTxComplete first
  const txChains = load<u32>(q + NETQ_TX_CHAINS);
  const txSegs = load<u32>(q + NETQ_TX_SEGS);
  let n = devicePop(tx, txChains, txSegs, load<u32>(q + NETQ_BURST), load<u32>(q + NETQ_TX_MAX_SEGS));
  if (n == ERR_IOTLB_MISS) { store<u32>(q + NETQ_EVENTS, NETQ_EV_MISS_TX); return 0; }
  if (n < 0) return broke(q, n, NETQ_EV_BROKEN_TX);
  if (n == 0) return 0;
  const hdr = load<u32>(q + NETQ_HDR_SIZE);
  const maxFrame = load<u32>(q + NETQ_MAX_FRAME);
  const rx = (opts & NETQ_OPT_FORWARD) != 0 ? load<u32>(q + NETQ_RX_DEV) : 0;
  const macswap = (opts & NETQ_OPT_MACSWAP) != 0;
  const txUsed = load<u32>(q + NETQ_TX_USED);
  store<u32>(q + NETQ_RX_POPPED, 0);
  store<u32>(q + NETQ_RX_TAKEN, 0);
  let frames: u64 = 0;
  let bytes: u64 = 0;
  let sent: u64 = 0;
  let sentBytes: u64 = 0;
  for (let i: u32 = 0; i < <u32>n; i++) {
    const rec = txChains + i * CHAIN_SIZE;
    store<u32>(txUsed + i * USED_REC_SIZE + USED_REC_ID, load<u32>(rec + CHAIN_ID));
    store<u32>(txUsed + i * USED_REC_SIZE + USED_REC_LEN, 0);
    const total = load<u32>(rec + CHAIN_READ_LEN);
    if (total < hdr || total - hdr > maxFrame) { count(q, NETQ_TX_ERRORS, 1); continue; }
    const len = total - hdr;
    frames++;
    bytes += len;
    if ((opts & NETQ_OPT_FORWARD) == 0) continue;
    const nb = rx != 0 ? claimRx(q, rx, hdr + len, <u32>n - i) : 0;
    if (nb == 0 && (load<u32>(q + NETQ_EVENTS) & NETQ_EV_MISS_RX) != 0) {
      // The receive buffer's translation is missing: this frame and the rest go back untaken.
      frames--;
      bytes -= len;
      const r = deviceUnpop(tx, rec, <u32>n - i);
      if (r < 0) return broke(q, r, NETQ_EV_BROKEN_TX);
      n = <i32>i;
      break;
    }
    if (nb == 0) { count(q, NETQ_DROPPED, 1); continue; }
    deliver(q, nb, txSegs, load<u32>(rec + CHAIN_SEG), hdr, len, macswap);
    sent++;
    sentBytes += len;
  }
  count(q, NETQ_RX_PACKETS, frames);
  count(q, NETQ_RX_BYTES, bytes);
  count(q, NETQ_TX_PACKETS, sent);
  count(q, NETQ_TX_BYTES, sentBytes);
  // Publish order: the receive buffers first, then the transmit chains. A device that dies
  // between the two leaves transmit chains the front-end still sees in flight, so a restarted
  // device takes them again and a frame may arrive twice; the other order would return the
  // transmit chains of frames whose receive buffers were never published, and lose them.
  // At least once, never lost: the same choice a NIC makes by completing a transmit only after
  // the frame has left.
  if (rx != 0) finishRx(q, rx);
  if (n == 0) return 0;
  if ((opts & NETQ_OPT_HOLD_TX) != 0) {
    store<u32>(q + NETQ_HELD, <u32>n);
  } else {
    const r = completeTx(q, tx, <u32>n);
    if (r < 0) return r;
  }
  return n;
}

/** With NETQ_OPT_HOLD_TX: returns the transmit chains the last netForward took. Returns how many. */
export function netTxComplete(q: u32): i32 {
  const rc = netEnter(q);
  if (rc != 0) return rc;
  const n = load<u32>(q + NETQ_HELD);
  const tx = load<u32>(q + NETQ_TX_DEV);
  if (n == 0 || tx == 0) return 0;
  store<u32>(q + NETQ_HELD, 0);
  const r = completeTx(q, tx, n);
  return r < 0 ? r : <i32>n;
}

/**
 * Sends `copies` copies of the frame at [src, src + len) (without header; the device adds it)
 * on receiveqN, as far as receive buffers go. Returns how many went out. A frame too big for
 * the buffers is counted as dropped and ends the call.
 */
export function netInject(q: u32, src: u32, len: u32, copies: u32): i32 {
  const rc = netEnter(q);
  if (rc != 0) return rc;
  store<u32>(q + NETQ_EVENTS, 0);
  const rx = load<u32>(q + NETQ_RX_DEV);
  if (rx == 0 || copies == 0) return 0;
  if (!inMemory(src, len)) return ERR_BAD_ARGUMENT;
  const hdr = load<u32>(q + NETQ_HDR_SIZE);
  const seg = q + NETQ_SCRATCH_SEG;
  store<u32>(seg + SEG_OFFSET, src);
  store<u32>(seg + SEG_LEN, len);
  store<u32>(q + NETQ_RX_POPPED, 0);
  store<u32>(q + NETQ_RX_TAKEN, 0);
  let sent: u32 = 0;
  while (sent < copies) {
    const nb = claimRx(q, rx, hdr + len, copies - sent);
    if (nb == 0) {
      // No buffer at all: try again later. Buffers there but too small: this frame never fits.
      if (load<u32>(q + NETQ_RX_TAKEN) < load<u32>(q + NETQ_RX_POPPED)) count(q, NETQ_DROPPED, 1);
      break;
    }
    deliver(q, nb, seg, 0, 0, len, false);
    sent++;
  }
  count(q, NETQ_TX_PACKETS, sent);
  count(q, NETQ_TX_BYTES, <u64>sent * len);
  const r = finishRx(q, rx);
  return r < 0 ? r : <i32>sent;
}
