// Reference model of the device side of a packed virtqueue (VIRTIO 1.2, 2.8): the device polls
// the descriptor ring for lists the driver made available and writes used descriptors back into
// the same ring. Written to be read, not to be fast; it works on a DataView laid out like the
// engine's memory.
//
// Policies it shares with the engine (assembly/packed/device.ts):
// - Lists are read in slot order from nextAvail (packed-walk.ts has the rules for one list). A
//   list is accepted only if its buffer id is below Queue Size and not in flight, and the
//   descriptors in flight stay within the ring (the driver cannot have more outstanding).
// - A list that breaks a rule stops the pop burst: the lists before it are returned and the queue
//   is marked broken (sticky code). A list whose segments do not fit the caller's room stays in
//   the ring (a caller error when it is the first one).
// - push writes used descriptors in the order given, each over the slot where the next used
//   descriptor goes, then skips the slots of that buffer (2.8.6); WRITE is set when len > 0
//   (2.8.4); the address field is left as the driver wrote it. With IN_ORDER the records must
//   come in pop order, and a run of buffers used completely (len equal to their writable bytes)
//   ending with any buffer is written as one used descriptor, at the run's first slot, with the
//   id and len of the run's last buffer (2.8.8).
// - The device event suppression structure is written on reset, on enable/disableNotify and
//   (while kicks are wanted, with EVENT_IDX) after each pop that took something.
import * as P from '../../assembly/layout/packed.js';
import * as E from '../../assembly/layout/errors.js';
import * as F from '../../assembly/layout/features.js';
import { RawPackedRing } from '../raw-packed.js';
import type { RingAreas } from '../../src/virtqueue/queue-side.js';
import { areaOk } from './area.js';
import { regionsValid } from './regions.js';
import { isAvailable, usedBits, advance, validPackedQueueSize, type RingPosition } from './packed-ring.js';
import { readEvent, writeEvent, passedEvent } from './packed-event.js';
import { walkList } from './packed-walk.js';
import type { RefBurst, RefPoppedChain, RefRegion, RefUsed } from './types.js';

export interface RefPackedDeviceConfig {
  ring: RingAreas;
  features: bigint;
  /** Guest memory as the device sees it. */
  regions: RefRegion[];
  /** Longest list accepted, in descriptors (0 or above Queue Size: Queue Size). */
  maxChain?: number;
  /** Where reading and writing start after every reset (vhost-user SET_VRING_BASE); default slot 0, wrap counter 1. */
  nextAvail?: number;
  availWrapCounter?: number;
  /** Want kicks from the start (default false). */
  notify?: boolean;
}

const featureOn = (set: bigint, bit: number): boolean => ((set >> BigInt(bit)) & 1n) === 1n;
const U32_MAX = 0xffffffff;

/** What the device remembers about a buffer it popped. */
interface PoppedBuffer {
  /** Ring slots the list took: what to skip when it is used. */
  descs: number;
  /** Device-writable bytes: a used length equal to it is a complete use (IN_ORDER batching). */
  writeLen: number;
}

export class RefPackedDevice {
  readonly ring: RawPackedRing;
  readonly queueSize: number;
  private readonly eventIdx: boolean;
  private readonly indirectOk: boolean;
  private readonly inOrder: boolean;
  private readonly start: RingPosition;
  private readonly configMaxChain: number;
  private regions: RefRegion[];
  private maxChain = 0;

  /** Wants kicks (the engine's CB_OPT_NOTIFY); survives reset. */
  private notify: boolean;
  /** Where the next available list is expected (the device's view of the Driver Ring Wrap Counter). */
  private avail: RingPosition = { slot: 0, wrapCounter: 1 };
  /** Where the next used descriptor goes (Device Ring Wrap Counter). */
  private used: RingPosition = { slot: 0, wrapCounter: 1 };
  /** Buffers popped and not pushed back, by buffer id. */
  private popped = new Map<number, PoppedBuffer>();
  /** IN_ORDER: buffer ids in the order they were popped. */
  private popOrder: number[] = [];
  /** Ring slots the popped buffers hold. */
  private slotsHeld = 0;
  /** Descriptors used since interruptNeeded last looked. */
  private signalled = 0;

  status = 0;
  detail = 0;

  constructor(view: DataView, cfg: RefPackedDeviceConfig) {
    this.ring = new RawPackedRing(view, cfg.ring);
    this.queueSize = cfg.ring.queueSize;
    this.eventIdx = featureOn(cfg.features, F.F_EVENT_IDX);
    this.indirectOk = featureOn(cfg.features, F.F_INDIRECT_DESC);
    this.inOrder = featureOn(cfg.features, F.F_IN_ORDER);
    this.start = { slot: cfg.nextAvail ?? 0, wrapCounter: (cfg.availWrapCounter ?? 1) & 1 };
    this.configMaxChain = cfg.maxChain ?? 0;
    this.regions = cfg.regions.slice();
    this.notify = cfg.notify ?? false;
    const rc = this.reset();
    if (rc !== 0) throw new RangeError(`reference packed device: bad configuration (code ${rc}, detail ${this.detail})`);
  }

  get nextAvail(): number { return this.avail.slot; }
  get availWrapCounter(): number { return this.avail.wrapCounter; }
  get nextUsed(): number { return this.used.slot; }
  get usedWrapCounter(): number { return this.used.wrapCounter; }
  /** Buffers popped and not pushed back yet. */
  get inFlight(): number { return this.popped.size; }
  /** Ring slots those buffers hold. */
  get inFlightDescs(): number { return this.slotsHeld; }
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

  private writeDeviceEvent(want: boolean): void {
    writeEvent(this.ring.view, this.ring.areas.device, want, this.eventIdx, this.avail);
  }

  /** Back to the start position, nothing in flight. Returns 0 or ERR_BAD_CONFIG. */
  reset(): number {
    const q = this.queueSize;
    const view = this.ring.view;
    const { desc, driver, device } = this.ring.areas;
    if (!validPackedQueueSize(q)) return this.refuse(E.ERR_BAD_CONFIG, q);
    if (!areaOk(view, desc, P.PDESC_ALIGN, q * P.PDESC_SIZE)) return this.refuse(E.ERR_BAD_CONFIG, desc);
    if (!areaOk(view, driver, P.EVENT_ALIGN, P.EVENT_SIZE)) return this.refuse(E.ERR_BAD_CONFIG, driver);
    if (!areaOk(view, device, P.EVENT_ALIGN, P.EVENT_SIZE)) return this.refuse(E.ERR_BAD_CONFIG, device);
    if (!regionsValid(this.regions, view.byteLength)) return this.refuse(E.ERR_BAD_CONFIG, 0);
    if (this.start.slot >= q) return this.refuse(E.ERR_BAD_CONFIG, this.start.slot);
    this.maxChain = this.configMaxChain === 0 || this.configMaxChain > q ? q : this.configMaxChain;
    this.avail = { ...this.start };
    this.used = { ...this.start };
    this.popped.clear();
    this.popOrder = [];
    this.slotsHeld = 0;
    this.signalled = 0;
    this.status = 0;
    this.detail = 0;
    this.writeDeviceEvent(this.notify);
    return 0;
  }

  /** Replaces the region table (queue stopped). Returns 0, or ERR_BAD_CONFIG and changes nothing. */
  setRegions(regions: RefRegion[]): number {
    if (!regionsValid(regions, this.ring.view.byteLength)) return this.refuse(E.ERR_BAD_CONFIG, regions.length);
    this.regions = regions.slice();
    return 0;
  }

  /** Pops up to `maxChains` available lists whose segments fit in `maxSegs` in total (2.8.5, 2.8.6). */
  pop(maxChains: number, maxSegs: number): RefBurst<RefPoppedChain> {
    if (this.status !== 0) return { rc: this.status, items: [] };
    const q = this.queueSize;
    const ctx = { ring: this.ring, regions: this.regions, maxChain: this.maxChain, indirectOk: this.indirectOk };
    const items: RefPoppedChain[] = [];
    let segsUsed = 0;
    let fault: { code: number; detail: number } | undefined;
    while (items.length < maxChains) {
      // 2.8.6: a list is there once its first descriptor is available.
      if (!isAvailable(this.ring.readDesc(this.avail.slot).flags, this.avail.wrapCounter)) break;
      const w = walkList(ctx, this.avail, maxSegs - segsUsed);
      if ('code' in w) { fault = w; break; }
      const chain = w.chain;
      if (chain.id >= q) { fault = { code: E.ERR_PACKED_ID_OUT_OF_RANGE, detail: chain.id }; break; }
      if (this.popped.has(chain.id)) { fault = { code: E.ERR_PACKED_ID_IN_FLIGHT, detail: chain.id }; break; }
      // The driver cannot have more descriptors outstanding than the ring holds.
      if (this.slotsHeld + chain.descs > q) { fault = { code: E.ERR_PACKED_RING_OVERRUN, detail: this.avail.slot }; break; }
      this.popped.set(chain.id, { descs: chain.descs, writeLen: chain.writeLen });
      if (this.inOrder) this.popOrder.push(chain.id);
      this.slotsHeld += chain.descs;
      segsUsed += chain.segments.length;
      items.push(chain);
      this.avail = advance(this.avail, chain.descs, q);
    }
    // 2.8.10: ask for a kick when the driver makes the descriptor at the new position available.
    if (items.length > 0 && this.eventIdx && this.notify) this.writeDeviceEvent(true);
    if (fault !== undefined) {
      if (fault.code === E.ERR_SEGMENTS_FULL) {
        if (items.length === 0) return { rc: this.refuse(fault.code, fault.detail), items };
      } else {
        this.breakQueue(fault.code, fault.detail);
        if (items.length === 0) return { rc: fault.code, items };
      }
    }
    return { rc: items.length, items };
  }

  /**
   * Marks buffers used (records: buffer id from pop, bytes written), in the order given. The
   * burst is checked first (ids popped, each once, in pop order with IN_ORDER), so a bad one
   * changes nothing. Returns the count.
   */
  push(used: readonly RefUsed[]): number {
    if (this.status !== 0) return this.status;
    const q = this.queueSize;
    const n = used.length;
    if (n === 0) return 0;
    if (n > this.popped.size) return this.refuse(E.ERR_BAD_ARGUMENT, n);
    const seen = new Set<number>();
    for (let i = 0; i < n; i++) {
      const { id, len } = used[i];
      if (!Number.isInteger(id) || id < 0 || id > U32_MAX) throw new RangeError(`used id ${id} is not a u32`);
      if (!Number.isInteger(len) || len < 0 || len > U32_MAX) throw new RangeError(`used len ${len} is not a u32`);
      const ok = id < q && this.popped.has(id) && !seen.has(id) && (!this.inOrder || this.popOrder[i] === id);
      if (!ok) return this.refuse(E.ERR_BAD_ARGUMENT, i);
      seen.add(id);
    }
    let next = this.used;
    let runStart = next;
    let descs = 0;
    for (let i = 0; i < n; i++) {
      const { id, len } = used[i];
      const b = this.popped.get(id)!;
      this.popped.delete(id);
      descs += b.descs;
      next = advance(next, b.descs, q);
      // 2.8.8: in order, a buffer used completely may share the used descriptor of a later one.
      if (this.inOrder && len === b.writeLen && i + 1 < n) continue;
      const d = this.ring.readDesc(runStart.slot);
      this.ring.writeDesc(runStart.slot, { addr: d.addr, len, id, flags: usedBits(runStart.wrapCounter) | (len > 0 ? P.PDESC_F_WRITE : 0) });
      runStart = next;
    }
    this.used = next;
    this.slotsHeld -= descs;
    this.signalled += descs;
    if (this.inOrder) this.popOrder.splice(0, n);
    return n;
  }

  /**
   * Whether to notify the driver about what was used since the last call (2.8.10): never when
   * its structure says DISABLE; with DESC (and EVENT_IDX) when the descriptor it named was used;
   * otherwise yes. Returns 1 or 0 (or the sticky error).
   */
  interruptNeeded(): number {
    if (this.status !== 0) return this.status;
    const count = this.signalled;
    this.signalled = 0;
    if (count === 0) return 0;
    const ev = readEvent(this.ring.view, this.ring.areas.driver);
    if (ev.flags === P.RING_EVENT_FLAGS_DISABLE) return 0;
    if (ev.flags !== P.RING_EVENT_FLAGS_DESC || !this.eventIdx) return 1;
    return passedEvent(ev.offWrap, this.used, count, this.queueSize) ? 1 : 0;
  }

  /** Asks for kicks again. Returns 1 when a list is already available. */
  enableNotify(): number {
    if (this.status !== 0) return this.status;
    this.notify = true;
    this.writeDeviceEvent(true);
    return isAvailable(this.ring.readDesc(this.avail.slot).flags, this.avail.wrapCounter) ? 1 : 0;
  }

  /** Stops asking for kicks (a polling device). */
  disableNotify(): number {
    if (this.status !== 0) return this.status;
    this.notify = false;
    this.writeDeviceEvent(false);
    return 0;
  }
}
