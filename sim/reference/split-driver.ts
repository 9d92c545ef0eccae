// Reference model of the driver side of a split virtqueue (VIRTIO 1.2, 2.7.13 "Supplying Buffers
// to The Device" and 2.7.14 "Receiving Used Buffers From The Device"), written to be read, not to
// be fast. It works on a DataView over its own memory, laid out at the same addresses as the
// engine's, so that the two can be compared byte for byte.
//
// Policies it shares with the engine (assembly/split/driver.ts):
// - Free descriptors form a LIFO list. A chain takes the first k descriptors of the list, in list
//   order; a used chain goes back on the front of the list, in chain order.
// - With VIRTIO_F_IN_ORDER descriptors are allocated in ring order instead (2.7.5.2): a chain
//   takes the k descriptors after the previous chain's, wrapping at Queue Size, next = x + 1 (0
//   after the last descriptor of the table). A used element names the last chain of a run
//   (2.7.9): every chain made available before it comes back too, with its whole writable
//   length, and lastUsed moves past the run. A run that does not fit in `max` is refused with
//   ERR_SEGMENTS_FULL when nothing was collected yet.
// - A chain of 2..indirectMax segments goes through an indirect table (one ring descriptor) when
//   VIRTIO_F_INDIRECT_DESC was negotiated and the driver has an indirect area; the table of head
//   h sits at indirectBase + h * indirectMax * 16.
// - The last descriptor of a chain has no NEXT flag and next = 0.
// - avail.idx is published once per burst; used_event is written on reset, on enableInterrupts
//   and (while interrupts are wanted) after each collect that took something.
// - Caller errors change nothing; a bad used entry stops the burst, returns what came before it,
//   and marks the queue broken with a sticky code.
import * as S from '../../assembly/layout/split.js';
import * as E from '../../assembly/layout/errors.js';
import * as F from '../../assembly/layout/features.js';
import { RawSplitRing } from '../raw-split.js';
import type { SplitRingAddrs } from '../../src/virtqueue/split.js';
import { eventPublished } from './event-idx.js';
import { areaOk, badRingArea, validQueueSize } from './area.js';
import type { RefBurst, RefChain, RefUsed } from './types.js';

export interface RefDriverConfig {
  ring: SplitRingAddrs;
  /** Negotiated feature bits. */
  features: bigint;
  /** The driver's indirect area (offset 0 or max 0: none). */
  indirect?: { base: number; max: number };
  /** First avail.idx after every reset (default 0). */
  startIdx?: number;
  /** Want used buffer notifications from the start (default false). */
  interrupts?: boolean;
}

/** What the driver remembers about a chain it made available (private: the device never sees it). */
interface InFlightChain {
  token: number;
  /** Device-writable bytes: a used length above this is a device error (2.7.8.2). */
  writeLen: number;
  /** The ring descriptors the chain holds, in chain order (just the head when indirect). */
  descs: number[];
}

const featureOn = (set: bigint, bit: number): boolean => ((set >> BigInt(bit)) & 1n) === 1n;

export class RefSplitDriver {
  readonly ring: RawSplitRing;
  readonly queueSize: number;
  private readonly eventIdx: boolean;
  private readonly indirectBase: number;
  private readonly indirectMax: number;
  private readonly startIdx: number;
  private readonly inOrder: boolean;

  /** Wants used buffer notifications (the engine's CB_OPT_NOTIFY); survives reset. */
  private notify: boolean;
  /** Free descriptors, front of the list first (without IN_ORDER). */
  private free: number[] = [];
  /** IN_ORDER: the free descriptors are the freeCount ones from nextDesc on, in ring order. */
  private nextDesc = 0;
  private freeCount = 0;
  /** IN_ORDER: heads of the chains in flight, in the order they were made available. */
  private availOrder: number[] = [];
  /** Chains in flight, indexed by head descriptor. */
  private heads: (InFlightChain | undefined)[] = [];
  private availIdxShadow = 0;
  /** avail.idx when kickNeeded last looked (the event index rule's "old"). */
  private kickIdx = 0;
  /** Next used ring index to read. */
  private lastUsed = 0;

  /** 0, or the code that broke the queue (sticky until reset). */
  status = 0;
  /** Locates the last fault or refusal (index, id, ...), like the engine's CB_DETAIL. */
  detail = 0;

  constructor(view: DataView, cfg: RefDriverConfig) {
    this.ring = new RawSplitRing(view, cfg.ring);
    this.queueSize = cfg.ring.queueSize;
    this.eventIdx = featureOn(cfg.features, F.F_EVENT_IDX);
    this.inOrder = featureOn(cfg.features, F.F_IN_ORDER);
    // 2.7.5.3: indirect descriptors only when VIRTIO_F_INDIRECT_DESC was negotiated.
    const ind = cfg.indirect;
    const haveArea = ind !== undefined && ind.base !== 0 && ind.max !== 0;
    this.indirectBase = haveArea && featureOn(cfg.features, F.F_INDIRECT_DESC) ? ind.base : 0;
    this.indirectMax = haveArea ? ind.max : 0;
    this.startIdx = (cfg.startIdx ?? 0) & 0xffff;
    this.notify = cfg.interrupts ?? false;
    const rc = this.reset();
    if (rc !== 0) throw new RangeError(`reference driver: bad configuration (code ${rc}, detail ${this.detail})`);
  }

  // ---- state the tests compare with the engine's control block ----
  get numFree(): number { return this.inOrder ? this.freeCount : this.free.length; }
  get inFlight(): number { return this.heads.filter((c) => c !== undefined).length; }
  get availIdx(): number { return this.availIdxShadow; }
  get lastUsedIdx(): number { return this.lastUsed; }
  get interruptsWanted(): boolean { return this.notify; }
  /** Whether a chain of `segments` buffers would use an indirect table. */
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

  /** Back to an empty queue (after a device reset): every chain in flight is forgotten. Returns 0 or ERR_BAD_CONFIG. */
  reset(): number {
    const q = this.queueSize;
    const view = this.ring.view;
    const { desc, avail, used } = this.ring.addrs;
    if (!validQueueSize(q)) return this.refuse(E.ERR_BAD_CONFIG, q);
    const bad = badRingArea(view, q, desc, avail, used);
    if (bad !== undefined) return this.refuse(E.ERR_BAD_CONFIG, bad);
    if (this.indirectBase !== 0) {
      if (this.indirectMax > 0xffff) return this.refuse(E.ERR_BAD_CONFIG, this.indirectMax);
      if (!areaOk(view, this.indirectBase, S.DESC_ALIGN, q * this.indirectMax * S.DESC_SIZE)) {
        return this.refuse(E.ERR_BAD_CONFIG, this.indirectBase);
      }
    }
    const start = this.startIdx;
    this.availIdxShadow = start;
    this.kickIdx = start;
    this.lastUsed = start;
    this.status = 0;
    this.detail = 0;
    this.free = [];
    for (let i = 0; i < q; i++) this.free.push(i);
    this.nextDesc = 0;
    this.freeCount = q;
    this.availOrder = [];
    this.heads = new Array<InFlightChain | undefined>(q).fill(undefined);
    // 2.7.7.1: with VIRTIO_F_EVENT_IDX the driver MUST keep avail.flags at 0; otherwise 0 or 1.
    this.ring.availFlags = this.eventIdx || this.notify ? 0 : S.AVAIL_F_NO_INTERRUPT;
    this.ring.usedEvent = start;
    this.ring.availIdx = start;
    return 0;
  }

  /**
   * Makes chains available, in order, as long as free descriptors last (2.7.13). The burst is
   * checked first: a bad chain refuses the whole burst and changes nothing. Returns the number
   * of chains added, or an error code.
   */
  add(chains: readonly RefChain[]): number {
    if (this.status !== 0) return this.status;
    const q = this.queueSize;

    // Check every chain before touching memory.
    for (let i = 0; i < chains.length; i++) {
      const segs = chains[i].segments;
      if (segs.length === 0) return this.refuse(E.ERR_BAD_ARGUMENT, i);
      // 2.7.5.3.1: a driver MUST NOT create a descriptor chain longer than the Queue Size, and
      // that holds for the descriptors of an indirect table too.
      if (segs.length > q) return this.refuse(E.ERR_BAD_ARGUMENT, i);
      // 2.7.4.2: device-writable buffers come after all device-readable ones. (The engine's
      // chain record cannot even express the other order.)
      for (let j = 1; j < segs.length; j++) {
        if (segs[j - 1].writable && !segs[j].writable) return this.refuse(E.ERR_BAD_ARGUMENT, i);
      }
      // 2.7.5.2 / 2.7.8: the chain's bytes must be countable in the 32-bit used length.
      checkU32(chains[i].id, 'token');
      let total = 0;
      for (const s of segs) {
        checkU32(s.offset, 'segment offset');
        checkU32(s.len, 'segment length');
        total += s.len;
      }
      if (total > 0xffffffff) return this.refuse(E.ERR_BAD_ARGUMENT, i);
    }

    let added = 0;
    for (const chain of chains) {
      const segs = chain.segments;
      const k = segs.length;
      const viaTable = this.usesIndirect(k);
      const need = viaTable ? 1 : k;
      if (need > this.numFree) break; // out of descriptors: the rest waits
      const taken = this.take(need);
      const head = taken[0];
      let writeLen = 0;
      for (const s of segs) if (s.writable) writeLen += s.len;

      if (viaTable) {
        // 2.7.5.3: the table is an array of descriptors chained 0 -> 1 -> ... -> k-1.
        const table = this.indirectBase + head * this.indirectMax * S.DESC_SIZE;
        for (let j = 0; j < k; j++) {
          const last = j === k - 1;
          this.ring.writeDesc(j, {
            addr: BigInt(segs[j].offset),
            len: segs[j].len,
            flags: (last ? 0 : S.DESC_F_NEXT) | (segs[j].writable ? S.DESC_F_WRITE : 0),
            next: last ? 0 : j + 1,
          }, table);
        }
        // One ring descriptor names the table; INDIRECT without NEXT (2.7.5.3.1).
        this.ring.writeDesc(head, { addr: BigInt(table), len: k * S.DESC_SIZE, flags: S.DESC_F_INDIRECT, next: 0 });
      } else {
        // 2.7.5: a chain links descriptors through next, NEXT set on all but the last.
        for (let j = 0; j < k; j++) {
          const last = j === k - 1;
          this.ring.writeDesc(taken[j], {
            addr: BigInt(segs[j].offset),
            len: segs[j].len,
            flags: (last ? 0 : S.DESC_F_NEXT) | (segs[j].writable ? S.DESC_F_WRITE : 0),
            next: last ? 0 : taken[j + 1],
          });
        }
      }
      this.heads[head] = { token: chain.id, writeLen, descs: taken };
      if (this.inOrder) this.availOrder.push(head);
      // 2.7.13.2: put the head in the next ring slot.
      this.ring.setAvailRing(this.availIdxShadow, head);
      this.availIdxShadow = (this.availIdxShadow + 1) & 0xffff;
      added++;
    }
    // 2.7.13.3: publish avail.idx once, after the ring entries.
    if (added > 0) this.ring.availIdx = this.availIdxShadow;
    return added;
  }

  /**
   * Whether to notify the device about the chains added since the last call (2.7.13.4): with
   * VIRTIO_F_EVENT_IDX when avail_event is among them, otherwise unless used.flags has NO_NOTIFY.
   * Returns 1 or 0 (or the sticky error).
   */
  kickNeeded(): number {
    if (this.status !== 0) return this.status;
    const newIdx = this.availIdxShadow;
    const oldIdx = this.kickIdx;
    this.kickIdx = newIdx;
    if (newIdx === oldIdx) return 0; // nothing new to tell
    if (this.eventIdx) return eventPublished(this.ring.availEvent, newIdx, oldIdx) ? 1 : 0;
    return (this.ring.usedFlags & S.USED_F_NO_NOTIFY) !== 0 ? 0 : 1;
  }

  /**
   * Collects up to `max` used chains (2.7.14), checking each used element (2.7.8): its id must
   * be the head of a chain in flight and its len must fit that chain's writable bytes; used.idx
   * may not run ahead of what is in flight. Items carry the caller's token and the used length.
   */
  collect(max: number): RefBurst<RefUsed> {
    if (this.status !== 0) return { rc: this.status, items: [] };
    const q = this.queueSize;
    const usedIdx = this.ring.usedIdx;
    const pending = (usedIdx - this.lastUsed) & 0xffff;
    if (pending > this.inFlight) return { rc: this.breakQueue(E.ERR_USED_IDX_JUMP, usedIdx), items: [] };
    if (this.inOrder) return this.collectInOrder(max, usedIdx, pending);
    const n = Math.min(pending, max);
    const items: RefUsed[] = [];
    let fault: [code: number, detail: number] | undefined;
    for (let i = 0; i < n; i++) {
      const elem = this.ring.usedElem(this.lastUsed);
      if (elem.id >= q) { fault = [E.ERR_USED_ID_OUT_OF_RANGE, elem.id]; break; }
      const chain = this.heads[elem.id];
      if (chain === undefined) { fault = [E.ERR_USED_ID_NOT_IN_FLIGHT, elem.id]; break; }
      if (elem.len > chain.writeLen) { fault = [E.ERR_USED_LEN_TOO_LARGE, elem.id]; break; }
      items.push({ id: chain.token, len: elem.len });
      // The chain's descriptors go back on the front of the free list, in chain order.
      this.free.unshift(...chain.descs);
      this.heads[elem.id] = undefined;
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return this.collected(items, fault);
  }

  /**
   * collect with VIRTIO_F_IN_ORDER (2.7.9): the used element at lastUsed names the last chain of
   * a run; the chains made available before it in flight were used completely. The run must be
   * covered by used.idx and fit in `max`.
   */
  private collectInOrder(max: number, usedIdx: number, pending: number): RefBurst<RefUsed> {
    const q = this.queueSize;
    const items: RefUsed[] = [];
    let fault: [code: number, detail: number] | undefined;
    while (pending > 0 && items.length < max) {
      const elem = this.ring.usedElem(this.lastUsed);
      if (elem.id >= q) { fault = [E.ERR_USED_ID_OUT_OF_RANGE, elem.id]; break; }
      const last = this.heads[elem.id];
      if (last === undefined) { fault = [E.ERR_USED_ID_NOT_IN_FLIGHT, elem.id]; break; }
      if (elem.len > last.writeLen) { fault = [E.ERR_USED_LEN_TOO_LARGE, elem.id]; break; }
      const count = this.availOrder.indexOf(elem.id) + 1;
      if (count === 0) { fault = [E.ERR_USED_ID_NOT_IN_FLIGHT, elem.id]; break; }
      // used.idx moves past every chain of the run.
      if (count > pending) { fault = [E.ERR_USED_IDX_JUMP, usedIdx]; break; }
      if (items.length + count > max) {
        if (items.length === 0) return { rc: this.refuse(E.ERR_SEGMENTS_FULL, count), items };
        break;
      }
      for (const head of this.availOrder.splice(0, count)) {
        const chain = this.heads[head]!;
        items.push({ id: chain.token, len: head === elem.id ? elem.len : chain.writeLen });
        this.freeCount += chain.descs.length;
        this.heads[head] = undefined;
      }
      pending -= count;
      this.lastUsed = (this.lastUsed + count) & 0xffff;
    }
    return this.collected(items, fault);
  }

  /** The end of a collect burst: used_event, and the fault that stopped it. */
  private collected(items: RefUsed[], fault: [code: number, detail: number] | undefined): RefBurst<RefUsed> {
    // 2.7.7.1 / 2.7.10: ask to be notified when the device writes the entry at lastUsed.
    if (items.length > 0 && this.eventIdx && this.notify) this.ring.usedEvent = this.lastUsed;
    if (fault !== undefined) {
      this.breakQueue(fault[0], fault[1]);
      if (items.length === 0) return { rc: fault[0], items };
    }
    return { rc: items.length, items };
  }

  /** The descriptors for a chain of `need`: the front of the free list, or with IN_ORDER the next ones in ring order. */
  private take(need: number): number[] {
    if (!this.inOrder) return this.free.splice(0, need);
    const q = this.queueSize;
    const taken = Array.from({ length: need }, (_, j) => (this.nextDesc + j) % q);
    this.nextDesc = (this.nextDesc + need) % q;
    this.freeCount -= need;
    return taken;
  }

  /** Asks for used buffer notifications (2.7.7). Returns 1 when used entries are already waiting. */
  enableInterrupts(): number {
    if (this.status !== 0) return this.status;
    this.notify = true;
    if (this.eventIdx) this.ring.usedEvent = this.lastUsed;
    else this.ring.availFlags = 0;
    return this.ring.usedIdx !== this.lastUsed ? 1 : 0;
  }

  /** Stops asking for used buffer notifications; with EVENT_IDX used_event just stops moving (2.7.7.1). */
  disableInterrupts(): number {
    if (this.status !== 0) return this.status;
    this.notify = false;
    if (!this.eventIdx) this.ring.availFlags = S.AVAIL_F_NO_INTERRUPT;
    return 0;
  }

  /**
   * Takes back up to `max` chains in flight, in ascending head order, as items with len 0, even
   * on a broken queue. Their descriptors are not freed: reset afterwards.
   */
  detach(max: number): RefBurst<RefUsed> {
    const items: RefUsed[] = [];
    for (let id = 0; id < this.queueSize && items.length < max; id++) {
      const chain = this.heads[id];
      if (chain === undefined) continue;
      items.push({ id: chain.token, len: 0 });
      this.heads[id] = undefined;
    }
    return { rc: items.length, items };
  }
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`reference driver: ${what} ${v} is not a u32`);
}
