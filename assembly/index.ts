// The engine's exports. Every function takes the address of a control block in shared memory
// (layout/queue.ts) and returns a count (>= 0) or an error code (< 0, layout/errors.ts).
// The module keeps no state of its own: no globals, no data segments, no allocation, so any
// number of instances (one per worker thread) can run over the same memory.
export {
  splitDriverReset, splitDriverAdd, splitDriverKickNeeded, splitDriverCollect,
  splitDriverEnableInterrupts, splitDriverDisableInterrupts, splitDriverDetach, splitDriverReap,
} from "./split/driver";
export {
  splitDeviceReset, splitDeviceSetRegions, splitDevicePop, splitDevicePush,
  splitDeviceInterruptNeeded, splitDeviceEnableNotify, splitDeviceDisableNotify, splitDeviceUnpop,
  splitDeviceRecoverInflight,
} from "./split/device";
export {
  packedDriverReset, packedDriverAdd, packedDriverKickNeeded, packedDriverCollect,
  packedDriverEnableInterrupts, packedDriverDisableInterrupts, packedDriverDetach,
} from "./packed/driver";
export {
  packedDeviceReset, packedDeviceSetRegions, packedDevicePop, packedDevicePush,
  packedDeviceInterruptNeeded, packedDeviceEnableNotify, packedDeviceDisableNotify, packedDeviceUnpop,
  packedDeviceRecoverInflight,
} from "./packed/device";
export { netReset, netForward, netTxComplete, netInject } from "./net/forward";
export { deviceEnableNotify, deviceDisableNotify } from "./net/device";
export { sgCopy } from "./net/scatter";
export { vuqRefill, vuqRxBurst, vuqTxReap, vuqTxBurst, vuqAllocFill, vuqMacSwap, vuqFree, vuqDropPending, vuqTxOnly, vuqForward } from "./virtio-user/port";
export {
  ringInit, ringCount, ringFreeCount,
} from "./dataplane/handle-ring/ring";
export {
  ringEnqueueBulkSp, ringEnqueueBulkMp, ringEnqueueBurstSp, ringEnqueueBurstMp,
} from "./dataplane/handle-ring/enqueue";
export {
  ringDequeueBulkSc, ringDequeueBulkMc, ringDequeueBurstSc, ringDequeueBurstMc,
} from "./dataplane/handle-ring/dequeue";
export { mempoolInit, mempoolFreeCount } from "./dataplane/mempool/pool";
export { mempoolGetBulk } from "./dataplane/mempool/get";
export { mempoolPutBulk, mempoolCacheFlush } from "./dataplane/mempool/put";
