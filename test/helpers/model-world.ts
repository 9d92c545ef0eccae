// Runs each operation on the engine and on the reference model, compares what both returned and
// the ring bytes both wrote, and keeps the test's own books to check the spec-level invariants:
// every token comes back exactly once with the length the device reported, the device reads
// what the driver wrote and the driver reads what the device wrote, descriptors are conserved,
// and no notification is missed while the other side sleeps.
import * as E from '../../assembly/layout/errors.js';
import * as S from '../../assembly/layout/split.js';
import type { RefChain, RefSegment, RefUsed, RefBurst } from '../../sim/reference/index.js';
import {
  modelPair, assertSameRingBytes, writeBoth, SEG_STRIDE, SLOT_SIZE, POP_SEG_ROOM,
  type ModelPair, type PairParams,
} from './model-pair.js';
import {
  rcOf, engineAdd, enginePop, enginePush, engineCollect, engineDetach, engineDetail,
} from './engine-ops.js';
import type { Desc } from '../../sim/raw-split.js';
import { agree } from './agree.js';

/** A segment as a command describes it; the world places it in the chain's slot. */
export interface SegSpec { len: number; writable: boolean }
/** One completion in a push command: which popped chain (index, modulo what is left) and its length. */
export interface PushPick { pick: number; len: number }

interface Outstanding {
  token: number;
  slot: number;
  segments: RefSegment[];
  /** What the driver wrote into its readable segments, in order. */
  readBytes: Uint8Array;
  /** Ring descriptors the chain holds (1 through an indirect table). */
  descs: number;
  readLen: number;
  writeLen: number;
  popped: boolean;
  /** What the device reported and wrote, once it pushed the chain. */
  pushedLen?: number;
  written?: Uint8Array;
}

interface PoppedChain { head: number; token?: number; writable: RefSegment[]; writeLen: number }

const readByte = (token: number, j: number, b: number): number => (token * 37 + j * 11 + b) & 0xff;
const writeByte = (stamp: number, b: number): number => (stamp * 29 + b * 3 + 7) & 0xff;

export class World {
  readonly p: ModelPair;
  readonly q: number;
  /** VIRTIO_F_IN_ORDER: the device uses chains in pop order, the driver gets them back in add order. */
  readonly inOrder: boolean;
  /** In order: the last token collected (tokens grow in the order chains are made available). */
  private lastCollected = 0;
  private nextToken = 1;
  private nextStamp = 1;
  private readonly freeSlots: number[] = [];
  private readonly slotOwner = new Map<number, number>();
  readonly outstanding = new Map<number, Outstanding>();
  private popped: PoppedChain[] = [];
  /** The rings were tampered with: only engine == reference (and token conservation) still hold. */
  hostile = false;
  private deviceNotify: boolean;
  private driverInterrupts: boolean;
  private deviceAsleep = false;
  private addedWhileDeviceAsleep = 0;
  private driverAsleep = false;
  private pushedWhileDriverAsleep = 0;
  /** Counters a test can look at to see what a run exercised. */
  readonly seen = { added: 0, popped: 0, collected: 0, kicks: 0, interrupts: 0, errors: 0, indirect: 0, wakeups: 0, partialAdds: 0, batched: 0 };
  /** Error codes met (returned or left as the sticky status), each counted once per run. */
  readonly codes = new Set<number>();

  /**
   * @param faultsAllowed a hostile run: the queue may break (then only engine == reference and
   *   token conservation are checked until a reset). Otherwise a broken queue fails the test.
   */
  constructor(params: PairParams, readonly faultsAllowed = false) {
    this.p = modelPair(params);
    this.q = params.queueSize;
    this.inOrder = params.inOrder ?? false;
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

  // ---------------------------------------------------------------- driver: add, kick

  /** Adds chains built from `specs` (each truncated to Queue Size unless `overlong`). */
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

    // What the spec and the allocation policy say should happen, worked out independently.
    let expected: number;
    if (this.p.driver.broken) expected = this.p.driver.status;
    else if (chains.some((c) => c.segments.length > this.q)) expected = E.ERR_BAD_ARGUMENT; // 2.7.5.3.1
    else {
      let free = p.driver.numFree;
      expected = 0;
      for (const o of owned) {
        if (o.descs > free) break;
        free -= o.descs;
        expected++;
      }
    }

    const rc = engineAdd(p, chains);
    const refRc = p.refDriver.add(chains);
    agree(rc, refRc, 'add: engine vs reference');
    agree(rc, expected, 'add: count the free descriptors allow');
    for (let i = 0; i < owned.length; i++) {
      const o = owned[i];
      if (i < rc) {
        this.outstanding.set(o.token, o);
        this.slotOwner.set(o.slot, o.token);
        if (o.descs === 1 && o.segments.length > 1) this.seen.indirect++;
      } else {
        this.freeSlots.push(o.slot);
      }
    }
    if (rc >= 0 && rc < owned.length) this.seen.partialAdds++;
    if (rc > 0) {
      this.seen.added += rc;
      this.addedWhileDeviceAsleep += rc;
    }
    if (rc < 0) {
      this.seen.errors++;
      this.codes.add(rc);
      agree(engineDetail(p, 'driver'), p.refDriver.detail, 'add: detail');
    }
    return rc;
  }

  kick(): number {
    const rc = rcOf(() => this.p.driver.kickNeeded());
    agree(rc, this.p.refDriver.kickNeeded(), 'kickNeeded: engine vs reference');
    if (!this.hostile && rc >= 0) {
      // 2.7.10: a device that asked for kicks and caught up must hear about new chains.
      if (this.deviceAsleep && this.addedWhileDeviceAsleep > 0) {
        agree(rc, 1, 'kick missed while the device sleeps');
        this.seen.wakeups++;
      }
      // 2.7.10.2: without EVENT_IDX, NO_NOTIFY is honoured.
      if (!this.p.params.eventIdx && !this.deviceNotify) agree(rc, 0, 'kick despite NO_NOTIFY');
    }
    if (rc === 1) {
      this.deviceAsleep = false;
      this.seen.kicks++;
    }
    return rc;
  }

  // ---------------------------------------------------------------- device: pop, push, interrupt

  pop(batch: number, max: number): RefBurst<unknown> {
    const p = this.p;
    const room = POP_SEG_ROOM[batch];
    const effMax = Math.min(max, p.popBatches[batch].maxChains);
    const eng = enginePop(p, batch, effMax);
    const ref = p.refDevice.pop(effMax, room);
    agree(eng, ref, 'pop: engine vs reference');
    if (eng.rc < 0) {
      this.seen.errors++;
      this.codes.add(eng.rc);
      agree(engineDetail(p, 'device'), p.refDevice.detail, 'pop: detail');
    }
    for (const c of eng.items) {
      const entry: PoppedChain = { head: c.id, writable: c.segments.filter((s) => s.writable), writeLen: c.writeLen };
      if (!this.hostile) entry.token = this.checkPopped(c);
      this.popped.push(entry);
    }
    this.seen.popped += eng.items.length;
    this.settleDevice();
    return eng;
  }

  /** A popped chain is one the driver added, seen whole: same lengths, same readable bytes. */
  private checkPopped(c: { id: number; segments: RefSegment[]; readLen: number; writeLen: number; descs: number }): number {
    const raw = this.p.engineRaw;
    // The head descriptor (or the first of its indirect table) points into the chain's slot.
    let d: Desc = raw.readDesc(c.id);
    if (d.flags & S.DESC_F_INDIRECT) d = raw.readDesc(0, Number(d.addr));
    const slot = Math.floor((Number(d.addr) - this.p.arena) / SLOT_SIZE);
    const token = this.slotOwner.get(slot);
    const o = token === undefined ? undefined : this.outstanding.get(token);
    if (o === undefined) throw new Error(`popped chain ${c.id} belongs to no chain in flight`);
    agree(o.popped, false, `token ${o.token} popped twice`);
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

  /** The device completes some popped chains, in the picked order (in order: the oldest, in pop order), writing a pattern first. */
  push(picks: readonly PushPick[]): number {
    const p = this.p;
    const left = this.popped.slice();
    const done: { c: PoppedChain; len: number; bytes: Uint8Array }[] = [];
    for (const pk of picks) {
      if (left.length === 0) break;
      const c = left.splice(this.inOrder ? 0 : pk.pick % left.length, 1)[0];
      const len = pk.len < 0 ? c.writeLen : pk.len % (c.writeLen + 1);
      const stamp = this.nextStamp++;
      const bytes = Uint8Array.from({ length: len }, (_, b) => writeByte(stamp, b));
      // 2.7.8.2: the data goes into the writable buffers, in order, before the used element.
      let at = 0;
      for (const s of c.writable) {
        const n = Math.min(s.len, len - at);
        writeBoth(p, s.offset, bytes.subarray(at, at + n));
        at += n;
      }
      done.push({ c, len, bytes });
    }
    const used: RefUsed[] = done.map((d) => ({ id: d.c.head, len: d.len }));
    const rc = enginePush(p, used);
    agree(rc, p.refDevice.push(used), 'push: engine vs reference');
    if (!this.hostile) agree(rc, used.length, 'push of popped chains');
    if (rc >= 0) {
      this.popped = left;
      done.forEach((d, i) => {
        const o = d.c.token === undefined ? undefined : this.outstanding.get(d.c.token);
        if (o) { o.pushedLen = d.len; o.written = d.bytes; }
        // In order, a chain used completely before the burst's last shares a later one's used element.
        if (this.inOrder && d.len === d.c.writeLen && i + 1 < done.length) this.seen.batched++;
      });
      this.pushedWhileDriverAsleep += rc;
    } else {
      this.seen.errors++;
      this.codes.add(rc);
      agree(engineDetail(p, 'device'), p.refDevice.detail, 'push: detail');
    }
    return rc;
  }

  interrupt(): number {
    const rc = rcOf(() => this.p.device.interruptNeeded());
    agree(rc, this.p.refDevice.interruptNeeded(), 'interruptNeeded: engine vs reference');
    if (!this.hostile && rc >= 0) {
      // 2.7.7: a driver that asked for interrupts and caught up must hear about used chains.
      if (this.driverAsleep && this.pushedWhileDriverAsleep > 0) {
        agree(rc, 1, 'interrupt missed while the driver sleeps');
        this.seen.wakeups++;
      }
      if (!this.p.params.eventIdx && !this.driverInterrupts) agree(rc, 0, 'interrupt despite NO_INTERRUPT');
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
    if (eng.rc < 0) {
      this.seen.errors++;
      this.codes.add(eng.rc);
      agree(engineDetail(p, 'driver'), p.refDriver.detail, 'collect: detail');
    }
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
    if (rc >= 0) {
      this.driverInterrupts = true;
      agree(rc, this.p.engineRaw.usedIdx !== this.p.driver.lastUsedIdx ? 1 : 0, 'enableInterrupts reports waiting entries');
    }
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
    if (rc >= 0) {
      this.deviceNotify = true;
      agree(rc, this.p.engineRaw.availIdx !== this.p.device.lastAvailIdx ? 1 : 0, 'enableNotify reports waiting chains');
    }
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

  /** After a device step: it sleeps if it wants kicks and has seen everything published. */
  private settleDevice(): void {
    this.deviceAsleep = this.deviceNotify && !this.p.device.broken && this.p.device.lastAvailIdx === this.p.engineRaw.availIdx;
    // Asleep after this step means it has seen every chain published so far.
    if (this.deviceAsleep) this.addedWhileDeviceAsleep = 0;
  }

  /** After a driver step: it sleeps if it wants interrupts and has collected everything published. */
  private settleDriver(): void {
    this.driverAsleep = this.driverInterrupts && !this.p.driver.broken && this.p.driver.lastUsedIdx === this.p.engineRaw.usedIdx;
    // Asleep after this step means it has collected every used entry published so far.
    if (this.driverAsleep) this.pushedWhileDriverAsleep = 0;
  }

  /**
   * Lets the device finish everything (full writes) and the driver collect it, until no chain is
   * in flight: every token must come back once, with the length the device reported.
   */
  drain(): void {
    for (let round = 0; this.outstanding.size > 0; round++) {
      if (round > 4) throw new Error(`${this.outstanding.size} chains never came back`);
      this.pop(POP_SEG_ROOM.length - 1, 1 << 20);
      this.checkAll();
      this.push(this.popped.map(() => ({ pick: 0, len: -1 })));
      this.checkAll();
      this.interrupt();
      this.collect(1 << 20);
      this.checkAll();
    }
    agree(this.p.driver.numFree, this.q, 'drained: every descriptor is free');
  }

  // ---------------------------------------------------------------- device reset

  /** Device reset (2.7 / 3.3.1): the driver takes back every chain in flight, both sides start over. */
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
    agree([...back].sort((a, b) => a - b), [...this.outstanding.keys()].sort((a, b) => a - b), 'detach returns exactly the chains in flight');
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

  /** Writes a descriptor of the ring's table (or of head `index`'s indirect table) in both memories. */
  tamperDesc(index: number, desc: Desc, indirect: boolean): void {
    const p = this.p;
    const q = this.q;
    const table = indirect && p.indirectBase !== 0
      ? p.indirectBase + (index % q) * p.indirectMax * S.DESC_SIZE
      : p.ring.desc;
    const i = indirect && p.indirectBase !== 0 ? Math.floor(index / q) % p.indirectMax : index % q;
    p.engineRaw.writeDesc(i, desc, table);
    p.refRaw.writeDesc(i, desc, table);
    this.hostile = true;
  }

  /** Writes an available ring entry `delta` slots past avail.idx, and optionally moves avail.idx. */
  tamperAvail(delta: number, head: number, publish: number): void {
    for (const raw of [this.p.engineRaw, this.p.refRaw]) {
      const idx = raw.availIdx;
      raw.setAvailRing((idx + delta) & 0xffff, head);
      raw.availIdx = idx + publish;
    }
    this.hostile = true;
  }

  /** Writes a used element `delta` slots past used.idx, and optionally moves used.idx. */
  tamperUsed(delta: number, id: number, len: number, publish: number): void {
    for (const raw of [this.p.engineRaw, this.p.refRaw]) {
      const idx = raw.usedIdx;
      raw.setUsedElem((idx + delta) & 0xffff, id, len);
      raw.usedIdx = idx + publish;
    }
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
      this.seen.errors++;
      this.codes.add(rc);
      agree(engineDetail(this.p, 'device'), this.p.refDevice.detail, 'raw push: detail');
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
    assertSameRingBytes(p);
    agree({
      numFree: p.driver.numFree, inFlight: p.driver.inFlight, availIdx: p.driver.availIdx,
      lastUsedIdx: p.driver.lastUsedIdx, status: p.driver.status,
    }, {
      numFree: p.refDriver.numFree, inFlight: p.refDriver.inFlight, availIdx: p.refDriver.availIdx,
      lastUsedIdx: p.refDriver.lastUsedIdx, status: p.refDriver.status,
    }, 'driver state: engine vs reference');
    agree({
      lastAvailIdx: p.device.lastAvailIdx, usedIdx: p.device.usedIdx, inFlight: p.device.inFlight,
      status: p.device.status,
    }, {
      lastAvailIdx: p.refDevice.lastAvailIdx, usedIdx: p.refDevice.usedIdx, inFlight: p.refDevice.inFlight,
      status: p.refDevice.status,
    }, 'device state: engine vs reference');
    // Detail locates a fault: it means something after an error result, and stays put while the
    // queue is broken. (The engine also scribbles it during successful walks.)
    if (p.driver.broken) agree(engineDetail(p, 'driver'), p.refDriver.detail, 'broken driver: detail');
    if (p.device.broken) agree(engineDetail(p, 'device'), p.refDevice.detail, 'broken device: detail');
    // Descriptors are conserved: free ones plus those held by chains in flight make Queue Size.
    let held = 0;
    for (const o of this.outstanding.values()) held += o.descs;
    agree(p.driver.numFree + held, this.q, 'free + held descriptors == Queue Size');
    agree(p.driver.inFlight, this.outstanding.size, 'driver in flight == tokens outstanding');
    if (!this.hostile) agree(p.device.inFlight, this.popped.length, 'device in flight == popped, not pushed');
  }

  /** End of a run: besides the rings, the buffer arena holds the same bytes in both memories. */
  checkArena(): void {
    const p = this.p;
    const a = p.engineBytes.subarray(p.arena, p.arena + p.slots * SLOT_SIZE);
    const b = p.refBytes.subarray(p.arena, p.arena + p.slots * SLOT_SIZE);
    agree(Buffer.compare(a, b), 0, 'buffer arena: engine vs reference');
  }
}
