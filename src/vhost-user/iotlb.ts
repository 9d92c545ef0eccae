// The back-end's IOTLB (vhost-user.rst "IOMMU support"). With VIRTIO_F_ACCESS_PLATFORM the
// addresses in SET_VRING_ADDR and in every descriptor are I/O virtual addresses (IOVAs) of the
// front-end's virtual IOMMU; IOTLB_MSG UPDATE says which front-end user addresses a range of
// IOVAs maps to (and with what permission), INVALIDATE takes a range away, and the back-end asks
// for a translation it lacks with a MISS on its back-end request channel (backend-channel.ts).
//
// The engine's device side keeps its hot path: its region table (assembly/shared/regions.ts) is
// keyed by IOVA instead of guest address. deviceRegions() builds that table from the entries
// that allow reading and writing, intersected with the memory regions mapped now; the back-end
// rebuilds the running rings with it (quiesced, as for a new memory table) after every change.
// Pure: nothing mapped, no fds; every message is checked before anything changes.
import * as P from './protocol.js';
import type { IotlbMsg } from './message.js';
import type { PlacedRegion } from './memory-table.js';
import type { Region } from '../virtqueue/queue-side.js';
import { MAX_IOTLB_REGIONS } from '../../assembly/layout/queue.js';

/** Entries kept at most (DPDK's vhost keeps 2048); the oldest goes when a new one needs room. */
export const MAX_IOTLB_ENTRIES = 2048;
/** Ranges the engine's region table holds for an IOTLB (assembly/layout/queue.ts MAX_IOTLB_REGIONS). */
export const MAX_DEVICE_REGIONS = MAX_IOTLB_REGIONS;

const U64_END = 1n << 64n;
const hex = (v: bigint): string => `0x${v.toString(16)}`;

export interface IotlbEntry {
  iova: bigint;
  size: bigint;
  uaddr: bigint;
  /** VHOST_ACCESS_RO, _WO or _RW. */
  perm: number;
  /** Update order (the newest entries go into the engine's table first when not all fit). */
  seq: number;
}

export const permName = (perm: number): string =>
  perm === P.IotlbPerm.RO ? 'RO' : perm === P.IotlbPerm.WO ? 'WO' : perm === P.IotlbPerm.RW ? 'RW' : `perm ${perm}`;

const typeName = (type: number): string =>
  Object.entries(P.IotlbType).find(([, v]) => v === type)?.[0] ?? `type ${type}`;

/**
 * Why the front-end's IOTLB_MSG cannot be applied as it stands (null when it can): only UPDATE
 * and INVALIDATE come from the front-end (MISS and ACCESS_FAIL are the back-end's); the range is
 * not empty and does not reach past 2^64 (in IOVAs, and for an UPDATE in user addresses); an
 * UPDATE's permission is RO, WO or RW.
 */
export function iotlbMsgProblem(m: IotlbMsg): string | null {
  const range = `[${hex(m.iova)}, +${hex(m.size)})`;
  if (m.type !== P.IotlbType.UPDATE && m.type !== P.IotlbType.INVALIDATE) {
    return `${typeName(m.type)}: a front-end sends only UPDATE (2) and INVALIDATE (3) (vhost-user.rst "IOMMU support")`;
  }
  const what = typeName(m.type);
  if (m.size === 0n) return `${what} of an empty range at IOVA ${hex(m.iova)}`;
  if (m.iova + m.size > U64_END) return `${what} of IOVAs ${range} reaches past 2^64`;
  if (m.type === P.IotlbType.INVALIDATE) return null;
  if (m.perm !== P.IotlbPerm.RO && m.perm !== P.IotlbPerm.WO && m.perm !== P.IotlbPerm.RW) {
    return `UPDATE of IOVAs ${range} with permission ${m.perm}; expected RO (1), WO (2) or RW (3)`;
  }
  if (m.uaddr + m.size > U64_END) return `UPDATE of IOVAs ${range}: user addresses ${hex(m.uaddr)} + size reach past 2^64`;
  return null;
}

/**
 * Why an UPDATE's user addresses [uaddr, uaddr + size) are not all guest memory (null when they
 * are): every byte must lie in a region mapped now (regions next to each other in user addresses
 * may share the range).
 */
export function updateOutsideMemory(m: IotlbMsg, regions: readonly PlacedRegion[]): string | null {
  const sorted = [...regions].sort((a, b) => (a.uaddr < b.uaddr ? -1 : a.uaddr > b.uaddr ? 1 : 0));
  let at = m.uaddr;
  const end = m.uaddr + m.size;
  for (const r of sorted) {
    if (at >= end) break;
    if (r.uaddr + r.size <= at) continue;
    if (r.uaddr > at) break;
    at = r.uaddr + r.size;
  }
  if (at >= end) return null;
  return `UPDATE of IOVAs [${hex(m.iova)}, +${hex(m.size)}) maps user addresses [${hex(m.uaddr)}, ${hex(end)}), ` +
    `but ${hex(at)} is outside every memory region (${regions.length} mapped)`;
}

export class Iotlb {
  /** Sorted by IOVA, none overlapping. */
  private list: IotlbEntry[] = [];
  private seq = 0;

  get entries(): readonly IotlbEntry[] {
    return this.list;
  }

  /**
   * Applies a checked UPDATE (iotlbMsgProblem and updateOutsideMemory found nothing): the range
   * replaces whatever it overlaps. Neighbours with the same permission that continue it in IOVAs
   * and user addresses are merged with it. When the table is full, the oldest entry goes.
   */
  update(m: IotlbMsg): void {
    this.remove(m.iova, m.size);
    let e: IotlbEntry = { iova: m.iova, size: m.size, uaddr: m.uaddr, perm: m.perm, seq: ++this.seq };
    let i = this.list.findIndex((x) => x.iova > e.iova);
    if (i < 0) i = this.list.length;
    const prev = this.list[i - 1];
    if (prev && prev.perm === e.perm && prev.iova + prev.size === e.iova && prev.uaddr + prev.size === e.uaddr) {
      e = { ...e, iova: prev.iova, uaddr: prev.uaddr, size: prev.size + e.size };
      this.list.splice(--i, 1);
    }
    const next = this.list[i];
    if (next && next.perm === e.perm && e.iova + e.size === next.iova && e.uaddr + e.size === next.uaddr) {
      e = { ...e, size: e.size + next.size };
      this.list.splice(i, 1);
    }
    this.list.splice(i, 0, e);
    while (this.list.length > MAX_IOTLB_ENTRIES) {
      const oldest = this.list.reduce((o, x, k) => (x.seq < this.list[o].seq ? k : o), 0);
      this.list.splice(oldest, 1);
    }
  }

  /** INVALIDATE: takes [iova, iova + size) out (entries partly in it keep the rest). True when something was there. */
  invalidate(iova: bigint, size: bigint): boolean {
    return this.remove(iova, size);
  }

  private remove(iova: bigint, size: bigint): boolean {
    const end = iova + size;
    const out: IotlbEntry[] = [];
    let changed = false;
    for (const e of this.list) {
      const eEnd = e.iova + e.size;
      if (eEnd <= iova || e.iova >= end) { out.push(e); continue; }
      changed = true;
      if (e.iova < iova) out.push({ ...e, size: iova - e.iova });
      if (eEnd > end) out.push({ ...e, iova: end, uaddr: e.uaddr + (end - e.iova), size: eEnd - end });
    }
    this.list = out;
    return changed;
  }

  /** Makes the entry holding `iova` the newest (deviceRegions takes it first). */
  touch(iova: bigint): void {
    const e = this.lookup(iova);
    if (e) e.seq = ++this.seq;
  }

  /** The entry holding `iova`, if any. */
  lookup(iova: bigint): IotlbEntry | undefined {
    return this.list.find((e) => iova >= e.iova && iova - e.iova < e.size);
  }

  /** The user address of [iova, iova + length) when one entry with permission `perm` (all its bits) holds it whole. */
  translate(iova: bigint, length: number, perm: number = P.IotlbPerm.RW): bigint | undefined {
    const e = this.lookup(iova);
    if (!e || (e.perm & perm) !== perm) return undefined;
    if (iova - e.iova + BigInt(length) > e.size) return undefined;
    return e.uaddr + (iova - e.iova);
  }

  /**
   * The engine's region table, keyed by IOVA: every RW entry intersected with the memory regions
   * (`offset` its Wasm offset), neighbours that continue each other in IOVAs and in Wasm offsets
   * merged. At most MAX_DEVICE_REGIONS ranges, the newest entries first; `left` counts those that
   * did not fit (an access there misses, and its UPDATE brings it back as the newest).
   */
  deviceRegions(memory: readonly PlacedRegion[]): { regions: Region[]; left: number } {
    const pieces: (Region & { seq: number })[] = [];
    for (const e of this.list) {
      if (e.perm !== P.IotlbPerm.RW) continue;
      for (const r of memory) {
        const lo = e.uaddr > r.uaddr ? e.uaddr : r.uaddr;
        const hiE = e.uaddr + e.size;
        const hiR = r.uaddr + r.size;
        const hi = hiE < hiR ? hiE : hiR;
        if (lo >= hi) continue;
        pieces.push({ gpa: e.iova + (lo - e.uaddr), size: hi - lo, offset: r.offset + Number(lo - r.uaddr), seq: e.seq });
      }
    }
    pieces.sort((a, b) => (a.gpa < b.gpa ? -1 : a.gpa > b.gpa ? 1 : 0));
    const merged: (Region & { seq: number })[] = [];
    for (const p of pieces) {
      const last = merged.at(-1);
      if (last && last.gpa + last.size === p.gpa && BigInt(last.offset) + last.size === BigInt(p.offset)) {
        last.size += p.size;
        last.seq = Math.max(last.seq, p.seq);
      } else merged.push({ ...p });
    }
    const kept = [...merged].sort((a, b) => b.seq - a.seq).slice(0, MAX_DEVICE_REGIONS);
    kept.sort((a, b) => (a.gpa < b.gpa ? -1 : a.gpa > b.gpa ? 1 : 0));
    return { regions: kept.map(({ gpa, size, offset }) => ({ gpa, size, offset })), left: merged.length - kept.length };
  }

  clear(): void {
    this.list = [];
  }
}
