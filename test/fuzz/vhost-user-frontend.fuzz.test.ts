// Fuzz target `vhost-user-frontend.fuzz`: the vhost-user front-end's reply handling against a
// seeded, grammar-based hostile back-end in this process (frontend-reply-backend.ts): wrong request
// codes, sizes, flags and versions, fds where none belong, garbage feature bits, protocol features
// never asked about, REPLY_ACK nacks, silence, hang-ups at every step, floods of unsolicited
// messages and bytes. One case is one session (through a VirtioUserPort, or VhostUserFrontend
// directly with GET_VRING_BASE); an operation is a message either way. The checks are in
// frontend-reply-target.ts.
//
// CI: 10^5 messages from seed 1. A long campaign:
//   VIRTQUEUE_FUZZ_SECONDS=3600 npx vitest run test/fuzz/vhost-user-frontend.fuzz
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fuzz, fuzzTimeout, isCampaign } from './harness.js';
import { frontendReplyTarget, openReplyWorld, closeReplyWorld } from './frontend-reply-target.js';
import { removeSocketDir } from '../helpers/vhost-user-rig.js';

const CI_MESSAGES = 100_000;

beforeAll(openReplyWorld);
afterAll(() => {
  closeReplyWorld();
  removeSocketDir();
});

it('a hostile vhost-user back-end: every wait bounded, only known FrontendErrors naming the request and the fault, nothing leaked, the pool whole', async () => {
  let reached = new Set<string>();
  const summary = await fuzz('vhost-user-frontend.fuzz', CI_MESSAGES, (seed, features) => {
    reached = features;
    return frontendReplyTarget(seed, features);
  });
  // VIRTQUEUE_FUZZ_FEATURES=FILE writes the features reached, one a line (what the back-end's grammar covers).
  if (process.env.VIRTQUEUE_FUZZ_FEATURES) writeFileSync(process.env.VIRTQUEUE_FUZZ_FEATURES, [...reached].sort().join('\n') + '\n');
  if (isCampaign || process.env.VIRTQUEUE_FUZZ_CASES !== undefined) return;
  expect(summary.ops).toBeGreaterThanOrEqual(CI_MESSAGES);
  // Sessions end in many ways: set-up failures of many kinds, sessions up and then ended.
  expect(summary.features).toBeGreaterThan(80);
}, fuzzTimeout(180_000));
