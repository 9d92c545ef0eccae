// Typed handles for the two sides of a split virtqueue (VIRTIO 1.2, 2.7). Each side owns a
// control block in shared memory; the handle writes its configuration, resets it through the
// engine, and turns engine results into counts or VirtqueueErrors.
import * as Q from '../assembly/layout/queue.js';
import * as S from '../assembly/layout/split.js';
import { splitAreaSizes } from './layout.js';
import { featureWords, has, RING_FEATURES, type FeatureSet } from './features.js';
import type { Engine } from './engine.js';
import type { MemoryPlan } from './memory.js';
import type { ChainBatch, UsedBatch } from './batch.js';
import type { RingAreas } from './queue-side.js';

/**
 * Where a split ring's three areas live (Wasm offsets): the spec's descriptor, driver and device
 * areas, with the split names of the last two (available ring = driver area, used ring = device area).
 */
export interface SplitRingAddrs extends RingAreas {
  avail: number;
  used: number;
}

export function validQueueSize(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= S.MAX_QUEUE_SIZE && (n & (n - 1)) === 0;
}

/** Plans the three areas of a split ring, each at its spec alignment (rounded up to a cache line). */
export function allocSplitRing(plan: MemoryPlan, queueSize: number): SplitRingAddrs {
  if (!validQueueSize(queueSize)) {
    throw new RangeError(`queue size must be a power of two from 1 to ${S.MAX_QUEUE_SIZE} (VIRTIO 1.2 §2.7), got ${queueSize}`);
  }
  const size = splitAreaSizes(queueSize);
  const desc = plan.alloc(size.desc, 64, 'descriptor table');
  const avail = plan.alloc(size.avail, 64, 'available ring');
  const used = plan.alloc(size.used, 64, 'used ring');
  return { queueSize, desc, avail, used, driver: avail, device: used };
}

/** A guest address range [gpa, gpa + size) that sits at Wasm offset `offset`. */
export interface Region {
  gpa: bigint;
  size: bigint;
  offset: number;
}

/** The one region a simulator needs: guest addresses are Wasm offsets. */
export function identityRegion(memory: WebAssembly.Memory): Region {
  // Page 0 is never handed out, so it stays outside the region too.
  return { gpa: 65536n, size: BigInt(memory.buffer.byteLength - 65536), offset: 65536 };
}

abstract class QueueSide {
  readonly engine: Engine;
  readonly cb: number;
  readonly ring: SplitRingAddrs;

  protected constructor(engine: Engine, plan: MemoryPlan, ring: SplitRingAddrs, kind: number, features: FeatureSet) {
    this.engine = engine;
    this.ring = ring;
    this.cb = plan.alloc(Q.QUEUE_CB_SIZE, Q.QUEUE_CB_ALIGN, 'control block');
    const [lo, hi] = featureWords(features);
    this.set(Q.CB_KIND, kind);
    this.set(Q.CB_QUEUE_SIZE, ring.queueSize);
    this.set(Q.CB_FEATURES_LO, lo);
    this.set(Q.CB_FEATURES_HI, hi);
    this.set(Q.CB_DESC, ring.desc);
    this.set(Q.CB_DRIVER_AREA, ring.avail);
    this.set(Q.CB_DEVICE_AREA, ring.used);
  }

  protected get(field: number): number {
    return this.engine.u32[(this.cb + field) >>> 2];
  }

  protected set(field: number, value: number): void {
    this.engine.u32[(this.cb + field) >>> 2] = value;
  }

  get queueSize(): number {
    return this.ring.queueSize;
  }

  /** 0 while healthy, else the (negative) code that broke the queue. */
  get status(): number {
    return this.engine.i32[(this.cb + Q.CB_STATUS) >>> 2];
  }

  get broken(): boolean {
    return this.status !== 0;
  }
}

export interface SplitDriverOptions {
  features?: FeatureSet;
  /** Descriptors per indirect table; 0 disables indirect (default 16 when INDIRECT_DESC is set). */
  indirectMax?: number;
  /** First avail.idx (default 0). Tests start near 65535 to cross the 16-bit wrap early. */
  startIdx?: number;
  /** Ask for used buffer notifications from the start (default false: polling). */
  interrupts?: boolean;
}

/** The driver side: makes chains available and collects them once used. */
export class SplitDriver extends QueueSide {
  private readonly startIdx: number;

  constructor(engine: Engine, plan: MemoryPlan, ring: SplitRingAddrs, opts: SplitDriverOptions = {}) {
    const features = opts.features ?? 0n;
    super(engine, plan, ring, Q.CB_KIND_SPLIT_DRIVER, features);
    const n = ring.queueSize;
    this.set(Q.DRV_SHADOW, plan.alloc(n * Q.SHADOW_SIZE, 64, 'driver shadow'));
    const indirectMax = opts.indirectMax ?? 16;
    if (!Number.isInteger(indirectMax) || indirectMax < 0 || indirectMax > 0xffff) {
      throw new RangeError(`indirectMax must be 0 to 65535 descriptors, got ${indirectMax}`);
    }
    if (indirectMax > 0 && has(features, RING_FEATURES.INDIRECT_DESC)) {
      this.set(Q.DRV_INDIRECT, plan.alloc(n * indirectMax * S.DESC_SIZE, 64, 'indirect tables'));
      this.set(Q.DRV_INDIRECT_MAX, indirectMax);
    }
    this.set(Q.CB_OPTIONS, opts.interrupts ? Q.CB_OPT_NOTIFY : 0);
    this.startIdx = (opts.startIdx ?? 0) & 0xffff;
    this.reset();
  }

  /** Back to an empty queue (after a device reset). Every chain in flight is forgotten: detach first. */
  reset(): void {
    this.set(Q.DRV_AVAIL_IDX, this.startIdx);
    this.engine.check(this.engine.exports.splitDriverReset(this.cb), this.cb, 'split driver reset');
  }

  /** Makes the batch's chains available, in order, as far as descriptors last. Returns how many. */
  add(batch: ChainBatch): number {
    const rc = this.engine.exports.splitDriverAdd(this.cb, batch.chainsPtr, batch.segsPtr, batch.count);
    return this.engine.check(rc, this.cb, 'split driver add');
  }

  /** Whether the device asked to be notified of what was added since the last call. */
  kickNeeded(): boolean {
    return this.engine.check(this.engine.exports.splitDriverKickNeeded(this.cb), this.cb, 'split driver kick') === 1;
  }

  /** Collects up to out.capacity used chains: out.id(i) is the token, out.len(i) the bytes written. */
  collect(out: UsedBatch, max = out.capacity): number {
    const n = this.engine.check(this.engine.exports.splitDriverCollect(this.cb, out.ptr, Math.min(max, out.capacity)), this.cb, 'split driver collect');
    out.count = n;
    return n;
  }

  /** Re-enables used buffer notifications; true when used chains are already waiting. */
  enableInterrupts(): boolean {
    return this.engine.check(this.engine.exports.splitDriverEnableInterrupts(this.cb), this.cb, 'split driver enable interrupts') === 1;
  }

  disableInterrupts(): void {
    this.engine.check(this.engine.exports.splitDriverDisableInterrupts(this.cb), this.cb, 'split driver disable interrupts');
  }

  /** Takes back chains in flight (even on a broken queue) as records with len 0. */
  detach(out: UsedBatch): number {
    const n = this.engine.check(this.engine.exports.splitDriverDetach(this.cb, out.ptr, out.capacity), this.cb, 'split driver detach');
    out.count = n;
    return n;
  }

  get numFree(): number { return this.get(Q.DRV_NUM_FREE); }
  get inFlight(): number { return this.get(Q.DRV_IN_FLIGHT); }
  get availIdx(): number { return this.get(Q.DRV_AVAIL_IDX); }
  get lastUsedIdx(): number { return this.get(Q.DRV_LAST_USED); }
}

export interface SplitDeviceOptions {
  features?: FeatureSet;
  /** Guest memory as the device sees it (default: identity over the whole memory). */
  regions?: Region[];
  /** Longest chain accepted, in descriptors (default and maximum: Queue Size). */
  maxChain?: number;
  /** First index to read from the available ring and first used.idx (default 0). */
  startIdx?: number;
  /** Ask for kicks from the start (default false: polling). */
  notify?: boolean;
}

/** The device side: pops available chains and returns them used. */
export class SplitDevice extends QueueSide {
  private readonly regionTable: number;
  private readonly startIdx: number;

  constructor(engine: Engine, plan: MemoryPlan, ring: SplitRingAddrs, opts: SplitDeviceOptions = {}) {
    super(engine, plan, ring, Q.CB_KIND_SPLIT_DEVICE, opts.features ?? 0n);
    this.regionTable = plan.alloc(Q.MAX_REGIONS * Q.REGION_SIZE, 64, 'region table');
    this.set(Q.DEV_REGIONS, this.regionTable);
    this.writeRegions(opts.regions ?? [identityRegion(engine.memory)]);
    this.set(Q.DEV_MAX_CHAIN, opts.maxChain ?? 0);
    this.set(Q.CB_OPTIONS, opts.notify ? Q.CB_OPT_NOTIFY : 0);
    this.startIdx = (opts.startIdx ?? 0) & 0xffff;
    this.reset();
  }

  private writeRegions(regions: Region[]): void {
    if (regions.length > Q.MAX_REGIONS) throw new RangeError(`at most ${Q.MAX_REGIONS} memory regions, got ${regions.length}`);
    const v = this.engine.view;
    regions.forEach((r, i) => {
      const e = this.regionTable + i * Q.REGION_SIZE;
      v.setBigUint64(e + Q.REGION_GPA, r.gpa, true);
      v.setBigUint64(e + Q.REGION_LEN, r.size, true);
      v.setUint32(e + Q.REGION_OFFSET, r.offset, true);
    });
    this.set(Q.DEV_NUM_REGIONS, regions.length);
  }

  /** Replaces the region table (queue stopped). Throws, changing nothing the engine uses, if it is invalid. */
  setRegions(regions: Region[]): void {
    const n = this.get(Q.DEV_NUM_REGIONS);
    const saved = this.engine.u8.slice(this.regionTable, this.regionTable + n * Q.REGION_SIZE);
    this.writeRegions(regions);
    const rc = this.engine.exports.splitDeviceSetRegions(this.cb, this.regionTable, regions.length);
    if (rc < 0) {
      this.engine.u8.set(saved, this.regionTable);
      this.set(Q.DEV_NUM_REGIONS, n);
      this.engine.check(rc, this.cb, 'split device set regions');
    }
  }

  /** Back to the start: reads the ring from startIdx again. */
  reset(): void {
    this.set(Q.DEV_LAST_AVAIL, this.startIdx);
    this.set(Q.DEV_USED_IDX, this.startIdx);
    this.engine.check(this.engine.exports.splitDeviceReset(this.cb), this.cb, 'split device reset');
  }

  /** Pops up to `max` available chains into `batch` (cleared first). Returns how many. */
  pop(batch: ChainBatch, max = batch.maxChains): number {
    batch.clear();
    const rc = this.engine.exports.splitDevicePop(this.cb, batch.chainsPtr, batch.segsPtr, Math.min(max, batch.maxChains), batch.maxSegs);
    const n = this.engine.check(rc, this.cb, 'split device pop');
    batch.count = n;
    batch.segCount = n > 0 ? batch.firstSeg(n - 1) + batch.nRead(n - 1) + batch.nWrite(n - 1) : 0;
    return n;
  }

  /** Returns the batch's used records (id = head id from pop, len = bytes written). */
  push(used: UsedBatch): number {
    return this.engine.check(this.engine.exports.splitDevicePush(this.cb, used.ptr, used.count), this.cb, 'split device push');
  }

  /** Whether the driver asked to be notified of what was pushed since the last call. */
  interruptNeeded(): boolean {
    return this.engine.check(this.engine.exports.splitDeviceInterruptNeeded(this.cb), this.cb, 'split device interrupt') === 1;
  }

  /** Re-enables kicks; true when chains are already waiting. */
  enableNotify(): boolean {
    return this.engine.check(this.engine.exports.splitDeviceEnableNotify(this.cb), this.cb, 'split device enable notify') === 1;
  }

  disableNotify(): void {
    this.engine.check(this.engine.exports.splitDeviceDisableNotify(this.cb), this.cb, 'split device disable notify');
  }

  get lastAvailIdx(): number { return this.get(Q.DEV_LAST_AVAIL); }
  get usedIdx(): number { return this.get(Q.DEV_USED_IDX); }
  get inFlight(): number { return this.get(Q.DEV_IN_FLIGHT); }
}
