// The engine's device side of a fuzz world, every call checked against the invariants of a
// device facing a hostile driver (besides those of every checked call, checked-side.ts):
// - a call returns a count, or an error of the known set with its layout's spec section;
// - each chain it hands over has its segments inside the region table, a buffer id below Queue
//   Size that the device does not already hold, lengths that add up, and is what the ring
//   describes (expected-chain.ts);
// - it writes nothing outside its own private state, the caller's batch arrays and what the
//   spec gives the device: the used ring (split) or the used descriptors it writes back
//   (packed), its event suppression fields and its inflight region; a push writes only the
//   slots it uses, with the records' ids and lengths;
// - once broken, every call (until reset) fails with the same code and changes no byte at all.
// It keeps its own record of the buffers the device holds (ids, pop order, writable capacity),
// and plays the device's application too: it fills the writable segments it was handed
// before returning them used.
import * as E from '../../assembly/layout/errors.js';
import * as B from '../../assembly/layout/batch.js';
import * as P from '../../assembly/layout/packed.js';
import * as Q from '../../assembly/layout/queue.js';
import type { Range } from '../helpers/memory-diff.js';
import type { Rng } from './harness.js';
import type { Trace } from './trace.js';
import { packedList, splitChain, type Expected, type Segment } from './expected-chain.js';
import { VirtqueueError, type ChainBatch, type Region } from '../../src/index.js';
import { DEVICE_PEER_ERRORS, INFLIGHT_PEER_ERRORS, errorName } from './known-errors.js';
import { CheckedSide } from './checked-side.js';
import {
  ALIAS_GPA, POP_SEG_ROOM, batchRanges, inRegionTable, ringAreas, shuffled, splitFields, type RingWorld,
} from './ring-world.js';

interface Held {
  writeLen: number;
  /** Ring descriptors (split: of the main table) or slots (packed) the buffer took. */
  descs: number;
  /** Its writable segments, [offset, len] pairs: where the device's application writes. */
  writable: number[];
}

interface DeviceExports {
  pop(cb: number, chains: number, segs: number, maxChains: number, maxSegs: number): number;
  push(cb: number, elems: number, n: number): number;
  unpop(cb: number, chains: number, n: number): number;
  interrupt(cb: number): number;
  enable(cb: number): number;
  disable(cb: number): number;
}

const bucket = (n: number, top: number): string => (n >= top ? `${top}+` : String(n));

export class CheckedDevice extends CheckedSide {
  /** Buffers the device holds, by id. */
  readonly held = new Map<number, Held>();
  /** Held ids in the order they were popped. */
  order: number[] = [];
  /**
   * The held ids popped after the last buffer returned used (in pop order): unpop may give back
   * only the last ones popped (a buffer popped later and already pushed stands in the way), and
   * the device refuses any other.
   */
  private unpoppable: number[] = [];
  private readonly x: DeviceExports;
  private readonly notifyAreas: Range[];
  private readonly popAreas: Range[];
  private readonly pushAreas: Range[];
  private readonly resetAreas: Range[];
  private readonly inflightArea: Range[];

  constructor(w: RingWorld, features: Set<string>, trace: Trace) {
    const peerErrors = w.inflight ? new Set([...DEVICE_PEER_ERRORS[w.layout], ...INFLIGHT_PEER_ERRORS[w.layout]]) : DEVICE_PEER_ERRORS[w.layout];
    super(w, 'device', w.device, peerErrors, features, trace);
    const e = w.engine.exports;
    this.x = w.layout === 'split'
      ? { pop: e.splitDevicePop, push: e.splitDevicePush, unpop: e.splitDeviceUnpop, interrupt: e.splitDeviceInterruptNeeded, enable: e.splitDeviceEnableNotify, disable: e.splitDeviceDisableNotify }
      : { pop: e.packedDevicePop, push: e.packedDevicePush, unpop: e.packedDeviceUnpop, interrupt: e.packedDeviceInterruptNeeded, enable: e.packedDeviceEnableNotify, disable: e.packedDeviceDisableNotify };
    if (w.layout === 'split') {
      const f = splitFields(w);
      this.popAreas = [f.availEvent];
      this.pushAreas = [f.usedIdx, f.usedRing];
      this.notifyAreas = [f.usedFlags, f.availEvent];
      this.resetAreas = [f.usedFlags, f.usedIdx, f.availEvent];
    } else {
      const a = ringAreas(w);
      this.popAreas = [a.device];
      this.pushAreas = [a.desc];
      this.notifyAreas = [a.device];
      this.resetAreas = [a.device];
    }
    // With inflight tracking, pop, push, unpop and reset keep the region up to date.
    this.inflightArea = w.inflight ? [w.inflight] : [];
    for (const areas of [this.popAreas, this.pushAreas, this.resetAreas]) areas.push(...this.inflightArea);
  }

  /** Pops up to `max` chains into one of the pop batches and checks every chain handed over. */
  pop(rng: Rng): number {
    const w = this.w;
    const room = rng.below(POP_SEG_ROOM.length);
    const b = w.popBatches[room]!;
    const max = rng.chance(0.5) ? b.maxChains : 1 + rng.below(Math.min(4, b.maxChains));
    const before = w.device.position();
    const rc = this.run('pop', `max ${max}, room ${b.maxSegs}`, [...this.popAreas, ...batchRanges(b)], () => this.x.pop(w.device.cb, b.chainsPtr, b.segsPtr, max, b.maxSegs));
    if (this.brokenCode !== 0 && this.stickyCalls > 0) return rc;
    if (rc < 0 && w.device.status === 0) {
      // The caller's segment array cannot hold the next chain: a refusal, nothing taken.
      if (rc !== E.ERR_SEGMENTS_FULL) this.fail(`device pop: caller error ${errorName(rc)} for a valid burst`);
      this.feature(`pop:room${POP_SEG_ROOM[room]}:SEGMENTS_FULL`);
      this.expectPosition(before, 0, 'pop refused');
      return rc;
    }
    if (rc > max) this.fail(`device pop returned ${rc} chains, asked for at most ${max}`);
    const got = Math.max(rc, 0);
    let seg = 0;
    let slots = 0;
    for (let i = 0; i < got; i++) {
      const id = b.id(i);
      if (id >= w.q) this.fail(`device pop: chain ${i} has id ${id} >= Queue Size ${w.q}`);
      if (this.held.has(id)) this.fail(`device pop: chain ${i} has id ${id}, which the device already holds`);
      if (b.firstSeg(i) !== seg) this.fail(`device pop: chain ${i} starts at segment ${b.firstSeg(i)}, expected ${seg}`);
      const nR = b.nRead(i);
      const nW = b.nWrite(i);
      const descs = b.descs(i);
      if (descs < 1 || descs > w.q) this.fail(`device pop: chain ${i} took ${descs} descriptors (Queue Size ${w.q})`);
      let readLen = 0;
      let writeLen = 0;
      const writable: number[] = [];
      for (let j = 0; j < nR + nW; j++) {
        const off = b.segOffset(seg + j);
        const len = b.segLen(seg + j);
        if (len === 0) this.fail(`device pop: chain ${i} has an empty segment`);
        if (!inRegionTable(w, off, len)) this.fail(`device pop: chain ${i} segment [${off}, ${off + len}) lies outside the region table`);
        if (j < nR) readLen += len;
        else { writeLen += len; writable.push(off, len); }
      }
      if (readLen !== b.readLen(i) || writeLen !== b.writeLen(i)) {
        this.fail(`device pop: chain ${i} says ${b.readLen(i)}/${b.writeLen(i)} bytes, its segments hold ${readLen}/${writeLen}`);
      }
      this.checkAgainstRing(b, i, seg, w.layout === 'split' ? before.nextAvail + i : before.nextAvail + slots, before.availWrap);
      seg += nR + nW;
      slots += descs;
      this.held.set(id, { writeLen, descs, writable });
      this.trace.add(`  popped id ${id}: ${descs} descs, ${nR}r/${nW}w segs, ${readLen}/${writeLen} bytes`);
      this.order.push(id);
      this.unpoppable.push(id);
      this.feature(`chain:d${bucket(descs, 4)}:r${bucket(nR, 3)}w${bucket(nW, 3)}${nR + nW > descs ? ':split' : ''}`);
    }
    if (seg > b.maxSegs) this.fail(`device pop: ${seg} segments in an array of ${b.maxSegs}`);
    this.expectPosition(before, w.layout === 'split' ? got : slots, 'pop');
    if (w.device.inFlight !== this.held.size) this.fail(`device pop: inFlight ${w.device.inFlight}, holding ${this.held.size}`);
    if (w.device.status === 0) this.feature(`pop:${got === 0 ? 'empty' : got === max ? 'full' : 'some'}`);
    return rc;
  }

  /**
   * Chain `i` of `b` (its segments from `seg`) is a chain that keeps the rules, and the one the
   * ring describes (expected-chain.ts): split, headed where the available ring's entry `at`
   * says; packed, the list from `at` slots past the lap `wrap` started, with the id of its last
   * descriptor.
   */
  private checkAgainstRing(b: ChainBatch, i: number, seg: number, at: number, wrap: number): void {
    const w = this.w;
    let want: Expected;
    if (w.layout === 'split') {
      const head = w.split!.availRing(at & 0xffff);
      if (b.id(i) !== head) this.fail(`device pop: chain ${i} has id ${b.id(i)}, the available ring names ${head}`);
      want = splitChain(w, head, b.descs(i));
    } else {
      want = packedList(w, at % w.q, (wrap ^ (Math.floor(at / w.q) & 1)) >>> 0, b.descs(i));
      if ('id' in want && want.id !== b.id(i)) this.fail(`device pop: chain ${i} has id ${b.id(i)}, its last descriptor says ${want.id}`);
    }
    if ('bad' in want) this.fail(`device pop: accepted chain ${i} (id ${b.id(i)}, ${b.descs(i)} descriptors) breaks a rule: ${want.bad}`);
    const nR = b.nRead(i);
    const got = Array.from({ length: nR + b.nWrite(i) }, (_, j) => ({ offset: b.segOffset(seg + j), len: b.segLen(seg + j), writable: j >= nR }));
    const fmt = (x: Segment[]): string => x.map((g) => `${g.writable ? 'w' : 'r'}${g.offset}+${g.len}`).join(' ');
    if (fmt(got) !== fmt(want.segs)) this.fail(`device pop: chain ${i} (id ${b.id(i)}) has segments ${fmt(got)}, its descriptors translate to ${fmt(want.segs)}`);
  }

  /** The available side moved forward by `n` (split: entries; packed: slots, wrapping). */
  private expectPosition(before: { nextAvail: number; availWrap: number }, n: number, what: string): void {
    const now = this.w.device.position();
    if (this.w.layout === 'split') {
      if (((now.nextAvail - before.nextAvail) & 0xffff) !== n) this.fail(`device ${what}: last_avail_idx moved ${before.nextAvail} -> ${now.nextAvail}, expected +${n}`);
      return;
    }
    const q = this.w.q;
    const abs = before.nextAvail + n;
    const slot = abs % q;
    const wrap = (before.availWrap ^ (Math.floor(abs / q) & 1)) >>> 0;
    if (now.nextAvail !== slot || now.availWrap !== wrap) {
      this.fail(`device ${what}: available position ${before.nextAvail}/${before.availWrap} -> ${now.nextAvail}/${now.availWrap}, expected ${slot}/${wrap}`);
    }
  }

  /**
   * The device's private record (shadow entries, IN_ORDER FIFO) holds exactly the buffers we
   * hold, with the same writable bytes and ring descriptors, in pop order.
   */
  checkShadow(): void {
    const w = this.w;
    if (this.brokenCode !== 0) return;
    const split = w.layout === 'split';
    const f = (x: number): number => w.engine.u32[(w.device.cb + x) >>> 2]!;
    const shadow = f(split ? Q.SDEV_SHADOW : Q.PDEV_SHADOW);
    for (let id = 0; id < w.q; id++) {
      const e = shadow + id * Q.DSHADOW_SIZE;
      const inFlight = (w.engine.u16[(e + Q.DSHADOW_FLAGS) >>> 1]! & Q.DSHADOW_F_IN_FLIGHT) !== 0;
      const h = this.held.get(id);
      if (inFlight !== (h !== undefined)) this.fail(`device shadow: id ${id} ${inFlight ? 'in flight' : 'free'}, but the device ${h ? 'holds' : 'does not hold'} it`);
      if (h && (w.engine.u32[(e + Q.DSHADOW_WRITE_LEN) >>> 2] !== h.writeLen || w.engine.u16[(e + Q.DSHADOW_NDESC) >>> 1] !== h.descs)) {
        this.fail(`device shadow: id ${id} records other bytes or descriptors than it was popped with`);
      }
    }
    if (w.params.inOrder) {
      const order = f(split ? Q.SDEV_ORDER : Q.PDEV_ORDER);
      const head = f(split ? Q.SDEV_ORDER_HEAD : Q.PDEV_ORDER_HEAD);
      for (let i = 0; i < this.order.length; i++) {
        const id = w.engine.u16[(order + ((head + i) % w.q) * 2) >>> 1];
        if (id !== this.order[i]) this.fail(`device IN_ORDER FIFO: entry ${i} is ${id}, popped ${this.order[i]}`);
      }
    }
    this.feature('shadow');
  }

  /** Returns some held buffers used (in pop order with IN_ORDER), after writing into them. */
  push(rng: Rng): number {
    const w = this.w;
    const u = w.usedBatch;
    u.clear();
    const ids = this.pickHeld(rng, w.params.inOrder);
    if (this.brokenCode === 0 && rng.chance(0.04)) return this.badPush(rng, ids);
    const lens: number[] = [];
    for (const id of ids) {
      const h = this.held.get(id)!;
      const len = rng.chance(0.4) ? h.writeLen : rng.chance(0.2) ? 0 : rng.below(h.writeLen + 1);
      this.fillWritable(h, len);
      u.push(id, len);
      lens.push(len);
    }
    const n = ids.length;
    const pos = w.device.position();
    const descs = ids.reduce((s, id) => s + this.held.get(id)!.descs, 0);
    const rc = this.run('push', ids.map((id, i) => `${id}/${lens[i]}`).join(' '), this.pushAreas, () => this.x.push(w.device.cb, u.ptr, n));
    if (this.brokenCode !== 0) return rc;
    if (rc !== n) this.fail(`device push of ${n} held buffers returned ${rc}`);
    this.checkWriteBack(pos, ids, lens, descs);
    for (const id of ids) this.held.delete(id);
    this.order = this.order.filter((id) => this.held.has(id));
    const last = Math.max(...ids.map((id) => this.unpoppable.indexOf(id)));
    if (last >= 0) this.unpoppable = this.unpoppable.slice(last + 1);
    if (w.device.inFlight !== this.held.size) this.fail(`device push: inFlight ${w.device.inFlight}, holding ${this.held.size}`);
    this.feature(`push:${bucket(n, 4)}`);
    return rc;
  }

  /** Held ids to return: the oldest in pop order, or any in any order. */
  private pickHeld(rng: Rng, inOrder: boolean): number[] {
    if (this.order.length === 0) return [];
    const most = Math.min(this.order.length, this.w.usedBatch.capacity - 1);
    const n = rng.chance(0.3) ? most : 1 + rng.below(most);
    return inOrder ? this.order.slice(0, n) : shuffled(rng, this.order).slice(0, n);
  }

  /** A push the caller got wrong: it must be refused with nothing changed but the detail. */
  private badPush(rng: Rng, ids: number[]): number {
    const w = this.w;
    const u = w.usedBatch;
    let how: string;
    const unheld = [...Array(w.q).keys()].find((i) => !this.held.has(i));
    const r = rng.below(4);
    if (r === 0 && ids.length > 0) { ids.push(ids[0]!); how = 'twice'; }
    else if (r === 1 && w.params.inOrder && ids.length > 1) { ids.reverse(); how = 'out-of-order'; }
    else if (r === 2 && unheld !== undefined) { ids.splice(rng.below(ids.length + 1), 0, unheld); how = 'not-held'; }
    else { ids.push(w.q + rng.below(0x10000)); how = 'out-of-range'; }
    for (const id of ids) u.push(id, 0);
    const rc = this.run('push', `${how}: ${ids.join(' ')}`, [], () => this.x.push(w.device.cb, u.ptr, ids.length), true);
    if (rc !== E.ERR_BAD_ARGUMENT) this.fail(`device push of a bad burst (${how}: ${ids.join(',')}) returned ${rc}`);
    if (w.device.status !== 0) this.fail(`device push of a bad burst broke the queue`);
    this.feature(`push:caller:${how}`);
    return rc;
  }

  /** The device's application writes the first bytes of what it reports as used. */
  private fillWritable(h: Held, len: number): void {
    const u8 = this.w.engine.u8;
    let left = Math.min(len, 64);
    for (let k = 0; k < h.writable.length && left > 0; k += 2) {
      const n = Math.min(left, h.writable[k + 1]!);
      u8.fill(0xa5, h.writable[k]!, h.writable[k]! + n);
      left -= n;
    }
  }

  /**
   * A push wrote only the used slots it owns: split, the used elements from used.idx on (one
   * per record, fewer when IN_ORDER folds a run); packed, the first slot of each buffer (or run)
   * from the device's used position on, each a used descriptor with the record's id and length.
   */
  private checkWriteBack(pos: { nextUsed: number; usedWrap: number }, ids: number[], lens: number[], descs: number): void {
    const w = this.w;
    const q = w.q;
    const now = w.device.position();
    const n = ids.length;
    if (w.layout === 'split') {
      const f = splitFields(w);
      if (((now.nextUsed - pos.nextUsed) & 0xffff) !== n) this.fail(`device push: used.idx ${pos.nextUsed} -> ${now.nextUsed} for ${n} records`);
      const owned = new Set<number>();
      for (let i = 0; i < Math.min(n, q); i++) owned.add((pos.nextUsed + i) & (q - 1));
      for (let s = 0; s < q; s++) {
        const at = f.usedRing[0] + s * 8;
        if (!owned.has(s) && w.guard.changed(at, at + 8)) this.fail(`device push wrote used element ${s}, outside the ${n} it owns from ${pos.nextUsed}`);
      }
      let first = 0;
      for (let i = 0; i < n; i++) {
        if (!this.endsRun(ids, lens, i)) continue;
        const e = w.split!.usedElem(pos.nextUsed + first);
        if (e.id !== ids[i] || e.len !== lens[i]) this.fail(`device push: used element ${pos.nextUsed + first} is ${e.id}/${e.len}, pushed ${ids[i]}/${lens[i]}`);
        first = i + 1;
      }
      return;
    }
    const abs = pos.nextUsed + descs;
    if (now.nextUsed !== abs % q || now.usedWrap !== ((pos.usedWrap ^ (Math.floor(abs / q) & 1)) >>> 0)) {
      this.fail(`device push: used position ${pos.nextUsed}/${pos.usedWrap} -> ${now.nextUsed}/${now.usedWrap} after ${descs} slots`);
    }
    const owned = new Set<number>();
    for (let i = 0; i < Math.min(descs, q); i++) owned.add((pos.nextUsed + i) % q);
    for (let s = 0; s < q; s++) {
      const at = w.desc + s * P.PDESC_SIZE;
      if (!owned.has(s) && w.guard.changed(at, at + P.PDESC_SIZE)) this.fail(`device push wrote slot ${s}, outside the ${descs} it owns from ${pos.nextUsed}`);
    }
    let slot = pos.nextUsed;
    let wrap = pos.usedWrap;
    let first = { slot, wrap };
    for (let i = 0; i < n; i++) {
      slot += this.held.get(ids[i]!)!.descs;
      if (slot >= q) { slot -= q; wrap ^= 1; }
      if (!this.endsRun(ids, lens, i)) continue;
      const d = w.packed!.readDesc(first.slot);
      const bits = d.flags & (P.PDESC_F_AVAIL | P.PDESC_F_USED | P.PDESC_F_WRITE);
      // 2.8.3: WRITE says the device wrote data.
      const want = (first.wrap ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0) | (lens[i]! > 0 ? P.PDESC_F_WRITE : 0);
      if (d.id !== ids[i] || d.len !== lens[i] || bits !== want) {
        this.fail(`device push: slot ${first.slot} holds id ${d.id} len ${d.len} flags ${d.flags}, pushed ${ids[i]}/${lens[i]} with wrap ${first.wrap}`);
      }
      first = { slot, wrap };
    }
  }

  /**
   * Whether record i of a push gets a used entry of its own: always, but with IN_ORDER a buffer
   * used whole (its writable bytes all written) shares the entry of the next one in the burst
   * (2.7.9, 2.8.8: one entry for a run, naming its last buffer, at its first's position).
   */
  private endsRun(ids: number[], lens: number[], i: number): boolean {
    return !this.w.params.inOrder || i === ids.length - 1 || lens[i] !== this.held.get(ids[i]!)!.writeLen;
  }

  /** Gives back the newest `k` held buffers unused (or, now and then, a refused bad list). */
  unpop(rng: Rng): number {
    const w = this.w;
    const b = w.popBatches[0]!;
    // Only the last chains popped, in pop order, none pushed since (the contract of unpop).
    const k = Math.min(this.unpoppable.length, 1 + rng.below(3));
    let ids = this.unpoppable.slice(this.unpoppable.length - k);
    const bad = this.brokenCode === 0 && rng.chance(0.1);
    let how = '';
    if (bad) {
      // Held chains that are not the last popped: popped before one that was pushed since.
      const early = this.order.filter((id) => !this.unpoppable.includes(id));
      const r = rng.below(3);
      if (r === 0 && early.length > 0) { ids = [early[rng.below(early.length)]!]; how = 'not-last'; }
      else if (r === 1 && ids.length > 1) { ids = [...ids].reverse(); how = 'out-of-order'; }
      else { ids = [...ids, w.q + rng.below(100)]; how = 'out-of-range'; }
    }
    if (ids.length > b.maxChains) ids = ids.slice(0, b.maxChains);
    for (let i = 0; i < ids.length; i++) w.engine.u32[(b.chainsPtr + i * B.CHAIN_SIZE + B.CHAIN_ID) >>> 2] = ids[i]!;
    const before = w.device.position();
    const descs = bad ? 0 : ids.reduce((s, id) => s + this.held.get(id)!.descs, 0);
    const rc = this.run('unpop', ids.join(' '), this.inflightArea, () => this.x.unpop(w.device.cb, b.chainsPtr, ids.length), bad);
    if (this.brokenCode !== 0) return rc;
    if (bad) {
      if (rc !== E.ERR_BAD_ARGUMENT) this.fail(`device unpop of a bad list (${how}: ${ids.join(',')}) returned ${rc}`);
      this.feature(`unpop:caller:${how}`);
      return rc;
    }
    if (rc !== ids.length) this.fail(`device unpop of ${ids.length} newest buffers returned ${rc}`);
    // Back by what they took, as if never popped.
    const now = w.device.position();
    if (w.layout === 'split') {
      if (((before.nextAvail - now.nextAvail) & 0xffff) !== ids.length) this.fail(`device unpop: last_avail_idx ${before.nextAvail} -> ${now.nextAvail} for ${ids.length}`);
    } else {
      const back = (before.nextAvail - descs + w.q) % w.q;
      const wrap = before.nextAvail - descs < 0 ? before.availWrap ^ 1 : before.availWrap;
      if (now.nextAvail !== back || now.availWrap !== wrap) this.fail(`device unpop: position ${before.nextAvail}/${before.availWrap} -> ${now.nextAvail}/${now.availWrap} for ${descs} slots`);
    }
    for (const id of ids) this.held.delete(id);
    const back = new Set(ids);
    this.order = this.order.filter((id) => !back.has(id));
    this.unpoppable = this.unpoppable.slice(0, this.unpoppable.length - ids.length);
    if (w.device.inFlight !== this.held.size) this.fail(`device unpop: inFlight ${w.device.inFlight}, holding ${this.held.size}`);
    this.feature(`unpop:${ids.length}`);
    return rc;
  }

  interrupt(): number {
    const rc = this.run('interrupt', '', [], () => this.x.interrupt(this.w.device.cb));
    if (this.brokenCode !== 0) return rc;
    if (rc !== 0 && rc !== 1) this.fail(`device interruptNeeded returned ${rc}`);
    this.feature(`interrupt:${rc}`);
    return rc;
  }

  enableNotify(): number {
    const rc = this.run('enableNotify', '', this.notifyAreas, () => this.x.enable(this.w.device.cb));
    if (this.brokenCode !== 0) return rc;
    if (rc !== 0 && rc !== 1) this.fail(`device enableNotify returned ${rc}`);
    this.feature(`enableNotify:${rc}`);
    return rc;
  }

  disableNotify(): number {
    const rc = this.run('disableNotify', '', this.notifyAreas, () => this.x.disable(this.w.device.cb));
    if (this.brokenCode === 0 && rc !== 0) this.fail(`device disableNotify returned ${rc}`);
    return rc;
  }

  /**
   * Replaces the region table (vhost-user SET_MEM_TABLE): the same regions in another order, or
   * (not in an honest case) without the two far ones; or now and then a table with two regions
   * overlapping, which must be refused with the old table kept and the queue as it was.
   */
  setRegions(rng: Rng): void {
    const w = this.w;
    const table = w.engine.u32[(w.device.cb + Q.DEV_REGIONS) >>> 2]!;
    let next = shuffled(rng, w.regions);
    const far = (r: Region): boolean => r.gpa >= ALIAS_GPA;
    if (!w.params.honest && rng.chance(0.3)) next = next.filter((r) => !far(r) || rng.chance(0.5));
    const bad = rng.chance(0.15);
    if (bad) next.splice(rng.below(next.length + 1), 0, { ...next[rng.below(next.length)]!, offset: w.arena });
    const status = w.device.status;
    w.guard.before();
    let err: unknown;
    try { w.device.setRegions(next); } catch (e) { err = e; }
    const strays = w.guard.strays([...this.own, [table, table + Q.MAX_REGIONS * Q.REGION_SIZE]]);
    if (strays.length > 0) this.fail(`device setRegions wrote outside its areas at ${strays.slice(0, 4).join(', ')}`);
    this.trace.add(`device setRegions(${next.map((r) => `0x${r.gpa.toString(16)}+${r.size}`).join(' ')}) -> ${err ? (err as Error).message : 'ok'}`);
    if (w.device.status !== status) this.fail(`device setRegions changed the status from ${status} to ${w.device.status}`);
    if (bad) {
      if (!(err instanceof VirtqueueError) || err.code !== E.ERR_BAD_CONFIG || err.info.breaksQueue) this.fail(`device setRegions of overlapping regions: ${String(err)}`);
      this.feature('setRegions:refused');
      return;
    }
    if (err) this.fail(`device setRegions of a valid table: ${String(err)}`);
    w.regions = next;
    this.feature('setRegions');
  }

  /** Reset: back to the start position, healthy, holding nothing; writes only its own fields. */
  reset(): void {
    this.feature(this.brokenCode !== 0 ? `reset:after:${errorName(this.brokenCode)}` : 'reset');
    this.checkedReset(this.resetAreas);
    this.held.clear();
    this.order = [];
    this.unpoppable = [];
  }
}
