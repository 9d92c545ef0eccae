// What every queue handle shares, whatever the layout and side: a control block in shared
// memory with the common header (assembly/layout/queue.ts), the check of each engine call's
// result, the reset, and for devices a region table.
import * as Q from '../../assembly/layout/queue.js';
import { featureWords, type FeatureSet } from '../features.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';

/** Where a ring's three areas live (Wasm offsets), whatever the layout. */
export interface RingAreas {
  queueSize: number;
  /** Descriptor area: split descriptor table, or packed descriptor ring. */
  desc: number;
  /** Driver area: split available ring, or packed driver event suppression. */
  driver: number;
  /** Device area: split used ring, or packed device event suppression. */
  device: number;
}

/**
 * Where a device is in its ring: the next available entry it reads and the next used entry it
 * writes. Split rings: free-running 16-bit indices (last_avail_idx, used.idx), wraps 0. Packed
 * rings: slots with their wrap counters (2.8.1).
 */
export interface RingPosition {
  nextAvail: number;
  availWrap: number;
  nextUsed: number;
  usedWrap: number;
}

/** A guest address range [gpa, gpa + size) that sits at Wasm offset `offset`. */
export interface Region {
  gpa: bigint;
  size: bigint;
  offset: number;
}

/** The one region a simulator needs: guest addresses are Wasm offsets (page 0 excluded). */
export function identityRegion(memory: WebAssembly.Memory): Region {
  return { gpa: 65536n, size: BigInt(memory.buffer.byteLength - 65536), offset: 65536 };
}

/** What every side of every layout has in the engine: a kind of control block and a reset. */
export interface SideOps {
  /** 'split driver', 'packed device', ...: names the side in error messages. */
  label: string;
  /** The control block's CB_KIND_*. */
  kind: number;
  reset: (cb: number) => number;
}

export abstract class QueueSide<O extends SideOps = SideOps> {
  readonly engine: Engine;
  readonly cb: number;
  readonly areas: RingAreas;
  /** The layout's engine exports for this side. */
  protected readonly ops: O;
  private readonly own: [start: number, end: number][] = [];
  /** The features the side was built with (its private arrays follow them). */
  private readonly built: FeatureSet;

  protected constructor(engine: Engine, plan: MemoryPlan, areas: RingAreas, ops: O, features: FeatureSet) {
    this.engine = engine;
    this.areas = areas;
    this.ops = ops;
    this.cb = this.reserve(plan, Q.QUEUE_CB_SIZE, Q.QUEUE_CB_ALIGN, 'control block');
    this.built = features;
    const [lo, hi] = featureWords(features);
    this.set(Q.CB_KIND, ops.kind);
    this.set(Q.CB_QUEUE_SIZE, areas.queueSize);
    this.set(Q.CB_FEATURES_LO, lo);
    this.set(Q.CB_FEATURES_HI, hi);
    this.set(Q.CB_DESC, areas.desc);
    this.set(Q.CB_DRIVER_AREA, areas.driver);
    this.set(Q.CB_DEVICE_AREA, areas.device);
  }

  /** rc, or a VirtqueueError for a negative one (the message is only built on failure). */
  protected call(rc: number, what: string): number {
    return rc >= 0 ? rc : this.engine.check(rc, this.cb, `${this.ops.label} ${what}`);
  }

  /**
   * Back to the start positions, healthy again. A driver's queue is then empty (after a device
   * reset): chains in flight are forgotten, detach them first.
   */
  reset(): void {
    this.prepareReset();
    this.call(this.ops.reset(this.cb), 'reset');
  }

  /**
   * A new session's negotiated features, before reset(): the side runs with those of its own
   * that are also in `features`. Only ever fewer than it was built with (IN_ORDER's order
   * array, for one, exists only if it was built with it).
   */
  narrowFeatures(features: FeatureSet): void {
    const [lo, hi] = featureWords(this.built & features);
    this.set(Q.CB_FEATURES_LO, lo);
    this.set(Q.CB_FEATURES_HI, hi);
  }

  /** Layout-specific fields to set before the engine resets the block. */
  protected prepareReset(): void {}

  /** Allocates private state of this side (never shared with the peer) and remembers it. */
  protected reserve(plan: MemoryPlan, size: number, align: number, label: string): number {
    const at = plan.alloc(size, align, label);
    this.own.push([at, at + size]);
    return at;
  }

  /** [start, end) of every area this side keeps private state in: the only memory, besides
   * the ring and the caller's burst arrays, that its engine calls write. */
  get privateAreas(): readonly (readonly [number, number])[] {
    return this.own;
  }

  protected get(field: number): number {
    return this.engine.u32[(this.cb + field) >>> 2];
  }

  protected set(field: number, value: number): void {
    this.engine.u32[(this.cb + field) >>> 2] = value;
  }

  get queueSize(): number {
    return this.areas.queueSize;
  }

  /** 0 while healthy, else the (negative) code that broke the queue. */
  get status(): number {
    return this.engine.i32[(this.cb + Q.CB_STATUS) >>> 2];
  }

  get broken(): boolean {
    return this.status !== 0;
  }
}

/**
 * A device's region table: `capacity` entries (MAX_REGIONS; MAX_IOTLB_REGIONS for an IOTLB's)
 * reserved once; `replace` writes new entries and has the engine check them, restoring the old
 * table if it refuses.
 */
export class RegionTable {
  readonly ptr: number;
  private readonly engine: Engine;
  private count = 0;

  constructor(engine: Engine, plan: MemoryPlan, readonly capacity: number = Q.MAX_REGIONS) {
    this.engine = engine;
    this.ptr = plan.alloc(capacity * Q.REGION_SIZE, 64, 'region table');
  }

  get length(): number {
    return this.count;
  }

  /** Writes `regions`; returns a function that puts the previous table back. */
  write(regions: readonly Region[]): () => void {
    if (regions.length > this.capacity) throw new RangeError(`at most ${this.capacity} memory regions, got ${regions.length}`);
    const saved = this.engine.u8.slice(this.ptr, this.ptr + this.count * Q.REGION_SIZE);
    const savedCount = this.count;
    const v = this.engine.view;
    regions.forEach((r, i) => {
      const e = this.ptr + i * Q.REGION_SIZE;
      v.setBigUint64(e + Q.REGION_GPA, BigInt.asUintN(64, r.gpa), true);
      v.setBigUint64(e + Q.REGION_LEN, BigInt.asUintN(64, r.size), true);
      v.setUint32(e + Q.REGION_OFFSET, r.offset, true);
    });
    this.count = regions.length;
    return () => {
      this.engine.u8.set(saved, this.ptr);
      this.count = savedCount;
    };
  }
}

/** The driver side of a virtqueue, whatever its layout (SplitDriver, PackedDriver). */
export interface DriverQueue {
  /** Address of the control block: what a worker thread's engine instance is handed. */
  readonly cb: number;
  readonly queueSize: number;
  readonly status: number;
  readonly broken: boolean;
  readonly numFree: number;
  readonly inFlight: number;
  reset(): void;
  /** A new session's negotiated features (fewer than built with), before reset(). */
  narrowFeatures(features: import('../features.js').FeatureSet): void;
  add(batch: import('./batch.js').ChainBatch): number;
  kickNeeded(): boolean;
  collect(out: import('./batch.js').UsedBatch, max?: number): number;
  enableInterrupts(): boolean;
  disableInterrupts(): void;
  detach(out: import('./batch.js').UsedBatch): number;
}

/** The device side of a virtqueue, whatever its layout (SplitDevice, PackedDevice). */
export interface DeviceQueue {
  /** Address of the control block: what a worker thread's engine instance is handed. */
  readonly cb: number;
  /** The ring's areas (Wasm offsets). */
  readonly areas: RingAreas;
  readonly queueSize: number;
  readonly status: number;
  readonly broken: boolean;
  readonly inFlight: number;
  reset(): void;
  setRegions(regions: Region[]): void;
  pop(batch: import('./batch.js').ChainBatch, max?: number): number;
  push(used: import('./batch.js').UsedBatch): number;
  interruptNeeded(): boolean;
  enableNotify(): boolean;
  disableNotify(): void;
  /** Where the device is in its ring (what a stopped vhost-user vring reports). */
  position(): RingPosition;
  /** What its inflight region said when it resumed from one (undefined: it did not). */
  readonly recovered: import('./inflight.js').InflightRecovery | undefined;
  /** The address a pop last found outside the region table (after IOTLB_MISS or BUFFER_NOT_IN_REGIONS). */
  readonly missIova: bigint;
  /**
   * Ring slots stepped over since the reset because another device had used them in place
   * (InflightOptions.usedInPlace; packed rings only, always 0 on split ones).
   */
  readonly steppedOver: number;
}
