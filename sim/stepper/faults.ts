// What the stepper reads and writes in the ring itself, as the peer would: whether something
// made available is waiting for the device, the bad values a corrupt operation writes where the
// peer reads next, and where an engine error happened (the entry the failing side was reading).
import * as Q from '../../assembly/layout/queue.js';
import * as S from '../../assembly/layout/split.js';
import * as P from '../../assembly/layout/packed.js';
import type { VirtqueueError } from '../../src/errors.js';
import type { Engine } from '../../src/engine.js';
import type { DeviceQueue, DriverQueue, RingAreas } from '../../src/virtqueue/queue-side.js';
import type { RingLayout } from '../../src/virtqueue/factory.js';
import type { Corruption, StepOp } from './trace.js';

/** A guest address no region covers: a corrupt 'addr' writes it. */
const BAD_ADDRESS = 0xdead_0000_0000n;

/** Both sides of one queue in one memory. */
export interface QueueView {
  engine: Engine;
  layout: RingLayout;
  areas: RingAreas;
  driver: DriverQueue;
  device: DeviceQueue;
}

/** Where a step failed, for the page to show it there: the engine's error and the ring entry involved. */
export interface StepFault {
  /** Index of the operation in the session (0 = the first applied). */
  at: number;
  side: 'driver' | 'device';
  /** ERRORS' name, e.g. NEXT_OUT_OF_RANGE. */
  name: string;
  code: number;
  /** VIRTIO 1.2 section for this layout (packed rules have their own), '' for a caller error. */
  section: string;
  message: string;
  detail: number;
  /** The ring area and entry the failing side was reading: 'desc' slot/index, or 'used' entry (split). */
  area: 'desc' | 'avail' | 'used';
  index: number;
}

/** Something the session refused to do before touching the engine (nothing changed; not recorded). */
export class StepRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepRefused';
  }
}

const field = (q: QueueView, side: DriverQueue | DeviceQueue, f: number): number => q.engine.u32[(side.cb + f) >>> 2];

const packedFlags = (q: QueueView, slot: number): number =>
  q.engine.view.getUint16(q.areas.desc + slot * P.PDESC_SIZE + P.PDESC_FLAGS, true);

/** 2.8.1: available when AVAIL matches the wrap counter and USED does not. */
function packedAvailable(q: QueueView, slot: number, wrap: number): boolean {
  const f = packedFlags(q, slot);
  return ((f & P.PDESC_F_AVAIL) !== 0) === (wrap === 1) && ((f & P.PDESC_F_USED) !== 0) !== (wrap === 1);
}

/** 2.8.1: used when AVAIL and USED both match the wrap counter. */
function packedUsed(q: QueueView, slot: number, wrap: number): boolean {
  const f = packedFlags(q, slot);
  return ((f & P.PDESC_F_AVAIL) !== 0) === (wrap === 1) && ((f & P.PDESC_F_USED) !== 0) === (wrap === 1);
}

/** The head the split device reads next (from the available ring, at its last_avail_idx). */
const splitNextHead = (q: QueueView): number => {
  const lastAvail = field(q, q.device, Q.SDEV_LAST_AVAIL) & 0xffff;
  return q.engine.view.getUint16(q.areas.driver + S.AVAIL_RING + (lastAvail % q.areas.queueSize) * S.AVAIL_ELEM_SIZE, true) % q.areas.queueSize;
};

/** Whether the driver has made available something the device has not popped. */
export function availablePending(q: QueueView): boolean {
  if (q.layout === 'split') {
    return (field(q, q.device, Q.SDEV_LAST_AVAIL) & 0xffff) !== q.engine.view.getUint16(q.areas.driver + S.AVAIL_IDX, true);
  }
  return packedAvailable(q, field(q, q.device, Q.PDEV_NEXT_AVAIL), field(q, q.device, Q.PDEV_AVAIL_WRAP));
}

/** Which descriptor (packed: and which slots; split used-id: which used entry) a corruption hits. */
function corruptTarget(q: QueueView, what: Corruption): { desc: number; slots: number[]; used: number } {
  const n = q.areas.queueSize;
  if (what === 'used-id') {
    if (q.layout === 'split') {
      const lastUsed = field(q, q.driver, Q.SDRV_LAST_USED) & 0xffff;
      if (lastUsed === q.engine.view.getUint16(q.areas.device + S.USED_IDX, true)) throw new StepRefused('no used entry waiting for the driver (push first)');
      return { desc: 0, slots: [], used: lastUsed % n };
    }
    const slot = field(q, q.driver, Q.PDRV_NEXT_USED);
    if (!packedUsed(q, slot, field(q, q.driver, Q.PDRV_USED_WRAP))) throw new StepRefused('no used descriptor waiting for the driver (push first)');
    return { desc: slot, slots: [slot], used: 0 };
  }
  if (!availablePending(q)) throw new StepRefused('nothing made available is waiting for the device (add first)');
  if (q.layout === 'split') return { desc: splitNextHead(q), slots: [], used: 0 };
  const slot = field(q, q.device, Q.PDEV_NEXT_AVAIL);
  const slots = [slot];
  for (let s = slot; slots.length < n && (packedFlags(q, s) & P.PDESC_F_NEXT); ) {
    s = (s + 1) % n;
    slots.push(s);
  }
  return { desc: slot, slots, used: 0 };
}

/** Writes a bad value into the ring where the peer reads next (StepRefused when there is nothing there). */
export function corrupt(q: QueueView, what: Corruption): void {
  const target = corruptTarget(q, what);
  const v = q.engine.view;
  if (what === 'addr') {
    const d = q.areas.desc + target.desc * (q.layout === 'split' ? S.DESC_SIZE : P.PDESC_SIZE);
    v.setBigUint64(d + (q.layout === 'split' ? S.DESC_ADDR : P.PDESC_ADDR), BAD_ADDRESS, true);
  } else if (what === 'link' && q.layout === 'split') {
    // A next outside the table (2.7.5): NEXT set, next = Queue Size.
    const d = q.areas.desc + target.desc * S.DESC_SIZE;
    v.setUint16(d + S.DESC_FLAGS, v.getUint16(d + S.DESC_FLAGS, true) | S.DESC_F_NEXT, true);
    v.setUint16(d + S.DESC_NEXT, q.areas.queueSize, true);
  } else if (what === 'used-id' && q.layout === 'split') {
    // A used id that is no descriptor index (2.7.8).
    v.setUint32(q.areas.device + S.USED_RING + target.used * S.USED_ELEM_SIZE + S.USED_ELEM_ID, q.areas.queueSize, true);
  } else {
    // Packed 'link': a buffer id the ring cannot have (2.8.13), on every descriptor of the list;
    // 'used-id': a used id no buffer in flight has (2.8.22).
    for (const slot of target.slots) v.setUint16(q.areas.desc + slot * P.PDESC_SIZE + P.PDESC_ID, 0xffff, true);
  }
}

/** An engine error as a fault placed on the entry the failing side was reading. */
export function faultOf(q: QueueView, e: VirtqueueError, at: number, op: StepOp): StepFault {
  const side = op.op === 'pop' || op.op === 'push' ? 'device' : 'driver';
  let area: StepFault['area'] = 'desc';
  let index: number;
  if (q.layout === 'split') {
    if (side === 'device') {
      index = splitNextHead(q); // the head of the chain the failed pop was reading
    } else {
      area = 'used';
      index = (field(q, q.driver, Q.SDRV_LAST_USED) & 0xffff) % q.areas.queueSize;
    }
  } else {
    index = side === 'device' ? field(q, q.device, Q.PDEV_NEXT_AVAIL) : field(q, q.driver, Q.PDRV_NEXT_USED);
  }
  return { at, side, name: e.info.name, code: e.code, section: e.section, message: e.message, detail: e.detail, area, index };
}
