// Model-based tests: the Wasm engine (through its src/ handles) and the reference model
// (sim/reference) run the same random interleavings of driver and device operations over two
// memories with the same layout. After every step their return values, popped chains,
// collected tokens, control state and ring bytes (descriptor table, available ring with
// used_event, used ring with avail_event, indirect tables) must agree, and the spec-level
// invariants the lock-step world keeps must hold (see test/helpers/lockstep-world.ts).
// Runs per property: VIRTQUEUE_PROPERTY_RUNS (default 200).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { splitWorld } from './helpers/split-layout.js';
import { splitParamsArb, hostileSplitParamsArb, splitHostileCommands } from './helpers/split-commands.js';
import { honestWithReset, paramsArb } from './helpers/lockstep-commands.js';
import { RUNS, ENOUGH, honestRuns, hostileRuns, rng, roundTrip } from './helpers/lockstep-runs.js';
import { eventPublished } from '../sim/reference/index.js';

describe('split ring: engine and reference model agree', () => {
  it('on random interleavings of driver and device operations', () => {
    const totals = { added: 0, collected: 0, kicks: 0, interrupts: 0, indirect: 0, errors: 0, wakeups: 0, partialAdds: 0 };
    let wrapped = 0; // runs whose avail.idx crossed 65535 -> 0
    honestRuns(splitWorld, splitParamsArb, honestWithReset, (w, params) => {
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += w.seen[k];
      if (params.startIdx + w.seen.added >= 65536) wrapped++;
    });
    if (ENOUGH) {
      // The runs did exercise the paths the comparisons are about.
      expect(totals.collected).toBeGreaterThan(0);
      expect(totals.kicks).toBeGreaterThan(0);
      expect(totals.interrupts).toBeGreaterThan(0);
      expect(totals.indirect).toBeGreaterThan(0);
      expect(totals.errors).toBeGreaterThan(0); // refused bursts, chains that do not fit a pop
      expect(totals.wakeups).toBeGreaterThan(0); // a sleeping side had to be, and was, notified
      expect(totals.partialAdds).toBeGreaterThan(0); // bursts cut short by a full ring
      expect(wrapped).toBeGreaterThan(RUNS / 20);
    }
  });

  it('when the peer scribbles on the rings: same verdicts, same error codes, same bytes', () => {
    const codes = hostileRuns(splitWorld, hostileSplitParamsArb, splitHostileCommands);
    // Many different rules were broken, and each time both sides gave the same verdict.
    if (ENOUGH) expect(codes.size).toBeGreaterThanOrEqual(8);
  });

  it('over thousands of round trips on small queues, across index wraps', () => {
    const longParams = paramsArb([4, 8], { startIdx: fc.oneof(fc.integer({ min: 65536 - 1200, max: 65535 }), fc.nat(0xffff)) },
      { indirectMax: [2, 4, 8], maxCuts: 2 });
    const rounds = 1500;
    let wraps = 0;
    fc.assert(
      fc.property(longParams, fc.integer(), (params, seed) => {
        const w = splitWorld(params);
        const r = rng(seed);
        const start = w.p.driver.availIdx;
        for (let round = 0; round < rounds; round++) roundTrip(w, r, params.queueSize);
        w.drain();
        wraps += Math.floor((start + w.seen.added) / 65536);
        w.checkArena();
        // Nothing got stuck: the pair kept moving chains the whole run.
        expect(w.seen.collected).toBeGreaterThan(rounds);
      }),
      { numRuns: RUNS },
    );
    // Some runs crossed the 16-bit index wrap (every run crosses the ring's own wrap many times).
    if (ENOUGH) expect(wraps).toBeGreaterThan(0);
  });
});

describe('reference model', () => {
  it("words the event index rule like the spec's vring_need_event (2.7.7.2, 2.7.10.2)", () => {
    // The spec's C: (u16)(new_idx - event_idx - 1) < (u16)(new_idx - old_idx).
    const specFormula = (event: number, newIdx: number, oldIdx: number): boolean =>
      ((newIdx - event - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
    const u16 = fc.nat(0xffff);
    fc.assert(
      fc.property(u16, u16, fc.nat(300), (oldIdx, event, published) => {
        const newIdx = (oldIdx + published) & 0xffff;
        const near = (oldIdx + (event % 400) - 50) & 0xffff; // events around the published window
        for (const e of [event, near]) {
          expect(eventPublished(e, newIdx, oldIdx)).toBe(specFormula(e, newIdx, oldIdx));
        }
      }),
      { numRuns: RUNS * 10 },
    );
  });
});
