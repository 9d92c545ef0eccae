// Reference model of the driver side of a packed virtqueue (VIRTIO 1.2, 2.8.21 "Supplying
// Buffers to The Device" and 2.8.22 "Receiving Used Buffers From The Device"), written to be
// read, not to be fast. It works on a DataView laid out at the same addresses as the engine's
// memory, so the two can be compared byte for byte.
//
// Policies it shares with the engine (assembly/packed/driver.ts):
// - Free buffer ids form a LIFO list, 0, 1, 2, ... at reset; a collected id goes back on the
//   front. Every descriptor of a list carries the id (the spec needs it only in the last, 2.8.6).
// - A list takes the next consecutive slots; each descriptor carries the wrap counter of its own
//   slot. A list of 2..indirectMax buffers goes through an indirect table (one ring slot) when
//   VIRTIO_F_INDIRECT_DESC was negotiated and the driver has an indirect area; the table of id
//   x sits at indirectBase + x * indirectMax * 16, its entries carry id 0 and only WRITE.
// - The flags of a burst's first descriptor are stored last (2.8.21.3), so the device never
//   sees part of a burst.
// - The length of a used descriptor is read only when it has WRITE (2.8.4). With IN_ORDER, a
//   used descriptor for buffer X also returns every buffer made available before X, each with
//   its full writable length (2.8.8); if that run does not fit in `max` and nothing was
//   collected yet, collect refuses with ERR_SEGMENTS_FULL.
// - The driver event suppression structure is written on reset, on enable/disableInterrupts and
//   (while interrupts are wanted, with EVENT_IDX) after each collect that took something.
// - Caller errors change nothing; a bad used descriptor stops the burst, returns what came
//   before it, and marks the queue broken with a sticky code.
import * as P from '../../assembly/layout/packed.js';
import * as E from '../../assembly/layout/errors.js';
import * as F from '../../assembly/layout/features.js';
import { RawPackedRing, type PackedDesc } from '../raw-packed.js';
import type { RingAreas } from '../../src/virtqueue/queue-side.js';
import { areaOk } from './area.js';
import { isUsed, availableBits, advance, validPackedQueueSize, type RingPosition } from './packed-ring.js';
import { readEvent, writeEvent, passedEvent } from './packed-event.js';
import type { RefBurst, RefChain, RefUsed } from './types.js';

export interface RefPackedDriverConfig {
  ring: RingAreas;
  /** Negotiated feature bits. */
  features: bigint;
  /** The driver's indirect area (base 0 or max 0: none). */
  indirect?: { base: number; max: number };
  /** Want used buffer notifications from the start (default false). */
  interrupts?: boolean;
}

/** What the driver remembers about a buffer it made available (private: the device never sees it). */
interface InFlightBuffer {
  token: number;
  /** Device-writable bytes: a used length above this is a device error (2.8.4). */
  writeLen: number;
  /** Ring slots the list holds (1 through an indirect table). */
  descs: number;
}

const featureOn = (set: bigint, bit: number): boolean => ((set >> BigInt(bit)) & 1n) === 1n;

export class RefPackedDriver {
  readonly ring: RawPackedRing;
  readonly queueSize: number;
  private readonly eventIdx: boolean;
  private readonly inOrder: boolean;
  private readonly indirectBase: number;
  private readonly indirectMax: number;

  /** Wants used buffer notifications (the engine's CB_OPT_NOTIFY); survives reset. */
  private notify: boolean;
  /** Free buffer ids, front of the list first. */
  private freeIds: number[] = [];
  /** Buffers in flight, by buffer id. */
  private buffers: (InFlightBuffer | undefined)[] = [];
  /** Buffers in flight (detach takes some back without freeing their ids). */
  private inFlightCount = 0;
  /** IN_ORDER: buffer ids in the order they were made available; the first inFlightCount count. */
  private availOrder: number[] = [];
  private freeSlots = 0;
  /** Where the next descriptor goes (Driver Ring Wrap Counter). */
  private avail: RingPosition = { slot: 0, wrapCounter: 1 };
  /** Where the next used descriptor will appear, and the wrap counter it will carry. */
  private used: RingPosition = { slot: 0, wrapCounter: 1 };
  /** Descriptors made available since kickNeeded last looked. */
  private added = 0;

  /** 0, or the code that broke the queue (sticky until reset). */
  status = 0;
  /** Locates the last fault or refusal (index, id, ...), like the engine's CB_DETAIL. */
  detail = 0;

  constructor(view: DataView, cfg: RefPackedDriverConfig) {
    this.ring = new RawPackedRing(view, cfg.ring);
    this.queueSize = cfg.ring.queueSize;
    this.eventIdx = featureOn(cfg.features, F.F_EVENT_IDX);
    this.inOrder = featureOn(cfg.features, F.F_IN_ORDER);
    // 2.8.7: indirect descriptors only when VIRTIO_F_INDIRECT_DESC was negotiated.
    const ind = cfg.indirect;
    const haveArea = ind !== undefined && ind.base !== 0 && ind.max !== 0;
    this.indirectBase = haveArea && featureOn(cfg.features, F.F_INDIRECT_DESC) ? ind.base : 0;
    this.indirectMax = haveArea ? ind.max : 0;
    this.notify = cfg.interrupts ?? false;
    const rc = this.reset();
    if (rc !== 0) throw new RangeError(`reference packed driver: bad configuration (code ${rc}, detail ${this.detail})`);
  }

  // ---- state the tests compare with the engine's control block ----
  get numFree(): number { return this.freeSlots; }
  get inFlight(): number { return this.inFlightCount; }
  get nextAvail(): number { return this.avail.slot; }
  get availWrapCounter(): number { return this.avail.wrapCounter; }
  get nextUsed(): number { return this.used.slot; }
  get usedWrapCounter(): number { return this.used.wrapCounter; }
  get interruptsWanted(): boolean { return this.notify; }
  /** Whether a list of `segments` buffers would use an indirect table. */
  usesIndirect(segments: number): boolean {
    return this.indirectBase !== 0 && segments >= 2 && segments <= this.indirectMax;
  }

  private refuse(code: number, detail: number): number {
    this.detail = detail;
    return code;
  }

  private breakQueue(code: number, detail: number): number {
    this.status = code;
    this.detail = detail;
    return code;
  }

  private writeDriverEvent(want: boolean): void {
    writeEvent(this.ring.view, this.ring.areas.driver, want, this.eventIdx, this.used);
  }

  /** Back to an empty ring (after a device reset): every buffer in flight is forgotten. Returns 0 or ERR_BAD_CONFIG. */
  reset(): number {
    const q = this.queueSize;
    const view = this.ring.view;
    const { desc, driver, device } = this.ring.areas;
    if (!validPackedQueueSize(q)) return this.refuse(E.ERR_BAD_CONFIG, q);
    if (!areaOk(view, desc, P.PDESC_ALIGN, q * P.PDESC_SIZE)) return this.refuse(E.ERR_BAD_CONFIG, desc);
    if (!areaOk(view, driver, P.EVENT_ALIGN, P.EVENT_SIZE)) return this.refuse(E.ERR_BAD_CONFIG, 0);
    if (!areaOk(view, device, P.EVENT_ALIGN, P.EVENT_SIZE)) return this.refuse(E.ERR_BAD_CONFIG, 0);
    if (this.indirectBase !== 0) {
      if (this.indirectMax > 0xffff) return this.refuse(E.ERR_BAD_CONFIG, this.indirectMax);
      if (!areaOk(view, this.indirectBase, P.PDESC_ALIGN, q * this.indirectMax * P.PDESC_SIZE)) {
        return this.refuse(E.ERR_BAD_CONFIG, this.indirectBase);
      }
    }
    // 2.8.1 / 2.8.13: an empty ring is all zeroes; both wrap counters start at 1.
    for (let i = 0; i < q * P.PDESC_SIZE; i++) view.setUint8(desc + i, 0);
    this.avail = { slot: 0, wrapCounter: 1 };
    this.used = { slot: 0, wrapCounter: 1 };
    this.freeSlots = q;
    this.freeIds = Array.from({ length: q }, (_, i) => i);
    this.buffers = new Array<InFlightBuffer | undefined>(q).fill(undefined);
    this.inFlightCount = 0;
    this.availOrder = [];
    this.added = 0;
    this.status = 0;
    this.detail = 0;
    this.writeDriverEvent(this.notify);
    return 0;
  }

  /**
   * Makes lists available, in order, as long as ids and slots last (2.8.21). The burst is checked
   * first: a bad list refuses the whole burst and changes nothing. Returns the number added.
   */
  add(chains: readonly RefChain[]): number {
    if (this.status !== 0) return this.status;
    const q = this.queueSize;
    for (let i = 0; i < chains.length; i++) {
      const segs = chains[i].segments;
      if (segs.length === 0) return this.refuse(E.ERR_BAD_ARGUMENT, i);
      // 2.8.17 / 2.8.19: no list longer than Queue Size, in the ring or in an indirect table.
      if (segs.length > q) return this.refuse(E.ERR_BAD_ARGUMENT, i);
      // 2.8.17: device-writable buffers after device-readable ones (a chain record cannot even say otherwise).
      for (let j = 1; j < segs.length; j++) {
        if (segs[j - 1].writable && !segs[j].writable) return this.refuse(E.ERR_BAD_ARGUMENT, i);
      }
      checkU32(chains[i].id, 'token');
      let total = 0;
      for (const s of segs) {
        checkU32(s.offset, 'segment offset');
        checkU32(s.len, 'segment length');
        total += s.len;
      }
      // The used length is 32 bits: a list must hold less than 2^32 bytes.
      if (total > 0xffffffff) return this.refuse(E.ERR_BAD_ARGUMENT, i);
    }

    // Descriptors to write, the burst's first one last.
    const writes: { slot: number; d: PackedDesc }[] = [];
    let added = 0;
    for (const chain of chains) {
      const segs = chain.segments;
      const k = segs.length;
      const viaTable = this.usesIndirect(k);
      const need = viaTable ? 1 : k;
      if (need > this.freeSlots || this.freeIds.length === 0) break; // the rest waits
      const id = this.freeIds.shift()!;
      let writeLen = 0;
      for (const s of segs) if (s.writable) writeLen += s.len;
      if (viaTable) {
        // 2.8.7: a table of k descriptors; WRITE is the only flag that means anything in it.
        const table = this.indirectBase + id * this.indirectMax * P.PDESC_SIZE;
        segs.forEach((s, j) => {
          this.ring.writeDesc(j, { addr: BigInt(s.offset), len: s.len, id: 0, flags: s.writable ? P.PDESC_F_WRITE : 0 }, table);
        });
        writes.push({
          slot: this.avail.slot,
          d: { addr: BigInt(table), len: k * P.PDESC_SIZE, id, flags: P.PDESC_F_INDIRECT | availableBits(this.avail.wrapCounter) },
        });
        this.avail = advance(this.avail, 1, q);
      } else {
        segs.forEach((s, j) => {
          const flags = availableBits(this.avail.wrapCounter) | (j + 1 < k ? P.PDESC_F_NEXT : 0) | (s.writable ? P.PDESC_F_WRITE : 0);
          writes.push({ slot: this.avail.slot, d: { addr: BigInt(s.offset), len: s.len, id, flags } });
          this.avail = advance(this.avail, 1, q);
        });
      }
      this.buffers[id] = { token: chain.id, writeLen, descs: need };
      if (this.inOrder) this.availOrder[this.inFlightCount] = id;
      this.inFlightCount++;
      this.freeSlots -= need;
      this.added += need;
      added++;
    }
    // 2.8.21.3: every descriptor of the burst, then the first one's flags.
    for (const w of writes.slice(1)) this.ring.writeDesc(w.slot, w.d);
    if (writes.length > 0) this.ring.writeDesc(writes[0].slot, writes[0].d);
    return added;
  }

  /**
   * Whether to notify the device about the descriptors made available since the last call
   * (2.8.21.3.1): never when its structure says DISABLE; with DESC (and EVENT_IDX) when the
   * descriptor it named was made available; otherwise yes. Returns 1 or 0 (or the sticky error).
   */
  kickNeeded(): number {
    if (this.status !== 0) return this.status;
    const count = this.added;
    this.added = 0;
    if (count === 0) return 0;
    const ev = readEvent(this.ring.view, this.ring.areas.device);
    if (ev.flags === P.RING_EVENT_FLAGS_DISABLE) return 0;
    if (ev.flags !== P.RING_EVENT_FLAGS_DESC || !this.eventIdx) return 1;
    return passedEvent(ev.offWrap, this.avail, count, this.queueSize) ? 1 : 0;
  }

  /**
   * Collects up to `max` used buffers (2.8.22), checking each used descriptor: its id must name a
   * buffer in flight and its length (read only with WRITE, 2.8.4) must fit that buffer's
   * writable bytes. Items carry the caller's token and the used length.
   */
  collect(max: number): RefBurst<RefUsed> {
    if (this.status !== 0) return { rc: this.status, items: [] };
    const q = this.queueSize;
    const items: RefUsed[] = [];
    let fault: [code: number, detail: number] | undefined;
    while (items.length < max && this.inFlightCount > 0) {
      const d = this.ring.readDesc(this.used.slot);
      if (!isUsed(d.flags, this.used.wrapCounter)) break;
      const id = d.id;
      const len = (d.flags & P.PDESC_F_WRITE) !== 0 ? d.len : 0;
      if (id >= q) { fault = [E.ERR_USED_ID_OUT_OF_RANGE, id]; break; }
      const b = this.buffers[id];
      if (b === undefined) { fault = [E.ERR_USED_ID_NOT_IN_FLIGHT, id]; break; }
      if (len > b.writeLen) { fault = [E.ERR_USED_LEN_TOO_LARGE, id]; break; }
      if (this.inOrder) {
        // 2.8.8: X was used last of a run; the buffers made available before it were used completely.
        const at = this.availOrder.slice(0, this.inFlightCount).indexOf(id);
        if (at < 0) { fault = [E.ERR_USED_ID_NOT_IN_FLIGHT, id]; break; }
        if (items.length + at + 1 > max) {
          if (items.length === 0) return { rc: this.refuse(E.ERR_SEGMENTS_FULL, at + 1), items };
          break;
        }
        for (const earlier of this.availOrder.slice(0, at)) this.release(earlier, this.buffers[earlier]!.writeLen, items);
        this.availOrder.splice(0, at + 1);
      }
      this.release(id, len, items);
    }
    if (items.length > 0 && this.eventIdx && this.notify) this.writeDriverEvent(true);
    if (fault !== undefined) {
      this.breakQueue(fault[0], fault[1]);
      if (items.length === 0) return { rc: fault[0], items };
    }
    return { rc: items.length, items };
  }

  /** Buffer `id` comes back with `len`: its id goes on the front of the free list, its slots free up. */
  private release(id: number, len: number, items: RefUsed[]): void {
    const b = this.buffers[id]!;
    items.push({ id: b.token, len });
    this.buffers[id] = undefined;
    this.inFlightCount--;
    this.freeIds.unshift(id);
    this.freeSlots += b.descs;
    this.used = advance(this.used, b.descs, this.queueSize);
  }

  /** Asks for used buffer notifications (2.8.10). Returns 1 when a used descriptor is already waiting. */
  enableInterrupts(): number {
    if (this.status !== 0) return this.status;
    this.notify = true;
    this.writeDriverEvent(true);
    if (this.inFlightCount === 0) return 0;
    return isUsed(this.ring.readDesc(this.used.slot).flags, this.used.wrapCounter) ? 1 : 0;
  }

  /** Stops asking for used buffer notifications. */
  disableInterrupts(): number {
    if (this.status !== 0) return this.status;
    this.notify = false;
    this.writeDriverEvent(false);
    return 0;
  }

  /**
   * Takes back up to `max` buffers in flight, in ascending id order, as items with len 0, even
   * on a broken queue. Their ids and slots are not freed: reset afterwards.
   */
  detach(max: number): RefBurst<RefUsed> {
    const items: RefUsed[] = [];
    for (let id = 0; id < this.queueSize && items.length < max; id++) {
      const b = this.buffers[id];
      if (b === undefined) continue;
      items.push({ id: b.token, len: 0 });
      this.buffers[id] = undefined;
      this.inFlightCount--;
    }
    return { rc: items.length, items };
  }
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`reference packed driver: ${what} ${v} is not a u32`);
}
