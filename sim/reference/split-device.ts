// Reference model of the device side of a split virtqueue (VIRTIO 1.2, 2.7: the device reads the
// descriptor table and the available ring and writes the used ring), written to be read, not to
// be fast. It works on a DataView over its own memory, laid out like the engine's.
//
// Policies it shares with the engine (assembly/split/device.ts):
// - Nothing the driver wrote is trusted. A chain may hold at most maxChain descriptors (default
//   Queue Size); an indirect table restarts the count at min(table size, maxChain). A loop is a
//   chain that never ends, so it runs into that bound.
// - Every buffer is translated through the region table; a buffer crossing regions becomes
//   several segments, an indirect table must sit inside one region.
// - A chain that breaks a rule stops the pop burst: the chains before it are returned and the
//   queue is marked broken (sticky code). A chain whose segments do not fit the caller's room is
//   left in the ring (a caller error when it is the first one).
// - With VIRTIO_F_IN_ORDER the used records must come in pop order; a run of chains used
//   completely (len equal to their writable bytes) ending with any chain takes one used element,
//   for the run's last chain, at the ring index of its first; used.idx still moves by the count
//   (2.7.9).
// - avail_event is written on reset, on enableNotify and (while kicks are wanted) after each pop
//   that took something; used.flags likewise, when VIRTIO_F_EVENT_IDX is off.
import * as S from '../../assembly/layout/split.js';
import * as E from '../../assembly/layout/errors.js';
import * as F from '../../assembly/layout/features.js';
import { RawSplitRing } from '../raw-split.js';
import type { SplitRingAddrs } from '../../src/virtqueue/split.js';
import { eventPublished } from './event-idx.js';
import { badRingArea, validQueueSize } from './area.js';
import { regionsValid, translatePieces, translateWhole } from './regions.js';
import type { RefBurst, RefPoppedChain, RefRegion, RefSegment, RefUsed } from './types.js';

export interface RefDeviceConfig {
  ring: SplitRingAddrs;
  features: bigint;
  /** Guest memory as the device sees it. */
  regions: RefRegion[];
  /** Longest chain accepted, in descriptors (0 or above Queue Size: Queue Size). */
  maxChain?: number;
  /** First available ring index to read and first used.idx, after every reset (default 0). */
  startIdx?: number;
  /** Want kicks from the start (default false). */
  notify?: boolean;
}

const featureOn = (set: bigint, bit: number): boolean => ((set >> BigInt(bit)) & 1n) === 1n;
const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 0xffffffff;

/** Whether [addr, addr + len) runs past the end of the 64-bit guest address space (its last byte may be 2^64 - 1). */
const wraps = (addr: bigint, len: number): boolean => len > 0 && addr + BigInt(len) - 1n > U64_MAX;

type Walk = { chain: RefPoppedChain } | { code: number; detail: number };

export class RefSplitDevice {
  readonly ring: RawSplitRing;
  readonly queueSize: number;
  private readonly eventIdx: boolean;
  private readonly indirectOk: boolean;
  private readonly startIdx: number;
  private readonly configMaxChain: number;
  private regions: RefRegion[];
  private maxChain = 0;

  /** Wants kicks (the engine's CB_OPT_NOTIFY); survives reset. */
  private notify: boolean;
  /** Next available ring index to read. */
  private lastAvail = 0;
  /** used.idx as the device will next publish it. */
  private usedIdxShadow = 0;
  /** used.idx when interruptNeeded last looked (the event index rule's "old"). */
  private signalIdx = 0;
  private popped = 0;
  /** Heads popped and not pushed back, with their writable bytes: the device's private record (2.7.13.1 forbids re-offering them). */
  private inFlightHeads = new Map<number, number>();
  /** IN_ORDER: heads in the order they were popped. */
  private popOrder: number[] = [];
  private readonly inOrder: boolean;

  status = 0;
  detail = 0;

  constructor(view: DataView, cfg: RefDeviceConfig) {
    this.ring = new RawSplitRing(view, cfg.ring);
    this.queueSize = cfg.ring.queueSize;
    this.eventIdx = featureOn(cfg.features, F.F_EVENT_IDX);
    this.indirectOk = featureOn(cfg.features, F.F_INDIRECT_DESC);
    this.inOrder = featureOn(cfg.features, F.F_IN_ORDER);
    this.startIdx = (cfg.startIdx ?? 0) & 0xffff;
    this.configMaxChain = cfg.maxChain ?? 0;
    this.regions = cfg.regions.slice();
    this.notify = cfg.notify ?? false;
    const rc = this.reset();
    if (rc !== 0) throw new RangeError(`reference device: bad configuration (code ${rc}, detail ${this.detail})`);
  }

  get lastAvailIdx(): number { return this.lastAvail; }
  get usedIdx(): number { return this.usedIdxShadow; }
  /** Chains popped and not pushed back yet. */
  get inFlight(): number { return this.popped; }
  get notifyWanted(): boolean { return this.notify; }

  private refuse(code: number, detail: number): number {
    this.detail = detail;
    return code;
  }

  private breakQueue(code: number, detail: number): number {
    this.status = code;
    this.detail = detail;
    return code;
  }

  /** Back to the start: reads the ring from startIdx again. Returns 0 or ERR_BAD_CONFIG. */
  reset(): number {
    const q = this.queueSize;
    const { desc, avail, used } = this.ring.addrs;
    if (!validQueueSize(q)) return this.refuse(E.ERR_BAD_CONFIG, q);
    const bad = badRingArea(this.ring.view, q, desc, avail, used);
    if (bad !== undefined) return this.refuse(E.ERR_BAD_CONFIG, bad);
    if (!regionsValid(this.regions, this.ring.view.byteLength)) return this.refuse(E.ERR_BAD_CONFIG, 0);
    this.maxChain = this.configMaxChain === 0 || this.configMaxChain > q ? q : this.configMaxChain;
    this.lastAvail = this.startIdx;
    this.usedIdxShadow = this.startIdx;
    this.signalIdx = this.startIdx;
    this.popped = 0;
    this.inFlightHeads.clear();
    this.popOrder = [];
    this.status = 0;
    this.detail = 0;
    // 2.7.10.1: with VIRTIO_F_EVENT_IDX the device keeps used.flags at 0.
    this.ring.usedFlags = this.eventIdx || this.notify ? 0 : S.USED_F_NO_NOTIFY;
    this.ring.availEvent = this.lastAvail;
    this.ring.usedIdx = this.usedIdxShadow;
    return 0;
  }

  /** Replaces the region table (queue stopped). Returns 0, or ERR_BAD_CONFIG and changes nothing. */
  setRegions(regions: RefRegion[]): number {
    if (!regionsValid(regions, this.ring.view.byteLength)) return this.refuse(E.ERR_BAD_CONFIG, regions.length);
    this.regions = regions.slice();
    return 0;
  }

  /**
   * Pops up to `maxChains` available chains whose segments fit in `maxSegs` in total (2.7.6).
   * Items are the chains, each with its head id and translated segments.
   */
  pop(maxChains: number, maxSegs: number): RefBurst<RefPoppedChain> {
    if (this.status !== 0) return { rc: this.status, items: [] };
    const q = this.queueSize;
    const availIdx = this.ring.availIdx;
    const pending = (availIdx - this.lastAvail) & 0xffff;
    // 2.7.6 / 2.7.13.3: a driver cannot have more than Queue Size chains available at once.
    if (pending > q) return { rc: this.breakQueue(E.ERR_AVAIL_IDX_JUMP, availIdx), items: [] };
    const n = Math.min(pending, maxChains);
    const items: RefPoppedChain[] = [];
    let segsUsed = 0;
    let fault: { code: number; detail: number } | undefined;
    for (let i = 0; i < n; i++) {
      const head = this.ring.availRing(this.lastAvail);
      // 2.7.13.1: a driver offers free descriptors only, never the head of a chain still in flight.
      if (head < q && this.inFlightHeads.has(head)) { fault = { code: E.ERR_HEAD_IN_FLIGHT, detail: head }; break; }
      const w = this.walk(head, maxSegs - segsUsed);
      if ('code' in w) { fault = w; break; }
      this.inFlightHeads.set(head, w.chain.writeLen);
      if (this.inOrder) this.popOrder.push(head);
      items.push(w.chain);
      segsUsed += w.chain.segments.length;
      this.lastAvail = (this.lastAvail + 1) & 0xffff;
    }
    if (items.length > 0) {
      this.popped += items.length;
      // 2.7.10: ask for a kick when the driver publishes the entry at lastAvail.
      if (this.eventIdx && this.notify) this.ring.availEvent = this.lastAvail;
    }
    if (fault !== undefined) {
      if (fault.code === E.ERR_SEGMENTS_FULL) {
        // Not the driver's fault: the chain stays in the ring for a call with more room.
        if (items.length === 0) return { rc: this.refuse(fault.code, fault.detail), items };
      } else {
        this.breakQueue(fault.code, fault.detail);
        if (items.length === 0) return { rc: fault.code, items };
      }
    }
    return { rc: items.length, items };
  }

  /**
   * Follows the chain that starts at descriptor `head` (2.7.5), through at most one indirect
   * table (2.7.5.3), checking every rule the device can check. `room` is how many segments the
   * caller can still take.
   */
  private walk(head: number, room: number): Walk {
    const q = this.queueSize;
    // 2.7.6: a ring entry names a descriptor of the table.
    if (head >= q) return { code: E.ERR_HEAD_OUT_OF_RANGE, detail: head };
    let table = this.ring.addrs.desc;
    let tableSize = q;
    let inIndirect = false;
    // 2.7.5.3.1: no chain longer than Queue Size (here: maxChain); a loop never ends, so it
    // is caught by the same bound.
    let budget = this.maxChain;
    let i = head;
    let descs = 0;
    let readLen = 0;
    let writeLen = 0;
    let sawWritable = false;
    const segments: RefSegment[] = [];
    const countOf = (writable: boolean): number => segments.filter((s) => s.writable === writable).length;
    for (;;) {
      if (budget === 0) return { code: E.ERR_CHAIN_TOO_LONG, detail: head };
      budget--;
      if (!inIndirect) descs++;
      const d = this.ring.readDesc(i, table);
      if ((d.flags & S.DESC_F_INDIRECT) !== 0) {
        // 2.7.5.3.1: only when negotiated, only one level, never together with NEXT.
        if (!this.indirectOk) return { code: E.ERR_INDIRECT_NOT_NEGOTIATED, detail: i };
        if (inIndirect) return { code: E.ERR_INDIRECT_NESTED, detail: i };
        if ((d.flags & S.DESC_F_NEXT) !== 0) return { code: E.ERR_INDIRECT_WITH_NEXT, detail: i };
        // 2.7.5.3: the table is len / 16 whole descriptors.
        if (d.len === 0 || d.len % S.DESC_SIZE !== 0) return { code: E.ERR_INDIRECT_BAD_LENGTH, detail: i };
        if (wraps(d.addr, d.len)) return { code: E.ERR_BUFFER_ADDRESS_OVERFLOW, detail: i };
        const where = translateWhole(this.regions, d.addr, BigInt(d.len));
        if (where === undefined) return { code: E.ERR_BUFFER_NOT_IN_REGIONS, detail: i };
        // 2.7.5.3.2: the WRITE flag of the descriptor naming the table is ignored.
        table = where;
        tableSize = d.len / S.DESC_SIZE;
        inIndirect = true;
        budget = Math.min(tableSize, this.maxChain);
        i = 0;
        continue;
      }
      const writable = (d.flags & S.DESC_F_WRITE) !== 0;
      // 2.7.4.2: device-writable descriptors come after all device-readable ones. The rule is
      // about descriptors, so a zero-length writable one counts although it yields no segment.
      if (!writable && sawWritable) return { code: E.ERR_WRITABLE_BEFORE_READABLE, detail: i };
      if (writable) sawWritable = true;
      if (wraps(d.addr, d.len)) return { code: E.ERR_BUFFER_ADDRESS_OVERFLOW, detail: i };
      if (writable) writeLen += d.len; else readLen += d.len;
      // 2.7.5.2: a chain holds less than 2^32 bytes.
      if (readLen + writeLen > U32_MAX) return { code: E.ERR_CHAIN_TOO_MANY_BYTES, detail: head };
      if (d.len > 0) {
        const t = translatePieces(this.regions, d.addr, d.len, writable, room - segments.length);
        if ('fault' in t) {
          return { code: t.fault === 'segments-full' ? E.ERR_SEGMENTS_FULL : E.ERR_BUFFER_NOT_IN_REGIONS, detail: i };
        }
        segments.push(...t.pieces);
        if (countOf(false) > 0xffff || countOf(true) > 0xffff) return { code: E.ERR_CHAIN_TOO_LONG, detail: head };
      }
      if ((d.flags & S.DESC_F_NEXT) === 0) break;
      // 2.7.5: next names a descriptor of the same table.
      if (d.next >= tableSize) return { code: E.ERR_NEXT_OUT_OF_RANGE, detail: d.next };
      i = d.next;
    }
    const nRead = countOf(false);
    return {
      chain: { id: head, segments, nRead, nWrite: segments.length - nRead, readLen, writeLen, descs },
    };
  }

  /**
   * Returns used elements to the driver (2.7.8): each names a head from pop and the bytes
   * written. The burst is checked first (no more than popped and not more than the ring holds,
   * each id popped and not yet returned, once), so a bad one changes nothing. Publishes used.idx once. Returns the count.
   */
  push(used: readonly RefUsed[]): number {
    if (this.status !== 0) return this.status;
    const q = this.queueSize;
    const n = used.length;
    if (n > this.popped || n > q) return this.refuse(E.ERR_BAD_ARGUMENT, n);
    for (let i = 0; i < n; i++) {
      if (!Number.isInteger(used[i].id) || used[i].id < 0 || used[i].id > U32_MAX) throw new RangeError(`used id ${used[i].id} is not a u32`);
      if (!Number.isInteger(used[i].len) || used[i].len < 0 || used[i].len > U32_MAX) throw new RangeError(`used len ${used[i].len} is not a u32`);
    }
    // Each id must name a chain popped and not yet returned, once per burst.
    const seen = new Set<number>();
    for (let i = 0; i < n; i++) {
      const id = used[i].id;
      if (id >= q || !this.inFlightHeads.has(id) || seen.has(id)) return this.refuse(E.ERR_BAD_ARGUMENT, i);
      // 2.7.9: in order, chains are used in the order they were made available (and popped).
      if (this.inOrder && this.popOrder[i] !== id) return this.refuse(E.ERR_BAD_ARGUMENT, i);
      seen.add(id);
    }
    // 2.7.8.2: the elements (and the data) before the index that covers them.
    let runStart = this.usedIdxShadow;
    for (let i = 0; i < n; i++) {
      const { id, len } = used[i];
      const complete = len === this.inFlightHeads.get(id);
      this.inFlightHeads.delete(id);
      // 2.7.9: in order, a chain used completely may share the used element of a later one.
      if (this.inOrder && complete && i + 1 < n) continue;
      this.ring.setUsedElem(runStart, id, len);
      runStart = (this.usedIdxShadow + i + 1) & 0xffff;
    }
    if (this.inOrder) this.popOrder.splice(0, n);
    this.usedIdxShadow = (this.usedIdxShadow + n) & 0xffff;
    this.popped -= n;
    this.ring.usedIdx = this.usedIdxShadow;
    return n;
  }

  /**
   * Whether to notify the driver about the entries pushed since the last call (2.7.7.2): with
   * VIRTIO_F_EVENT_IDX when used_event is among them, otherwise unless avail.flags has
   * NO_INTERRUPT. Returns 1 or 0 (or the sticky error).
   */
  interruptNeeded(): number {
    if (this.status !== 0) return this.status;
    const newIdx = this.usedIdxShadow;
    const oldIdx = this.signalIdx;
    this.signalIdx = newIdx;
    if (newIdx === oldIdx) return 0;
    if (this.eventIdx) return eventPublished(this.ring.usedEvent, newIdx, oldIdx) ? 1 : 0;
    return (this.ring.availFlags & S.AVAIL_F_NO_INTERRUPT) !== 0 ? 0 : 1;
  }

  /** Asks for kicks again (2.7.10). Returns 1 when chains are already waiting. */
  enableNotify(): number {
    if (this.status !== 0) return this.status;
    this.notify = true;
    if (this.eventIdx) this.ring.availEvent = this.lastAvail;
    else this.ring.usedFlags = 0;
    return this.ring.availIdx !== this.lastAvail ? 1 : 0;
  }

  /** Stops asking for kicks; with EVENT_IDX avail_event just stops moving. */
  disableNotify(): number {
    if (this.status !== 0) return this.status;
    this.notify = false;
    if (!this.eventIdx) this.ring.usedFlags = S.USED_F_NO_NOTIFY;
    return 0;
  }
}
