// Model-based tests: the Wasm engine (through its src/ handles) and the reference model
// (sim/reference) run the same random interleavings of driver and device operations over two
// memories with the same layout. After every step their return values, popped chains,
// collected tokens, control state and ring bytes (descriptor table, available ring with
// used_event, used ring with avail_event, indirect tables) must agree, and the spec-level
// invariants World keeps must hold (see test/helpers/model-world.ts).
// Runs per property: VIRTQUEUE_PROPERTY_RUNS (default 200).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { World, type SegSpec } from './helpers/model-world.js';
import { honestWithReset, hostileCommands, hostileParamsArb, paramsArb } from './helpers/model-commands.js';
import type { PairParams } from './helpers/model-pair.js';
import { eventPublished } from '../sim/reference/index.js';

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

describe('split ring: engine and reference model agree', () => {
  it('on random interleavings of driver and device operations', () => {
    const totals = { added: 0, collected: 0, kicks: 0, interrupts: 0, indirect: 0, errors: 0, wakeups: 0, partialAdds: 0 };
    let wrapped = 0; // runs whose avail.idx crossed 65535 -> 0
    fc.assert(
      fc.property(paramsArb, fc.commands([honestWithReset], { maxCommands: 100, size: 'large' }), (params, cmds) => {
        const w = new World(params);
        fc.modelRun(() => ({ model: w, real: {} }), cmds);
        for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += w.seen[k];
        if (params.startIdx + w.seen.added >= 65536) wrapped++;
        // Whatever is still in flight comes back, each token once, with its length.
        w.drain();
        w.checkArena();
      }),
      { numRuns: RUNS },
    );
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
    const codes = new Set<number>();
    fc.assert(
      fc.property(hostileParamsArb, fc.commands([hostileCommands], { maxCommands: 80, size: 'large' }), (params, cmds) => {
        const w = new World(params, true);
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
    if (ENOUGH) expect(codes.size).toBeGreaterThanOrEqual(8);
  });

  it('over thousands of round trips on small queues, across index wraps', () => {
    const longParams: fc.Arbitrary<PairParams> = fc.record({
      queueSize: fc.constantFrom(4, 8),
      startIdx: fc.oneof(fc.integer({ min: 65536 - 1200, max: 65535 }), fc.nat(0xffff)),
      eventIdx: fc.boolean(),
      indirect: fc.boolean(),
      indirectMax: fc.constantFrom(2, 4, 8),
      interrupts: fc.boolean(),
      notify: fc.boolean(),
      cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 2 }),
    });
    const rounds = 1500;
    let wraps = 0;
    fc.assert(
      fc.property(longParams, fc.integer(), (params, seed) => {
        const w = new World(params);
        const r = rng(seed);
        const start = w.p.driver.availIdx;
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
          // The device completes a random subset, in random order, some only partly written.
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
