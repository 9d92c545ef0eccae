// Typed handles for the two sides of a packed virtqueue (VIRTIO 1.2, 2.8). Same burst API as
// the split handles (src/split.ts), so callers switch layouts with one option.
import * as Q from '../assembly/layout/queue.js';
import * as P from '../assembly/layout/packed.js';
import { has, RING_FEATURES, type FeatureSet } from './features.js';
import { QueueSide, RegionTable, identityRegion, type Region, type RingAreas } from './queue-side.js';
import type { Engine } from './engine.js';
import type { MemoryPlan } from './memory.js';
import type { ChainBatch, UsedBatch } from './batch.js';

export function validPackedQueueSize(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= P.PACKED_MAX_QUEUE_SIZE;
}

/** Plans a packed ring: descriptor ring and the two event suppression structures (2.8.10.1). */
export function allocPackedRing(plan: MemoryPlan, queueSize: number): RingAreas {
  if (!validPackedQueueSize(queueSize)) {
    throw new RangeError(`packed queue size must be 1 to ${P.PACKED_MAX_QUEUE_SIZE} (VIRTIO 1.2 §2.8), got ${queueSize}`);
  }
  return {
    queueSize,
    desc: plan.alloc(queueSize * P.PDESC_SIZE, 64, 'packed descriptor ring'),
    driver: plan.alloc(P.EVENT_SIZE, 64, 'driver event suppression'),
    device: plan.alloc(P.EVENT_SIZE, 64, 'device event suppression'),
  };
}

export interface PackedDriverOptions {
  features?: FeatureSet;
  /** Descriptors per indirect table; 0 disables indirect (default 16 when INDIRECT_DESC is set). */
  indirectMax?: number;
  /** Ask for used buffer notifications from the start (default false: polling). */
  interrupts?: boolean;
}

export class PackedDriver extends QueueSide {
  constructor(engine: Engine, plan: MemoryPlan, ring: RingAreas, opts: PackedDriverOptions = {}) {
    const features = opts.features ?? 0n;
    super(engine, plan, ring, Q.CB_KIND_PACKED_DRIVER, features);
    const n = ring.queueSize;
    this.set(Q.PDRV_SHADOW, plan.alloc(n * Q.SHADOW_SIZE, 64, 'packed driver shadow'));
    if (has(features, RING_FEATURES.IN_ORDER)) this.set(Q.PDRV_ORDER, plan.alloc(n * 2, 64, 'packed driver order'));
    const indirectMax = opts.indirectMax ?? 16;
    if (!Number.isInteger(indirectMax) || indirectMax < 0 || indirectMax > 0xffff) {
      throw new RangeError(`indirectMax must be 0 to 65535 descriptors, got ${indirectMax}`);
    }
    if (indirectMax > 0 && has(features, RING_FEATURES.INDIRECT_DESC)) {
      this.set(Q.PDRV_INDIRECT, plan.alloc(n * indirectMax * P.PDESC_SIZE, 64, 'packed indirect tables'));
      this.set(Q.PDRV_INDIRECT_MAX, indirectMax);
    }
    this.set(Q.CB_OPTIONS, opts.interrupts ? Q.CB_OPT_NOTIFY : 0);
    this.reset();
  }

  reset(): void {
    this.engine.check(this.engine.exports.packedDriverReset(this.cb), this.cb, 'packed driver reset');
  }

  add(batch: ChainBatch): number {
    return this.engine.check(this.engine.exports.packedDriverAdd(this.cb, batch.chainsPtr, batch.segsPtr, batch.count), this.cb, 'packed driver add');
  }

  kickNeeded(): boolean {
    return this.engine.check(this.engine.exports.packedDriverKickNeeded(this.cb), this.cb, 'packed driver kick') === 1;
  }

  collect(out: UsedBatch, max = out.capacity): number {
    const n = this.engine.check(this.engine.exports.packedDriverCollect(this.cb, out.ptr, Math.min(max, out.capacity)), this.cb, 'packed driver collect');
    out.count = n;
    return n;
  }

  enableInterrupts(): boolean {
    return this.engine.check(this.engine.exports.packedDriverEnableInterrupts(this.cb), this.cb, 'packed driver enable interrupts') === 1;
  }

  disableInterrupts(): void {
    this.engine.check(this.engine.exports.packedDriverDisableInterrupts(this.cb), this.cb, 'packed driver disable interrupts');
  }

  detach(out: UsedBatch): number {
    const n = this.engine.check(this.engine.exports.packedDriverDetach(this.cb, out.ptr, out.capacity), this.cb, 'packed driver detach');
    out.count = n;
    return n;
  }

  get numFree(): number { return this.get(Q.PDRV_NUM_FREE); }
  get inFlight(): number { return this.get(Q.PDRV_IN_FLIGHT); }
  get nextAvail(): number { return this.get(Q.PDRV_NEXT_AVAIL); }
  get availWrapCounter(): number { return this.get(Q.PDRV_AVAIL_WRAP); }
  get nextUsed(): number { return this.get(Q.PDRV_NEXT_USED); }
  get usedWrapCounter(): number { return this.get(Q.PDRV_USED_WRAP); }
}

export interface PackedDeviceOptions {
  features?: FeatureSet;
  regions?: Region[];
  maxChain?: number;
  notify?: boolean;
  /** Where to start reading (vhost-user SET_VRING_BASE): slot and wrap counter. Default 0 / 1. */
  nextAvail?: number;
  availWrapCounter?: number;
}

export class PackedDevice extends QueueSide {
  private readonly regionTable: RegionTable;
  private readonly startAvail: number;
  private readonly startWrap: number;

  constructor(engine: Engine, plan: MemoryPlan, ring: RingAreas, opts: PackedDeviceOptions = {}) {
    const features = opts.features ?? 0n;
    super(engine, plan, ring, Q.CB_KIND_PACKED_DEVICE, features);
    const n = ring.queueSize;
    this.set(Q.PDEV_SHADOW, plan.alloc(n * Q.PDEV_SHADOW_SIZE, 64, 'packed device shadow'));
    if (has(features, RING_FEATURES.IN_ORDER)) this.set(Q.PDEV_ORDER, plan.alloc(n * 2, 64, 'packed device order'));
    this.regionTable = new RegionTable(engine, plan);
    this.regionTable.write(opts.regions ?? [identityRegion(engine.memory)]);
    this.set(Q.DEV_REGIONS, this.regionTable.ptr);
    this.set(Q.DEV_NUM_REGIONS, this.regionTable.length);
    this.set(Q.DEV_MAX_CHAIN, opts.maxChain ?? 0);
    this.set(Q.CB_OPTIONS, opts.notify ? Q.CB_OPT_NOTIFY : 0);
    this.startAvail = opts.nextAvail ?? 0;
    this.startWrap = opts.availWrapCounter ?? 1;
    this.reset();
  }

  reset(): void {
    this.set(Q.PDEV_NEXT_AVAIL, this.startAvail);
    this.set(Q.PDEV_AVAIL_WRAP, this.startWrap);
    this.set(Q.PDEV_NEXT_USED, this.startAvail);
    this.set(Q.PDEV_USED_WRAP, this.startWrap);
    this.engine.check(this.engine.exports.packedDeviceReset(this.cb), this.cb, 'packed device reset');
  }

  setRegions(regions: Region[]): void {
    const restore = this.regionTable.write(regions);
    const rc = this.engine.exports.packedDeviceSetRegions(this.cb, this.regionTable.ptr, regions.length);
    if (rc < 0) {
      restore();
      this.engine.check(rc, this.cb, 'packed device set regions');
    }
  }

  pop(batch: ChainBatch, max = batch.maxChains): number {
    batch.clear();
    const rc = this.engine.exports.packedDevicePop(this.cb, batch.chainsPtr, batch.segsPtr, Math.min(max, batch.maxChains), batch.maxSegs);
    const n = this.engine.check(rc, this.cb, 'packed device pop');
    batch.count = n;
    batch.segCount = n > 0 ? batch.firstSeg(n - 1) + batch.nRead(n - 1) + batch.nWrite(n - 1) : 0;
    return n;
  }

  push(used: UsedBatch): number {
    return this.engine.check(this.engine.exports.packedDevicePush(this.cb, used.ptr, used.count), this.cb, 'packed device push');
  }

  interruptNeeded(): boolean {
    return this.engine.check(this.engine.exports.packedDeviceInterruptNeeded(this.cb), this.cb, 'packed device interrupt') === 1;
  }

  enableNotify(): boolean {
    return this.engine.check(this.engine.exports.packedDeviceEnableNotify(this.cb), this.cb, 'packed device enable notify') === 1;
  }

  disableNotify(): void {
    this.engine.check(this.engine.exports.packedDeviceDisableNotify(this.cb), this.cb, 'packed device disable notify');
  }

  get inFlight(): number { return this.get(Q.PDEV_IN_FLIGHT); }
  get nextAvail(): number { return this.get(Q.PDEV_NEXT_AVAIL); }
  get nextUsed(): number { return this.get(Q.PDEV_NEXT_USED); }
}
