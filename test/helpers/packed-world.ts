// The packed counterpart of model-world.ts: runs each operation on the packed engine and on the
// packed reference model, compares what both returned and the ring bytes both wrote, and keeps
// the test's own books to check the spec-level invariants: every token comes back exactly once
// with the length the device reported (in the order made available, with IN_ORDER), the device
// reads what the driver wrote and the driver reads what the device wrote, ring slots are
// conserved and the three ring positions (driver avail, device avail, device used, driver used)
// stay as far apart as the books say, and no notification is missed while the other side sleeps.
import * as P from '../../assembly/layout/packed.js';
import * as E from '../../assembly/layout/errors.js';
import type { RefChain, RefSegment, RefUsed, RefBurst, RefPoppedChain } from '../../sim/reference/index.js';
import type { PackedDesc } from '../../sim/raw-packed.js';
import { packedPair, assertSamePackedBytes, deviceWrapCounters, writeBoth, type PackedPair, type PackedParams } from './packed-pair.js';
import { rcOf, engineAdd, enginePop, enginePush, engineCollect, engineDetach, engineDetail } from './engine-ops.js';
import { SEG_STRIDE, SLOT_SIZE, POP_SEG_ROOM } from './model-pair.js';
import type { SegSpec, PushPick } from './model-world.js';
import { agree } from './agree.js';

interface Outstanding {
  token: number;
  slot: number;
  segments: RefSegment[];
  readBytes: Uint8Array;
  /** Ring slots the buffer holds (1 through an indirect table). */
  descs: number;
  readLen: number;
  writeLen: number;
  popped: boolean;
  pushedLen?: number;
  written?: Uint8Array;
}

interface PoppedBuffer { id: number; token?: number; writable: RefSegment[]; writeLen: number; descs: number }

const readByte = (token: number, j: number, b: number): number => (token * 37 + j * 11 + b) & 0xff;
const writeByte = (stamp: number, b: number): number => (stamp * 29 + b * 3 + 7) & 0xff;

/** A ring position as a number modulo 2q: the slot, plus q in laps whose wrap counter is 0. */
const lapPosition = (slot: number, wrapCounter: number, q: number): number => slot + (wrapCounter ? 0 : q);
/** How many descriptors `a` is ahead of `b` (both positions, less than 2q apart). */
const ahead = (a: number, b: number, q: number): number => (a - b + 2 * q) % (2 * q);

export class PackedWorld {
  readonly p: PackedPair;
  readonly q: number;
  readonly inOrder: boolean;
  private nextToken = 1;
  private nextStamp = 1;
  private readonly freeSlots: number[] = [];
  private readonly slotOwner = new Map<number, number>();
  readonly outstanding = new Map<number, Outstanding>();
  private popped: PoppedBuffer[] = [];
  /** IN_ORDER: the last token collected (tokens grow in the order buffers are made available). */
  private lastCollected = 0;
  hostile = false;
  private deviceNotify: boolean;
  private driverInterrupts: boolean;
  private deviceAsleep = false;
  private addedWhileDeviceAsleep = 0;
  private driverAsleep = false;
  private pushedWhileDriverAsleep = 0;
  readonly seen = {
    added: 0, popped: 0, collected: 0, kicks: 0, interrupts: 0, errors: 0, indirect: 0, wakeups: 0,
    partialAdds: 0, wrapFlips: 0, batched: 0, listsAcrossWrap: 0,
  };
  readonly codes = new Set<number>();

  constructor(params: PackedParams, readonly faultsAllowed = false) {
    this.p = packedPair(params);
    this.q = params.queueSize;
    this.inOrder = params.inOrder;
    for (let s = this.p.slots - 1; s >= 0; s--) this.freeSlots.push(s);
    this.deviceNotify = params.notify;
    this.driverInterrupts = params.interrupts;
    this.settleDevice();
    this.settleDriver();
    this.checkAll();
  }

  private usesIndirect(k: number): boolean {
    return this.p.indirectBase !== 0 && k >= 2 && k <= this.p.indirectMax;
  }

  private slotAddr(slot: number): number {
    return this.p.arena + slot * SLOT_SIZE;
  }

  private noteError(rc: number, side: 'driver' | 'device', what: string): void {
    this.seen.errors++;
    this.codes.add(rc);
    const ref = side === 'driver' ? this.p.refDriver.detail : this.p.refDevice.detail;
    agree(engineDetail(this.p, side), ref, `${what}: detail`);
  }

  // ---------------------------------------------------------------- driver: add, kick

  add(specs: readonly (readonly SegSpec[])[], overlong = false): number {
    const p = this.p;
    const chains: RefChain[] = [];
    const owned: Outstanding[] = [];
    for (const spec of specs) {
      const segs = overlong ? spec : spec.slice(0, this.q);
      const token = this.nextToken++;
      const slot = this.freeSlots.pop();
      if (slot === undefined) throw new Error('test bug: out of buffer slots');
      const base = this.slotAddr(slot);
      const segments = segs.map((s, j) => ({ offset: base + j * SEG_STRIDE, len: s.len, writable: s.writable }));
      const read: number[] = [];
      segments.forEach((s, j) => {
        if (s.writable) return;
        const bytes = Uint8Array.from({ length: s.len }, (_, b) => readByte(token, j, b));
        writeBoth(p, s.offset, bytes);
        read.push(...bytes);
      });
      const sum = (w: boolean) => segments.filter((s) => s.writable === w).reduce((a, s) => a + s.len, 0);
      chains.push({ id: token, segments });
      owned.push({
        token, slot, segments, readBytes: Uint8Array.from(read), descs: this.usesIndirect(segs.length) ? 1 : segs.length,
        readLen: sum(false), writeLen: sum(true), popped: false,
      });
    }

    // 2.8.21: lists go in while free slots last (each takes one id too, and ids outnumber lists).
    let expected: number;
    if (p.driver.broken) expected = p.driver.status;
    else if (chains.some((c) => c.segments.length > this.q)) expected = E.ERR_BAD_ARGUMENT; // 2.8.17
    else {
      let free = p.driver.numFree;
      expected = 0;
      for (const o of owned) {
        if (o.descs > free) break;
        free -= o.descs;
        expected++;
      }
    }

    const slotBefore = p.driver.nextAvail;
    const rc = engineAdd(p, chains);
    agree(rc, p.refDriver.add(chains), 'add: engine vs reference');
    agree(rc, expected, 'add: count the free slots allow');
    let descs = 0;
    for (let i = 0; i < owned.length; i++) {
      const o = owned[i];
      if (i < rc) {
        this.outstanding.set(o.token, o);
        this.slotOwner.set(o.slot, o.token);
        if (o.descs === 1 && o.segments.length > 1) this.seen.indirect++;
        descs += o.descs;
      } else {
        this.freeSlots.push(o.slot);
      }
    }
    this.seen.wrapFlips += Math.floor((slotBefore + descs) / this.q);
    if (rc >= 0 && rc < owned.length) this.seen.partialAdds++;
    if (rc > 0) {
      this.seen.added += rc;
      this.addedWhileDeviceAsleep += rc;
    }
    if (rc < 0) this.noteError(rc, 'driver', 'add');
    return rc;
  }

  kick(): number {
    const rc = rcOf(() => this.p.driver.kickNeeded());
    agree(rc, this.p.refDriver.kickNeeded(), 'kickNeeded: engine vs reference');
    if (!this.hostile && rc >= 0) {
      // 2.8.10: a device that asked for kicks and caught up must hear about new lists.
      if (this.deviceAsleep && this.addedWhileDeviceAsleep > 0) {
        agree(rc, 1, 'kick missed while the device sleeps');
        this.seen.wakeups++;
      }
      // 2.8.10: RING_EVENT_FLAGS_DISABLE is honoured, with or without EVENT_IDX.
      if (!this.deviceNotify) agree(rc, 0, 'kick despite DISABLE');
    }
    if (rc === 1) {
      this.deviceAsleep = false;
      this.seen.kicks++;
    }
    return rc;
  }

  // ---------------------------------------------------------------- device: pop, push, interrupt

  pop(batch: number, max: number): RefBurst<RefPoppedChain> {
    const p = this.p;
    const room = POP_SEG_ROOM[batch];
    const effMax = Math.min(max, p.popBatches[batch].maxChains);
    let slot = p.device.nextAvail;
    const eng = enginePop(p, batch, effMax);
    agree(eng, p.refDevice.pop(effMax, room), 'pop: engine vs reference');
    if (eng.rc < 0) this.noteError(eng.rc, 'device', 'pop');
    for (const c of eng.items) {
      const entry: PoppedBuffer = { id: c.id, writable: c.segments.filter((s) => s.writable), writeLen: c.writeLen, descs: c.descs };
      if (!this.hostile) entry.token = this.checkPopped(c, slot);
      if (slot + c.descs > this.q) this.seen.listsAcrossWrap++;
      slot = (slot + c.descs) % this.q;
      this.popped.push(entry);
    }
    this.seen.popped += eng.items.length;
    this.settleDevice();
    return eng;
  }

  /** A popped list is one the driver added, seen whole: its first slot points into the buffer's arena slot. */
  private checkPopped(c: RefPoppedChain, firstSlot: number): number {
    const raw = this.p.engineRaw;
    let d: PackedDesc = raw.readDesc(firstSlot);
    agree(d.id, c.id, 'popped buffer id is the one in its first descriptor');
    if (d.flags & P.PDESC_F_INDIRECT) d = raw.readDesc(0, Number(d.addr));
    const slot = Math.floor((Number(d.addr) - this.p.arena) / SLOT_SIZE);
    const token = this.slotOwner.get(slot);
    const o = token === undefined ? undefined : this.outstanding.get(token);
    if (o === undefined) throw new Error(`popped buffer ${c.id} belongs to no buffer in flight`);
    agree(o.popped, false, `token ${o.token} popped twice`);
    if (this.inOrder) {
      // The device sees buffers in the order they were made available.
      for (const other of this.outstanding.values()) {
        if (other.token < o.token) agree(other.popped, true, `token ${other.token} popped after ${o.token}`);
      }
    }
    o.popped = true;
    agree(
      { readLen: c.readLen, writeLen: c.writeLen, descs: c.descs },
      { readLen: o.readLen, writeLen: o.writeLen, descs: o.descs },
      `popped token ${o.token}`);
    const seen: number[] = [];
    for (const s of c.segments) if (!s.writable) seen.push(...this.p.engineBytes.subarray(s.offset, s.offset + s.len));
    agree(Uint8Array.from(seen), o.readBytes, `device reads what the driver wrote (token ${o.token})`);
    return o.token;
  }

  /**
   * The device uses some popped buffers, writing a pattern first: a random subset in random
   * order, or with IN_ORDER the oldest ones in pop order.
   */
  push(picks: readonly PushPick[]): number {
    const p = this.p;
    const left = this.popped.slice();
    const done: { c: PoppedBuffer; len: number; bytes: Uint8Array }[] = [];
    for (const pk of picks) {
      if (left.length === 0) break;
      const c = left.splice(this.inOrder ? 0 : pk.pick % left.length, 1)[0];
      const len = pk.len < 0 ? c.writeLen : pk.len % (c.writeLen + 1);
      const stamp = this.nextStamp++;
      const bytes = Uint8Array.from({ length: len }, (_, b) => writeByte(stamp, b));
      let at = 0;
      for (const s of c.writable) {
        const n = Math.min(s.len, len - at);
        writeBoth(p, s.offset, bytes.subarray(at, at + n));
        at += n;
      }
      done.push({ c, len, bytes });
    }
    const used: RefUsed[] = done.map((d) => ({ id: d.c.id, len: d.len }));
    const rc = enginePush(p, used);
    agree(rc, p.refDevice.push(used), 'push: engine vs reference');
    if (!this.hostile) agree(rc, used.length, 'push of popped buffers');
    if (rc >= 0) {
      this.popped = left;
      done.forEach((d, i) => {
        const o = d.c.token === undefined ? undefined : this.outstanding.get(d.c.token);
        if (o) { o.pushedLen = d.len; o.written = d.bytes; }
        if (this.inOrder && d.len === d.c.writeLen && i + 1 < done.length) this.seen.batched++;
      });
      this.pushedWhileDriverAsleep += rc;
    } else {
      this.noteError(rc, 'device', 'push');
    }
    return rc;
  }

  interrupt(): number {
    const rc = rcOf(() => this.p.device.interruptNeeded());
    agree(rc, this.p.refDevice.interruptNeeded(), 'interruptNeeded: engine vs reference');
    if (!this.hostile && rc >= 0) {
      if (this.driverAsleep && this.pushedWhileDriverAsleep > 0) {
        agree(rc, 1, 'interrupt missed while the driver sleeps');
        this.seen.wakeups++;
      }
      if (!this.driverInterrupts) agree(rc, 0, 'interrupt despite DISABLE');
    }
    if (rc === 1) {
      this.driverAsleep = false;
      this.seen.interrupts++;
    }
    return rc;
  }

  // ---------------------------------------------------------------- driver: collect

  collect(max: number): RefBurst<RefUsed> {
    const p = this.p;
    const effMax = Math.min(max, p.collectBatch.capacity);
    const eng = engineCollect(p, effMax);
    agree(eng, p.refDriver.collect(effMax), 'collect: engine vs reference');
    if (eng.rc < 0) this.noteError(eng.rc, 'driver', 'collect');
    for (const u of eng.items) {
      const o = this.outstanding.get(u.id);
      if (o === undefined) throw new Error(`collected token ${u.id} is not in flight (lost or duplicated)`);
      if (!this.hostile) {
        agree(u.len, o.pushedLen, `token ${u.id}: used length`);
        const seen: number[] = [];
        for (const s of o.segments) if (s.writable) seen.push(...p.engineBytes.subarray(s.offset, s.offset + s.len));
        agree(Uint8Array.from(seen.slice(0, u.len)), o.written, `driver reads what the device wrote (token ${u.id})`);
        if (this.inOrder) {
          agree(u.id > this.lastCollected, true, `in order: token ${u.id} after ${this.lastCollected}`);
          this.lastCollected = u.id;
        }
      }
      this.release(o);
    }
    this.seen.collected += eng.items.length;
    this.settleDriver();
    return eng;
  }

  private release(o: Outstanding): void {
    this.outstanding.delete(o.token);
    this.slotOwner.delete(o.slot);
    this.freeSlots.push(o.slot);
  }

  // ---------------------------------------------------------------- notification suppression

  enableInterrupts(): number {
    const rc = rcOf(() => this.p.driver.enableInterrupts());
    agree(rc, this.p.refDriver.enableInterrupts(), 'enableInterrupts: engine vs reference');
    if (rc >= 0) this.driverInterrupts = true;
    if (rc >= 0 && !this.hostile) agree(rc, this.usedWaiting() ? 1 : 0, 'enableInterrupts reports waiting used buffers');
    this.settleDriver();
    return rc;
  }

  disableInterrupts(): number {
    const rc = rcOf(() => this.p.driver.disableInterrupts());
    agree(rc, this.p.refDriver.disableInterrupts(), 'disableInterrupts: engine vs reference');
    if (rc >= 0) this.driverInterrupts = false;
    this.settleDriver();
    return rc;
  }

  enableNotify(): number {
    const rc = rcOf(() => this.p.device.enableNotify());
    agree(rc, this.p.refDevice.enableNotify(), 'enableNotify: engine vs reference');
    if (rc >= 0) this.deviceNotify = true;
    if (rc >= 0 && !this.hostile) agree(rc, this.availWaiting() ? 1 : 0, 'enableNotify reports waiting lists');
    this.settleDevice();
    return rc;
  }

  disableNotify(): number {
    const rc = rcOf(() => this.p.device.disableNotify());
    agree(rc, this.p.refDevice.disableNotify(), 'disableNotify: engine vs reference');
    if (rc >= 0) this.deviceNotify = false;
    this.settleDevice();
    return rc;
  }

  /** By the books: a buffer made available and not popped yet. */
  private availWaiting(): boolean {
    for (const o of this.outstanding.values()) if (!o.popped) return true;
    return false;
  }

  /** By the books: a buffer used and not collected yet. */
  private usedWaiting(): boolean {
    for (const o of this.outstanding.values()) if (o.pushedLen !== undefined) return true;
    return false;
  }

  private settleDevice(): void {
    this.deviceAsleep = this.deviceNotify && !this.p.device.broken && !this.availWaiting();
    if (this.deviceAsleep) this.addedWhileDeviceAsleep = 0;
  }

  private settleDriver(): void {
    this.driverAsleep = this.driverInterrupts && !this.p.driver.broken && !this.usedWaiting();
    if (this.driverAsleep) this.pushedWhileDriverAsleep = 0;
  }

  /** Lets the device use everything (full writes) and the driver collect it, until nothing is in flight. */
  drain(): void {
    for (let round = 0; this.outstanding.size > 0; round++) {
      if (round > 4) throw new Error(`${this.outstanding.size} buffers never came back`);
      this.pop(POP_SEG_ROOM.length - 1, 1 << 20);
      this.checkAll();
      this.push(this.popped.map(() => ({ pick: 0, len: -1 })));
      this.checkAll();
      this.interrupt();
      this.collect(1 << 20);
      this.checkAll();
    }
    agree(this.p.driver.numFree, this.q, 'drained: every slot is free');
  }

  // ---------------------------------------------------------------- device reset

  /** Device reset: the driver takes back every buffer in flight, both sides start over. */
  reset(): void {
    const p = this.p;
    const back = new Set<number>();
    for (;;) {
      const eng = engineDetach(p);
      agree(eng, p.refDriver.detach(p.collectBatch.capacity), 'detach: engine vs reference');
      if (eng.rc <= 0) break;
      for (const u of eng.items) {
        agree(back.has(u.id), false, `detach returned token ${u.id} twice`);
        agree(u.len, 0, 'detach: len');
        back.add(u.id);
      }
    }
    agree([...back].sort((a, b) => a - b), [...this.outstanding.keys()].sort((a, b) => a - b), 'detach returns exactly the buffers in flight');
    for (const o of [...this.outstanding.values()]) this.release(o);
    agree(rcOf(() => p.driver.reset()), p.refDriver.reset(), 'driver reset');
    agree(rcOf(() => p.device.reset()), p.refDevice.reset(), 'device reset');
    this.popped = [];
    this.lastCollected = 0;
    this.hostile = false;
    this.deviceAsleep = false;
    this.driverAsleep = false;
    this.settleDevice();
    this.settleDriver();
  }

  // ---------------------------------------------------------------- a misbehaving peer

  /** Writes a descriptor of the ring (slot index % q) or of an indirect table, in both memories. */
  tamperDesc(index: number, desc: PackedDesc, indirect: boolean): void {
    const p = this.p;
    const q = this.q;
    const inTable = indirect && p.indirectBase !== 0;
    const table = inTable ? p.indirectBase + (index % q) * p.indirectMax * P.PDESC_SIZE : p.ring.desc;
    const i = inTable ? Math.floor(index / q) % p.indirectMax : index % q;
    p.engineRaw.writeDesc(i, desc, table);
    p.refRaw.writeDesc(i, desc, table);
    this.hostile = true;
  }

  /**
   * A rogue driver writes a list at the device's next slot, each descriptor made available with
   * the wrap counter of its slot unless `raw`, the first one's flags last.
   */
  craft(descs: readonly PackedDesc[], raw: boolean): void {
    const q = this.q;
    let slot = this.p.device.nextAvail;
    let wrap = deviceWrapCounters(this.p).avail;
    const writes: { slot: number; d: PackedDesc }[] = [];
    for (const d of descs) {
      const flags = raw ? d.flags : (d.flags & ~(P.PDESC_F_AVAIL | P.PDESC_F_USED)) | (wrap ? P.PDESC_F_AVAIL : P.PDESC_F_USED);
      writes.push({ slot, d: { ...d, flags } });
      if (++slot === q) { slot = 0; wrap ^= 1; }
    }
    for (const w of [...writes.slice(1), writes[0]]) this.tamperDesc(w.slot, w.d, false);
  }

  /**
   * A rogue driver offers one more list under a buffer id the device does not hold (the lowest
   * such id, else Queue Size): with every slot held, the ring is overrun.
   */
  craftUnheld(desc: PackedDesc): void {
    const held = new Set(this.popped.map((c) => c.id));
    let id = 0;
    while (id < this.q && held.has(id)) id++;
    this.craft([{ ...desc, id, flags: desc.flags & ~P.PDESC_F_NEXT }], false);
  }

  /** A rogue device writes a used descriptor `delta` slots past the driver's next used slot. */
  tamperUsed(delta: number, id: number, len: number, flagBits: number, markUsed: boolean): void {
    const p = this.p;
    let slot = p.driver.nextUsed + delta;
    let wrap = p.driver.usedWrapCounter;
    if (slot >= this.q) { slot %= this.q; wrap ^= 1; }
    const d = p.engineRaw.readDesc(slot);
    const flags = markUsed ? (flagBits & ~(P.PDESC_F_AVAIL | P.PDESC_F_USED)) | (wrap ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0) : flagBits;
    this.tamperDesc(slot, { addr: d.addr, len, id, flags }, false);
  }

  /** Either side scribbles on an event suppression structure. */
  tamperEvent(area: 'driver' | 'device', offWrap: number, flags: number): void {
    this.p.engineRaw.setEvent(area, offWrap, flags);
    this.p.refRaw.setEvent(area, offWrap, flags);
    this.hostile = true;
  }

  /** The device host returns records of its own making (any id, any length). */
  pushRaw(used: readonly RefUsed[]): number {
    const rc = enginePush(this.p, used);
    agree(rc, this.p.refDevice.push(used), 'raw push: engine vs reference');
    if (rc >= 0) {
      this.popped.splice(0, rc);
      this.hostile = true;
    } else {
      this.noteError(rc, 'device', 'raw push');
    }
    return rc;
  }

  // ---------------------------------------------------------------- after every step

  checkAll(): void {
    const p = this.p;
    if (p.driver.broken || p.device.broken) {
      if (!this.faultsAllowed) throw new Error(`a well-behaved pair broke the queue (driver ${p.driver.status}, device ${p.device.status})`);
      this.hostile = true;
      if (p.driver.broken) this.codes.add(p.driver.status);
      if (p.device.broken) this.codes.add(p.device.status);
    }
    assertSamePackedBytes(p);
    const dw = deviceWrapCounters(p);
    agree({
      numFree: p.driver.numFree, inFlight: p.driver.inFlight, nextAvail: p.driver.nextAvail,
      availWrapCounter: p.driver.availWrapCounter, nextUsed: p.driver.nextUsed,
      usedWrapCounter: p.driver.usedWrapCounter, status: p.driver.status,
    }, {
      numFree: p.refDriver.numFree, inFlight: p.refDriver.inFlight, nextAvail: p.refDriver.nextAvail,
      availWrapCounter: p.refDriver.availWrapCounter, nextUsed: p.refDriver.nextUsed,
      usedWrapCounter: p.refDriver.usedWrapCounter, status: p.refDriver.status,
    }, 'driver state: engine vs reference');
    agree({
      nextAvail: p.device.nextAvail, availWrapCounter: dw.avail, nextUsed: p.device.nextUsed,
      usedWrapCounter: dw.used, inFlight: p.device.inFlight, status: p.device.status,
    }, {
      nextAvail: p.refDevice.nextAvail, availWrapCounter: p.refDevice.availWrapCounter, nextUsed: p.refDevice.nextUsed,
      usedWrapCounter: p.refDevice.usedWrapCounter, inFlight: p.refDevice.inFlight, status: p.refDevice.status,
    }, 'device state: engine vs reference');
    if (p.driver.broken) agree(engineDetail(p, 'driver'), p.refDriver.detail, 'broken driver: detail');
    if (p.device.broken) agree(engineDetail(p, 'device'), p.refDevice.detail, 'broken device: detail');
    // Slots are conserved: free ones plus those held by buffers in flight make Queue Size.
    let held = 0;
    for (const o of this.outstanding.values()) held += o.descs;
    agree(p.driver.numFree + held, this.q, 'free + held slots == Queue Size');
    agree(p.driver.inFlight, this.outstanding.size, 'driver in flight == tokens outstanding');
    if (!this.hostile) this.checkPositions(dw);
  }

  /**
   * 2.8.1: the four ring positions stay in order, as far apart as the books say: driver avail
   * ahead of device avail by the slots not popped yet, device avail ahead of device used by the
   * slots popped and not used, device used ahead of driver used by the slots used and not collected.
   */
  private checkPositions(dw: { avail: number; used: number }): void {
    const p = this.p;
    const q = this.q;
    agree(p.device.inFlight, this.popped.length, 'device in flight == popped, not pushed');
    let notPopped = 0;
    let notCollected = 0;
    for (const o of this.outstanding.values()) {
      if (!o.popped) notPopped += o.descs;
      else if (o.pushedLen !== undefined) notCollected += o.descs;
    }
    const notPushed = this.popped.reduce((a, c) => a + c.descs, 0);
    const driverAvail = lapPosition(p.driver.nextAvail, p.driver.availWrapCounter, q);
    const deviceAvail = lapPosition(p.device.nextAvail, dw.avail, q);
    const deviceUsed = lapPosition(p.device.nextUsed, dw.used, q);
    const driverUsed = lapPosition(p.driver.nextUsed, p.driver.usedWrapCounter, q);
    agree(ahead(driverAvail, deviceAvail, q), notPopped, 'driver avail - device avail == slots not popped');
    agree(ahead(deviceAvail, deviceUsed, q), notPushed, 'device avail - device used == slots popped, not used');
    agree(ahead(deviceUsed, driverUsed, q), notCollected, 'device used - driver used == slots used, not collected');
  }

  checkArena(): void {
    const p = this.p;
    const a = p.engineBytes.subarray(p.arena, p.arena + p.slots * SLOT_SIZE);
    const b = p.refBytes.subarray(p.arena, p.arena + p.slots * SLOT_SIZE);
    agree(Buffer.compare(a, b), 0, 'buffer arena: engine vs reference');
  }
}
