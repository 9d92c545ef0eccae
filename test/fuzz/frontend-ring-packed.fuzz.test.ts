// Fuzz target: the virtio-user front-end's packed rings (the queue pair the port drives, VIRTIO 1.2
// 2.8) against a back-end writing hostile used descriptors between bursts, in process (no
// socket peer: frontend-ring-world.ts); the invariants are in frontend-ring-target.ts.
// CI: 10^6 ring operations from a fixed seed; VIRTQUEUE_FUZZ_SECONDS=N for a campaign
// (test/fuzz/harness.ts).
import { afterAll, describe } from 'vitest';
import { frontendRingTarget, MUST_REACH } from './frontend-ring-target.js';
import { closeFrontendRingWorlds } from './frontend-ring-world.js';
import { DRIVER_PEER_ERRORS } from './known-errors.js';
import { ringFuzzTest } from './ring-fuzz-test.js';

afterAll(closeFrontendRingWorlds);

describe('fuzz: virtio-user front-end, packed rings', () => {
  ringFuzzTest('frontend-ring-packed.fuzz', 'a hostile back-end writing used entries: only known errors naming the packed chapter, frames only from buffers in flight within their bytes, every buffer in one place, broken stays broken, the pool whole after reclaim', frontendRingTarget('packed'), DRIVER_PEER_ERRORS.packed, MUST_REACH);
});
