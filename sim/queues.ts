// One virtqueue as the simulator sees it: a driver handle and a device handle over the same
// ring, whatever the ring format. The NIC and the net driver only use the two interfaces below,
// so a new ring format is one more branch in `openQueue` (and `queueBytes`).
import { allocRing, createDriver, createDevice, RING_LAYOUTS, type RingLayout } from '../src/virtqueue/factory.js';
import type { DriverQueue, DeviceQueue } from '../src/virtqueue/queue-side.js';
import * as P from '../assembly/layout/packed.js';
import { splitAreaSizes } from '../src/virtqueue/layout.js';
import { RING_FEATURES, type FeatureSet } from '../src/features.js';
import * as Q from '../assembly/layout/queue.js';
import * as S from '../assembly/layout/split.js';
import type { Engine } from '../src/engine.js';
import type { MemoryPlan } from '../src/memory.js';

/** virtio-net queue indices (VIRTIO 1.2, 5.1.2): receiveq1 and transmitq1. */
export const RECEIVEQ = 0;
export const TRANSMITQ = 1;
/** A queue's bit in a mask of notifications (kicks to the device, interrupts to the driver). */
export const RX_BIT = 1 << RECEIVEQ;
export const TX_BIT = 1 << TRANSMITQ;

export type RingKind = RingLayout;
export const RING_KINDS: readonly RingKind[] = RING_LAYOUTS;

export type { DriverQueue, DeviceQueue };

export interface QueueConfig {
  queueSize: number;
  eventIdx: boolean;
  indirect: boolean;
  /** Descriptors per indirect table (when indirect). */
  indirectMax: number;
  /** Negotiate VIRTIO_F_IN_ORDER: the NIC then completes in order and batches used entries. */
  inOrder: boolean;
}

function features(c: QueueConfig): FeatureSet {
  return RING_FEATURES.VERSION_1
    | (c.eventIdx ? RING_FEATURES.EVENT_IDX : 0n)
    | (c.indirect ? RING_FEATURES.INDIRECT_DESC : 0n)
    | (c.inOrder ? RING_FEATURES.IN_ORDER : 0n);
}

/**
 * Both sides of one queue, polling to start with (no kicks, no interrupts requested), over a
 * fresh ring in `plan`.
 */
export function openQueue(kind: RingKind, engine: Engine, plan: MemoryPlan, c: QueueConfig): { driver: DriverQueue; device: DeviceQueue } {
  const areas = allocRing(plan, { layout: kind, queueSize: c.queueSize });
  const f = features(c);
  const driver = createDriver(engine, plan, kind, areas, { features: f, indirectMax: c.indirect ? c.indirectMax : 0 });
  const device = createDevice(engine, plan, kind, areas, { features: f });
  return { driver, device };
}

/** Upper bound on the shared memory `openQueue` takes for one queue, alignment included. */
export function queueBytes(kind: RingKind, c: QueueConfig): number {
  const pad = 64;
  const q = c.queueSize;
  const blocks = 2 * (Q.QUEUE_CB_SIZE + pad);
  const regions = Q.MAX_REGIONS * Q.REGION_SIZE + pad;
  const indirect = c.indirect ? q * c.indirectMax * S.DESC_SIZE + pad : 0;
  const order = c.inOrder ? 2 * (q * 2 + pad) : 0;
  if (kind === 'split') {
    const a = splitAreaSizes(q);
    return a.desc + a.avail + a.used + 3 * pad + blocks + q * Q.SHADOW_SIZE + q * Q.DSHADOW_SIZE + 2 * pad + indirect + regions + order;
  }
  const ring = q * P.PDESC_SIZE + 2 * (P.EVENT_SIZE + pad) + pad;
  return ring + blocks + q * Q.SHADOW_SIZE + q * Q.DSHADOW_SIZE + 2 * pad + indirect + regions + order;
}
