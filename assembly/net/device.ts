// The device side of either ring layout, chosen by the control block's kind: the net data path
// works on split and packed queues alike through these calls, and a thread that was handed only
// a control block address (a Dataplane worker) turns kicks on and off through the two exports.
import { CB_KIND, CB_KIND_SPLIT_DEVICE } from "../layout/queue";
import {
  splitDevicePop, splitDevicePush, splitDeviceUnpop, splitDeviceInterruptNeeded, splitDeviceEnableNotify,
  splitDeviceDisableNotify,
} from "../split/device";
import {
  packedDevicePop, packedDevicePush, packedDeviceUnpop, packedDeviceInterruptNeeded, packedDeviceEnableNotify,
  packedDeviceDisableNotify,
} from "../packed/device";

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

/** Either layout's EnableNotify: 1 when chains are already waiting (pop before sleeping). */
export function deviceEnableNotify(cb: u32): i32 {
  return isSplit(cb) ? splitDeviceEnableNotify(cb) : packedDeviceEnableNotify(cb);
}

/** Either layout's DisableNotify (a polling device). */
export function deviceDisableNotify(cb: u32): i32 {
  return isSplit(cb) ? splitDeviceDisableNotify(cb) : packedDeviceDisableNotify(cb);
}
