// What the split and packed drivers share: the reset of their private state and the check of
// their indirect tables, checking a burst before anything is written, and taking back every
// buffer in flight at teardown. Both keep per-buffer state in the SHADOW_* entry format
// (layout/queue.ts).
import {
  SHADOW_SIZE, SHADOW_TOKEN, SHADOW_WRITE_LEN, SHADOW_NEXT, SHADOW_NDESC, SHADOW_TAIL, SHADOW_FLAGS,
  SHADOW_F_IN_FLIGHT, NONE_16, DRV_ADDR_BASE,
} from "../layout/queue";
import {
  CHAIN_SIZE, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, SEG_SIZE, SEG_LEN, USED_REC_SIZE, USED_REC_ID,
  USED_REC_LEN,
} from "../layout/batch";
import {
  ERR_BAD_CONFIG, ERR_BAD_ARGUMENT, ERR_OUT_OF_MEMORY_BOUNDS, ERR_USED_ID_OUT_OF_RANGE,
  ERR_USED_ID_NOT_IN_FLIGHT, ERR_USED_LEN_TOO_LARGE,
} from "../layout/errors";
import { refuse, inMemory, checkArea, memoryBytes } from "./common";

/**
 * Reset check of the address base (DRV_ADDR_BASE): every Wasm offset plus it must stay below
 * 2^64, so no descriptor address wraps. Returns 0, or ERR_BAD_CONFIG with CB_DETAIL = the base's
 * high 32 bits.
 */
export function checkAddressBase(cb: u32): i32 {
  const base = load<u64>(cb + DRV_ADDR_BASE);
  if (base > 0xffff_ffff_ffff_ffff - memoryBytes()) return refuse(cb, ERR_BAD_CONFIG, <u32>(base >>> 32));
  return 0;
}

/**
 * Reset check of the indirect tables: none when the address in field `tableField` is 0;
 * otherwise the block's `maxField` descriptors per table (1..65535), q tables of `descSize`-byte
 * descriptors, `align`-aligned, inside memory. Returns 0, or ERR_BAD_CONFIG with CB_DETAIL = the
 * bad count or address.
 */
export function checkIndirectArea(cb: u32, q: u32, tableField: u32, maxField: u32, align: u32, descSize: u32): i32 {
  const ind = load<u32>(cb + tableField);
  if (ind == 0) return 0;
  const indMax = load<u32>(cb + maxField);
  if (indMax == 0 || indMax > 0xffff) return refuse(cb, ERR_BAD_CONFIG, indMax);
  if (checkArea(ind, align, <u64>q * indMax * descSize) != 0) return refuse(cb, ERR_BAD_CONFIG, ind);
  return 0;
}

/**
 * Starts the `q` shadow entries at `shadow` afresh: nothing in flight, and every entry on the
 * free list in order (0, 1, ... q - 1, each one's NEXT the one after). SHADOW_TAIL, which only the
 * split driver uses, starts at the entry itself (a chain of one).
 */
export function resetDriverShadow(shadow: u32, q: u32): void {
  for (let i: u32 = 0; i < q; i++) {
    const s = shadow + i * SHADOW_SIZE;
    store<u32>(s + SHADOW_TOKEN, 0);
    store<u32>(s + SHADOW_WRITE_LEN, 0);
    store<u16>(s + SHADOW_NEXT, i + 1 < q ? i + 1 : NONE_16);
    store<u16>(s + SHADOW_NDESC, 0);
    store<u16>(s + SHADOW_TAIL, i);
    store<u16>(s + SHADOW_FLAGS, 0);
  }
}

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
 * Checks a used entry (2.7.8; 2.8.4 for packed) against the driver's private state: its id names
 * a buffer (below q) the driver has in flight, and its length fits that buffer's writable
 * capacity. Returns 0, or the error (the caller breaks the queue, with the id as detail).
 */
// @ts-ignore: decorator
@inline export function checkUsedEntry(shadow: u32, q: u32, id: u32, len: u32): i32 {
  if (id >= q) return ERR_USED_ID_OUT_OF_RANGE;
  const h = shadow + id * SHADOW_SIZE;
  if ((load<u16>(h + SHADOW_FLAGS) & SHADOW_F_IN_FLIGHT) == 0) return ERR_USED_ID_NOT_IN_FLIGHT;
  if (len > load<u32>(h + SHADOW_WRITE_LEN)) return ERR_USED_LEN_TOO_LARGE;
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
