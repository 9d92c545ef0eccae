// Model-based tests of the packed ring (VIRTIO 1.2, 2.8): the Wasm engine (through its src/
// handles) and the packed reference model (sim/reference) run the same random interleavings of
// driver and device operations over two memories with the same layout. After every step their
// return values, popped lists, collected tokens, control state and bytes (descriptor ring, both
// event suppression structures, indirect tables) must agree, and the spec-level invariants
// PackedWorld keeps must hold (see test/helpers/packed-world.ts).
// Runs per property: VIRTQUEUE_PROPERTY_RUNS (default 200).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PackedWorld } from './helpers/packed-world.js';
import { packedHonestWithReset, packedHostileCommands, hostilePackedParamsArb, packedParamsArb } from './helpers/packed-commands.js';
import type { PackedParams } from './helpers/packed-pair.js';
import type { SegSpec } from './helpers/model-world.js';
import { passedEvent } from '../sim/reference/index.js';

const RUNS = Number(process.env.VIRTQUEUE_PROPERTY_RUNS ?? 200);
/** Coverage checks ("the runs did reach this path") only mean something with enough runs. */
const ENOUGH = RUNS >= 100;

/** Small deterministic generator for the long runs (xorshift32), seeded by fast-check. */
function rng(seed: number): (n: number) => number {
  let x = (seed | 0) || 0x9e3779b9;
  return (n) => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % n;
  };
}

describe('packed ring: engine and reference model agree', () => {
  it('on random interleavings of driver and device operations', () => {
    const totals = {
      added: 0, collected: 0, kicks: 0, interrupts: 0, indirect: 0, errors: 0, wakeups: 0, partialAdds: 0,
      wrapFlips: 0, batched: 0, listsAcrossWrap: 0,
    };
    let inOrderRuns = 0;
    fc.assert(
      fc.property(packedParamsArb, fc.commands([packedHonestWithReset], { maxCommands: 100, size: 'large' }), (params, cmds) => {
        const w = new PackedWorld(params);
        fc.modelRun(() => ({ model: w, real: {} }), cmds);
        for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += w.seen[k];
        if (params.inOrder && w.seen.collected > 0) inOrderRuns++;
        // Whatever is still in flight comes back, each token once, with its length.
        w.drain();
        w.checkArena();
      }),
      { numRuns: RUNS },
    );
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
    const codes = new Set<number>();
    fc.assert(
      fc.property(hostilePackedParamsArb, fc.commands([packedHostileCommands], { maxCommands: 80, size: 'large' }), (params, cmds) => {
        const w = new PackedWorld(params, true);
        fc.modelRun(() => ({ model: w, real: {} }), cmds);
        // Even a misbehaving device cannot make the driver lose or duplicate a token.
        w.reset();
        w.checkAll();
        w.checkArena();
        for (const c of w.codes) codes.add(c);
      }),
      { numRuns: RUNS },
    );
    // Many different rules were broken, and each time both sides gave the same verdict.
    if (ENOUGH) expect(codes.size).toBeGreaterThanOrEqual(10);
  });

  it('over thousands of round trips on small queues, across many wrap-counter flips', () => {
    const longParams: fc.Arbitrary<PackedParams> = fc.record({
      queueSize: fc.constantFrom(1, 2, 3, 5, 8),
      eventIdx: fc.boolean(),
      indirect: fc.boolean(),
      inOrder: fc.boolean(),
      indirectMax: fc.constantFrom(2, 4, 8),
      interrupts: fc.boolean(),
      notify: fc.boolean(),
      cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 2 }),
    });
    const rounds = 1000;
    fc.assert(
      fc.property(longParams, fc.integer(), (params, seed) => {
        const w = new PackedWorld(params);
        const r = rng(seed);
        for (let round = 0; round < rounds; round++) {
          const chains: SegSpec[][] = [];
          for (let c = 1 + r(params.queueSize); c > 0; c--) {
            const segs: SegSpec[] = [];
            for (let s = 1 + r(3); s > 0; s--) segs.push({ len: r(65), writable: r(2) === 1 });
            chains.push([...segs.filter((s) => !s.writable), ...segs.filter((s) => s.writable)]);
          }
          w.add(chains);
          w.checkAll();
          w.kick();
          w.pop(3, r(4) === 0 ? 1 + r(3) : 1 << 20);
          w.checkAll();
          // The device uses a random subset, in random order (in pop order with IN_ORDER), some only partly written.
          const picks = Array.from({ length: r(params.queueSize + 1) }, () => ({ pick: r(64), len: r(3) === 0 ? r(200) : -1 }));
          w.push(picks);
          w.checkAll();
          w.interrupt();
          w.collect(r(4) === 0 ? r(3) : 1 << 20);
          w.checkAll();
          switch (r(16)) {
            case 0: w.enableInterrupts(); break;
            case 1: w.disableInterrupts(); break;
            case 2: w.enableNotify(); break;
            case 3: w.disableNotify(); break;
            default: break;
          }
          w.checkAll();
        }
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
