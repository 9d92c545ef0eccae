// The engine's driver side of a fuzz world, every call checked against the invariants of a
// driver facing a hostile device (besides those of every checked call, checked-side.ts):
// - a call returns a count, or an error of the known set with its layout's spec section;
// - add takes exactly the chains that fit (or refuses a bad burst whole, changing nothing);
// - collect reports only chains in flight, each once, with a length within its writable bytes
//   (IN_ORDER: in the order they were added), exactly what the used ring names, never reading
//   past used.idx, and refuses a used.idx further ahead than the chains in flight;
// - it writes nothing outside its own private state, the caller's output batch and the driver's
//   parts of the ring (never the used ring, the device's event field or any buffer);
// - the free list holds every descriptor (split) or buffer id (packed) not in flight exactly
//   once, and the chains in flight hold the rest (checked through the private shadow state);
// - once broken, every call fails with the same code and changes nothing, and detach gives back
//   exactly the chains in flight.
import * as E from '../../assembly/layout/errors.js';
import * as Q from '../../assembly/layout/queue.js';
import * as P from '../../assembly/layout/packed.js';
import type { Range } from '../helpers/memory-diff.js';
import type { Rng } from './harness.js';
import { fillAddBatch } from './chain-gen.js';
import type { Trace } from './trace.js';
import { DRIVER_PEER_ERRORS, errorName } from './known-errors.js';
import { CheckedSide } from './checked-side.js';
import { driverDescs, ringAreas, splitFields, usedBatchRange, type RingWorld } from './ring-world.js';

interface InFlight {
  writeLen: number;
  /** Descriptors (split) or ring slots (packed) the chain holds. */
  descs: number;
}

interface DriverExports {
  add(cb: number, chains: number, segs: number, n: number): number;
  collect(cb: number, out: number, max: number): number;
  kick(cb: number): number;
  enable(cb: number): number;
  disable(cb: number): number;
  detach(cb: number, out: number, max: number): number;
}

interface Areas { add: Range[]; collect: Range[]; enable: Range[]; disable: Range[]; reset: Range[] }

export class CheckedDriver extends CheckedSide {
  /** Chains in flight by token, and their tokens in the order they were added. */
  readonly inFlight = new Map<number, InFlight>();
  order: number[] = [];
  private token = 1;
  private readonly x: DriverExports;
  private readonly areas: Areas;

  constructor(w: RingWorld, features: Set<string>, trace: Trace) {
    super(w, 'driver', w.driver, DRIVER_PEER_ERRORS[w.layout], features, trace);
    const e = w.engine.exports;
    this.x = w.layout === 'split'
      ? { add: e.splitDriverAdd, collect: e.splitDriverCollect, kick: e.splitDriverKickNeeded, enable: e.splitDriverEnableInterrupts, disable: e.splitDriverDisableInterrupts, detach: e.splitDriverDetach }
      : { add: e.packedDriverAdd, collect: e.packedDriverCollect, kick: e.packedDriverKickNeeded, enable: e.packedDriverEnableInterrupts, disable: e.packedDriverDisableInterrupts, detach: e.packedDriverDetach };
    const out = usedBatchRange(w.collectBatch);
    if (w.layout === 'split') {
      const f = splitFields(w);
      const desc = ringAreas(w).desc;
      this.areas = {
        add: [desc, f.availIdxRing],
        collect: [f.usedEvent, out],
        enable: [f.availFlags, f.usedEvent],
        disable: [f.availFlags],
        reset: [f.availFlags, f.availIdxRing, f.usedEvent],
      };
    } else {
      const a = ringAreas(w);
      this.areas = { add: [a.desc], collect: [a.driver, out], enable: [a.driver], disable: [a.driver], reset: [a.desc, a.driver] };
    }
  }

  private get heldDescs(): number {
    let n = 0;
    for (const c of this.inFlight.values()) n += c.descs;
    return n;
  }

  /** The driver's counters agree with the chains in flight. */
  private checkCounts(what: string): void {
    const d = this.w.driver;
    if (d.inFlight !== this.inFlight.size) this.fail(`driver ${what}: inFlight ${d.inFlight}, ${this.inFlight.size} chains in flight`);
    if (d.numFree !== this.w.q - this.heldDescs) this.fail(`driver ${what}: numFree ${d.numFree}, in-flight chains hold ${this.heldDescs} of ${this.w.q}`);
  }

  add(rng: Rng): number {
    const w = this.w;
    const kind = rng.chance(0.03) ? rng.pick(['overlong', 'huge'] as const) : 'ok';
    const chains = fillAddBatch(w, rng, this.token, kind);
    this.token += chains.length;
    const bad = chains.some((c) => c.segs > w.q || c.bytes >= 2 ** 32);
    // Chains are added in order while descriptors (and, packed, buffer ids) last.
    let expected = 0;
    let free = w.q - this.heldDescs;
    let ids = w.q - this.inFlight.size;
    for (const c of chains) {
      const need = driverDescs(w, c.segs);
      if (need > free || ids === 0) break;
      free -= need;
      ids--;
      expected++;
    }
    const b = w.addBatch;
    const shape = chains.map((c) => `${c.token}:${c.segs}seg/${c.writeLen}w`).join(' ');
    const rc = this.run('add', shape, this.areas.add, () => this.x.add(w.driver.cb, b.chainsPtr, b.segsPtr, b.count), bad);
    if (this.brokenCode !== 0) return rc;
    if (bad) {
      if (rc !== E.ERR_BAD_ARGUMENT) this.fail(`driver add of a burst it must refuse returned ${rc}`);
      this.feature('add:caller');
      return rc;
    }
    if (rc !== expected) this.fail(`driver add of ${chains.length} chains returned ${rc}, ${expected} fit`);
    for (const c of chains.slice(0, rc)) {
      this.inFlight.set(c.token, { writeLen: c.writeLen, descs: driverDescs(w, c.segs) });
      this.order.push(c.token);
    }
    this.checkCounts('add');
    this.feature(`add:${rc === 0 ? 'none' : rc === chains.length ? 'all' : 'some'}`);
    return rc;
  }

  collect(rng: Rng): number {
    const w = this.w;
    const out = w.collectBatch;
    const max = rng.chance(0.5) ? out.capacity : rng.pick([1, 1, 2, 3, w.q]);
    const before = this.usedPosition();
    const rc = this.run('collect', `max ${max}`, this.areas.collect, () => this.x.collect(w.driver.cb, out.ptr, Math.min(max, out.capacity)));
    if (this.brokenCode !== 0 && this.stickyCalls > 0) return rc;
    if (rc < 0 && w.driver.status === 0) {
      // IN_ORDER: a run of used buffers longer than `max` is refused whole, changing nothing.
      if (rc !== E.ERR_SEGMENTS_FULL || !w.params.inOrder) this.fail(`driver collect: caller error ${errorName(rc)}`);
      const strays = w.guard.strays([this.detail]);
      if (strays.length > 0) this.fail(`driver collect refused a run but wrote at ${strays.slice(0, 4).join(', ')}`);
      this.feature('collect:SEGMENTS_FULL');
      return rc;
    }
    if (rc > max) this.fail(`driver collect returned ${rc}, asked for at most ${max}`);
    // Split: used.idx more than the chains in flight ahead is a fault, found before anything is taken.
    const inFlightBefore = this.inFlight.size;
    if (w.layout === 'split' && ((before.published - before.next) & 0xffff) > inFlightBefore && rc !== E.ERR_USED_IDX_JUMP) {
      this.fail(`driver collect: used.idx ${before.published} is ${(before.published - before.next) & 0xffff} ahead with ${inFlightBefore} in flight, and it returned ${rc}`);
    }
    let slots = 0;
    if (rc > 0) this.trace.add(`  collected ${Array.from({ length: rc }, (_, i) => `${out.id(i)}/${out.len(i)}`).join(' ')}`);
    this.checkAgainstUsed(before, Math.max(rc, 0));
    for (let i = 0; i < Math.max(rc, 0); i++) {
      const token = out.id(i);
      const len = out.len(i);
      const c = this.inFlight.get(token);
      if (!c) this.fail(`driver collect reported token ${token}, which is not in flight`);
      if (len > c.writeLen) this.fail(`driver collect reported ${len} bytes for token ${token}, which has ${c.writeLen} writable`);
      if (w.params.inOrder && token !== this.order[i]) this.fail(`driver collect (IN_ORDER) reported token ${token} where ${this.order[i]} was next`);
      slots += c.descs;
      this.inFlight.delete(token);
    }
    if (rc > 0) this.order = w.params.inOrder ? this.order.slice(rc) : this.order.filter((t) => this.inFlight.has(t));
    this.checkConsumed(before, Math.max(rc, 0), slots);
    this.checkCounts('collect');
    if (w.driver.status === 0) this.feature(`collect:${rc === 0 ? 'none' : 'some'}`);
    return rc;
  }

  /**
   * The `n` chains a collect returned are what the used ring says, read from where the driver
   * was (`before`): each used entry names a chain in flight (its head or buffer id; its token in
   * the driver's shadow state) and its length (packed: only with WRITE, 2.8.4). With IN_ORDER an
   * entry stands for the run of chains up to the one it names, those before it used whole
   * (2.7.9, 2.8.8): they come back with all their writable bytes.
   */
  private checkAgainstUsed(before: { next: number; wrap: number }, n: number): void {
    const w = this.w;
    const u32 = w.engine.u32;
    const shadow = u32[(w.driver.cb + (w.layout === 'split' ? Q.SDRV_SHADOW : Q.PDRV_SHADOW)) >>> 2]!;
    const tokenOf = (id: number): number | undefined => (id < w.q ? u32[(shadow + id * Q.SHADOW_SIZE + Q.SHADOW_TOKEN) >>> 2] : undefined);
    const out = w.collectBatch;
    let k = 0;
    let slot = before.next;
    while (k < n) {
      let id: number;
      let len: number;
      if (w.layout === 'split') {
        ({ id, len } = w.split!.usedElem((before.next + k) & 0xffff));
      } else {
        const d = w.packed!.readDesc(slot % w.q);
        id = d.id;
        len = (d.flags & P.PDESC_F_WRITE) !== 0 ? d.len : 0;
      }
      const token = tokenOf(id);
      // The run ends at the chain the entry names (without IN_ORDER, a run of one).
      let j = k;
      while (w.params.inOrder && j < n - 1 && out.id(j) !== token) j++;
      if (out.id(j) !== token) this.fail(`driver collect returned token ${out.id(j)}, the used entry names id ${id} (token ${token})`);
      for (let m = k; m <= j; m++) {
        const c = this.inFlight.get(out.id(m));
        const want = m < j ? c?.writeLen : len;
        if (out.len(m) !== want) this.fail(`driver collect returned ${out.len(m)} bytes for token ${out.id(m)}, the used ring says ${want}`);
        slot += c?.descs ?? 0;
      }
      k = j + 1;
    }
  }

  /** Where the driver reads used entries next, and (split) the used.idx the device published. */
  private usedPosition(): { next: number; wrap: number; published: number } {
    const w = this.w;
    const f = (x: number): number => w.engine.u32[(w.driver.cb + x) >>> 2]!;
    return w.layout === 'split'
      ? { next: f(Q.SDRV_LAST_USED), wrap: 0, published: w.split!.usedIdx }
      : { next: f(Q.PDRV_NEXT_USED), wrap: f(Q.PDRV_USED_WRAP), published: 0 };
  }

  /**
   * A collect of `n` chains taking `slots` ring slots consumed exactly that: split, n used
   * entries (one per chain, IN_ORDER runs included), never past the used.idx the device
   * published; packed, the used position moved by the slots those chains held.
   */
  private checkConsumed(before: { next: number; wrap: number; published: number }, n: number, slots: number): void {
    const now = this.usedPosition();
    if (this.w.layout === 'split') {
      const moved = (now.next - before.next) & 0xffff;
      if (moved !== n) this.fail(`driver collect of ${n} chains moved its used index ${before.next} -> ${now.next}`);
      if (moved > ((before.published - before.next) & 0xffff)) this.fail(`driver collect consumed used entries up to ${now.next}, past used.idx ${before.published}`);
      return;
    }
    const q = this.w.q;
    const abs = before.next + slots;
    if (now.next !== abs % q || now.wrap !== ((before.wrap ^ (Math.floor(abs / q) & 1)) >>> 0)) {
      this.fail(`driver collect of ${slots} slots moved its used position ${before.next}/${before.wrap} -> ${now.next}/${now.wrap}`);
    }
  }

  kick(): number {
    const rc = this.run('kick', '', [], () => this.x.kick(this.w.driver.cb));
    if (this.brokenCode === 0 && rc !== 0 && rc !== 1) this.fail(`driver kickNeeded returned ${rc}`);
    return rc;
  }

  enableInterrupts(): number {
    const rc = this.run('enableInterrupts', '', this.areas.enable, () => this.x.enable(this.w.driver.cb));
    if (this.brokenCode === 0 && rc !== 0 && rc !== 1) this.fail(`driver enableInterrupts returned ${rc}`);
    return rc;
  }

  disableInterrupts(): number {
    const rc = this.run('disableInterrupts', '', this.areas.disable, () => this.x.disable(this.w.driver.cb));
    if (this.brokenCode === 0 && rc !== 0) this.fail(`driver disableInterrupts returned ${rc}`);
    return rc;
  }

  /**
   * Takes back every chain in flight (broken or not), a few at a time: each token in flight comes
   * back exactly once, with length 0, and nothing else is written.
   */
  detachAll(rng: Rng): void {
    const w = this.w;
    const out = w.collectBatch;
    const step = rng.pick([1, 2, out.capacity]);
    const back = new Set<number>();
    for (let round = 0; ; round++) {
      if (round > w.q + 1) this.fail('driver detach never returned 0');
      w.guard.before();
      const n = w.engine.exports[w.layout === 'split' ? 'splitDriverDetach' : 'packedDriverDetach'](w.driver.cb, out.ptr, step);
      const strays = w.guard.strays([...this.own, usedBatchRange(out)]);
      if (strays.length > 0) this.fail(`driver detach wrote outside its areas at ${strays.slice(0, 4).join(', ')}`);
      if (n < 0) this.fail(`driver detach returned ${errorName(n)}`);
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        const t = out.id(i);
        if (!this.inFlight.has(t) || back.has(t)) this.fail(`driver detach returned token ${t}, not in flight or twice`);
        if (out.len(i) !== 0) this.fail(`driver detach returned length ${out.len(i)}`);
        back.add(t);
      }
    }
    if (back.size !== this.inFlight.size) this.fail(`driver detach returned ${back.size} of ${this.inFlight.size} chains in flight`);
    if (w.driver.inFlight !== 0) this.fail(`driver detach left inFlight ${w.driver.inFlight}`);
    this.trace.add(`driver detach -> ${back.size}`);
    this.feature(this.brokenCode !== 0 ? `detach:after:${errorName(this.brokenCode)}` : 'detach');
    this.inFlight.clear();
    this.order = [];
  }

  /** Reset after detach: the free list whole again, nothing in flight, its own fields only. */
  reset(): void {
    this.checkedReset(this.areas.reset);
    this.checkCounts('reset');
    this.checkFreeList();
  }

  /**
   * The private shadow state, walked: the free list and the chains in flight together hold every
   * descriptor (split) or buffer id and ring slot (packed) exactly once, and the chains in flight
   * are the ones with our tokens (IN_ORDER: oldest first in the driver's order too).
   */
  checkFreeList(): void {
    const w = this.w;
    const q = w.q;
    const u16 = w.engine.u16;
    const u32 = w.engine.u32;
    const cb = w.driver.cb;
    const field = (f: number): number => u32[(cb + f) >>> 2]!;
    const split = w.layout === 'split';
    const shadow = field(split ? Q.SDRV_SHADOW : Q.PDRV_SHADOW);
    const next = (i: number): number => u16[(shadow + i * Q.SHADOW_SIZE + Q.SHADOW_NEXT) >>> 1]!;
    const flags = (i: number): number => u16[(shadow + i * Q.SHADOW_SIZE + Q.SHADOW_FLAGS) >>> 1]!;
    const ndesc = (i: number): number => u16[(shadow + i * Q.SHADOW_SIZE + Q.SHADOW_NDESC) >>> 1]!;
    const token = (i: number): number => u32[(shadow + i * Q.SHADOW_SIZE + Q.SHADOW_TOKEN) >>> 2]!;
    const seen = new Uint8Array(q);
    const mark = (i: number, what: string): void => {
      if (i >= q) this.fail(`driver free list: ${what} ${i} >= Queue Size ${q}`);
      if (seen[i]) this.fail(`driver free list: ${what} ${i} is held twice`);
      seen[i] = 1;
    };
    // Free list: split, numFree descriptors from FREE_HEAD; packed, ids from FREE_ID to NONE.
    let free = 0;
    let d = field(split ? Q.SDRV_FREE_HEAD : Q.PDRV_FREE_ID);
    const freeCount = split ? w.driver.numFree : q - this.inFlight.size;
    for (; free < freeCount; free++) {
      mark(d, split ? 'free descriptor' : 'free id');
      if ((flags(d) & Q.SHADOW_F_IN_FLIGHT) !== 0) this.fail(`driver free list: ${d} is free and in flight`);
      d = next(d);
    }
    if (!split && d !== Q.NONE_16) this.fail(`driver free id list runs on past ${freeCount} ids`);
    // Chains in flight: split, each head's descriptors linked by NEXT up to its TAIL.
    const tokens: number[] = [];
    let slots = 0;
    for (let h = 0; h < q; h++) {
      if ((flags(h) & Q.SHADOW_F_IN_FLIGHT) === 0) continue;
      tokens.push(token(h));
      const n = ndesc(h);
      slots += n;
      if (!split) { mark(h, 'id in flight'); continue; }
      let m = h;
      for (let j = 0; j < n; j++) {
        mark(m, `descriptor of the chain at ${h}`);
        if (j + 1 < n) m = next(m);
      }
      if (m !== u16[(shadow + h * Q.SHADOW_SIZE + Q.SHADOW_TAIL) >>> 1]) this.fail(`driver free list: chain at ${h} does not end at its tail`);
    }
    if (split && seen.some((s) => s === 0)) this.fail(`driver free list: descriptor ${seen.indexOf(0)} is neither free nor in flight`);
    if (!split && slots + w.driver.numFree !== q) this.fail(`driver: ${slots} slots in flight + ${w.driver.numFree} free != ${q}`);
    const want = [...this.inFlight.keys()].sort((a, b) => a - b);
    tokens.sort((a, b) => a - b);
    if (tokens.length !== want.length || tokens.some((t, i) => t !== want[i])) {
      this.fail(`driver shadow holds tokens ${tokens.join(',')}, in flight ${want.join(',')}`);
    }
    if (w.params.inOrder && this.order.length > 0) {
      const oldest = split ? token(field(Q.SDRV_OLDEST)) : token(u16[(field(Q.PDRV_ORDER) + field(Q.PDRV_ORDER_HEAD) * 2) >>> 1]!);
      if (oldest !== this.order[0]) this.fail(`driver (IN_ORDER) oldest chain has token ${oldest}, expected ${this.order[0]}`);
    }
    this.feature('free-list');
  }
}
