// The front-end used-ring target, for either layout: the virtio-user queue pair (PortQueue: the
// engine's vuqRxBurst, vuqTxBurst, vuqTxReap, vuqRefill, vuqForward and vuqFree over the port's rings and
// mempool) against a back-end that is partly the engine's own device, popping and pushing honestly
// (receive frames with a virtio_net_hdr, spread over buffers with MRG_RXBUF), and partly a hostile
// one writing used elements / used descriptors into the rings between bursts (ids not in flight,
// lengths past the buffer, garbage flags, wrong wrap bits, used.idx jumps, the same id twice;
// hostile-device.ts aims them). Checked on every call:
// - it returns, or throws a VirtqueueError of the known set (known-errors.ts DRIVER_PEER_ERRORS)
//   naming a section of its own layout's chapter (2.7 split, 2.8 packed), and the ring is broken;
// - frames handed back are buffers of the pool the caller does not hold, each segment within its
//   bytes, the frame's length their sum;
// - every buffer is in exactly one place: the pool, the caller, a ring in flight, a frame being
//   assembled (counted after every call);
// - a broken ring stays broken (STICKY_CALLS calls throw its code), then reclaim() gives every
//   buffer back to the pool, as at a back-end's hang-up, and the rings start afresh.
import { VirtqueueError, type RingLayout } from '../../src/index.js';
import { RawSplitRing } from '../../sim/raw-split.js';
import { RawPackedRing } from '../../sim/raw-packed.js';
import * as M from '../../assembly/layout/mempool.js';
import * as V from '../../assembly/layout/virtio-user.js';
import * as Q from '../../assembly/layout/queue.js';
import * as PK from '../../assembly/layout/packed.js';
import { Rng, type FuzzCase } from './harness.js';
import { Trace } from './trace.js';
import { STICKY_CALLS, runSteps } from './case-loop.js';
import { DRIVER_PEER_ERRORS, errorName } from './known-errors.js';
import { usedId, usedLen, type AimedDriver } from './hostile-device.js';
import { actKind } from './hostile-values.js';
import { DATA_ROOM, frontendRingWorld, type DeviceRing, type FrontendRingWorld, type RingFeatures } from './frontend-ring-world.js';

const SIZES: Record<RingLayout, number[]> = { split: [1, 2, 8, 64, 256], packed: [1, 3, 8, 64, 100, 256] };
const HDR = V.VUQ_NET_HDR_SIZE;

type RingName = 'rx' | 'tx';

class FrontendRingCase {
  /** Frames the caller holds (first buffers): received, or allocated and not yet sent. */
  private readonly held = new Set<number>();
  /** Buffers of the held frames. */
  private heldBuffers = 0;
  /** A ring broken by the last hostile act: its code and the calls it has been held to it. */
  private brokenCode: Record<RingName, number> = { rx: 0, tx: 0 };
  private stickyCalls = 0;
  private readonly raw: { rx: RawSplitRing | RawPackedRing; tx: RawSplitRing | RawPackedRing };
  private readonly aim: Record<RingName, AimedDriver>;
  /** A hostile act happened since the last restart (an honest run must never break). */
  private hostile = false;

  constructor(private readonly w: FrontendRingWorld, private readonly rng: Rng, private readonly features: Set<string>,
              private readonly trace: Trace, private readonly hostileRate: number, private readonly mergeable: boolean) {
    const view = w.engine.view;
    const raw = (r: RingName): RawSplitRing | RawPackedRing => {
      const a = w.q[r].areas;
      return w.layout === 'split' ? new RawSplitRing(view, { ...a, avail: a.driver, used: a.device }) : new RawPackedRing(view, a);
    };
    this.raw = { rx: raw('rx'), tx: raw('tx') };
    const aim = (r: RingName): AimedDriver => ({ engine: w.engine, layout: w.layout, driver: w.q[r].driver, q: w.num });
    this.aim = { rx: aim('rx'), tx: aim('tx') };
    w.q.setMergeable(mergeable);
  }

  private get u32(): Uint32Array {
    return this.w.engine.u32;
  }

  /** The buffers of the frame at `h`, checked: pool buffers, distinct, not held, each within its bytes. */
  private frameBuffers(h: number, seen: Set<number>): number {
    const { pool, num } = this.w;
    let n = 0;
    let total = 0;
    for (let b = h; b !== 0; b = this.u32[(b + M.BUF_HDR_SIZE + V.VUB_NEXT) >>> 2]!) {
      if (pool.indexOf(b) < 0) throw new Error(`received frame ${h}: buffer ${b} is not one of the pool's`);
      if (this.held.has(b) || seen.has(b)) throw new Error(`received frame ${h}: buffer ${b} completed twice (the caller holds it already)`);
      seen.add(b);
      const len = this.u32[(b + M.BUF_DATA_LEN) >>> 2]!;
      const room = n === 0 ? pool.dataRoom : pool.dataRoom + HDR;
      if (len > room) throw new Error(`received frame ${h}: buffer ${b} holds ${len} bytes, more than its ${room}`);
      total += len;
      if (++n > num) throw new Error(`received frame ${h}: more than ${num} buffers (a loop?)`);
    }
    const pktLen = this.u32[(h + M.BUF_HDR_SIZE + V.VUB_PKT_LEN) >>> 2]!;
    const nbSegs = this.u32[(h + M.BUF_HDR_SIZE + V.VUB_NB_SEGS) >>> 2]!;
    if (pktLen !== total || nbSegs !== n) throw new Error(`received frame ${h}: pkt_len ${pktLen} / nb_segs ${nbSegs}, its buffers hold ${total} bytes in ${n}`);
    return n;
  }

  /** Used receive records collected ahead of the frames handed out (an IN_ORDER run longer than a burst). */
  private stashed(): number {
    return this.u32[(this.w.q.block + V.VUQ_STASH_LEFT) >>> 2]!;
  }

  /** Every buffer in one place: pool, caller, rings in flight, the frame being assembled, the stash. */
  private checkConservation(where: string): void {
    const { q, pool, num } = this.w;
    const pendHead = this.u32[(q.block + V.VUQ_PEND_HEAD) >>> 2]!;
    const pending = pendHead === 0 ? 0 : this.u32[(pendHead + M.BUF_HDR_SIZE + V.VUB_NB_SEGS) >>> 2]!;
    // Used receive buffers collected ahead of the frames handed out (an IN_ORDER run longer than a burst).
    const stashed = this.stashed();
    const rings = (num - q.rx.driver.numFree) + (num - q.tx.driver.numFree);
    const sum = pool.freeCount + this.heldBuffers + rings + pending + stashed;
    if (sum !== pool.size) {
      throw new Error(`after ${where}: ${pool.freeCount} free + ${this.heldBuffers} held + ${rings} in the rings + ${pending} pending + ${stashed} stashed = ${sum}, the pool has ${pool.size}`);
    }
  }

  /** Runs a call of the pair on `ring`: a result, or a peer fault that broke it (checked). */
  private call(ring: RingName, what: string, f: () => number): number | undefined {
    const d = this.w.q[ring].driver;
    const before = this.brokenCode[ring];
    const stashed = ring === 'rx' ? this.stashed() : 0;
    let rc: number;
    try {
      rc = f();
    } catch (e) {
      if (!(e instanceof VirtqueueError)) throw new Error(`${what}: threw ${(e as Error).message}, not a VirtqueueError`);
      const problem = this.faultProblem(e, ring);
      if (problem) throw new Error(`${what}: ${problem}`);
      if (before !== 0) {
        if (e.code !== before) throw new Error(`${what}: a broken ring (${errorName(before)}) reported ${e.info.name}`);
        this.stickyCalls++;
        this.features.add(`frontend:${ring}:sticky`);
      } else {
        if (!this.hostile) throw new Error(`${what}: ${e.message}, with an honest device`);
        this.brokenCode[ring] = e.code;
        this.stickyCalls = 0;
        this.features.add(`frontend:${ring}:${what}:broke:${e.info.name}`);
      }
      this.trace.add(`${what} -> ${e.info.name}`);
      return undefined;
    }
    // A broken ring may answer 0 only where the call did nothing at all (a refill of a full ring),
    // or frames from the used entries collected before it broke (the stash: at most one frame a
    // record); it stays broken.
    if (before !== 0 && (rc > stashed || d.status !== before)) throw new Error(`${what}: a broken ring (${errorName(before)}) answered ${rc} with ${stashed} records stashed, status ${d.status}`);
    if (before !== 0 && rc > 0) this.features.add(`frontend:${ring}:broken:stash-drained`);
    if (before === 0 && d.broken) {
      // Good entries before a bad one: handed over, the ring broken; the next call names the fault.
      if (!this.hostile) throw new Error(`${what}: the ring broke (status ${d.status}) with an honest device`);
      if (!DRIVER_PEER_ERRORS[this.w.layout].has(d.status)) throw new Error(`${what}: the ring broke with ${errorName(d.status)}, not an error a driver reports about its device`);
      this.brokenCode[ring] = d.status;
      this.stickyCalls = 0;
      this.features.add(`frontend:${ring}:${what}:partial:${errorName(d.status)}`);
    }
    this.trace.add(`${what} -> ${rc}`);
    return rc;
  }

  /** What is wrong with a fault the pair reported about `ring`, or ''. */
  private faultProblem(e: VirtqueueError, ring: RingName): string {
    const layout = this.w.layout;
    if (!DRIVER_PEER_ERRORS[layout].has(e.code)) return `${e.info.name} is not an error a driver reports about its device: ${e.message}`;
    if (!e.info.breaksQueue) return `${e.info.name} does not break the queue`;
    const d = this.w.q[ring].driver;
    if (d.status !== e.code) return `${ring} ring status ${d.status} after ${e.info.name}`;
    const chapter = layout === 'split' ? '2.7' : '2.8';
    const m = /\(VIRTIO 1\.2 §(\d+(?:\.\d+)+)\)/.exec(e.message);
    if (!m) return `"${e.message}" names no spec section`;
    if (m[1] !== chapter && !m[1]!.startsWith(chapter + '.')) return `"${e.message}" names section ${m[1]}, outside the ${layout} ring's ${chapter}`;
    return '';
  }

  rxBurst(): void {
    const { q, out, num } = this.w;
    const max = 1 + this.rng.below(num);
    const n = this.call('rx', 'rx burst', () => q.rxBurst(out, max));
    if (n === undefined) return;
    const seen = new Set<number>();
    for (let i = 0; i < n; i++) {
      const h = out.handles[i]!;
      this.heldBuffers += this.frameBuffers(h, seen);
      this.held.add(h);
    }
    if (n > 0) this.features.add(`frontend:rx:frames`);
    if (this.stashed() > 0) this.features.add(`frontend:rx:stashed`);
  }

  /**
   * io forwarding in one engine call (vuqForward): frames received and sent straight back, what
   * the transmit ring could not take freed, the receive ring refilled. It touches both rings, so
   * a fault is held to the ring that broke with it.
   */
  forward(): void {
    const { q, out, num } = this.w;
    const was = { ...this.brokenCode };
    const stashedBefore = this.stashed();
    let n: number;
    try {
      n = q.forward(out, this.rng.chance(0.5), 1 + this.rng.below(num));
    } catch (e) {
      if (!(e instanceof VirtqueueError)) throw new Error(`forward: threw ${(e as Error).message}, not a VirtqueueError`);
      const ring = (['rx', 'tx'] as const).find((r) => q[r].driver.status === e.code && (was[r] === 0 || was[r] === e.code));
      if (!ring) throw new Error(`forward: ${e.message}, but no ring is broken with that code`);
      const problem = this.faultProblem(e, ring);
      if (problem) throw new Error(`forward: ${problem}`);
      if (was[ring] === 0) {
        if (!this.hostile) throw new Error(`forward: ${e.message}, with an honest device`);
        this.brokenCode[ring] = e.code;
        this.stickyCalls = 0;
        this.features.add(`frontend:${ring}:forward:broke:${e.info.name}`);
      } else {
        this.stickyCalls++;
        this.features.add(`frontend:${ring}:forward:sticky`);
      }
      this.trace.add(`forward -> ${e.info.name}`);
      return;
    }
    if (was.rx !== 0 && n > stashedBefore) throw new Error(`forward: a broken receive ring (${errorName(was.rx)}) forwarded ${n} frames with ${stashedBefore} records stashed`);
    for (const r of ['rx', 'tx'] as const) {
      const st = q[r].driver.status;
      if (was[r] !== 0 && st !== was[r]) throw new Error(`forward: the ${r} ring's status went from ${errorName(was[r])} to ${st}`);
      if (was[r] === 0 && st !== 0) {
        if (!this.hostile) throw new Error(`forward: the ${r} ring broke (status ${st}) with an honest device`);
        if (!DRIVER_PEER_ERRORS[this.w.layout].has(st)) throw new Error(`forward: the ${r} ring broke with ${errorName(st)}`);
        this.brokenCode[r] = st;
        this.stickyCalls = 0;
        this.features.add(`frontend:${r}:forward:partial:${errorName(st)}`);
      }
    }
    if (q.lastSent > n) throw new Error(`forward: ${q.lastSent} frames sent back of ${n} received`);
    this.trace.add(`forward -> ${n} (${q.lastSent} sent back)`);
  }

  /** Allocates up to `k` one- or two-buffer frames and sends them; the ones not taken stay held. */
  txBurst(): void {
    const { q, pool, send } = this.w;
    const want = 1 + this.rng.below(Math.min(8, this.w.num));
    const frames: number[] = [];
    for (let i = 0; i < want; i++) {
      const segs = this.mergeable && this.w.num >= 2 && this.rng.chance(0.2) ? 2 : 1;
      if (pool.cache(0).get(send, segs) === 0) break;
      const hs = Array.from(send.handles.subarray(0, segs));
      const len = 1 + this.rng.below(DATA_ROOM);
      hs.forEach((h, j) => {
        this.u32[(h + M.BUF_DATA_OFF) >>> 2] = M.BUF_HDR_SIZE + pool.headroom;
        this.u32[(h + M.BUF_DATA_LEN) >>> 2] = len;
        this.u32[(h + M.BUF_HDR_SIZE + V.VUB_NEXT) >>> 2] = j + 1 < segs ? hs[j + 1]! : 0;
        this.u32[(h + M.BUF_HDR_SIZE + V.VUB_NB_SEGS) >>> 2] = segs;
        this.u32[(h + M.BUF_HDR_SIZE + V.VUB_PKT_LEN) >>> 2] = segs * len;
      });
      frames.push(hs[0]!);
      this.held.add(hs[0]!);
      this.heldBuffers += segs;
    }
    if (frames.length === 0) return;
    send.fill(frames);
    const took = this.call('tx', 'tx burst', () => q.txBurst(send, frames.length));
    if (took === undefined) return;
    for (const h of frames.slice(0, took)) {
      this.held.delete(h);
      this.heldBuffers -= this.u32[(h + M.BUF_HDR_SIZE + V.VUB_NB_SEGS) >>> 2]!;
    }
  }

  /** txonly's burst (vuqTxOnly): copies of one frame, only as many as the ring has room for, made and sent in one call. */
  txOnly(): void {
    const { q, send, pool } = this.w;
    const n = 1 + this.rng.below(Math.min(send.capacity, this.w.num));
    const size = 1 + this.rng.below(DATA_ROOM);
    // Any bytes of the memory do as the frame: the first buffer's.
    const sent = this.call('tx', 'txonly', () => q.txOnly(send, n, pool.buffers, size));
    if (sent === undefined) return;
    if (sent > n) throw new Error(`txonly: ${sent} frames sent of ${n} asked`);
    if (sent > 0) this.features.add('frontend:tx:txonly');
  }

  /** Frees some frames the caller holds (every buffer of each), as port.free does. */
  freeHeld(all = false): void {
    const { q, spare, engine } = this.w;
    const hs = [...this.held];
    const n = all ? hs.length : this.rng.below(hs.length + 1);
    if (n === 0) return;
    let bufs = 0;
    for (const h of hs.slice(0, n)) {
      bufs += this.u32[(h + M.BUF_HDR_SIZE + V.VUB_NB_SEGS) >>> 2]!;
      this.held.delete(h);
    }
    spare.fill(hs.slice(0, n));
    const freed = engine.check(engine.exports.vuqFree(q.block, spare.ptr, n), this.w.pool.addr, 'virtio-user free');
    if (freed !== bufs) throw new Error(`freeing ${n} frames of ${bufs} buffers freed ${freed}`);
    this.heldBuffers -= bufs;
  }

  reap(): void {
    this.call('tx', 'tx reap', () => this.w.q.reapTx());
  }

  refill(): void {
    this.call('rx', 'refill', () => { this.w.q.refill(); return 0; });
  }

  /** The engine's device on `ring` pops some chains and pushes them back as a back-end would. */
  honest(ring: DeviceRing): void {
    if (ring.device.broken) return;
    try {
      this.devicePopPush(ring);
    } catch (e) {
      // The device is not under test: a driver's ring it cannot follow (after hostile completions) stops it until restart.
      if (!this.hostile) throw new Error(`the honest device broke with no hostile act: ${(e as Error).message}`);
      this.trace.add(`device ${ring.name}: ${(e as Error).message}`);
      this.features.add(`frontend:device:${ring.name}:broke`);
    }
  }

  private devicePopPush(ring: DeviceRing): void {
    const { popped, used, device } = ring;
    const n = device.pop(popped, 1 + this.rng.below(this.w.num));
    if (n === 0) return;
    used.clear();
    const view = this.w.engine.view;
    for (let i = 0; i < n;) {
      // Receive: a frame of k buffers (k > 1 only with MRG_RXBUF), num_buffers in its first header.
      const k = ring.name === 'rx' && this.mergeable ? 1 + this.rng.below(Math.min(3, n - i)) : 1;
      for (let j = 0; j < k; j++, i++) {
        const cap = popped.writeLen(i);
        if (ring.name === 'rx') {
          const at = popped.segOffset(popped.firstSeg(i));
          if (j === 0) view.setUint16(at + V.VUQ_NET_HDR_NUM_BUFFERS, k, true);
          used.push(popped.id(i), j === 0 ? HDR + this.rng.below(cap - HDR + 1) : this.rng.below(cap + 1));
        } else {
          used.push(popped.id(i), 0);
        }
      }
    }
    const pushed = device.push(used);
    this.trace.add(`device ${ring.name} pop ${n}, push -> ${pushed}`);
  }

  /** One hostile write into `ring`'s used side. */
  hostileAct(ring: RingName): void {
    this.hostile = true;
    const rng = this.rng;
    const aim = this.aim[ring];
    const num = this.w.num;
    let label: string;
    if (this.w.layout === 'split') {
      const raw = this.raw[ring] as RawSplitRing;
      const idx = raw.usedIdx;
      const inFlight = num - this.w.q[ring].driver.numFree;
      switch (rng.below(6)) {
        case 0: case 1: case 2: {
          const id = usedId(aim, rng, 32);
          const len = usedLen(aim, rng, id);
          const at = (idx + (rng.chance(0.8) ? 0 : rng.below(num + 1))) & 0xffff;
          raw.setUsedElem(at, id, len);
          raw.usedIdx = idx + rng.pick([0, 1, 1, 1, 2, inFlight, inFlight + 1]);
          label = `used-elem(ring[${at % num}] = ${id}/${len}, used.idx ${idx} -> ${raw.usedIdx})`;
          break;
        }
        case 3:
          raw.usedIdx = rng.pick([idx + inFlight + 1, idx - 1, idx + 0x8000, rng.edgy(16)]);
          label = `used-idx(${idx} -> ${raw.usedIdx})`;
          break;
        case 4: {
          const id = usedId(aim, rng, 32);
          raw.setUsedElem(idx, id, HDR);
          raw.setUsedElem((idx + 1) & 0xffff, id, HDR);
          raw.usedIdx = idx + 2;
          label = `used-twice(${id} at ${idx})`;
          break;
        }
        default:
          raw.usedFlags = rng.edgy(16);
          label = `used-flags(${raw.usedFlags})`;
      }
    } else {
      const raw = this.raw[ring] as RawPackedRing;
      const cb = this.w.q[ring].driver.cb;
      let slot = this.u32[(cb + Q.PDRV_NEXT_USED) >>> 2]! + (rng.chance(0.8) ? 0 : rng.below(num));
      let wrap = this.u32[(cb + Q.PDRV_USED_WRAP) >>> 2]!;
      if (slot >= num) { slot -= num; wrap ^= 1; }
      if (rng.chance(0.15)) {
        raw.setEvent(rng.chance(0.7) ? 'device' : 'driver', rng.edgy(16), rng.edgy(16));
        label = 'event()';
      } else {
        const id = usedId(aim, rng, 16) & 0xffff;
        const len = usedLen(aim, rng, id);
        const used = RawPackedRing.used(wrap);
        const bits = rng.pick([used, used, used, used ^ (PK.PDESC_F_AVAIL | PK.PDESC_F_USED), PK.PDESC_F_AVAIL, PK.PDESC_F_USED]);
        const flags = rng.chance(0.05) ? rng.edgy(16) : bits | (rng.chance(0.5) ? PK.PDESC_F_WRITE : 0) | (rng.chance(0.1) ? rng.edgy(16) & ~(PK.PDESC_F_AVAIL | PK.PDESC_F_USED) : 0);
        raw.writeDesc(slot, { ...raw.readDesc(slot), id, len, flags });
        label = `used-desc([${slot}] id ${id} len ${len} flags 0x${flags.toString(16)}, driver wrap ${wrap})`;
      }
    }
    this.trace.add(`hostile ${ring} ${label}`);
    this.features.add(`frontend:hostile:${ring}:${actKind(label)}`);
  }

  /** As at a back-end's hang-up: everything in flight back to the pool, the caller's frames freed, the pool whole; fresh rings. */
  restart(): void {
    this.w.q.reclaim();
    this.freeHeld(true);
    const { pool } = this.w;
    if (pool.freeCount !== pool.size) throw new Error(`after reclaim ${pool.freeCount} of ${pool.size} buffers are free`);
    this.w.restart();
    this.brokenCode = { rx: 0, tx: 0 };
    this.stickyCalls = 0;
    this.hostile = false;
    this.trace.add('reclaim, rings reset');
    this.refill();
  }

  step(hostileRate: number): void {
    const rng = this.rng;
    const broken = this.brokenCode.rx !== 0 || this.brokenCode.tx !== 0;
    if (broken && this.stickyCalls >= STICKY_CALLS) return this.restart();
    if ((this.w.rx.device.broken || this.w.tx.device.broken) && rng.chance(0.05)) return this.restart();
    if (rng.chance(hostileRate)) this.hostileAct(rng.chance(0.6) ? 'rx' : 'tx');
    else {
      switch (rng.below(10)) {
        case 0: if (rng.chance(0.5)) this.rxBurst(); else this.forward(); break;
        case 1: this.rxBurst(); break;
        case 2: this.txBurst(); break;
        case 3: if (rng.chance(0.5)) this.txBurst(); else this.txOnly(); break;
        case 4: this.reap(); break;
        case 5: this.freeHeld(); break;
        case 6: this.refill(); break;
        case 7: case 8: this.honest(this.w.rx); break;
        default: this.honest(this.w.tx); break;
      }
    }
    // A broken ring is held to its code by the pair's calls on it.
    if (this.brokenCode.rx !== 0 && rng.chance(0.5)) this.rxBurst();
    if (this.brokenCode.tx !== 0 && rng.chance(0.5)) this.reap();
    this.checkConservation('the last call');
  }
}

/**
 * Paths CI's budget must reach besides the faults: an IN_ORDER receive run longer than a burst
 * collected whole into the stash and handed out over later calls; a broken ring that still hands
 * out what was collected before it broke; txonly's one-call burst.
 */
export const MUST_REACH = ['frontend:rx:stashed', 'frontend:rx:broken:stash-drained', 'frontend:tx:txonly'] as const;

export function frontendRingTarget(layout: RingLayout): FuzzCase {
  return (seed, features) => {
    const rng = new Rng(seed);
    const num = rng.pick(SIZES[layout]);
    // The port asks for IN_ORDER and EVENT_IDX by default; a back-end may refuse either.
    const ring: RingFeatures = { inOrder: rng.chance(0.6), eventIdx: rng.chance(0.6) };
    const w = frontendRingWorld(layout, num, ring);
    const honest = rng.chance(0.1);
    const hostileRate = honest ? 0 : rng.pick([0.01, 0.05, 0.15, 0.4]);
    const mergeable = rng.chance(0.6);
    const trace = new Trace();
    const ringNames = `${ring.inOrder ? 'IN_ORDER' : 'no IN_ORDER'}, ${ring.eventIdx ? 'EVENT_IDX' : 'no EVENT_IDX'}`;
    trace.add(`case: ${layout} Queue Size ${num}, ${ringNames}, ${mergeable ? 'MRG_RXBUF' : 'no MRG_RXBUF'}, hostile rate ${hostileRate}`);
    const ringKey = `${ring.inOrder ? 'in-order' : 'any-order'}/${ring.eventIdx ? 'event-idx' : 'flags'}`;
    features.add(`frontend:params:${layout}/${num}/${ringKey}/${mergeable ? 'mrg' : 'plain'}/${honest ? 'honest' : 'hostile'}`);
    const c = new FrontendRingCase(w, rng, features, trace, hostileRate, mergeable);
    c.refill();
    const ops = 200 + rng.below(1800);
    return runSteps(ops, trace, () => c.step(hostileRate), () => c.restart());
  };
}
