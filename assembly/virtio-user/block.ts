// What every virtio-user burst call does with its queue pair block (layout/virtio-user.ts):
// counters, the error's owner (failedCb: whose detail the host reads), buffers handed back to the
// pool from the block's handle scratch.
import { VUQ_POOL, VUQ_CACHE, VUQ_HANDLES, VUQ_FAILED_CB } from "../layout/virtio-user";
import { mempoolPutBulk } from "../dataplane/mempool/put";

/** Adds n to the block's u64 counter at `field`. */
// @ts-ignore: decorator
@inline export function count(q: u32, field: u32, n: u64): void {
  store<u64>(q + field, load<u64>(q + field) + n);
}

/** Records whose detail an error carries, and returns it. */
export function fail(q: u32, cb: u32, rc: i32): i32 {
  store<u32>(q + VUQ_FAILED_CB, cb);
  return rc;
}

/** Puts handles[from, to) of the block's scratch back in the pool. */
export function giveBack(q: u32, from: u32, to: u32): i32 {
  if (to <= from) return 0;
  const pool = load<u32>(q + VUQ_POOL);
  const rc = mempoolPutBulk(pool, load<u32>(q + VUQ_CACHE), load<u32>(q + VUQ_HANDLES) + (from << 2), to - from);
  return rc < 0 ? fail(q, pool, rc) : rc;
}
