// One virtqueue as the simulator sees it: a driver handle and a device handle over the same
// ring, whatever the ring format. The NIC and the net driver only use the two interfaces below,
// so a new ring format is one more branch in `openQueue` (and `queueBytes`).
import { SplitDriver, SplitDevice, allocSplitRing } from '../src/split.js';
import { splitAreaSizes } from '../src/layout.js';
import { RING_FEATURES, type FeatureSet } from '../src/features.js';
import * as Q from '../assembly/layout/queue.js';
import * as S from '../assembly/layout/split.js';
import type { Engine } from '../src/engine.js';
import type { MemoryPlan } from '../src/memory.js';
import type { ChainBatch, UsedBatch } from '../src/batch.js';

/** virtio-net queue indices (VIRTIO 1.2, 5.1.2): receiveq1 and transmitq1. */
export const RECEIVEQ = 0;
export const TRANSMITQ = 1;
/** A queue's bit in a mask of notifications (kicks to the device, interrupts to the driver). */
export const RX_BIT = 1 << RECEIVEQ;
export const TX_BIT = 1 << TRANSMITQ;

export type RingKind = 'split' | 'packed';
export const RING_KINDS: readonly RingKind[] = ['split', 'packed'];

/** What the net driver needs from the driver side of a queue (SplitDriver has it). */
export interface DriverQueue {
  add(batch: ChainBatch): number;
  kickNeeded(): boolean;
  collect(out: UsedBatch, max?: number): number;
  enableInterrupts(): boolean;
  disableInterrupts(): void;
  /** Free descriptors (ring slots). */
  readonly numFree: number;
  /** Chains made available and not collected yet. */
  readonly inFlight: number;
}

/** What the NIC needs from the device side of a queue (SplitDevice has it). */
export interface DeviceQueue {
  pop(batch: ChainBatch, max?: number): number;
  push(used: UsedBatch): number;
  interruptNeeded(): boolean;
  enableNotify(): boolean;
  disableNotify(): void;
}

export interface QueueConfig {
  queueSize: number;
  eventIdx: boolean;
  indirect: boolean;
  /** Descriptors per indirect table (when indirect). */
  indirectMax: number;
}

/** Thrown for a ring format the simulator knows by name but cannot run yet. */
export class NotImplementedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotImplementedError';
  }
}

function features(c: QueueConfig): FeatureSet {
  return RING_FEATURES.VERSION_1
    | (c.eventIdx ? RING_FEATURES.EVENT_IDX : 0n)
    | (c.indirect ? RING_FEATURES.INDIRECT_DESC : 0n);
}

/**
 * Both sides of one queue, polling to start with (no kicks, no interrupts requested), over a
 * fresh ring in `plan`.
 */
export function openQueue(kind: RingKind, engine: Engine, plan: MemoryPlan, c: QueueConfig): { driver: DriverQueue; device: DeviceQueue } {
  switch (kind) {
    case 'split': {
      const ring = allocSplitRing(plan, c.queueSize);
      const f = features(c);
      const driver = new SplitDriver(engine, plan, ring, { features: f, indirectMax: c.indirect ? c.indirectMax : 0 });
      const device = new SplitDevice(engine, plan, ring, { features: f });
      return { driver, device };
    }
    case 'packed':
      throw new NotImplementedError('packed virtqueues are not implemented yet (use --ring split)');
  }
}

/** Upper bound on the shared memory `openQueue` takes for one queue, alignment included. */
export function queueBytes(kind: RingKind, c: QueueConfig): number {
  const pad = 64;
  const cb = Q.QUEUE_CB_SIZE + pad;
  switch (kind) {
    case 'split': {
      const a = splitAreaSizes(c.queueSize);
      const ring = a.desc + a.avail + a.used + 3 * pad;
      const shadow = c.queueSize * Q.SHADOW_SIZE + pad;
      const indirect = c.indirect ? c.queueSize * c.indirectMax * S.DESC_SIZE + pad : 0;
      const regions = Q.MAX_REGIONS * Q.REGION_SIZE + pad;
      return ring + 2 * cb + shadow + indirect + regions;
    }
    case 'packed':
      return 0;
  }
}
