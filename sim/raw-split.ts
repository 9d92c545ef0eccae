// Raw access to a split ring's memory, field by field, as the spec lays it out (2.7). No rules
// are enforced here: the reference model builds on it, and the bad-input tests use it to write
// rings no correct driver or device would.
import * as S from '../assembly/layout/split.js';
import type { SplitRingAddrs } from '../src/virtqueue/split.js';
import { usedEventOffset, availEventOffset } from '../src/virtqueue/layout.js';

export interface Desc {
  addr: bigint;
  len: number;
  flags: number;
  next: number;
}

export class RawSplitRing {
  readonly view: DataView;
  readonly addrs: SplitRingAddrs;
  readonly size: number;

  constructor(view: DataView, addrs: SplitRingAddrs) {
    this.view = view;
    this.addrs = addrs;
    this.size = addrs.queueSize;
  }

  // Descriptor table (2.7.5). `table` defaults to the ring's own; pass an indirect table's offset.
  readDesc(i: number, table = this.addrs.desc): Desc {
    const d = table + i * S.DESC_SIZE;
    return {
      addr: this.view.getBigUint64(d + S.DESC_ADDR, true),
      len: this.view.getUint32(d + S.DESC_LEN, true),
      flags: this.view.getUint16(d + S.DESC_FLAGS, true),
      next: this.view.getUint16(d + S.DESC_NEXT, true),
    };
  }

  writeDesc(i: number, desc: Desc, table = this.addrs.desc): void {
    const d = table + i * S.DESC_SIZE;
    this.view.setBigUint64(d + S.DESC_ADDR, desc.addr, true);
    this.view.setUint32(d + S.DESC_LEN, desc.len, true);
    this.view.setUint16(d + S.DESC_FLAGS, desc.flags, true);
    this.view.setUint16(d + S.DESC_NEXT, desc.next, true);
  }

  // Available ring (2.7.6).
  get availFlags(): number { return this.view.getUint16(this.addrs.avail + S.AVAIL_FLAGS, true); }
  set availFlags(v: number) { this.view.setUint16(this.addrs.avail + S.AVAIL_FLAGS, v, true); }
  get availIdx(): number { return this.view.getUint16(this.addrs.avail + S.AVAIL_IDX, true); }
  set availIdx(v: number) { this.view.setUint16(this.addrs.avail + S.AVAIL_IDX, v & 0xffff, true); }
  availRing(slot: number): number {
    return this.view.getUint16(this.addrs.avail + S.AVAIL_RING + (slot % this.size) * S.AVAIL_ELEM_SIZE, true);
  }
  setAvailRing(slot: number, head: number): void {
    this.view.setUint16(this.addrs.avail + S.AVAIL_RING + (slot % this.size) * S.AVAIL_ELEM_SIZE, head, true);
  }
  get usedEvent(): number { return this.view.getUint16(this.addrs.avail + usedEventOffset(this.size), true); }
  set usedEvent(v: number) { this.view.setUint16(this.addrs.avail + usedEventOffset(this.size), v & 0xffff, true); }

  /** Appends `head` to the available ring and publishes it (what a driver does, minus the rules). */
  publish(...heads: number[]): void {
    let idx = this.availIdx;
    for (const h of heads) this.setAvailRing(idx++ & 0xffff, h);
    this.availIdx = idx;
  }

  // Used ring (2.7.8).
  get usedFlags(): number { return this.view.getUint16(this.addrs.used + S.USED_FLAGS, true); }
  set usedFlags(v: number) { this.view.setUint16(this.addrs.used + S.USED_FLAGS, v, true); }
  get usedIdx(): number { return this.view.getUint16(this.addrs.used + S.USED_IDX, true); }
  set usedIdx(v: number) { this.view.setUint16(this.addrs.used + S.USED_IDX, v & 0xffff, true); }
  usedElem(slot: number): { id: number; len: number } {
    const e = this.addrs.used + S.USED_RING + (slot % this.size) * S.USED_ELEM_SIZE;
    return { id: this.view.getUint32(e + S.USED_ELEM_ID, true), len: this.view.getUint32(e + S.USED_ELEM_LEN, true) };
  }
  setUsedElem(slot: number, id: number, len: number): void {
    const e = this.addrs.used + S.USED_RING + (slot % this.size) * S.USED_ELEM_SIZE;
    this.view.setUint32(e + S.USED_ELEM_ID, id, true);
    this.view.setUint32(e + S.USED_ELEM_LEN, len, true);
  }
  get availEvent(): number { return this.view.getUint16(this.addrs.used + availEventOffset(this.size), true); }
  set availEvent(v: number) { this.view.setUint16(this.addrs.used + availEventOffset(this.size), v & 0xffff, true); }

  /** Appends used elements and publishes them (what a device does, minus the rules). */
  complete(...elems: { id: number; len: number }[]): void {
    let idx = this.usedIdx;
    for (const e of elems) this.setUsedElem(idx++ & 0xffff, e.id, e.len);
    this.usedIdx = idx;
  }
}
