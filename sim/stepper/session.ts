// One virtqueue stepped one operation at a time: a driver and a device over one ring in the
// engine's shared memory, chain buffers from a Mempool, and the faults a peer could commit. The
// browser visualizer runs it over a SharedArrayBuffer; `virtqueue sim --replay` runs the same
// code over a trace recorded in the page, so a replay is the recording operation for operation.
//
// Everything the session does is a function of its configuration and the operations applied so
// far (no clock, no randomness), and it plans its memory from the same start each time: a fresh
// session over the same memory, given the same operations, leaves the same bytes. That is what
// time travel relies on (rebuild, re-apply up to the chosen point).
import * as Q from '../../assembly/layout/queue.js';
import * as P from '../../assembly/layout/packed.js';
import { MemoryPlan } from '../../src/memory.js';
import { Mempool, type MempoolCache } from '../../src/dataplane/mempool.js';
import { HandleBurst } from '../../src/dataplane/handle-ring.js';
import { ChainBatch, UsedBatch } from '../../src/virtqueue/batch.js';
import { allocRing, createDevice, createDriver } from '../../src/virtqueue/factory.js';
import { splitAreaSizes } from '../../src/virtqueue/layout.js';
import { featuresFromNames } from '../../src/features.js';
import { VirtqueueError } from '../../src/errors.js';
import type { DeviceQueue, DriverQueue, RingAreas } from '../../src/virtqueue/queue-side.js';
import type { Engine } from '../../src/engine.js';
import { checkConfig, digestBytes, type StepConfig, type StepOp, type StepResult } from './trace.js';
import { StepRefused, availablePending, corrupt, faultOf, type QueueView, type StepFault } from './faults.js';

export { StepRefused, type StepFault };

/** Bytes of the device-readable segment each chain starts with, and of each device-writable one. */
export const READ_BYTES = 16;
export const WRITE_BYTES = 64;
/** A session's bytes and bookkeeping at one point (StepSession.save). */
export interface SessionState {
  bytes: Uint8Array;
  book: {
    counters: StepCounters; held: HeldChain[]; buffers: [number, number[]][]; nextToken: number;
    lastFault: StepFault | undefined; notified: boolean; dropNextNotify: boolean; reorderNextPush: boolean;
  };
}

/** A chain the device popped and has not returned yet. */
export interface HeldChain {
  id: number;
  /** Bytes the device writes into its writable segments (the used length it reports). */
  writeLen: number;
  /** Pushes to skip before it may be returned (delay fault). */
  delay: number;
}

export interface StepCounters {
  ops: number;
  added: number;
  kicks: number;
  kicksSuppressed: number;
  kicksDropped: number;
  popped: number;
  pushed: number;
  interrupts: number;
  interruptsSuppressed: number;
  collected: number;
  bytesUsed: number;
  errors: number;
}

const zeroCounters = (): StepCounters => ({
  ops: 0, added: 0, kicks: 0, kicksSuppressed: 0, kicksDropped: 0, popped: 0, pushed: 0,
  interrupts: 0, interruptsSuppressed: 0, collected: 0, bytesUsed: 0, errors: 0,
});

/** The full negotiated set for a layout and the features chosen on top (VERSION_1 always). */
export function stepFeatureNames(layout: StepConfig['layout'], chosen: readonly string[]): string[] {
  return ['VERSION_1', ...(layout === 'packed' ? ['RING_PACKED'] : []), ...chosen.filter((f) => f !== 'VERSION_1' && f !== 'RING_PACKED')];
}

export class StepSession implements QueueView {
  readonly engine: Engine;
  readonly config: StepConfig;
  readonly plan: MemoryPlan;
  readonly areas: RingAreas;
  readonly driver: DriverQueue;
  readonly device: DeviceQueue;
  readonly pool: Mempool;
  readonly counters: StepCounters = zeroCounters();
  /** Chains the device holds (popped, not pushed), oldest first. */
  readonly held: HeldChain[] = [];
  /** The last engine error, where it happened. */
  lastFault: StepFault | undefined;
  /** The device saw a notification it has not acted on (cleared by pop). */
  notified = false;
  /** Armed faults: the next notification is lost; the next push returns its chains in reverse. */
  dropNextNotify = false;
  reorderNextPush = false;

  private readonly cache: MempoolCache;
  private readonly handles: HandleBurst;
  private readonly chains: ChainBatch;
  private readonly popped: ChainBatch;
  private readonly used: UsedBatch;
  /** Buffers of each chain in flight, by token. */
  private readonly buffers = new Map<number, number[]>();
  private nextToken = 1;

  /**
   * Plans everything in [start, end) of the engine's memory, zeroed first, so two sessions with
   * the same configuration over the same range start byte-identical.
   */
  constructor(engine: Engine, config: StepConfig, range: { start?: number; end?: number } = {}) {
    this.engine = engine;
    this.config = checkConfig(config);
    const { layout, queueSize: n, segments } = this.config;
    const features = featuresFromNames(this.config.features);
    this.plan = new MemoryPlan(engine.memory, range);
    engine.u8.fill(0, this.plan.start, this.plan.end);
    this.areas = allocRing(this.plan, { layout, queueSize: n });
    this.driver = createDriver(engine, this.plan, layout, this.areas, { features, interrupts: true, indirectMax: segments > 1 ? segments : 0 });
    this.device = createDevice(engine, this.plan, layout, this.areas, { features, notify: true });
    this.pool = Mempool.create(engine, this.plan, { size: n * segments, dataRoom: WRITE_BYTES, debug: true });
    this.cache = this.pool.cache(0);
    this.handles = HandleBurst.alloc(engine, this.plan, n * segments);
    this.chains = new ChainBatch(engine, this.plan, n, n * segments);
    this.popped = new ChainBatch(engine, this.plan, n, n * segments);
    this.used = new UsedBatch(engine, this.plan, n);
  }

  get layout(): StepConfig['layout'] { return this.config.layout; }

  /** Ring descriptors one chain takes: 1 through an indirect table, else one per segment. */
  get descriptorsPerChain(): number {
    const seg = this.config.segments;
    return seg > 1 && this.config.features.includes('INDIRECT_DESC') ? 1 : seg;
  }

  /**
   * Applies one operation. Engine errors become a result with `error` (and lastFault); refusals
   * throw StepRefused. `digest: false` leaves the result's digest empty (re-applying a recorded
   * history, where only the last one is compared).
   */
  apply(op: StepOp, opts: { digest?: boolean } = {}): StepResult {
    const at = this.counters.ops;
    const wasBroken = [this.driver.broken, this.device.broken];
    let n = 0;
    let failure: VirtqueueError | undefined;
    try {
      n = this.run(op);
    } catch (e) {
      if (!(e instanceof VirtqueueError)) throw e;
      failure = e;
    }
    // A burst that met a bad chain returns the chains before it and breaks the queue: the fault is this step's.
    if (!failure) {
      const side = [this.driver, this.device].find((q, i) => q.broken && !wasBroken[i]);
      if (side) failure = new VirtqueueError(side.status, this.engine.u32[(side.cb + Q.CB_DETAIL) >>> 2], `${this.layout} ${side === this.driver ? 'driver' : 'device'} ${op.op}`);
    }
    let error: string | undefined;
    if (failure) {
      error = failure.info.name;
      this.counters.errors++;
      this.lastFault = faultOf(this, failure, at, op);
    }
    this.counters.ops++;
    const digest = opts.digest === false ? '' : this.digest();
    return error === undefined ? { n, digest } : { n, error, digest };
  }

  private run(op: StepOp): number {
    switch (op.op) {
      case 'add': return this.add(op.n);
      case 'notify': return this.notify();
      case 'pop': return this.pop(op.n);
      case 'push': return this.push(op.n);
      case 'collect': return this.collect();
      case 'drop-notify': this.dropNextNotify = true; return 0;
      case 'reorder': this.reorderNextPush = true; return 0;
      case 'delay': return this.delay(op.n);
      case 'corrupt': corrupt(this, op.what); return 1;
      case 'reset': return this.reset();
    }
  }

  /** The driver makes up to `n` chains available, each of `segments` fresh pool buffers. */
  private add(want: number): number {
    const seg = this.config.segments;
    const k = Math.min(want, Math.floor(this.driver.numFree / this.descriptorsPerChain), Math.floor(this.pool.freeCount / seg));
    if (k === 0) throw new StepRefused(this.pool.freeCount < seg ? 'no free buffers in the pool' : 'the ring is full');
    if (this.cache.get(this.handles, k * seg) !== k * seg) throw new StepRefused('no free buffers in the pool');
    this.chains.clear();
    for (let c = 0; c < k; c++) {
      const token = this.nextToken++;
      const bufs = Array.from(this.handles.handles.subarray(c * seg, (c + 1) * seg));
      this.chains.begin(token);
      bufs.forEach((h, j) => {
        const data = this.pool.dataOf(h);
        if (j === 0) {
          this.engine.u8.fill(token & 0xff, data, data + READ_BYTES);
          this.chains.read(data, READ_BYTES);
        } else {
          this.chains.write(data, WRITE_BYTES);
        }
      });
      this.chains.end();
      this.buffers.set(token, bufs);
    }
    const added = this.driver.add(this.chains);
    // What did not fit goes back to the pool (only when the queue is broken: it adds none).
    for (let c = added; c < k; c++) this.release(this.chains.id(c));
    this.counters.added += added;
    return added;
  }

  /** The driver decides whether the device wants a notification, and sends it (unless it is dropped). */
  private notify(): number {
    if (!this.driver.kickNeeded()) { this.counters.kicksSuppressed++; return 0; }
    if (this.dropNextNotify) {
      this.dropNextNotify = false;
      this.counters.kicksDropped++;
      return 0;
    }
    this.counters.kicks++;
    this.notified = true;
    return 1;
  }

  /** The device pops up to `n` available chains and fills their writable segments. */
  private pop(want: number): number {
    this.notified = false;
    const k = this.device.pop(this.popped, want);
    for (let i = 0; i < k; i++) {
      const first = this.popped.firstSeg(i), nRead = this.popped.nRead(i), nWrite = this.popped.nWrite(i);
      for (let j = first + nRead; j < first + nRead + nWrite; j++) {
        const at = this.popped.segOffset(j);
        this.engine.u8.fill(0xd0 | (j & 0xf), at, at + this.popped.segLen(j));
      }
      this.held.push({ id: this.popped.id(i), writeLen: this.popped.writeLen(i), delay: 0 });
    }
    this.counters.popped += k;
    // A device that has drained the ring asks to be notified again before it waits (with
    // EVENT_IDX a packed device's event offset is otherwise left behind, and kicks stop).
    if (!this.device.broken && !availablePending(this)) this.device.enableNotify();
    return k;
  }

  /** The device returns up to `n` held chains, oldest first (reversed after a reorder fault), skipping delayed ones. */
  private push(want: number): number {
    const ready = this.held.filter((c) => c.delay === 0).slice(0, want);
    for (const c of this.held) if (c.delay > 0) c.delay--;
    if (this.reorderNextPush) { this.reorderNextPush = false; ready.reverse(); }
    if (ready.length === 0) return 0;
    this.used.clear();
    for (const c of ready) this.used.push(c.id, c.writeLen);
    const k = this.device.push(this.used);
    // Chains the engine took are no longer held (it refuses a burst whole or takes it whole).
    for (const c of ready.slice(0, k)) this.held.splice(this.held.indexOf(c), 1);
    this.counters.pushed += k;
    if (this.device.interruptNeeded()) this.counters.interrupts++; else this.counters.interruptsSuppressed++;
    return k;
  }

  /** The driver collects used chains and gives their buffers back to the pool. */
  private collect(): number {
    const k = this.driver.collect(this.used);
    for (let i = 0; i < k; i++) {
      this.counters.bytesUsed += this.used.len(i);
      this.release(this.used.id(i));
    }
    this.counters.collected += k;
    return k;
  }

  /** The device holds the chains it has now back for the next `n` pushes. */
  private delay(pushes: number): number {
    if (this.held.length === 0) throw new StepRefused('the device holds no chain to delay (pop first)');
    for (const c of this.held) c.delay = Math.max(c.delay, pushes);
    return this.held.length;
  }

  /** Device reset: the driver takes back every chain in flight, the rings are cleared, both sides start over. */
  private reset(): number {
    const k = this.driver.detach(this.used);
    for (let i = 0; i < k; i++) this.release(this.used.id(i));
    const { desc, driver, device } = this.areas;
    const sizes = this.areaSizes();
    this.engine.u8.fill(0, desc, desc + sizes.desc);
    this.engine.u8.fill(0, driver, driver + sizes.avail);
    this.engine.u8.fill(0, device, device + sizes.used);
    this.device.reset();
    this.driver.reset();
    this.held.length = 0;
    this.notified = false;
    this.dropNextNotify = false;
    this.reorderNextPush = false;
    this.lastFault = undefined;
    return k;
  }

  private release(token: number): void {
    const bufs = this.buffers.get(token);
    if (!bufs) return;
    this.buffers.delete(token);
    this.cache.put(this.handles.fill(bufs));
  }

  /** Bytes of the descriptor, driver and device areas. */
  private areaSizes(): { desc: number; avail: number; used: number } {
    const n = this.areas.queueSize;
    return this.layout === 'split' ? splitAreaSizes(n) : { desc: n * P.PDESC_SIZE, avail: P.EVENT_SIZE, used: P.EVENT_SIZE };
  }

  /** Views (not copies) of the ring areas and both control blocks: what a digest covers. */
  private stateViews(): Uint8Array[] {
    const { desc, driver, device } = this.areas;
    const sizes = this.areaSizes();
    const u8 = this.engine.u8;
    return [
      u8.subarray(desc, desc + sizes.desc), u8.subarray(driver, driver + sizes.avail), u8.subarray(device, device + sizes.used),
      u8.subarray(this.driver.cb, this.driver.cb + Q.QUEUE_CB_SIZE), u8.subarray(this.device.cb, this.device.cb + Q.QUEUE_CB_SIZE),
    ];
  }

  /** The ring areas and both control blocks, copied. */
  stateBytes(): Uint8Array[] {
    return this.stateViews().map((v) => v.slice());
  }

  digest(): string {
    return digestBytes(this.stateViews());
  }

  /**
   * Everything this session is: every byte it planned (rings, control blocks, private state,
   * pool, burst arrays) and its own bookkeeping. restore() puts a saved one back exactly.
   */
  save(): SessionState {
    return {
      bytes: this.engine.u8.slice(this.plan.start, this.plan.start + this.plan.used),
      book: structuredClone({
        counters: this.counters, held: this.held, buffers: [...this.buffers], nextToken: this.nextToken,
        lastFault: this.lastFault, notified: this.notified, dropNextNotify: this.dropNextNotify, reorderNextPush: this.reorderNextPush,
      }),
    };
  }

  /** Puts back a state this session saved (same configuration, same memory range). */
  restore(state: SessionState): void {
    if (state.bytes.length !== this.plan.used) throw new RangeError(`a saved state of ${state.bytes.length} bytes is not one of this session (${this.plan.used})`);
    const b = structuredClone(state.book);
    this.engine.u8.set(state.bytes, this.plan.start);
    Object.assign(this.counters, b.counters);
    this.held.splice(0, this.held.length, ...b.held);
    this.buffers.clear();
    for (const [token, bufs] of b.buffers) this.buffers.set(token, bufs);
    this.nextToken = b.nextToken;
    this.lastFault = b.lastFault;
    this.notified = b.notified;
    this.dropNextNotify = b.dropNextNotify;
    this.reorderNextPush = b.reorderNextPush;
  }
}
