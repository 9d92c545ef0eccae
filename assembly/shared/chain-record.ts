// Writing a chain record (layout/batch.ts) for the commonest chain of all: one direct
// descriptor whose buffer lies in one region. Both layouts' pops take this path before their
// general walk, which handles everything else and reports every fault.
import {
  CHAIN_ID, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, CHAIN_READ_LEN, CHAIN_WRITE_LEN, CHAIN_DESCS,
  SEG_SIZE, SEG_OFFSET, SEG_LEN,
} from "../layout/batch";
import { translateHinted } from "./regions";

/**
 * Records a one-descriptor chain (len > 0, no NEXT, no INDIRECT: the caller checked the flags)
 * when its buffer lies whole in the region of the last translation and a segment slot is free:
 * writes segs[at] and the record (id, one segment, one ring descriptor) and returns 1. Returns 0
 * otherwise, writing nothing.
 */
// @ts-ignore: decorator
@inline export function recordSingle(cb: u32, id: u32, addr: u64, len: u32, writable: bool, rec: u32, segs: u32, at: u32, maxSegs: u32): i32 {
  if (len == 0 || at >= maxSegs) return 0;
  const off = translateHinted(cb, addr, len);
  if (off < 0) return 0;
  const s = segs + at * SEG_SIZE;
  store<u32>(s + SEG_OFFSET, <u32>off);
  store<u32>(s + SEG_LEN, len);
  store<u32>(rec + CHAIN_ID, id);
  store<u32>(rec + CHAIN_SEG, at);
  store<u16>(rec + CHAIN_NREAD, writable ? 0 : 1);
  store<u16>(rec + CHAIN_NWRITE, writable ? 1 : 0);
  store<u32>(rec + CHAIN_READ_LEN, writable ? 0 : len);
  store<u32>(rec + CHAIN_WRITE_LEN, writable ? len : 0);
  store<u16>(rec + CHAIN_DESCS, 1);
  return 1;
}
