// Transmit: the device's used chains freed (reap), then frames added as chains of their buffers,
// the first behind a zeroed virtio_net_hdr (5.1.6.1).
import {
  VUQ_TX_DRV, VUQ_POOL, VUQ_NUM, VUQ_CHAINS, VUQ_SEGS, VUQ_USED, VUQ_EVENTS, VUQ_TX_PACKETS, VUQ_TX_BYTES, VUQ_TX_FULL,
  VUQ_EV_KICK_TX, VUQ_NET_HDR_SIZE,
} from "../layout/virtio-user";
import {
  CHAIN_SIZE, CHAIN_ID, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, SEG_SIZE, SEG_OFFSET, SEG_LEN, USED_REC_SIZE, USED_REC_ID,
} from "../layout/batch";
import { BUF_HDR_SIZE, BUF_DATA_OFF, BUF_DATA_LEN, POOL_ELT_SIZE, POOL_DETAIL } from "../layout/mempool";
import { ERR_BAD_ARGUMENT } from "../layout/errors";
import { numFree, driverAdd, driverReap, driverKickNeeded } from "./rings";
import { count, fail } from "./block";
import { nextLink } from "./segments";
import { freeFrames } from "./free";

/** Frees the transmit frames the device has used (every buffer of each); returns how many frames, or an error code. */
export function vuqTxReap(q: u32): i32 {
  const tx = load<u32>(q + VUQ_TX_DRV);
  const used = load<u32>(q + VUQ_USED);
  const n = driverReap(tx, used, load<u32>(q + VUQ_NUM));
  if (n < 0) return fail(q, tx, n);
  // The tokens (first buffers) are the records' ids.
  const rc = freeFrames(q, used + USED_REC_ID, n, USED_REC_SIZE);
  return rc < 0 ? rc : n;
}

/**
 * Sends the frames in[0..n): adds as many frames as the ring has descriptors for, each a chain of
 * its buffers (the first behind a zeroed header, the others their data, following next links),
 * and frees what the device used (every buffer of each frame). The rest stay the caller's
 * (counted as txFull). A frame whose first buffer leaves no room for the header, or a buffer
 * whose data passes its end, or a frame of more buffers than the queue has, is refused
 * (ERR_BAD_ARGUMENT, detail its position) before anything is added. Sets VUQ_EV_KICK_TX when the
 * device asks to be told. Returns the frames taken.
 */
export function vuqTxBurst(q: u32, input: u32, n: u32): i32 {
  store<u32>(q + VUQ_EVENTS, 0);
  return sendFrames(q, input, n);
}

/**
 * vuqTxBurst leaving the events alone (what a forwarding call sends with). The used chains are
 * reaped after the add when the ring has room for the whole burst: reading used.idx (a line the
 * device writes) and freeing then wait until the frames are on their way; before it otherwise.
 */
export function sendFrames(q: u32, input: u32, n: u32): i32 {
  const tx = load<u32>(q + VUQ_TX_DRV);
  const need = checkFrames(q, input, n);
  if (need < 0) return need;
  let reaped = false;
  if (<u32>need > numFree(tx)) {
    const r = vuqTxReap(q);
    if (r < 0) return r;
    reaped = true;
  }
  const free = numFree(tx);
  const take = <u32>need <= free ? n : fitting(q, input, n, free);
  if (take < n) count(q, VUQ_TX_FULL, n - take);
  if (take == 0) return 0;
  const added = addFrames(q, input, take);
  if (added < 0 || reaped) return added;
  // The frames are published; a reap that finds the ring broken is reported by the next call.
  vuqTxReap(q);
  return added;
}

/** Checks the frames in[0..n) (see vuqTxBurst): the descriptors they take together, or ERR_BAD_ARGUMENT. */
function checkFrames(q: u32, input: u32, n: u32): i32 {
  const pool = load<u32>(q + VUQ_POOL);
  const elt = load<u32>(pool + POOL_ELT_SIZE);
  const num = load<u32>(q + VUQ_NUM);
  let total: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    let h = load<u32>(input + (i << 2));
    let segs: u32 = 0;
    let bytes: u64 = VUQ_NET_HDR_SIZE;
    while (h != 0) {
      const off = load<u32>(h + BUF_DATA_OFF);
      const len = load<u32>(h + BUF_DATA_LEN);
      const low: u32 = segs == 0 ? <u32>(BUF_HDR_SIZE + VUQ_NET_HDR_SIZE) : <u32>BUF_HDR_SIZE;
      bytes += <u64>len;
      // What the driver's own check would refuse (driverAdd skips it): a chain longer than the
      // queue, or of 2^32 bytes or more.
      if (off < low || <u64>off + <u64>len > <u64>elt || segs == num || bytes > 0xffff_ffff) {
        store<u32>(pool + POOL_DETAIL, i);
        return fail(q, pool, ERR_BAD_ARGUMENT);
      }
      segs++;
      h = nextLink(pool, h);
    }
    total += segs;
  }
  return <i32>total;
}

/** How many of the (checked) frames in[0..n), from the first, fit in `free` descriptors. */
function fitting(q: u32, input: u32, n: u32, free: u32): u32 {
  const pool = load<u32>(q + VUQ_POOL);
  let take: u32 = 0;
  for (; take < n; take++) {
    let segs: u32 = 0;
    for (let h = load<u32>(input + (take << 2)); h != 0; h = nextLink(pool, h)) segs++;
    if (segs > free) break;
    free -= segs;
  }
  return take;
}

/**
 * Adds the frames in[0..take) to the transmit ring, each a chain of its buffers (checked
 * already: the ring has the descriptors, every buffer leaves room for what is written); counts
 * them and sets VUQ_EV_KICK_TX when the device asks to be told. Returns the frames added.
 */
export function addFrames(q: u32, input: u32, take: u32): i32 {
  const tx = load<u32>(q + VUQ_TX_DRV);
  const pool = load<u32>(q + VUQ_POOL);
  const num = load<u32>(q + VUQ_NUM);
  const chains = load<u32>(q + VUQ_CHAINS);
  const segsAt = load<u32>(q + VUQ_SEGS);
  let seg: u32 = 0;
  let bytes: u64 = 0;
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
      bytes += <u64>len;
      if (nread == 0) {
        // The 12-byte virtio_net_hdr zeroed with two stores (memory.fill is a call).
        const hdr = h + off - VUQ_NET_HDR_SIZE;
        store<u64>(hdr, 0);
        store<u32>(hdr, 0, 8);
        store<u32>(s + SEG_OFFSET, hdr);
        store<u32>(s + SEG_LEN, VUQ_NET_HDR_SIZE + len);
      } else {
        store<u32>(s + SEG_OFFSET, h + off);
        store<u32>(s + SEG_LEN, len);
      }
      seg++;
      nread++;
      h = nextLink(pool, h);
    }
    store<u16>(c + CHAIN_NREAD, <u16>nread);
  }
  const added = driverAdd(tx, chains, segsAt, take);
  if (added < 0) return fail(q, tx, added);
  if (<u32>added < take) {
    // Not all went (the driver took fewer than it had room for): count only those that did.
    bytes = 0;
    for (let i: u32 = 0; i < <u32>added; i++) {
      let h = load<u32>(input + (i << 2));
      for (let k: u32 = 0; h != 0 && k < num; k++) {
        bytes += <u64>load<u32>(h + BUF_DATA_LEN);
        h = nextLink(pool, h);
      }
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
