// A frame as a chain of mempool buffers: each buffer's segment record (layout/virtio-user.ts,
// VUB_*, in its headroom) links the next one; the first carries the frame's buffer count and length.
import { VUB_NEXT, VUB_NB_SEGS, VUB_PKT_LEN } from "../layout/virtio-user";
import { BUF_HDR_SIZE, POOL_ELT_SIZE, POOL_SIZE, POOL_BUFFERS } from "../layout/mempool";

// @ts-ignore: decorator
@inline export function nextOf(h: u32): u32 {
  return load<u32>(h + BUF_HDR_SIZE + VUB_NEXT);
}

/** Marks `h` a one-buffer frame of `len` bytes. */
// @ts-ignore: decorator
@inline export function single(h: u32, len: u32): void {
  store<u32>(h + BUF_HDR_SIZE + VUB_NEXT, 0);
  store<u32>(h + BUF_HDR_SIZE + VUB_NB_SEGS, 1);
  store<u32>(h + BUF_HDR_SIZE + VUB_PKT_LEN, len);
}

/** Whether `h` is a buffer handle of `pool` (a chain link is followed only then). */
export function isBuffer(pool: u32, h: u32): bool {
  const first = load<u32>(pool + POOL_BUFFERS);
  const elt = load<u32>(pool + POOL_ELT_SIZE);
  if (h < first) return false;
  const d = h - first;
  return d % elt == 0 && d / elt < load<u32>(pool + POOL_SIZE);
}

/** The buffer after `h` in its frame, or 0 (last, or a link that is not a buffer of `pool`). */
// @ts-ignore: decorator
@inline export function nextLink(pool: u32, h: u32): u32 {
  const next = nextOf(h);
  return next != 0 && isBuffer(pool, next) ? next : 0;
}
