// Model-based tests of the packed ring (VIRTIO 1.2, 2.8): the Wasm engine (through its src/
// handles) and the packed reference model (sim/reference) run the same random interleavings of
// driver and device operations over two memories with the same layout. After every step their
// return values, popped lists, collected tokens, control state and bytes (descriptor ring, both
// event suppression structures, indirect tables) must agree, and the spec-level invariants
// the lock-step world keeps must hold (see test/helpers/lockstep-world.ts, packed-layout.ts).
// Runs per property: VIRTQUEUE_PROPERTY_RUNS (default 200).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { packedWorld } from './helpers/packed-layout.js';
import { packedParamsArb, hostilePackedParamsArb, packedHostileCommands } from './helpers/packed-commands.js';
import { honestWithReset, paramsArb } from './helpers/lockstep-commands.js';
import { RUNS, ENOUGH, honestRuns, hostileRuns, rng, roundTrip } from './helpers/lockstep-runs.js';
import { passedEvent } from '../sim/reference/index.js';

describe('packed ring: engine and reference model agree', () => {
  it('on random interleavings of driver and device operations', () => {
    const totals = {
      added: 0, collected: 0, kicks: 0, interrupts: 0, indirect: 0, errors: 0, wakeups: 0, partialAdds: 0,
      wrapFlips: 0, batched: 0, listsAcrossWrap: 0,
    };
    let inOrderRuns = 0;
    honestRuns(packedWorld, packedParamsArb, honestWithReset, (w, params) => {
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += w.seen[k];
      if (params.inOrder && w.seen.collected > 0) inOrderRuns++;
    });
    if (ENOUGH) {
      expect(totals.collected).toBeGreaterThan(0);
      expect(totals.kicks).toBeGreaterThan(0);
      expect(totals.interrupts).toBeGreaterThan(0);
      expect(totals.indirect).toBeGreaterThan(0);
      expect(totals.errors).toBeGreaterThan(0); // refused bursts, lists that do not fit a pop
      expect(totals.wakeups).toBeGreaterThan(0); // a sleeping side had to be, and was, notified
      expect(totals.partialAdds).toBeGreaterThan(0); // bursts cut short by a full ring
      expect(totals.wrapFlips).toBeGreaterThan(RUNS); // the wrap counters flipped, many times
      expect(totals.listsAcrossWrap).toBeGreaterThan(0); // lists that start in one lap and end in the next
      expect(totals.batched).toBeGreaterThan(0); // IN_ORDER: buffers returned without a used descriptor of their own
      expect(inOrderRuns).toBeGreaterThan(RUNS / 10);
    }
  });

  it('when the peer scribbles on the ring: same verdicts, same error codes, same bytes', () => {
    const codes = hostileRuns(packedWorld, hostilePackedParamsArb, packedHostileCommands);
    // Many different rules were broken, and each time both sides gave the same verdict.
    if (ENOUGH) expect(codes.size).toBeGreaterThanOrEqual(10);
  });

  it('over thousands of round trips on small queues, across many wrap-counter flips', () => {
    const longParams = paramsArb([1, 2, 3, 5, 8], { inOrder: fc.boolean() }, { indirectMax: [2, 4, 8], maxCuts: 2 });
    const rounds = 1000;
    fc.assert(
      fc.property(longParams, fc.integer(), (params, seed) => {
        const w = packedWorld(params);
        const r = rng(seed);
        for (let round = 0; round < rounds; round++) roundTrip(w, r, params.queueSize);
        w.drain();
        w.checkArena();
        // Nothing got stuck, and the wrap counters flipped over and over.
        expect(w.seen.collected).toBeGreaterThan(rounds / 4);
        expect(w.seen.wrapFlips).toBeGreaterThan(rounds / 8);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('packed reference model', () => {
  it("words the packed event rule like the engine's packedNeedEvent (2.8.10)", () => {
    // The engine's (and Linux's) form: move an event from the previous lap back by q, then the
    // split ring's vring_need_event modulo 2^16.
    const engineForm = (offWrap: number, next: number, wrap: number, count: number, q: number): boolean => {
      if (count >= q) return true;
      let event = offWrap & 0x7fff;
      if (offWrap >>> 15 !== wrap) event -= q;
      return ((next - event - 1) & 0xffff) < count;
    };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 32768 }), fc.nat(0xffff), fc.nat(), fc.nat(1), fc.nat(70000), (q, offWrap, n, wrap, count) => {
        const next = n % q;
        expect(passedEvent(offWrap, { slot: next, wrapCounter: wrap }, count, q)).toBe(engineForm(offWrap, next, wrap, count, q));
        // Events right around the published window, in both laps.
        for (const off of [next, (next + q - 1) % q, (next + q - (count % q)) % q]) {
          for (const w of [0, 1]) {
            const ow = off | (w << 15);
            expect(passedEvent(ow, { slot: next, wrapCounter: wrap }, count, q)).toBe(engineForm(ow, next, wrap, count, q));
          }
        }
      }),
      { numRuns: RUNS * 10 },
    );
  });

  it('names exactly the descriptors just passed, walking them one by one (2.8.10)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(1), fc.nat(400), fc.nat(), fc.nat(1), (q, n, wrap, count, o, w) => {
        const next = n % q;
        const off = o % q;
        // Walk back from (next, wrap) over the `count` positions just passed.
        let hit = false;
        let slot = next;
        let lap = wrap;
        for (let i = 0; i < Math.min(count, 2 * q); i++) {
          if (slot === 0) { slot = q; lap ^= 1; }
          slot--;
          if (slot === off && lap === w) hit = true;
        }
        const expected = count >= q || hit;
        expect(passedEvent(off | (w << 15), { slot: next, wrapCounter: wrap }, count, q)).toBe(expected);
      }),
      { numRuns: RUNS * 10 },
    );
  });
});
