// The receive ring kept full: fresh pool buffers posted as device-writable one-descriptor chains
// (header and data room), each chain's token its buffer's handle.
import {
  VUQ_RX_DRV, VUQ_POOL, VUQ_CACHE, VUQ_DATA_OFF, VUQ_ROOM, VUQ_NUM, VUQ_CHAINS, VUQ_SEGS, VUQ_HANDLES, VUQ_EVENTS,
  VUQ_RX_NO_BUFFERS, VUQ_EV_KICK_RX, VUQ_NET_HDR_SIZE,
} from "../layout/virtio-user";
import { CHAIN_SIZE, CHAIN_ID, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, SEG_SIZE, SEG_OFFSET, SEG_LEN } from "../layout/batch";
import { mempoolGetBulk } from "../dataplane/mempool/get";
import { numFree, driverAdd, driverKickNeeded } from "./rings";
import { count, fail, giveBack } from "./block";

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
  const chains = load<u32>(q + VUQ_CHAINS);
  const segs = load<u32>(q + VUQ_SEGS);
  for (let i: u32 = 0; i < <u32>got; i++) {
    const h = load<u32>(handles + (i << 2));
    const c = chains + i * CHAIN_SIZE;
    const s = segs + i * SEG_SIZE;
    store<u32>(c + CHAIN_ID, h);
    store<u32>(c + CHAIN_SEG, i);
    store<u16>(c + CHAIN_NREAD, 0);
    store<u16>(c + CHAIN_NWRITE, 1);
    store<u32>(s + SEG_OFFSET, h + hdrAt);
    store<u32>(s + SEG_LEN, room);
  }
  const added = driverAdd(rx, chains, segs, got);
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
