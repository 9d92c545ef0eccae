// The test every ring fuzz target runs: the harness's budget (10^6 ring operations in CI), and,
// in CI, proof that the budget reached every fault the side can report (each peer error of
// its layout broke the queue at least once and was then held sticky), so a generator that
// stopped reaching a rule fails here rather than fuzzing nothing. VIRTQUEUE_FUZZ_FEATURES=FILE
// writes the features reached, one a line.
import { writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { fuzz, fuzzTimeout, isCampaign, type FuzzCase } from './harness.js';
import { errorName } from './known-errors.js';

export const RING_CI_OPS = 1_000_000;

/** `mustReach`: features the CI budget must reach too (paths a target exists to exercise). */
export function ringFuzzTest(target: string, what: string, runCase: FuzzCase, peerErrors: ReadonlySet<number>, mustReach: readonly string[] = []): void {
  it(what, async () => {
    let seen = new Set<string>();
    const s = await fuzz(target, RING_CI_OPS, (seed, features) => {
      seen = features;
      return runCase(seed, features);
    });
    if (process.env.VIRTQUEUE_FUZZ_FEATURES) writeFileSync(process.env.VIRTQUEUE_FUZZ_FEATURES, [...seen].sort().join('\n') + '\n');
    if (isCampaign || process.env.VIRTQUEUE_FUZZ_CASES !== undefined || process.env.VIRTQUEUE_FUZZ_SEED !== undefined) return;
    expect(s.ops).toBeGreaterThanOrEqual(RING_CI_OPS);
    const broke = [...seen].filter((f) => f.includes(':broke')).map((f) => f.slice(f.lastIndexOf(':') + 1));
    const missing = [...peerErrors].map(errorName).filter((name) => !broke.includes(name));
    expect(missing, 'peer errors never reached').toEqual([]);
    expect([...seen].some((f) => f.endsWith(':sticky'))).toBe(true);
    expect(mustReach.filter((f) => !seen.has(f)), 'features never reached').toEqual([]);
  }, fuzzTimeout(180_000));
}
