// The burst methods every driver and device handle shares, whatever the layout: each layout
// supplies its engine exports (an ops table) and the control block fields it reports from.
import * as Q from '../../assembly/layout/queue.js';
import {
  QueueSide, RegionTable, identityRegion,
  type DeviceQueue, type DriverQueue, type Region, type RingAreas, type RingPosition, type SideOps,
} from './queue-side.js';
import type { FeatureSet } from '../features.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';
import type { ChainBatch, UsedBatch } from './batch.js';
import type { InflightOptions, InflightRecovery } from './inflight.js';
import { writeLogBlock, LOG_BLOCK_SIZE, LOG_BLOCK_ALIGN, type DirtyLogOptions } from './dirty-log.js';

type Op1 = (cb: number) => number;

/** Descriptors per indirect table (default 16); 0 disables indirect. */
export function checkIndirectMax(v: number | undefined): number {
  const n = v ?? 16;
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`indirectMax must be 0 to 65535 descriptors, got ${v}`);
  return n;
}

export interface DriverOps extends SideOps {
  add: (cb: number, chains: number, segs: number, n: number) => number;
  kickNeeded: Op1;
  collect: (cb: number, out: number, max: number) => number;
  enableInterrupts: Op1;
  disableInterrupts: Op1;
  detach: (cb: number, out: number, max: number) => number;
  numFreeField: number;
  inFlightField: number;
}

export interface DeviceOps extends SideOps {
  setRegions: (cb: number, table: number, n: number) => number;
  pop: (cb: number, chains: number, segs: number, maxChains: number, maxSegs: number) => number;
  push: (cb: number, elems: number, n: number) => number;
  interruptNeeded: Op1;
  enableNotify: Op1;
  disableNotify: Op1;
  /** Inflight I/O tracking: recovers the region and writes the position to resume at (before the reset). */
  recoverInflight: Op1;
  inFlightField: number;
}

export interface DriverHandleOptions {
  features?: FeatureSet;
  /** Descriptors per indirect table; 0 disables indirect (default 16 when INDIRECT_DESC is set). */
  indirectMax?: number;
  /** Ask for used buffer notifications from the start (default false: polling). */
  interrupts?: boolean;
  /**
   * What the device's addresses are for Wasm offset 0 (default 0): every descriptor carries
   * offset + addressBase (VIRTIO 1.2 2.7.5, 2.8.4: a buffer's "physical address"; with
   * VIRTIO_F_ACCESS_PLATFORM an address the platform's IOMMU translates). 0 for vhost-user, whose
   * guest addresses are Wasm offsets; VFIO: the IOVA the memory was DMA-mapped at. Kept across resets.
   */
  addressBase?: bigint | number;
  /**
   * Packed: take a used descriptor's length even without VIRTQ_DESC_F_WRITE (default false: 2.8.4
   * says drivers ignore it then). QEMU's device model writes receive buffers without setting the
   * flag (assembly/layout/queue.ts CB_OPT_USED_LEN_WITHOUT_WRITE). Split rings have no such flag.
   */
  usedLenWithoutWrite?: boolean;
}

/**
 * addressBase as a bigint: a non-negative integer with which every address of `memoryBytes` of
 * memory stays below 2^64 (what the engine's reset checks too).
 */
export function checkAddressBase(v: bigint | number | undefined, memoryBytes: number): bigint {
  if (v === undefined) return 0n;
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new RangeError(`addressBase must be a non-negative integer (a bigint above 2^53), got ${v}`);
  const base = BigInt(v);
  if (base < 0n) throw new RangeError(`addressBase must be a non-negative integer, got ${v}`);
  if (base + BigInt(memoryBytes) >= 2n ** 64n) {
    throw new RangeError(`addressBase 0x${base.toString(16)} plus the memory's ${memoryBytes} bytes passes 2^64: descriptor addresses would wrap`);
  }
  return base;
}

/** The driver side: makes chains available and collects them once used. */
export abstract class DriverHandle extends QueueSide<DriverOps> implements DriverQueue {
  protected constructor(engine: Engine, plan: MemoryPlan, areas: RingAreas, opts: DriverHandleOptions, ops: DriverOps) {
    super(engine, plan, areas, ops, opts.features ?? 0n);
    this.set(Q.CB_OPTIONS, (opts.interrupts ? Q.CB_OPT_NOTIFY : 0) | (opts.usedLenWithoutWrite ? Q.CB_OPT_USED_LEN_WITHOUT_WRITE : 0));
    engine.view.setBigUint64(this.cb + Q.DRV_ADDR_BASE, checkAddressBase(opts.addressBase, engine.memory.buffer.byteLength), true);
  }

  /** What descriptors carry for Wasm offset 0 (DriverHandleOptions.addressBase). */
  get addressBase(): bigint {
    return this.engine.view.getBigUint64(this.cb + Q.DRV_ADDR_BASE, true);
  }

  /** Makes the batch's chains available, in order, as far as the ring has room. Returns how many. */
  add(batch: ChainBatch): number {
    return this.call(this.ops.add(this.cb, batch.chainsPtr, batch.segsPtr, batch.count), 'add');
  }

  /** Whether the device asked to be notified of what was added since the last call. */
  kickNeeded(): boolean {
    return this.call(this.ops.kickNeeded(this.cb), 'kick') === 1;
  }

  /** Collects used chains: out.id(i) is the token, out.len(i) the bytes written. */
  collect(out: UsedBatch, max = out.capacity): number {
    const n = this.call(this.ops.collect(this.cb, out.ptr, Math.min(max, out.capacity)), 'collect');
    out.count = n;
    return n;
  }

  /** Re-enables used buffer notifications; true when used chains are already waiting. */
  enableInterrupts(): boolean {
    return this.call(this.ops.enableInterrupts(this.cb), 'enable interrupts') === 1;
  }

  disableInterrupts(): void {
    this.call(this.ops.disableInterrupts(this.cb), 'disable interrupts');
  }

  /** Takes back chains in flight (even on a broken queue) as records with len 0. */
  detach(out: UsedBatch): number {
    const n = this.call(this.ops.detach(this.cb, out.ptr, out.capacity), 'detach');
    out.count = n;
    return n;
  }

  /** Free descriptors (ring slots). */
  get numFree(): number { return this.get(this.ops.numFreeField); }
  /** Chains made available and not collected yet. */
  get inFlight(): number { return this.get(this.ops.inFlightField); }
}

export interface DeviceHandleOptions {
  features?: FeatureSet;
  /** Guest memory as the device sees it (default: identity over the whole memory). */
  regions?: Region[];
  /** Longest chain accepted, in descriptors (default and maximum: Queue Size). */
  maxChain?: number;
  /** Ask for kicks from the start (default false: polling). */
  notify?: boolean;
  /** Inflight I/O tracking (vhost-user.rst "Inflight I/O tracking") into this region; none by default. */
  inflight?: InflightOptions;
  /** Dirty-page logging (vhost-user.rst "Migration") into this bitmap; none by default. */
  log?: DirtyLogOptions;
  /**
   * The region table is an IOTLB's, keyed by IOVA (vhost-user with VIRTIO_F_ACCESS_PLATFORM): a
   * buffer outside it stops the pop before its chain, which stays available (ERR_IOTLB_MISS,
   * `missIova`), instead of breaking the queue (assembly/layout/queue.ts CB_OPT_IOTLB). Default false.
   */
  iotlb?: boolean;
}

/** The device side: pops available chains and returns them used. */
export abstract class DeviceHandle extends QueueSide<DeviceOps> implements DeviceQueue {
  abstract position(): RingPosition;
  private readonly regionTable: RegionTable;
  private recovery: InflightRecovery | undefined;

  protected constructor(engine: Engine, plan: MemoryPlan, areas: RingAreas, opts: DeviceHandleOptions, ops: DeviceOps) {
    super(engine, plan, areas, ops, opts.features ?? 0n);
    this.regionTable = new RegionTable(engine, plan, opts.iotlb ? Q.MAX_IOTLB_REGIONS : Q.MAX_REGIONS);
    this.regionTable.write(opts.regions ?? [identityRegion(engine.memory)]);
    this.set(Q.DEV_REGIONS, this.regionTable.ptr);
    this.set(Q.DEV_NUM_REGIONS, this.regionTable.length);
    this.set(Q.DEV_MAX_CHAIN, opts.maxChain ?? 0);
    this.set(Q.CB_OPTIONS, (opts.notify ? Q.CB_OPT_NOTIFY : 0) | (opts.iotlb ? Q.CB_OPT_IOTLB : 0)
      | (opts.inflight?.resume && opts.inflight.usedInPlace ? Q.CB_OPT_STEP_OVER_USED : 0));
    this.set(Q.DEV_INFLIGHT, opts.inflight?.region ?? 0);
    let log = 0;
    if (opts.log) {
      log = this.reserve(plan, LOG_BLOCK_SIZE, LOG_BLOCK_ALIGN, 'dirty log block');
      writeLogBlock(engine, log, opts.log);
    }
    this.set(Q.DEV_LOG, log);
  }

  /** The start position the next reset takes (the layout's start fields). */
  protected abstract get start(): RingPosition;
  protected abstract set start(p: RingPosition);

  /**
   * With `inflight.resume`: recovers the region (the block and private areas set up) and makes
   * the position it names the start. Call before the first reset.
   */
  protected resumeInflight(o: InflightOptions | undefined): void {
    if (!o?.resume) return;
    const from = this.start;
    const inflight = this.call(this.ops.recoverInflight(this.cb), 'inflight recovery');
    this.start = this.position();
    this.recovery = { inflight, from, to: this.start };
  }

  /** What the region said when the device resumed from it (undefined: it did not). */
  get recovered(): InflightRecovery | undefined {
    return this.recovery;
  }

  /** Replaces the region table (queue stopped). If the engine refuses it, the old one stays. */
  setRegions(regions: Region[]): void {
    const restore = this.regionTable.write(regions);
    const rc = this.ops.setRegions(this.cb, this.regionTable.ptr, regions.length);
    if (rc < 0) {
      restore();
      this.call(rc, 'set regions');
    }
  }

  /** Pops up to `max` available chains into `batch` (cleared first). Returns how many. */
  pop(batch: ChainBatch, max = batch.maxChains): number {
    batch.clear();
    const n = this.call(this.ops.pop(this.cb, batch.chainsPtr, batch.segsPtr, Math.min(max, batch.maxChains), batch.maxSegs), 'pop');
    batch.count = n;
    batch.segCount = n > 0 ? batch.firstSeg(n - 1) + batch.nRead(n - 1) + batch.nWrite(n - 1) : 0;
    return n;
  }

  /** Returns the batch's used records (id from pop, len = bytes written). */
  push(used: UsedBatch): number {
    return this.call(this.ops.push(this.cb, used.ptr, used.count), 'push');
  }

  /** Whether the driver asked to be notified of what was pushed since the last call. */
  interruptNeeded(): boolean {
    return this.call(this.ops.interruptNeeded(this.cb), 'interrupt') === 1;
  }

  /** Re-enables kicks; true when chains are already waiting. */
  enableNotify(): boolean {
    return this.call(this.ops.enableNotify(this.cb), 'enable notify') === 1;
  }

  disableNotify(): void {
    this.call(this.ops.disableNotify(this.cb), 'disable notify');
  }

  /** Chains popped and not pushed back yet. */
  get inFlight(): number { return this.get(this.ops.inFlightField); }

  /** The address a pop last found outside the region table (after IOTLB_MISS or BUFFER_NOT_IN_REGIONS). */
  get missIova(): bigint {
    return new DataView(this.engine.memory.buffer).getBigUint64(this.cb + Q.DEV_MISS_IOVA, true);
  }

  abstract get steppedOver(): number;
}
