// Reading and writing an inflight region (vhost-user.rst "Inflight I/O tracking";
// assembly/layout/inflight.ts) from a test: the header and each entry as plain objects, and the
// few writes a test makes to craft the state a back-end left when it died.
import * as I from '../../assembly/layout/inflight.js';

export interface SplitEntry { inflight: number; next: number; counter: bigint }
export interface SplitRegion {
  version: number;
  descNum: number;
  lastBatchHead: number;
  usedIdx: number;
  desc: SplitEntry[];
}

export interface PackedEntry {
  inflight: number; next: number; last: number; num: number; counter: bigint;
  id: number; flags: number; len: number; addr: bigint;
}
export interface PackedRegion {
  version: number;
  descNum: number;
  freeHead: number;
  oldFreeHead: number;
  usedIdx: number;
  oldUsedIdx: number;
  usedWrap: number;
  oldUsedWrap: number;
  desc: PackedEntry[];
}

export function readSplitRegion(view: DataView, at: number, q: number): SplitRegion {
  const desc: SplitEntry[] = [];
  for (let i = 0; i < q; i++) {
    const e = at + I.ISPLIT_HEADER_SIZE + i * I.ISPLIT_DESC_SIZE;
    desc.push({
      inflight: view.getUint8(e + I.ISPLIT_D_INFLIGHT), next: view.getUint16(e + I.ISPLIT_D_NEXT, true),
      counter: view.getBigUint64(e + I.ISPLIT_D_COUNTER, true),
    });
  }
  return {
    version: view.getUint16(at + I.INFLIGHT_VERSION, true), descNum: view.getUint16(at + I.INFLIGHT_DESC_NUM, true),
    lastBatchHead: view.getUint16(at + I.ISPLIT_LAST_BATCH_HEAD, true), usedIdx: view.getUint16(at + I.ISPLIT_USED_IDX, true), desc,
  };
}

export function readPackedRegion(view: DataView, at: number, q: number): PackedRegion {
  const desc: PackedEntry[] = [];
  for (let i = 0; i < q; i++) {
    const e = at + I.IPACKED_HEADER_SIZE + i * I.IPACKED_DESC_SIZE;
    desc.push({
      inflight: view.getUint8(e + I.IPACKED_D_INFLIGHT), next: view.getUint16(e + I.IPACKED_D_NEXT, true),
      last: view.getUint16(e + I.IPACKED_D_LAST, true), num: view.getUint16(e + I.IPACKED_D_NUM, true),
      counter: view.getBigUint64(e + I.IPACKED_D_COUNTER, true), id: view.getUint16(e + I.IPACKED_D_ID, true),
      flags: view.getUint16(e + I.IPACKED_D_FLAGS, true), len: view.getUint32(e + I.IPACKED_D_LEN, true),
      addr: view.getBigUint64(e + I.IPACKED_D_ADDR, true),
    });
  }
  return {
    version: view.getUint16(at + I.INFLIGHT_VERSION, true), descNum: view.getUint16(at + I.INFLIGHT_DESC_NUM, true),
    freeHead: view.getUint16(at + I.IPACKED_FREE_HEAD, true), oldFreeHead: view.getUint16(at + I.IPACKED_OLD_FREE_HEAD, true),
    usedIdx: view.getUint16(at + I.IPACKED_USED_IDX, true), oldUsedIdx: view.getUint16(at + I.IPACKED_OLD_USED_IDX, true),
    usedWrap: view.getUint8(at + I.IPACKED_USED_WRAP), oldUsedWrap: view.getUint8(at + I.IPACKED_OLD_USED_WRAP), desc,
  };
}

/** Offset of entry `i` of a split region at `at`. */
export const splitEntry = (at: number, i: number): number => at + I.ISPLIT_HEADER_SIZE + i * I.ISPLIT_DESC_SIZE;
/** Offset of entry `i` of a packed region at `at`. */
export const packedEntry = (at: number, i: number): number => at + I.IPACKED_HEADER_SIZE + i * I.IPACKED_DESC_SIZE;

/** The packed free list from free_head, as entry indices (at most q of them). */
export function packedFreeList(r: PackedRegion): number[] {
  const out: number[] = [];
  for (let f = r.freeHead; f < r.descNum && out.length < r.descNum; f = r.desc[f].next) out.push(f);
  return out;
}
