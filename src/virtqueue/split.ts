// Typed handles for the two sides of a split virtqueue (VIRTIO 1.2, 2.7). Each side owns a
// control block in shared memory; the handle writes its configuration, resets it through the
// engine, and turns engine results into counts or VirtqueueErrors.
import * as Q from '../../assembly/layout/queue.js';
import * as S from '../../assembly/layout/split.js';
import { splitAreaSizes } from './layout.js';
import { has, RING_FEATURES } from '../features.js';
import { identityRegion, type Region, type RingAreas, type RingPosition } from './queue-side.js';
import { DriverHandle, DeviceHandle, checkIndirectMax, type DriverOps, type DeviceOps, type DriverHandleOptions, type DeviceHandleOptions } from './queue-handles.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';

export { identityRegion, type Region };

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

/**
 * Plans the three areas of a split ring, each at its spec alignment rounded up to `align` (a
 * cache line by default; a page keeps each area of a ring of up to 256 entries inside one page).
 */
export function allocSplitRing(plan: MemoryPlan, queueSize: number, align = 64): SplitRingAddrs {
  if (!validQueueSize(queueSize)) {
    throw new RangeError(`queue size must be a power of two from 1 to ${S.MAX_QUEUE_SIZE} (VIRTIO 1.2 §2.7), got ${queueSize}`);
  }
  const size = splitAreaSizes(queueSize);
  const desc = plan.alloc(size.desc, align, 'descriptor table');
  const avail = plan.alloc(size.avail, align, 'available ring');
  const used = plan.alloc(size.used, align, 'used ring');
  return { queueSize, desc, avail, used, driver: avail, device: used };
}

export interface SplitDriverOptions extends DriverHandleOptions {
  /** First avail.idx (default 0). Tests start near 65535 to cross the 16-bit wrap early. */
  startIdx?: number;
}

const splitDriverOps = (e: Engine): DriverOps => ({
  label: 'split driver', kind: Q.CB_KIND_SPLIT_DRIVER,
  reset: e.exports.splitDriverReset, add: e.exports.splitDriverAdd, kickNeeded: e.exports.splitDriverKickNeeded,
  collect: e.exports.splitDriverCollect, enableInterrupts: e.exports.splitDriverEnableInterrupts,
  disableInterrupts: e.exports.splitDriverDisableInterrupts, detach: e.exports.splitDriverDetach,
  numFreeField: Q.SDRV_NUM_FREE, inFlightField: Q.SDRV_IN_FLIGHT,
});

/** The driver side of a split ring. */
export class SplitDriver extends DriverHandle {
  readonly ring: SplitRingAddrs;
  private readonly startIdx: number;

  constructor(engine: Engine, plan: MemoryPlan, ring: SplitRingAddrs, opts: SplitDriverOptions = {}) {
    super(engine, plan, ring, opts, splitDriverOps(engine));
    this.ring = ring;
    const features = opts.features ?? 0n;
    const n = ring.queueSize;
    this.set(Q.SDRV_SHADOW, this.reserve(plan, n * Q.SHADOW_SIZE, 64, 'driver shadow'));
    const indirectMax = checkIndirectMax(opts.indirectMax);
    if (indirectMax > 0 && has(features, RING_FEATURES.INDIRECT_DESC)) {
      this.set(Q.SDRV_INDIRECT, this.reserve(plan, n * indirectMax * S.DESC_SIZE, 64, 'indirect tables'));
      this.set(Q.SDRV_INDIRECT_MAX, indirectMax);
    }
    this.startIdx = (opts.startIdx ?? 0) & 0xffff;
    this.reset();
  }

  protected override prepareReset(): void {
    this.set(Q.SDRV_AVAIL_IDX, this.startIdx);
  }

  get availIdx(): number { return this.get(Q.SDRV_AVAIL_IDX); }
  get lastUsedIdx(): number { return this.get(Q.SDRV_LAST_USED); }
}

export interface SplitDeviceOptions extends DeviceHandleOptions {
  /** First index to read from the available ring (default 0), and first used.idx unless `usedIdx` says otherwise. */
  startIdx?: number;
  /** First used.idx (vhost-user: what the used ring in guest memory holds). Default: startIdx. */
  usedIdx?: number;
}

const splitDeviceOps = (e: Engine): DeviceOps => ({
  label: 'split device', kind: Q.CB_KIND_SPLIT_DEVICE,
  reset: e.exports.splitDeviceReset, setRegions: e.exports.splitDeviceSetRegions, pop: e.exports.splitDevicePop,
  push: e.exports.splitDevicePush, interruptNeeded: e.exports.splitDeviceInterruptNeeded,
  enableNotify: e.exports.splitDeviceEnableNotify, disableNotify: e.exports.splitDeviceDisableNotify,
  recoverInflight: e.exports.splitDeviceRecoverInflight, inFlightField: Q.SDEV_IN_FLIGHT,
});

/** The device side of a split ring. */
export class SplitDevice extends DeviceHandle {
  readonly ring: SplitRingAddrs;
  private startIdx: number;
  private startUsed: number;

  constructor(engine: Engine, plan: MemoryPlan, ring: SplitRingAddrs, opts: SplitDeviceOptions = {}) {
    super(engine, plan, ring, opts, splitDeviceOps(engine));
    this.ring = ring;
    const n = ring.queueSize;
    this.set(Q.SDEV_SHADOW, this.reserve(plan, n * Q.DSHADOW_SIZE, 64, 'split device shadow'));
    if (has(opts.features ?? 0n, RING_FEATURES.IN_ORDER)) this.set(Q.SDEV_ORDER, this.reserve(plan, n * 2, 64, 'split device order'));
    // Inflight tracking: the chains to pop again after a restart (split/inflight.ts).
    this.set(Q.SDEV_RESUBMIT, opts.inflight ? this.reserve(plan, n * Q.RESUBMIT_SIZE, 64, 'split resubmission list') : 0);
    this.set(Q.SDEV_RESUBMIT_NUM, 0);
    this.set(Q.SDEV_RESUBMIT_NEXT, 0);
    this.startIdx = (opts.startIdx ?? 0) & 0xffff;
    this.startUsed = (opts.usedIdx ?? this.startIdx) & 0xffff;
    this.resumeInflight(opts.inflight);
    this.reset();
  }

  protected override prepareReset(): void {
    this.set(Q.SDEV_LAST_AVAIL, this.startIdx);
    this.set(Q.SDEV_USED_IDX, this.startUsed);
  }

  protected override get start(): RingPosition {
    return { nextAvail: this.startIdx, availWrap: 0, nextUsed: this.startUsed, usedWrap: 0 };
  }

  protected override set start(p: RingPosition) {
    this.startIdx = p.nextAvail & 0xffff;
    this.startUsed = p.nextUsed & 0xffff;
  }

  get lastAvailIdx(): number { return this.get(Q.SDEV_LAST_AVAIL); }
  get usedIdx(): number { return this.get(Q.SDEV_USED_IDX); }
  /** A split device never steps over slots (its used index is the driver's to read, 2.7.8). */
  get steppedOver(): number { return 0; }

  /** Split indices are free-running 16-bit counters: the wrap fields are 0. */
  position(): RingPosition {
    return { nextAvail: this.lastAvailIdx, availWrap: 0, nextUsed: this.usedIdx, usedWrap: 0 };
  }
}
