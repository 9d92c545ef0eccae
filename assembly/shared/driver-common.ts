// What the split and packed drivers share: checking a burst before anything is written, and
// taking back every buffer in flight at teardown. Both keep per-buffer state in the SHADOW_*
// entry format (layout/queue.ts).
import {
  SHADOW_SIZE, SHADOW_TOKEN, SHADOW_FLAGS, SHADOW_F_IN_FLIGHT,
} from "../layout/queue";
import {
  CHAIN_SIZE, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, SEG_SIZE, SEG_LEN, USED_REC_SIZE, USED_REC_ID,
  USED_REC_LEN,
} from "../layout/batch";
import { ERR_BAD_ARGUMENT, ERR_OUT_OF_MEMORY_BOUNDS } from "../layout/errors";
import { refuse, inMemory } from "./common";

/**
 * Checks every chain record of a burst before the driver writes anything: at least one
 * segment, no more than Queue Size of them (2.7.5.3.1 and 2.8.17 count an indirect table's
 * descriptors too), segments inside memory, and fewer than 2^32 bytes (2.7.5.2: used.len is 32
 * bits). Returns 0, or the refusal (CB_DETAIL = index of the bad record).
 */
export function checkAddBurst(cb: u32, q: u32, chains: u32, segs: u32, n: u32): i32 {
  if (!inMemory(chains, <u64>n * CHAIN_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, chains);
  for (let i: u32 = 0; i < n; i++) {
    const c = chains + i * CHAIN_SIZE;
    const k = <u32>load<u16>(c + CHAIN_NREAD) + <u32>load<u16>(c + CHAIN_NWRITE);
    if (k == 0 || k > q) return refuse(cb, ERR_BAD_ARGUMENT, i);
    const first = load<u32>(c + CHAIN_SEG);
    if (!inMemory(segs, (<u64>first + k) * SEG_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, i);
    let total: u64 = 0;
    for (let j: u32 = 0; j < k; j++) total += load<u32>(segs + (first + j) * SEG_SIZE + SEG_LEN);
    if (total > 0xffff_ffff) return refuse(cb, ERR_BAD_ARGUMENT, i);
  }
  return 0;
}

/**
 * Writes a used record (token, len 0) for every buffer still in flight and forgets it, up to
 * `max`; lowers the in-flight count at `inFlightField`. The caller resets the queue afterwards.
 */
export function detachAll(cb: u32, q: u32, shadow: u32, inFlightField: u32, out: u32, max: u32): i32 {
  if (!inMemory(out, <u64>max * USED_REC_SIZE)) return refuse(cb, ERR_OUT_OF_MEMORY_BOUNDS, out);
  let got: u32 = 0;
  for (let id: u32 = 0; id < q && got < max; id++) {
    const h = shadow + id * SHADOW_SIZE;
    if ((load<u16>(h + SHADOW_FLAGS) & SHADOW_F_IN_FLIGHT) == 0) continue;
    const o = out + got * USED_REC_SIZE;
    store<u32>(o + USED_REC_ID, load<u32>(h + SHADOW_TOKEN));
    store<u32>(o + USED_REC_LEN, 0);
    store<u16>(h + SHADOW_FLAGS, 0);
    got++;
  }
  store<u32>(cb + inFlightField, load<u32>(cb + inFlightField) - got);
  return <i32>got;
}
