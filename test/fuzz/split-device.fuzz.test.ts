// Fuzz target: the split ring's device side (VIRTIO 1.2, 2.7) parsing what a hostile driver writes
// into the descriptor table and the available ring, interleaved with the engine's own driver;
// INDIRECT_DESC, IN_ORDER, EVENT_IDX, Queue Size and region cuts drawn per case
// (device-target.ts runs it, checked-device.ts holds the invariants).
// CI: 10^6 ring operations from a fixed seed; VIRTQUEUE_FUZZ_SECONDS=N for a campaign
// (test/fuzz/harness.ts).
import { describe } from 'vitest';
import { deviceTarget } from './device-target.js';
import { DEVICE_PEER_ERRORS, INFLIGHT_PEER_ERRORS } from './known-errors.js';
import { ringFuzzTest } from './ring-fuzz-test.js';

describe('fuzz: split device', () => {
  ringFuzzTest('split-device.fuzz', 'a hostile driver: every call returns, segments lie in the region table, no stray device write, only known errors, broken stays broken', deviceTarget('split'),
    new Set([...DEVICE_PEER_ERRORS.split, ...INFLIGHT_PEER_ERRORS.split]));
});
