// Fuzz target `vhost-user-session.fuzz`: seeded, grammar-based vhost-user sessions from a hostile
// front-end against the back-end in this process (a plain server, one that requires sealed guest
// memory, one with inflight I/O tracking, one behind an IOMMU (ACCESS_PLATFORM: IOTLB_MSG updates,
// invalidations and hostile ones, SET_BACKEND_REQ_FD), and virtio-net on a Dataplane worker with
// frames flowing). One case is one session
// (a connection) of random length; an operation is a message sent. The grammar is
// vhost-user-session-grammar.ts, the checks vhost-user-session-run.ts, the fds
// vhost-user-session-fds.ts. Features are distinct (request, mutation, outcome) triples such as
// `SET_VRING_ADDR:ack0`, `SET_MEM_TABLE/zero-size:ack1:region N ...`, `GET_FEATURES:reply`,
// `SET_VRING_KICK/too-many-fds:ended:more than N file descriptors ...`.
//
// CI: 10^5 messages from seed 1. A long campaign:
//   VIRTQUEUE_FUZZ_SECONDS=3600 npx vitest run test/fuzz/vhost-user-session.fuzz
// A failure prints its seed and the command that replays it. A crash that kills the process
// leaves the seed of the case it was running in $TMPDIR/virtqueue-fuzz-vhost-user-session.seed.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fuzz, fuzzTimeout, isCampaign } from './harness.js';
import { SessionWorld, runSession } from './vhost-user-session-run.js';

const CI_MESSAGES = 100_000;

let world: SessionWorld | undefined;

beforeAll(async () => {
  world = await SessionWorld.open(true);
});

afterAll(async () => {
  await world?.close();
});

it('hostile vhost-user sessions: no crash or hang, well-formed replies and acks, nothing leaked, the server serves on', async () => {
  let reached = new Set<string>();
  const summary = await fuzz('vhost-user-session.fuzz', CI_MESSAGES, (seed, features) => {
    reached = features;
    return runSession(world!, seed, features);
  });
  // VIRTQUEUE_FUZZ_FEATURES=FILE writes the features reached, one a line (to see what the grammar covers).
  if (process.env.VIRTQUEUE_FUZZ_FEATURES) writeFileSync(process.env.VIRTQUEUE_FUZZ_FEATURES, [...reached].sort().join('\n') + '\n');
  if (!isCampaign && process.env.VIRTQUEUE_FUZZ_CASES === undefined) expect(summary.ops).toBeGreaterThanOrEqual(CI_MESSAGES);
  // The grammar reaches well beyond the happy path: acks both ways, replies, ends of many kinds.
  expect(summary.features).toBeGreaterThan(summary.cases >= 1000 ? 300 : 10);
}, fuzzTimeout(240_000));
