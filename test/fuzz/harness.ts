// The fuzz harness every target in test/fuzz/ runs under: budgets, seeds, progress and results.
//
// A target is a function that runs one case from a seed and returns how many operations it did
// (ring operations, or vhost-user messages), adding the features it reached to a set (a coverage
// proxy: distinct outcomes such as "pop:error:DESC_LOOP" or "SET_VRING_ADDR:nack"). It throws
// when an invariant breaks.
//
// Two modes:
// - CI (default): cases run from a fixed base seed until the target's operation budget is
//   reached, so a run is repeatable and a red result can be replayed exactly.
// - Campaign: `VIRTQUEUE_FUZZ_SECONDS=N npx vitest run test/fuzz/<target>` runs for N seconds
//   from a random base seed, prints progress every 10 s and a JSON summary at the end.
//
// `VIRTQUEUE_FUZZ_SEED=S` sets the base seed; `VIRTQUEUE_FUZZ_CASES=K` stops after K cases (with
// the seed a failure printed, `VIRTQUEUE_FUZZ_CASES=1` replays just that case).
// `VIRTQUEUE_FUZZ_JSON=FILE` appends each summary as one JSON line to FILE.
import { appendFileSync } from 'node:fs';

export interface FuzzSummary {
  target: string;
  mode: 'ci' | 'campaign';
  baseSeed: number;
  cases: number;
  ops: number;
  seconds: number;
  opsPerSecond: number;
  features: number;
  /** The seed of the failing case, when one failed (the summary is printed before the throw). */
  failedSeed?: number;
}

/** One case: runs from `seed`, returns the operations done, adds reached features to `features`. */
export type FuzzCase = (seed: number, features: Set<string>) => number | Promise<number>;

const env = process.env;
const campaignSeconds = Number(env.VIRTQUEUE_FUZZ_SECONDS ?? 0);

/** True when a long campaign was asked for. */
export const isCampaign = campaignSeconds > 0;

/** The vitest timeout for a fuzz test: the campaign's length plus a margin, or `ciMs` in CI. */
export function fuzzTimeout(ciMs: number): number {
  return isCampaign ? campaignSeconds * 1000 + 120_000 : ciMs;
}

function whole(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name}=${v}: expected a whole number`);
  return n;
}

/** The seed of case `i` from `base`: spread out so neighbouring bases don't share cases. */
export function caseSeed(base: number, i: number): number {
  return (base + Math.imul(i, 0x9e3779b1)) >>> 0;
}

/**
 * Runs `target` until its budget is spent: `ciOps` operations in CI, or VIRTQUEUE_FUZZ_SECONDS
 * in a campaign. Returns the summary; throws (after printing the summary) with the failing
 * case's seed and the command that replays it.
 */
export async function fuzz(target: string, ciOps: number, runCase: FuzzCase): Promise<FuzzSummary> {
  const seedEnv = whole('VIRTQUEUE_FUZZ_SEED', env.VIRTQUEUE_FUZZ_SEED);
  const maxCases = whole('VIRTQUEUE_FUZZ_CASES', env.VIRTQUEUE_FUZZ_CASES);
  const baseSeed = seedEnv ?? (isCampaign ? (Math.random() * 2 ** 32) >>> 0 : 1);
  const features = new Set<string>();
  const started = performance.now();
  const deadline = started + campaignSeconds * 1000;
  let nextReport = started + 10_000;
  let ops = 0;
  let cases = 0;
  const summary = (failedSeed?: number): FuzzSummary => {
    const seconds = (performance.now() - started) / 1000;
    const s: FuzzSummary = {
      target, mode: isCampaign ? 'campaign' : 'ci', baseSeed, cases, ops,
      seconds: Math.round(seconds * 10) / 10,
      opsPerSecond: Math.round(ops / Math.max(seconds, 1e-3)),
      features: features.size,
    };
    if (failedSeed !== undefined) s.failedSeed = failedSeed;
    console.log(`fuzz ${target}: ${JSON.stringify(s)}`);
    if (env.VIRTQUEUE_FUZZ_JSON) appendFileSync(env.VIRTQUEUE_FUZZ_JSON, JSON.stringify(s) + '\n');
    return s;
  };
  for (;;) {
    if (maxCases !== undefined && cases >= maxCases) break;
    if (isCampaign ? performance.now() >= deadline : ops >= ciOps) break;
    const seed = caseSeed(baseSeed, cases);
    try {
      ops += await runCase(seed, features);
    } catch (e) {
      summary(seed);
      const why = e instanceof Error ? e.message : String(e);
      const err = new Error(
        `fuzz ${target}: case ${cases} (seed ${seed}) failed: ${why}\n` +
        `replay: VIRTQUEUE_FUZZ_SEED=${seed} VIRTQUEUE_FUZZ_CASES=1 npx vitest run test/fuzz/${target}`,
      );
      if (e instanceof Error) err.stack = `${err.message}\n${e.stack ?? ''}`;
      throw err;
    }
    cases++;
    if (isCampaign && performance.now() >= nextReport) {
      const s = (performance.now() - started) / 1000;
      console.log(`fuzz ${target}: ${s.toFixed(0)} s, ${cases} cases, ${ops} ops, ${Math.round(ops / s)} ops/s, ${features.size} features`);
      nextReport += 10_000;
    }
  }
  return summary();
}

/** A small deterministic PRNG (xorshift32) for targets that draw their own bytes. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x6d2b79f5;
  }
  /** A uniform 32-bit value. */
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** A whole number in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : this.u32() % n;
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)]!;
  }
  /** A value biased towards edges (0, 1, max, max-1, powers of two) for width-bit fields. */
  edgy(bits: number): number {
    const max = bits >= 32 ? 0xffffffff : (1 << bits) - 1;
    switch (this.below(8)) {
      case 0: return 0;
      case 1: return 1;
      case 2: return max >>> 0;
      case 3: return (max - 1) >>> 0;
      case 4: return (1 << this.below(bits)) >>> 0;
      default: return (this.u32() & max) >>> 0;
    }
  }
}
