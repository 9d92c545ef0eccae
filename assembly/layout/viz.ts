// Control block directory (src/viz/directory.ts): where the thread that builds a side of a queue
// publishes its control block's address, so that a viewer on another thread (the live
// visualizer on the main thread) finds the block without asking that thread. Written once per
// side when the handle is built (an atomic store), read at any time (an atomic load); 0 until
// then. The engine never reads it. One entry per queue, 4-byte aligned:
//
//   0            4            8
//   +------------+------------+
//   | DRIVER_CB  | DEVICE_CB  |
//   +------------+------------+
export const VIZDIR_DRIVER_CB = 0;
export const VIZDIR_DEVICE_CB = 4;
export const VIZDIR_ENTRY_SIZE = 8;
