// A small seeded pseudo-random number generator for the simulator: a 32-bit Weyl sequence
// (step 0x9e3779b9, the golden ratio) passed through the MurmurHash3 finaliser. Deterministic
// across platforms (only 32-bit integer arithmetic), allocation-free, and fast enough to call
// per packet. Not for cryptography.

const GOLDEN = 0x9e3779b9;

/** MurmurHash3's 32-bit finaliser: a cheap bijective mix of a 32-bit value (result unsigned). */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** An independent 32-bit key for one purpose (`stream`) derived from a run's seed. */
export function deriveSeed(seed: number, stream: number): number {
  return mix32((seed >>> 0) ^ mix32(Math.imul(stream + 1, GOLDEN)));
}

export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next value, uniform over 0 .. 2^32 - 1. */
  next(): number {
    this.state = (this.state + GOLDEN) | 0;
    return mix32(this.state);
  }

  /** Uniform integer in [0, n) for 1 <= n <= 2^32 (multiply-shift; bias below 2^-32 * n). */
  below(n: number): number {
    return Math.floor((this.next() * n) / 4294967296);
  }

  /**
   * True with probability threshold / 2^32. Use `probabilityThreshold` to turn a probability
   * into a threshold once, so the per-call test is one integer compare.
   */
  chance(threshold: number): boolean {
    return this.next() < threshold;
  }
}

/** The `chance` threshold for probability p in [0, 1]. */
export function probabilityThreshold(p: number): number {
  return Math.min(4294967296, Math.floor(p * 4294967296));
}
