// Inflight I/O tracking as the host's queue handles see it (vhost-user.rst "Inflight I/O
// tracking"; the bytes are assembly/layout/inflight.ts, the bookkeeping is the engine's): how big
// a queue's region is, what a device is given to track into, and what a device that resumed from
// a region reports.
import * as I from '../../assembly/layout/inflight.js';
import type { RingLayout } from './factory.js';
import type { RingPosition } from './queue-side.js';

/**
 * Bytes one queue's region takes in an inflight buffer for a queue of `queueSize` entries: the
 * header and one entry per descriptor, rounded up to INFLIGHT_ALIGN (the stride DPDK uses between
 * queues, so buffers are laid out alike).
 */
export function inflightRegionSize(layout: RingLayout, queueSize: number): number {
  const bytes = layout === 'split'
    ? I.ISPLIT_HEADER_SIZE + queueSize * I.ISPLIT_DESC_SIZE
    : I.IPACKED_HEADER_SIZE + queueSize * I.IPACKED_DESC_SIZE;
  return Math.ceil(bytes / I.INFLIGHT_ALIGN) * I.INFLIGHT_ALIGN;
}

/** What a device tracks into. */
export interface InflightOptions {
  /** Wasm offset of the queue's region (INFLIGHT_ALIGN-aligned, inflightRegionSize bytes). */
  region: number;
  /**
   * Resume where the region says the device was (a back-end restarted after a crash) instead of
   * the start position given: the region is recovered first, and the device fails to build when
   * it cannot be (a VirtqueueError INFLIGHT_BAD_REGION, or one naming what cannot be resumed). Otherwise the
   * region is formatted afresh at the start position.
   */
  resume?: boolean;
  /**
   * With `resume`, packed rings: the front-end may have used buffers in place while no back-end
   * ran, ahead of where the region says the device was (QEMU 7.2's virtio-net drops what a guest
   * transmits while its vhost-user link is down, at a stale position). The device steps over
   * such a used slot when it meets one with nothing in flight (assembly/layout/queue.ts
   * CB_OPT_STEP_OVER_USED, which says when that is right) instead of waiting at it for ever.
   */
  usedInPlace?: boolean;
}

/** What a device built with `resume` found in its region. */
export interface InflightRecovery {
  /** Chains that were in flight: the device pops them again, in their order, from `to`. */
  inflight: number;
  /** The start position it was given (the front-end's). */
  from: RingPosition;
  /** Where it resumed: the committed used position, on both sides. */
  to: RingPosition;
}
