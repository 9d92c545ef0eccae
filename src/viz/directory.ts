// The control block directory (layout: assembly/layout/viz.ts): a worker building a queue's side
// publishes its control block there; the live visualizer reads it from the main thread.
import * as V from '../../assembly/layout/viz.js';

export type QueueSideName = 'driver' | 'device';

const offsetOf = (side: QueueSideName): number => (side === 'driver' ? V.VIZDIR_DRIVER_CB : V.VIZDIR_DEVICE_CB);

/** Publishes `cb` as `side`'s control block in the entry at `entry` (0: no directory, nothing done). */
export function publishControlBlock(u32: Uint32Array, entry: number, side: QueueSideName, cb: number): void {
  if (entry !== 0) Atomics.store(u32, (entry + offsetOf(side)) >>> 2, cb);
}

/** The control blocks published in the entry at `entry` (0 where a side has not published yet). */
export function readControlBlocks(u32: Uint32Array, entry: number): { driverCb: number; deviceCb: number } {
  return {
    driverCb: Atomics.load(u32, (entry + V.VIZDIR_DRIVER_CB) >>> 2),
    deviceCb: Atomics.load(u32, (entry + V.VIZDIR_DEVICE_CB) >>> 2),
  };
}
