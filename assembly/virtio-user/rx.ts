// Receive: used receive buffers turned into frames (the virtio_net_hdr's num_buffers joins a
// frame's buffers with VIRTIO_NET_F_MRG_RXBUF, 5.1.6.4), then the ring refilled.
import {
  VUQ_RX_DRV, VUQ_DATA_OFF, VUQ_NUM, VUQ_USED, VUQ_HANDLES, VUQ_EVENTS, VUQ_RX_PACKETS, VUQ_RX_BYTES, VUQ_RX_DROPPED,
  VUQ_NET_HDR_SIZE, VUQ_NET_HDR_NUM_BUFFERS, VUQ_MERGEABLE, VUQ_PEND_HEAD, VUQ_PEND_TAIL, VUQ_PEND_LEFT, VUB_NEXT,
  VUB_NB_SEGS, VUB_PKT_LEN, VUQ_STASH, VUQ_STASH_AT, VUQ_STASH_LEFT,
} from "../layout/virtio-user";
import { ERR_SEGMENTS_FULL } from "../layout/errors";
import { USED_REC_SIZE, USED_REC_ID, USED_REC_LEN } from "../layout/batch";
import { BUF_HDR_SIZE, BUF_DATA_OFF, BUF_DATA_LEN } from "../layout/mempool";
import { driverCollect } from "./rings";
import { count, fail, giveBack } from "./block";
import { single } from "./segments";
import { vuqRefill } from "./refill";

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
  const k = collectFrames(q, out, max);
  if (k < 0) return k;
  // The frames in out[0..k) are the caller's now. A refill that fails (the collect broke the
  // ring on a bad entry after good ones) must not lose them: the ring stays broken and the
  // next call reports why.
  const rc = vuqRefill(q);
  if (rc < 0 && k == 0) return rc;
  return k;
}

/**
 * Collects up to `max` used receive buffers into VUQ_USED: how many, or an error code. A collect
 * the driver refuses with ERR_SEGMENTS_FULL (an IN_ORDER run longer than `max`) is done again
 * with the queue size as the limit into the stash, and 0 is returned: the records are there.
 */
function collectUsed(q: u32, max: u32): i32 {
  const rx = load<u32>(q + VUQ_RX_DRV);
  const n = driverCollect(rx, load<u32>(q + VUQ_USED), max);
  if (n != ERR_SEGMENTS_FULL) return n < 0 ? fail(q, rx, n) : n;
  const whole = driverCollect(rx, load<u32>(q + VUQ_STASH), load<u32>(q + VUQ_NUM));
  if (whole < 0) return fail(q, rx, whole);
  store<u32>(q + VUQ_STASH_AT, 0);
  store<u32>(q + VUQ_STASH_LEFT, <u32>whole);
  return 0;
}

/** Takes up to `max` records off the front of the stash: how many. */
function takeStashed(q: u32, max: u32): u32 {
  const left = load<u32>(q + VUQ_STASH_LEFT);
  const n = left < max ? left : max;
  store<u32>(q + VUQ_STASH_AT, load<u32>(q + VUQ_STASH_AT) + n);
  store<u32>(q + VUQ_STASH_LEFT, left - n);
  return n;
}

/** vuqRxBurst without the refill (and leaving the events alone): the frames in `out`, or an error code. */
export function collectFrames(q: u32, out: u32, max: u32): i32 {
  const num = load<u32>(q + VUQ_NUM);
  if (max > num) max = num;
  let used = load<u32>(q + VUQ_USED);
  let n: i32 = 0;
  if (load<u32>(q + VUQ_STASH_LEFT) == 0) {
    n = collectUsed(q, max);
    if (n < 0) return n;
  }
  if (load<u32>(q + VUQ_STASH_LEFT) > 0) {
    // Records collected before (a run longer than a caller's max) come first.
    used = load<u32>(q + VUQ_STASH) + load<u32>(q + VUQ_STASH_AT) * USED_REC_SIZE;
    n = <i32>takeStashed(q, max);
  }
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
  return <i32>k;
}
