// Deterministic tick scheduler for the simulated NIC's completions. A token (a chain's head id,
// unique while the chain is in flight) is scheduled when the NIC takes a chain and released
// when its completion is due:
//
//   due tick = now + latency + (uniform extra in [0, jitter])
//
// With `outOfOrder`, the tokens released in one tick come out in a shuffled order (and a jitter
// above zero lets a later token overtake an earlier one across ticks). `drop()` is the wire's
// coin: each call is one Bernoulli trial with the configured drop probability.
//
// Storage is a timing wheel of FIFO lists threaded through typed arrays: no allocation after
// construction. All randomness comes from one seeded Prng, so the same seed and the same calls
// give the same releases.
import { Prng, probabilityThreshold } from './prng.js';

export interface SchedulerOptions {
  /** Tokens are integers in [0, capacity). */
  capacity: number;
  /** Ticks from scheduling to completion (>= 0). */
  latency: number;
  /** Largest random extra latency, in ticks (>= 0). */
  jitter: number;
  /** Release the tokens due in the same tick in a shuffled order. */
  outOfOrder: boolean;
  /** Probability in [0, 1) that `drop()` says yes. */
  dropProbability: number;
  seed: number;
}

const NONE = -1;

export class CompletionScheduler {
  readonly latency: number;
  readonly jitter: number;
  readonly outOfOrder: boolean;
  /** Current tick. */
  now = 0;
  /** Tokens scheduled and not released yet. */
  pending = 0;
  private readonly prng: Prng;
  private readonly dropThreshold: number;
  private readonly mask: number;
  private readonly head: Int32Array;
  private readonly tail: Int32Array;
  private readonly next: Int32Array;

  constructor(o: SchedulerOptions) {
    if (!(Number.isInteger(o.capacity) && o.capacity >= 1)) throw new RangeError(`scheduler capacity must be a positive integer, got ${o.capacity}`);
    if (!(Number.isInteger(o.latency) && o.latency >= 0)) throw new RangeError(`latency must be a whole number of ticks, got ${o.latency}`);
    if (!(Number.isInteger(o.jitter) && o.jitter >= 0)) throw new RangeError(`jitter must be a whole number of ticks, got ${o.jitter}`);
    if (!(o.dropProbability >= 0 && o.dropProbability < 1)) throw new RangeError(`drop probability must be in [0, 1), got ${o.dropProbability}`);
    this.latency = o.latency;
    this.jitter = o.jitter;
    this.outOfOrder = o.outOfOrder;
    this.prng = new Prng(o.seed);
    this.dropThreshold = probabilityThreshold(o.dropProbability);
    let slots = 1;
    while (slots <= o.latency + o.jitter) slots *= 2;
    this.mask = slots - 1;
    this.head = new Int32Array(slots).fill(NONE);
    this.tail = new Int32Array(slots).fill(NONE);
    this.next = new Int32Array(o.capacity).fill(NONE);
  }

  /** Schedules `token` (not already pending) for completion; returns the tick it is due. */
  schedule(token: number): number {
    let due = this.now + this.latency;
    if (this.jitter > 0) due += this.prng.below(this.jitter + 1);
    const slot = due & this.mask;
    this.next[token] = NONE;
    const t = this.tail[slot];
    if (t === NONE) this.head[slot] = token; else this.next[t] = token;
    this.tail[slot] = token;
    this.pending++;
    return due;
  }

  /**
   * Writes the tokens due now into `out` (room for `capacity` tokens) and returns how many.
   * Call once per tick, then `tick()`.
   */
  release(out: Uint32Array): number {
    const slot = this.now & this.mask;
    let n = 0;
    for (let t = this.head[slot]; t !== NONE; t = this.next[t]) out[n++] = t;
    this.head[slot] = NONE;
    this.tail[slot] = NONE;
    this.pending -= n;
    if (this.outOfOrder) {
      // Fisher-Yates.
      for (let i = n - 1; i > 0; i--) {
        const j = this.prng.below(i + 1);
        const x = out[i];
        out[i] = out[j];
        out[j] = x;
      }
    }
    return n;
  }

  /** Advances the clock by one tick. */
  tick(): void {
    this.now++;
  }

  /** One Bernoulli trial with the drop probability (consumes no randomness when it is 0). */
  drop(): boolean {
    return this.dropThreshold !== 0 && this.prng.chance(this.dropThreshold);
  }
}
