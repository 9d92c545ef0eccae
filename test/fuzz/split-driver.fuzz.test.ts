// Fuzz target: the split ring's driver side (VIRTIO 1.2, 2.7) parsing used elements a hostile device
// writes, interleaved with the engine's own device; INDIRECT_DESC, IN_ORDER, EVENT_IDX and Queue
// Size drawn per case (driver-target.ts runs it, checked-driver.ts holds the invariants).
// CI: 10^6 ring operations from a fixed seed; VIRTQUEUE_FUZZ_SECONDS=N for a campaign
// (test/fuzz/harness.ts).
import { describe } from 'vitest';
import { driverTarget } from './driver-target.js';
import { DRIVER_PEER_ERRORS } from './known-errors.js';
import { ringFuzzTest } from './ring-fuzz-test.js';

describe('fuzz: split driver', () => {
  ringFuzzTest('split-driver.fuzz', 'a hostile device: every call returns, completions only for chains in flight within their bytes, no stray driver write, only known errors, broken stays broken, the free list stays whole', driverTarget('split'), DRIVER_PEER_ERRORS.split);
});
