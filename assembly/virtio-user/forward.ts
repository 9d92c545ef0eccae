// testpmd's forwarding modes over the port, a burst per call (src/virtio-user/forward.ts and the
// workers): txonly's frames made and sent (vuqTxOnly; vuqAllocFill makes them), io's and macswap's
// frames received and sent back (vuqForward; vuqMacSwap swaps the addresses).
import { VUQ_TX_DRV, VUQ_POOL, VUQ_CACHE, VUQ_DATA_OFF, VUQ_EVENTS, VUQ_FWD_SENT } from "../layout/virtio-user";
import { BUF_DATA_OFF, BUF_DATA_LEN, POOL_ELT_SIZE, POOL_DETAIL } from "../layout/mempool";
import { ERR_BAD_ARGUMENT } from "../layout/errors";
import { mempoolGetBulk } from "../dataplane/mempool/get";
import { fail } from "./block";
import { single } from "./segments";
import { numFree } from "./rings";
import { vuqTxReap, sendFrames, addFrames } from "./tx";
import { collectFrames } from "./rx";
import { vuqRefill } from "./refill";
import { vuqFree } from "./free";
import { copyBytes } from "../shared/copy";

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
    copyBytes(h + dataOff, frame, size);
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

/**
 * txonly's burst in one call: frees what the device used, then makes only as many frames as the
 * transmit ring has room for (at most n: taken from the pool into out[0..), filled as
 * vuqAllocFill does) and adds them. Nothing is made for a full ring, so nothing is made and
 * freed again. Clears events first; sets VUQ_EV_KICK_TX when the device asks to be told.
 * Returns the frames sent, 0 when the ring is full or the pool short, or an error code.
 */
export function vuqTxOnly(q: u32, out: u32, n: u32, frame: u32, size: u32): i32 {
  store<u32>(q + VUQ_EVENTS, 0);
  const reaped = vuqTxReap(q);
  if (reaped < 0) return reaped;
  const room = numFree(load<u32>(q + VUQ_TX_DRV));
  if (n > room) n = room;
  if (n == 0) return 0;
  const got = vuqAllocFill(q, out, n, frame, size);
  if (got <= 0) return got;
  const added = addFrames(q, out, got);
  if (added < 0) {
    vuqFree(q, out, got);
    return added;
  }
  if (added < got) {
    const rc = vuqFree(q, out + (<u32>added << 2), got - added);
    if (rc < 0) return rc;
  }
  return added;
}

/**
 * io's (and macswap's) burst in one call: receives up to `max` frames into arr[0..) as
 * vuqRxBurst does, swaps their MAC addresses when `swap` is 1, sends them back on the transmit
 * ring, frees what the ring could not take (counted as txFull), and only then refills the
 * receive ring (the device has the frames meanwhile). VUQ_FWD_SENT says how many went back.
 * Clears events first; sets the kicks either ring wants. Returns the frames received, or an
 * error code (the frames received are then freed: none is left in arr).
 */
export function vuqForward(q: u32, arr: u32, max: u32, swap: u32): i32 {
  store<u32>(q + VUQ_EVENTS, 0);
  store<u32>(q + VUQ_FWD_SENT, 0);
  const n = collectFrames(q, arr, max);
  if (n < 0) return n;
  if (n > 0) {
    if (swap != 0) vuqMacSwap(arr, n);
    const sent = sendFrames(q, arr, n);
    if (sent < 0) {
      vuqFree(q, arr, n);
      return sent;
    }
    if (<u32>sent < <u32>n) {
      const rc = vuqFree(q, arr + (<u32>sent << 2), n - sent);
      if (rc < 0) return rc;
    }
    store<u32>(q + VUQ_FWD_SENT, sent);
  }
  // What was received has been dealt with; a refill that fails (the collect broke the ring
  // after good entries) is reported by the next call when this one moved frames.
  const rc = vuqRefill(q);
  if (rc < 0 && n == 0) return rc;
  return n;
}
