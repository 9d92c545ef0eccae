// Model-based tests of VIRTIO_F_IN_ORDER on the split ring (2.7.9): the engine and the split
// reference model, both with IN_ORDER, run the same random interleavings (the lock-step world,
// as in split.model.test.ts). The device uses chains in pop order, some only partly written, so
// runs of completely used chains share one used element; after every step the two must agree on
// results, state and ring bytes, and the world checks that every token comes back once, in the
// order it was made available, with the length the device reported. (The packed ring's
// in-order is drawn in packed.model.test.ts.)
// Runs per property: VIRTQUEUE_PROPERTY_RUNS (default 200).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as S from '../assembly/layout/split.js';
import * as E from '../assembly/layout/errors.js';
import { splitWorld, type SplitParams, type SplitWorld } from './helpers/split-layout.js';
import { splitParamsArb, hostileSplitParamsArb, splitHostileCommands, tamperUsed } from './helpers/split-commands.js';
import { honestWithReset, paramsArb, Step } from './helpers/lockstep-commands.js';
import { RUNS, ENOUGH, honestRuns, hostileRuns, rng, randomChains, toggleNotifications } from './helpers/lockstep-runs.js';

const inOrder = (p: SplitParams): SplitParams => ({ ...p, inOrder: true });

/**
 * A rogue device names the k-th chain in flight as the end of a run, and moves used.idx by
 * `publish`: by fewer than k it claims a run it did not account for (2.7.9), by exactly k it
 * returns the run properly.
 */
const claimRunArb = fc.record({ k: fc.nat(16), publish: fc.nat(16), len: fc.oneof(fc.constant(0), fc.nat(300)) })
  .map(({ k, publish, len }) => new Step<SplitWorld>(`claimRun(${k}, publish ${publish}, len ${len})`, (w) => {
    const inFlight = w.p.driver.inFlight;
    if (inFlight === 0) return;
    const nth = k % inFlight;
    const head = w.p.engineRaw.availRing((w.p.driver.availIdx - inFlight + nth) & 0xffff);
    tamperUsed(w, 0, head, len, Math.min(publish, nth + 1));
  }));

const inOrderHostile = fc.oneof({ weight: 8, arbitrary: splitHostileCommands }, { weight: 1, arbitrary: claimRunArb });

describe('split ring with IN_ORDER: pinned case', () => {
  // Mutation check (the properties only reached it once claimRun was added): {queueSize 4,
  // IN_ORDER}: add 3, pop, the device writes one used element naming the third chain but moves
  // used.idx by 2. 2.7.9: an element for the last chain of a run accounts for the whole run, so
  // used.idx must move by 3; the driver refuses the element and the queue breaks.
  it('a used element for a run that used.idx does not cover breaks the queue (USED_IDX_JUMP)', () => {
    const w = splitWorld({
      queueSize: 4, startIdx: 65534, eventIdx: false, indirect: false, indirectMax: 1,
      interrupts: false, notify: false, cuts: [], inOrder: true,
    }, true);
    const w64 = { len: 64, writable: true };
    expect(w.add([[w64], [w64], [w64]])).toBe(3);
    expect(w.pop(3, 1 << 20).rc).toBe(3);
    expect([0, 1, 2].map((i) => w.p.engineRaw.availRing((65534 + i) & 0xffff))).toEqual([0, 1, 2]);
    tamperUsed(w, 0, 2, 64, 2);
    const got = w.collect(1 << 20);
    expect(got.rc).toBe(E.ERR_USED_IDX_JUMP);
    expect(w.p.driver.status).toBe(E.ERR_USED_IDX_JUMP);
    expect(w.p.refDriver.detail).toBe(0); // used.idx as read: 65534 + 2, modulo 2^16
    w.checkAll();
    // Covering the whole run is a proper return of all three, the first two complete.
    w.reset();
    expect(w.add([[w64], [w64], [w64]])).toBe(3);
    expect(w.pop(3, 1 << 20).rc).toBe(3);
    tamperUsed(w, 0, w.p.engineRaw.availRing(w.p.driver.availIdx - 1), 5, 3);
    expect(w.collect(1 << 20).items.map((u) => u.len)).toEqual([64, 64, 5]);
    w.checkAll();
  });
});

describe('split ring with IN_ORDER: engine and reference model agree', () => {
  it('on random interleavings of driver and device operations', () => {
    let collected = 0;
    let errors = 0;
    let batched = 0;
    honestRuns(splitWorld, splitParamsArb.map(inOrder), honestWithReset, (w) => {
      collected += w.seen.collected;
      errors += w.seen.errors;
      batched += w.seen.batched;
    });
    if (ENOUGH) {
      expect(collected).toBeGreaterThan(0);
      expect(errors).toBeGreaterThan(0); // refused bursts, runs that do not fit a collect
      expect(batched).toBeGreaterThan(0); // chains returned without a used element of their own
    }
  });

  it('when the peer scribbles on the rings: same verdicts, same error codes, same bytes', () => {
    const codes = hostileRuns(splitWorld, hostileSplitParamsArb.map(inOrder), inOrderHostile);
    if (ENOUGH) expect(codes.size).toBeGreaterThanOrEqual(8);
  });

  it('over many round trips: descriptors in ring order, runs batched, across index wraps', () => {
    const longParams = paramsArb([2, 4, 8], {
      startIdx: fc.oneof(fc.integer({ min: 65536 - 800, max: 65535 }), fc.nat(0xffff)),
      inOrder: fc.constant(true),
    }, { indirectMax: [2, 4], maxCuts: 2 });
    const rounds = 800;
    let batched = 0;
    fc.assert(
      fc.property(longParams, fc.integer(), (params, seed) => {
        const w = splitWorld(params);
        const r = rng(seed);
        const q = params.queueSize;
        let nextDesc = 0; // 2.7.5.2: where the next chain's descriptors start, in ring order
        for (let round = 0; round < rounds; round++) {
          const availBefore = w.p.driver.availIdx;
          const added = w.add(randomChains(r, q));
          // Each chain's head is the descriptor after the previous chain's last, and its
          // descriptors run x, x + 1, ... with next = x + 1 (0 after the last of the table).
          for (let i = 0; i < added; i++) {
            const head = w.p.engineRaw.availRing((availBefore + i) & 0xffff);
            expect(head).toBe(nextDesc);
            let d = w.p.engineRaw.readDesc(head);
            let x = head;
            while (d.flags & S.DESC_F_NEXT) {
              expect(d.next).toBe((x + 1) % q);
              x = d.next;
              d = w.p.engineRaw.readDesc(x);
            }
            nextDesc = (x + 1) % q;
          }
          w.kick();
          w.pop(3, r(4) === 0 ? 1 + r(3) : 1 << 20);
          // Some chains used completely, some partly: complete runs share a used element.
          const picks = Array.from({ length: r(q + 1) }, () => ({ pick: 0, len: r(3) === 0 ? r(200) : -1 }));
          const usedBefore = w.p.device.usedIdx;
          const pushed = w.push(picks);
          // 2.7.9: used.idx still moves by every chain, batched or not.
          expect((w.p.device.usedIdx - usedBefore) & 0xffff).toBe(pushed);
          w.checkAll();
          w.interrupt();
          w.collect(r(4) === 0 ? r(3) : 1 << 20);
          w.checkAll();
          toggleNotifications(w, r);
        }
        w.drain();
        w.checkArena();
        expect(w.seen.collected).toBeGreaterThan(rounds / 4);
        batched += w.seen.batched;
      }),
      { numRuns: RUNS },
    );
    if (ENOUGH) expect(batched).toBeGreaterThan(RUNS);
  });
});
