// Private state for the device side of each vring (control block, region table, per-head
// shadow, in-order ring), reserved once per vring index from the back-end's plan. A MemoryPlan
// never frees, so each (re)start of a ring builds its DeviceQueue in a fresh plan over that
// index's slot: connections can come and go forever without using up memory.
import * as Q from '../../assembly/layout/queue.js';
import * as I from '../../assembly/layout/inflight.js';
import { MemoryPlan } from '../memory.js';
import { MAX_VRING_NUM } from './vring.js';

/**
 * Bytes a device side of the largest queue needs, with alignment slack (its region table as big
 * as an IOTLB's may be). Inflight tracking's
 * private area is the packed one (head map, resubmission list, staging descriptors), larger than
 * the split resubmission list.
 */
export const RING_SLOT_BYTES =
  Q.QUEUE_CB_SIZE + Q.MAX_IOTLB_REGIONS * Q.REGION_SIZE + MAX_VRING_NUM * Q.DSHADOW_SIZE + MAX_VRING_NUM * 2
  + MAX_VRING_NUM * Math.max(I.IHEAD_AREA_SIZE, Q.RESUBMIT_SIZE) + 5 * 64;

export class RingSlots {
  private readonly starts: number[];

  /** Reserves `count` slots from `plan`. */
  constructor(private readonly plan: MemoryPlan, readonly count: number) {
    this.starts = Array.from({ length: count }, (_, i) => plan.alloc(RING_SLOT_BYTES, 64, `vring ${i} device state`));
  }

  /** A fresh plan over vring `index`'s slot (the previous device on it must be dropped). */
  planFor(index: number): MemoryPlan {
    const start = this.starts[index];
    if (start === undefined) throw new RangeError(`vring ${index}: only ${this.count} slots`);
    return new MemoryPlan(this.plan.memory, { start, end: start + RING_SLOT_BYTES });
  }
}
