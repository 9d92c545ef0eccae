// What a chain the device accepted must look like, worked out from the ring as the driver left
// it: its descriptors followed (split: by next, through at most one indirect table; packed:
// consecutive slots, or one table), each buffer translated through the region table and cut
// where it crosses from one region into the next. Only for chains the device popped (so they
// are well formed); it states nothing about faults.
import * as S from '../../assembly/layout/split.js';
import * as P from '../../assembly/layout/packed.js';
import type { RingWorld } from './ring-world.js';

export interface Segment {
  offset: number;
  len: number;
  writable: boolean;
}

/** Wasm offset of guest address `gpa` and the bytes left in its region, or undefined. */
function translate(w: RingWorld, gpa: bigint): { offset: number; room: bigint } | undefined {
  for (const r of w.regions) {
    const delta = gpa - r.gpa;
    if (delta >= 0n && delta < r.size) return { offset: r.offset + Number(delta), room: r.size - delta };
  }
  return undefined;
}

/** Appends the segments of buffer [gpa, gpa + len) to `out`; false if it does not translate. */
function addBuffer(w: RingWorld, gpa: bigint, len: number, writable: boolean, out: Segment[]): boolean {
  let left = BigInt(len);
  let a = gpa;
  while (left > 0n) {
    const t = translate(w, a);
    if (!t) return false;
    const take = left < t.room ? left : t.room;
    out.push({ offset: t.offset, len: Number(take), writable });
    a += take;
    left -= take;
  }
  return true;
}

/** A table's Wasm offset, if it lies in one region. */
function tableAt(w: RingWorld, gpa: bigint, len: number): number | undefined {
  const t = translate(w, gpa);
  return t && BigInt(len) <= t.room ? t.offset : undefined;
}

/**
 * The segments of the split chain headed by descriptor `head`, which took `descs` descriptors of
 * the main table. Undefined when the ring does not describe a valid chain of that many.
 */
export function splitChainSegments(w: RingWorld, head: number, descs: number): Segment[] | undefined {
  const v = w.engine.view;
  const out: Segment[] = [];
  let i = head;
  for (let n = 0; n < descs; n++) {
    if (i >= w.q) return undefined;
    const d = w.desc + i * S.DESC_SIZE;
    const addr = v.getBigUint64(d + S.DESC_ADDR, true);
    const len = v.getUint32(d + S.DESC_LEN, true);
    const flags = v.getUint16(d + S.DESC_FLAGS, true);
    if ((flags & S.DESC_F_INDIRECT) !== 0) {
      if (n !== descs - 1) return undefined;
      const table = tableAt(w, addr, len);
      if (table === undefined) return undefined;
      let j = 0;
      for (let k = 0; k < len / S.DESC_SIZE; k++) {
        const e = table + j * S.DESC_SIZE;
        const f = v.getUint16(e + S.DESC_FLAGS, true);
        if (!addBuffer(w, v.getBigUint64(e + S.DESC_ADDR, true), v.getUint32(e + S.DESC_LEN, true), (f & S.DESC_F_WRITE) !== 0, out)) return undefined;
        if ((f & S.DESC_F_NEXT) === 0) return out;
        j = v.getUint16(e + S.DESC_NEXT, true);
      }
      return undefined;
    }
    if (!addBuffer(w, addr, len, (flags & S.DESC_F_WRITE) !== 0, out)) return undefined;
    if ((flags & S.DESC_F_NEXT) === 0) return n === descs - 1 ? out : undefined;
    i = v.getUint16(d + S.DESC_NEXT, true);
  }
  return undefined;
}

/**
 * The segments and buffer id of the packed list that took `descs` slots from `slot` (its id is
 * the one in its last descriptor, 2.8.6). Undefined when the ring does not describe one.
 */
export function packedListSegments(w: RingWorld, slot: number, descs: number): { segs: Segment[]; id: number } | undefined {
  const v = w.engine.view;
  const out: Segment[] = [];
  let id = 0;
  for (let n = 0; n < descs; n++) {
    const d = w.desc + ((slot + n) % w.q) * P.PDESC_SIZE;
    const addr = v.getBigUint64(d + P.PDESC_ADDR, true);
    const len = v.getUint32(d + P.PDESC_LEN, true);
    const flags = v.getUint16(d + P.PDESC_FLAGS, true);
    id = v.getUint16(d + P.PDESC_ID, true);
    if ((flags & P.PDESC_F_INDIRECT) !== 0) {
      const table = tableAt(w, addr, len);
      if (table === undefined || descs !== 1) return undefined;
      for (let k = 0; k < len / P.PDESC_SIZE; k++) {
        const e = table + k * P.PDESC_SIZE;
        const f = v.getUint16(e + P.PDESC_FLAGS, true);
        if (!addBuffer(w, v.getBigUint64(e + P.PDESC_ADDR, true), v.getUint32(e + P.PDESC_LEN, true), (f & P.PDESC_F_WRITE) !== 0, out)) return undefined;
      }
      return { segs: out, id };
    }
    if (!addBuffer(w, addr, len, (flags & P.PDESC_F_WRITE) !== 0, out)) return undefined;
  }
  return { segs: out, id };
}
