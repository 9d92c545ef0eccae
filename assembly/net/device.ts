// The device side of either ring layout, chosen by the control block's kind: the net data path
// works on split and packed queues alike through these four calls.
import { CB_KIND, CB_KIND_SPLIT_DEVICE } from "../layout/queue";
import { splitDevicePop, splitDevicePush, splitDeviceUnpop, splitDeviceInterruptNeeded } from "../split/device";
import { packedDevicePop, packedDevicePush, packedDeviceUnpop, packedDeviceInterruptNeeded } from "../packed/device";

// @ts-ignore: decorator
@inline function isSplit(cb: u32): bool {
  return load<i32>(cb + CB_KIND) == CB_KIND_SPLIT_DEVICE;
}

export function devicePop(cb: u32, chains: u32, segs: u32, maxChains: u32, maxSegs: u32): i32 {
  return isSplit(cb) ? splitDevicePop(cb, chains, segs, maxChains, maxSegs) : packedDevicePop(cb, chains, segs, maxChains, maxSegs);
}

export function devicePush(cb: u32, elems: u32, n: u32): i32 {
  return isSplit(cb) ? splitDevicePush(cb, elems, n) : packedDevicePush(cb, elems, n);
}

export function deviceUnpop(cb: u32, chains: u32, n: u32): i32 {
  return isSplit(cb) ? splitDeviceUnpop(cb, chains, n) : packedDeviceUnpop(cb, chains, n);
}

export function deviceInterruptNeeded(cb: u32): i32 {
  return isSplit(cb) ? splitDeviceInterruptNeeded(cb) : packedDeviceInterruptNeeded(cb);
}
