// Typed handles for the two sides of a packed virtqueue (VIRTIO 1.2, 2.8). Same burst API as
// the split handles (split.ts), so callers switch layouts with one option.
import * as Q from '../../assembly/layout/queue.js';
import * as P from '../../assembly/layout/packed.js';
import * as I from '../../assembly/layout/inflight.js';
import { has, RING_FEATURES } from '../features.js';
import type { RingAreas, RingPosition } from './queue-side.js';
import { DriverHandle, DeviceHandle, checkIndirectMax, type DriverOps, type DeviceOps, type DriverHandleOptions, type DeviceHandleOptions } from './queue-handles.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';

export function validPackedQueueSize(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= P.PACKED_MAX_QUEUE_SIZE;
}

/** Plans a packed ring: descriptor ring and the two event suppression structures (2.8.10.1), each `align`-aligned (default a cache line). */
export function allocPackedRing(plan: MemoryPlan, queueSize: number, align = 64): RingAreas {
  if (!validPackedQueueSize(queueSize)) {
    throw new RangeError(`packed queue size must be 1 to ${P.PACKED_MAX_QUEUE_SIZE} (VIRTIO 1.2 §2.8), got ${queueSize}`);
  }
  return {
    queueSize,
    desc: plan.alloc(queueSize * P.PDESC_SIZE, align, 'packed descriptor ring'),
    driver: plan.alloc(P.EVENT_SIZE, align, 'driver event suppression'),
    device: plan.alloc(P.EVENT_SIZE, align, 'device event suppression'),
  };
}

export type PackedDriverOptions = DriverHandleOptions;

const packedDriverOps = (e: Engine): DriverOps => ({
  label: 'packed driver', kind: Q.CB_KIND_PACKED_DRIVER,
  reset: e.exports.packedDriverReset, add: e.exports.packedDriverAdd, kickNeeded: e.exports.packedDriverKickNeeded,
  collect: e.exports.packedDriverCollect, enableInterrupts: e.exports.packedDriverEnableInterrupts,
  disableInterrupts: e.exports.packedDriverDisableInterrupts, detach: e.exports.packedDriverDetach,
  numFreeField: Q.PDRV_NUM_FREE, inFlightField: Q.PDRV_IN_FLIGHT,
});

/** The driver side of a packed ring. */
export class PackedDriver extends DriverHandle {
  constructor(engine: Engine, plan: MemoryPlan, ring: RingAreas, opts: PackedDriverOptions = {}) {
    super(engine, plan, ring, opts, packedDriverOps(engine));
    const features = opts.features ?? 0n;
    const n = ring.queueSize;
    this.set(Q.PDRV_SHADOW, this.reserve(plan, n * Q.SHADOW_SIZE, 64, 'packed driver shadow'));
    if (has(features, RING_FEATURES.IN_ORDER)) this.set(Q.PDRV_ORDER, this.reserve(plan, n * 2, 64, 'packed driver order'));
    const indirectMax = checkIndirectMax(opts.indirectMax);
    if (indirectMax > 0 && has(features, RING_FEATURES.INDIRECT_DESC)) {
      this.set(Q.PDRV_INDIRECT, this.reserve(plan, n * indirectMax * P.PDESC_SIZE, 64, 'packed indirect tables'));
      this.set(Q.PDRV_INDIRECT_MAX, indirectMax);
    }
    this.reset();
  }

  get nextAvail(): number { return this.get(Q.PDRV_NEXT_AVAIL); }
  get availWrapCounter(): number { return this.get(Q.PDRV_AVAIL_WRAP); }
  get nextUsed(): number { return this.get(Q.PDRV_NEXT_USED); }
  get usedWrapCounter(): number { return this.get(Q.PDRV_USED_WRAP); }
}

export interface PackedDeviceOptions extends DeviceHandleOptions {
  /** Where to start reading (vhost-user SET_VRING_BASE): slot and wrap counter. Default 0 / 1. */
  nextAvail?: number;
  availWrapCounter?: number;
  /** Where the next used descriptor goes, and its wrap counter. Default: the same as nextAvail / availWrapCounter. */
  nextUsed?: number;
  usedWrapCounter?: number;
}

const packedDeviceOps = (e: Engine): DeviceOps => ({
  label: 'packed device', kind: Q.CB_KIND_PACKED_DEVICE,
  reset: e.exports.packedDeviceReset, setRegions: e.exports.packedDeviceSetRegions, pop: e.exports.packedDevicePop,
  push: e.exports.packedDevicePush, interruptNeeded: e.exports.packedDeviceInterruptNeeded,
  enableNotify: e.exports.packedDeviceEnableNotify, disableNotify: e.exports.packedDeviceDisableNotify,
  recoverInflight: e.exports.packedDeviceRecoverInflight, inFlightField: Q.PDEV_IN_FLIGHT,
});

/** The device side of a packed ring. */
export class PackedDevice extends DeviceHandle {
  private startAvail: number;
  private startWrap: number;
  private startUsed: number;
  private startUsedWrap: number;

  constructor(engine: Engine, plan: MemoryPlan, ring: RingAreas, opts: PackedDeviceOptions = {}) {
    super(engine, plan, ring, opts, packedDeviceOps(engine));
    const n = ring.queueSize;
    this.set(Q.PDEV_SHADOW, this.reserve(plan, n * Q.DSHADOW_SIZE, 64, 'packed device shadow'));
    if (has(opts.features ?? 0n, RING_FEATURES.IN_ORDER)) this.set(Q.PDEV_ORDER, this.reserve(plan, n * 2, 64, 'packed device order'));
    if (opts.inflight) this.set(Q.PDEV_INFLIGHT_HEADS, this.reserve(plan, n * I.IHEAD_AREA_SIZE, 64, 'packed inflight area'));
    this.set(Q.PDEV_RESUBMIT_NUM, 0);
    this.set(Q.PDEV_RESUBMIT_NEXT, 0);
    this.startAvail = opts.nextAvail ?? 0;
    this.startWrap = opts.availWrapCounter ?? 1;
    this.startUsed = opts.nextUsed ?? this.startAvail;
    this.startUsedWrap = opts.usedWrapCounter ?? this.startWrap;
    this.resumeInflight(opts.inflight);
    this.reset();
  }

  protected override get start(): RingPosition {
    return { nextAvail: this.startAvail, availWrap: this.startWrap, nextUsed: this.startUsed, usedWrap: this.startUsedWrap };
  }

  protected override set start(p: RingPosition) {
    this.startAvail = p.nextAvail;
    this.startWrap = p.availWrap;
    this.startUsed = p.nextUsed;
    this.startUsedWrap = p.usedWrap;
  }

  protected override prepareReset(): void {
    this.set(Q.PDEV_NEXT_AVAIL, this.startAvail);
    this.set(Q.PDEV_AVAIL_WRAP, this.startWrap);
    this.set(Q.PDEV_NEXT_USED, this.startUsed);
    this.set(Q.PDEV_USED_WRAP, this.startUsedWrap);
  }

  get nextAvail(): number { return this.get(Q.PDEV_NEXT_AVAIL); }
  get nextUsed(): number { return this.get(Q.PDEV_NEXT_USED); }
  get steppedOver(): number { return this.get(Q.PDEV_STEPPED); }

  position(): RingPosition {
    return { nextAvail: this.nextAvail, availWrap: this.get(Q.PDEV_AVAIL_WRAP), nextUsed: this.nextUsed, usedWrap: this.get(Q.PDEV_USED_WRAP) };
  }
}
