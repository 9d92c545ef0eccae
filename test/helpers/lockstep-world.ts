// Runs each operation on the engine and on the reference model, compares what both returned and
// the ring bytes both wrote, and keeps the test's own books to check the spec-level invariants:
// every token comes back exactly once with the length the device reported (in the order made
// available, with IN_ORDER), the device reads what the driver wrote and the driver reads what the
// device wrote, descriptors are conserved, and no notification is missed while the other side
// sleeps. One world for both layouts and for IN_ORDER; the rest of the structure:
//   lockstep-layout.ts      what a layout brings: its types and the adapter's contract
//   split-layout.ts         the adapters: building the ring and handles, reading its state
//   packed-layout.ts
//   lockstep-pair.ts        engine and reference over twin memories, the buffer arena
//   lockstep-invariants.ts  what must hold after every step
//   lockstep-sleeper.ts     the books on notification suppression
//   lockstep-commands.ts    fast-check commands of well-behaved sides, run parameters
//   split-commands.ts       each layout's parameters and misbehaving peer
//   packed-commands.ts
//   lockstep-runs.ts        the properties' bodies and the long runs' round trip
import * as E from '../../assembly/layout/errors.js';
import type { RefChain, RefSegment, RefUsed, RefBurst, RefPoppedChain } from '../../sim/reference/index.js';
import { openPair, comparedAreas, writeBoth, SEG_STRIDE, SLOT_SIZE, POP_SEG_ROOM } from './lockstep-pair.js';
import type { Area, Layout, LayoutTypes, ModelPair } from './lockstep-layout.js';
import { checkStep, checkArena } from './lockstep-invariants.js';
import { rcOf, engineAdd, enginePop, enginePush, engineCollect, engineDetach, engineDetail } from './engine-ops.js';
import { Sleeper } from './lockstep-sleeper.js';
import { agree } from './agree.js';

/** A segment as a command describes it; the world places it in the chain's slot. */
export interface SegSpec { len: number; writable: boolean }
/** One completion in a push command: which popped chain (index, modulo what is left) and its length. */
export interface PushPick { pick: number; len: number }

export interface Outstanding {
  token: number;
  slot: number;
  segments: RefSegment[];
  /** What the driver wrote into its readable segments, in order. */
  readBytes: Uint8Array;
  /** Descriptors (ring slots) the chain holds (1 through an indirect table). */
  descs: number;
  readLen: number;
  writeLen: number;
  popped: boolean;
  /** What the device reported and wrote, once it pushed the chain. */
  pushedLen?: number;
  written?: Uint8Array;
}

/** A chain the device holds: its id (split: head descriptor, packed: buffer id) and, unless hostile, its token. */
export interface PoppedChain { id: number; token?: number; writable: RefSegment[]; writeLen: number; descs: number }

const readByte = (token: number, j: number, b: number): number => (token * 37 + j * 11 + b) & 0xff;
const writeByte = (stamp: number, b: number): number => (stamp * 29 + b * 3 + 7) & 0xff;

export class LockstepWorld<T extends LayoutTypes> {
  readonly p: ModelPair<T>;
  readonly q: number;
  /** VIRTIO_F_IN_ORDER: the device uses chains in pop order, the driver gets them back in add order. */
  readonly inOrder: boolean;
  /** The ring areas and indirect tables compared after every step. */
  readonly areas: Area[];
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
  /** The device, woken by kicks; the driver, woken by interrupts. */
  private readonly deviceSleep: Sleeper;
  private readonly driverSleep: Sleeper;
  /** Counters a test can look at to see what a run exercised (wrapFlips, listsAcrossWrap: packed). */
  readonly seen = {
    added: 0, popped: 0, collected: 0, kicks: 0, interrupts: 0, errors: 0, indirect: 0, wakeups: 0,
    partialAdds: 0, batched: 0, wrapFlips: 0, listsAcrossWrap: 0,
  };
  /** Error codes met (returned or left as the sticky status), each counted once per run. */
  readonly codes = new Set<number>();

  /**
   * @param faultsAllowed a hostile run: the queue may break (then only engine == reference and
   *   token conservation are checked until a reset). Otherwise a broken queue fails the test.
   */
  constructor(readonly layout: Layout<T>, params: T['params'], readonly faultsAllowed = false) {
    this.p = openPair(layout, params);
    this.q = params.queueSize;
    this.inOrder = params.inOrder ?? false;
    this.areas = comparedAreas(layout, this.p);
    for (let s = this.p.slots - 1; s >= 0; s--) this.freeSlots.push(s);
    this.deviceSleep = new Sleeper(params.notify, 'kick', 'device', 'NO_NOTIFY / DISABLE');
    this.driverSleep = new Sleeper(params.interrupts, 'interrupt', 'driver', 'NO_INTERRUPT / DISABLE');
    this.settleDevice();
    this.settleDriver();
    this.checkAll();
  }

  private usesIndirect(k: number): boolean {
    return this.p.indirectBase !== 0 && k >= 2 && k <= this.p.indirectMax;
  }

  private noteError(rc: number, side: 'driver' | 'device', what: string): void {
    this.seen.errors++;
    this.codes.add(rc);
    const ref = side === 'driver' ? this.p.refDriver.detail : this.p.refDevice.detail;
    agree(engineDetail(this.p, side), ref, `${what}: detail`);
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
      const base = p.arena + slot * SLOT_SIZE;
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

    // What the spec and the allocation policy say should happen, worked out independently:
    // chains go in while free descriptors last (packed, 2.8.21: each list also takes an id, and
    // ids outnumber lists).
    let expected: number;
    if (p.driver.broken) expected = p.driver.status;
    else if (chains.some((c) => c.segments.length > this.q)) expected = E.ERR_BAD_ARGUMENT; // 2.7.5.3.1, 2.8.17
    else {
      let free = p.driver.numFree;
      expected = 0;
      for (const o of owned) {
        if (o.descs > free) break;
        free -= o.descs;
        expected++;
      }
    }

    const slotBefore = this.layout.positions?.(p).driverAvail.slot;
    const rc = engineAdd(p, chains);
    agree(rc, p.refDriver.add(chains), 'add: engine vs reference');
    agree(rc, expected, 'add: count the free descriptors allow');
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
    if (slotBefore !== undefined) this.seen.wrapFlips += Math.floor((slotBefore + descs) / this.q);
    if (rc >= 0 && rc < owned.length) this.seen.partialAdds++;
    if (rc > 0) {
      this.seen.added += rc;
      this.deviceSleep.published(rc);
    }
    if (rc < 0) this.noteError(rc, 'driver', 'add');
    return rc;
  }

  kick(): number {
    const rc = rcOf(() => this.p.driver.kickNeeded());
    agree(rc, this.p.refDriver.kickNeeded(), 'kickNeeded: engine vs reference');
    // 2.7.10, 2.8.10: a device that asked for kicks and caught up must hear about new chains.
    if (!this.hostile && rc >= 0 && this.deviceSleep.check(rc, this.layout.flagsBind(this.p.params))) this.seen.wakeups++;
    if (rc === 1) {
      this.deviceSleep.wake();
      this.seen.kicks++;
    }
    return rc;
  }

  // ---------------------------------------------------------------- device: pop, push, interrupt

  pop(batch: number, max: number): RefBurst<RefPoppedChain> {
    const p = this.p;
    const room = POP_SEG_ROOM[batch];
    const effMax = Math.min(max, p.popBatches[batch].maxChains);
    const positions = this.layout.positions?.(p);
    let slot = positions?.deviceAvail.slot ?? 0;
    const eng = enginePop(p, batch, effMax);
    agree(eng, p.refDevice.pop(effMax, room), 'pop: engine vs reference');
    if (eng.rc < 0) this.noteError(eng.rc, 'device', 'pop');
    for (const c of eng.items) {
      const entry: PoppedChain = { id: c.id, writable: c.segments.filter((s) => s.writable), writeLen: c.writeLen, descs: c.descs };
      if (!this.hostile) entry.token = this.checkPopped(c, slot);
      if (positions) {
        if (slot + c.descs > this.q) this.seen.listsAcrossWrap++;
        slot = (slot + c.descs) % this.q;
      }
      this.popped.push(entry);
    }
    this.seen.popped += eng.items.length;
    this.settleDevice();
    return eng;
  }

  /** A popped chain is one the driver added, seen whole: same lengths, same readable bytes. */
  private checkPopped(c: RefPoppedChain, ringSlot: number): number {
    // The first descriptor (or the first of its indirect table) points into the chain's slot.
    let d = this.layout.headDesc(this.p, c, ringSlot);
    if (d.flags & this.layout.indirectFlag) d = this.p.engineRaw.readDesc(0, Number(d.addr));
    const slot = Math.floor((Number(d.addr) - this.p.arena) / SLOT_SIZE);
    const token = this.slotOwner.get(slot);
    const o = token === undefined ? undefined : this.outstanding.get(token);
    if (o === undefined) throw new Error(`popped chain ${c.id} belongs to no chain in flight`);
    agree(o.popped, false, `token ${o.token} popped twice`);
    if (this.inOrder) {
      // The device sees chains in the order they were made available.
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
   * The device uses some popped chains, writing a pattern first: the picked ones in the picked
   * order, or with IN_ORDER the oldest ones in pop order.
   */
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
    const used: RefUsed[] = done.map((d) => ({ id: d.c.id, len: d.len }));
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
      this.driverSleep.published(rc);
    } else {
      this.noteError(rc, 'device', 'push');
    }
    return rc;
  }

  interrupt(): number {
    const rc = rcOf(() => this.p.device.interruptNeeded());
    agree(rc, this.p.refDevice.interruptNeeded(), 'interruptNeeded: engine vs reference');
    // 2.7.7, 2.8.10: a driver that asked for interrupts and caught up must hear about used chains.
    if (!this.hostile && rc >= 0 && this.driverSleep.check(rc, this.layout.flagsBind(this.p.params))) this.seen.wakeups++;
    if (rc === 1) {
      this.driverSleep.wake();
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
    if (rc >= 0) this.driverSleep.wants = true;
    if (rc >= 0 && this.waitingKnown) agree(rc, this.waiting().used ? 1 : 0, 'enableInterrupts reports waiting used chains');
    this.settleDriver();
    return rc;
  }

  disableInterrupts(): number {
    const rc = rcOf(() => this.p.driver.disableInterrupts());
    agree(rc, this.p.refDriver.disableInterrupts(), 'disableInterrupts: engine vs reference');
    if (rc >= 0) this.driverSleep.wants = false;
    this.settleDriver();
    return rc;
  }

  enableNotify(): number {
    const rc = rcOf(() => this.p.device.enableNotify());
    agree(rc, this.p.refDevice.enableNotify(), 'enableNotify: engine vs reference');
    if (rc >= 0) this.deviceSleep.wants = true;
    if (rc >= 0 && this.waitingKnown) agree(rc, this.waiting().avail ? 1 : 0, 'enableNotify reports waiting chains');
    this.settleDevice();
    return rc;
  }

  disableNotify(): number {
    const rc = rcOf(() => this.p.device.disableNotify());
    agree(rc, this.p.refDevice.disableNotify(), 'disableNotify: engine vs reference');
    if (rc >= 0) this.deviceSleep.wants = false;
    this.settleDevice();
    return rc;
  }

  /** Chains made available and not popped, used and not collected: off the ring, or by the books. */
  private waiting(): { avail: boolean; used: boolean } {
    const fromRing = this.layout.waiting?.(this.p);
    if (fromRing) return fromRing;
    let avail = false;
    let used = false;
    for (const o of this.outstanding.values()) {
      if (!o.popped) avail = true;
      if (o.pushedLen !== undefined) used = true;
    }
    return { avail, used };
  }

  /** What is waiting can be told: read off the ring (split), or by the books while the peer behaves. */
  private get waitingKnown(): boolean {
    return this.layout.waiting !== undefined || !this.hostile;
  }

  private settleDevice(): void {
    this.deviceSleep.settle(this.p.device.broken, this.waiting().avail);
  }

  private settleDriver(): void {
    this.driverSleep.settle(this.p.driver.broken, this.waiting().used);
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

  /** Device reset (2.7, 2.8, 3.3.1): the driver takes back every chain in flight, both sides start over. */
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
    const inFlight = [...this.outstanding.keys()];
    agree([...back].sort((a, b) => a - b), inFlight.sort((a, b) => a - b), 'detach returns exactly the chains in flight');
    for (const o of [...this.outstanding.values()]) this.release(o);
    agree(rcOf(() => p.driver.reset()), p.refDriver.reset(), 'driver reset');
    agree(rcOf(() => p.device.reset()), p.refDevice.reset(), 'device reset');
    this.popped = [];
    this.lastCollected = 0;
    this.hostile = false;
    this.deviceSleep.wake();
    this.driverSleep.wake();
    this.settleDevice();
    this.settleDriver();
  }

  // ---------------------------------------------------------------- a misbehaving peer

  /** Writes a descriptor of the ring (index % q) or of an indirect table (head index % q's), in both memories. */
  tamperDesc(index: number, desc: T['desc'], indirect: boolean): void {
    const p = this.p;
    const q = this.q;
    const inTable = indirect && p.indirectBase !== 0;
    const table = inTable ? p.indirectBase + (index % q) * p.indirectMax * this.layout.descSize : p.ring.desc;
    const i = inTable ? Math.floor(index / q) % p.indirectMax : index % q;
    p.engineRaw.writeDesc(i, desc, table);
    p.refRaw.writeDesc(i, desc, table);
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

  /** The chains the device holds, as it popped them. */
  get held(): readonly PoppedChain[] {
    return this.popped;
  }

  // ---------------------------------------------------------------- after every step

  /** Engine == reference, and the invariants the books allow (lockstep-invariants.ts). */
  checkAll(): void {
    checkStep(this);
  }

  /** End of a run: besides the rings, the buffer arena holds the same bytes in both memories. */
  checkArena(): void {
    checkArena(this.p);
  }
}
