// Per-frame work of testpmd's forwarding modes over the port (src/virtio-user/forward.ts and the
// workers): txonly's burst of identical frames, macswap's address swap.
import { VUQ_POOL, VUQ_CACHE, VUQ_DATA_OFF } from "../layout/virtio-user";
import { BUF_DATA_OFF, BUF_DATA_LEN, POOL_ELT_SIZE, POOL_DETAIL } from "../layout/mempool";
import { ERR_BAD_ARGUMENT } from "../layout/errors";
import { mempoolGetBulk } from "../dataplane/mempool/get";
import { fail } from "./block";
import { single } from "./segments";

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
