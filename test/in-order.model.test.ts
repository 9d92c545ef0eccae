// Model-based tests of VIRTIO_F_IN_ORDER on the split ring (2.7.9): the engine and the split
// reference model, both with IN_ORDER, run the same random interleavings (World, as in
// split.model.test.ts). The device uses chains in pop order, some only partly written, so runs
// of completely used chains share one used element; after every step the two must agree on
// results, state and ring bytes, and World checks that every token comes back once, in the
// order it was made available, with the length the device reported. (The packed ring's
// in-order is drawn in packed.model.test.ts.)
// Runs per property: VIRTQUEUE_PROPERTY_RUNS (default 200).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as S from '../assembly/layout/split.js';
import * as E from '../assembly/layout/errors.js';
import { World, type SegSpec } from './helpers/model-world.js';
import { honestWithReset, hostileCommands, hostileParamsArb, paramsArb, Step } from './helpers/model-commands.js';
import type { PairParams } from './helpers/model-pair.js';

const RUNS = Number(process.env.VIRTQUEUE_PROPERTY_RUNS ?? 200);
const ENOUGH = RUNS >= 100;

const inOrder = (p: PairParams): PairParams => ({ ...p, inOrder: true });

/**
 * A rogue device names the k-th chain in flight as the end of a run, and moves used.idx by
 * `publish`: by fewer than k it claims a run it did not account for (2.7.9), by exactly k it
 * returns the run properly.
 */
const claimRunArb = fc.record({ k: fc.nat(16), publish: fc.nat(16), len: fc.oneof(fc.constant(0), fc.nat(300)) })
  .map(({ k, publish, len }) => new Step<World>(`claimRun(${k}, publish ${publish}, len ${len})`, (w) => {
    const inFlight = w.p.driver.inFlight;
    if (inFlight === 0) return;
    const nth = k % inFlight;
    const head = w.p.engineRaw.availRing((w.p.driver.availIdx - inFlight + nth) & 0xffff);
    w.tamperUsed(0, head, len, Math.min(publish, nth + 1));
  }));

const inOrderHostile = fc.oneof({ weight: 8, arbitrary: hostileCommands }, { weight: 1, arbitrary: claimRunArb });

function rng(seed: number): (n: number) => number {
  let x = (seed | 0) || 0x9e3779b9;
  return (n) => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % n;
  };
}

describe('split ring with IN_ORDER: pinned case', () => {
  // Mutation check (the properties only reached it once claimRun was added): {queueSize 4,
  // IN_ORDER}: add 3, pop, the device writes one used element naming the third chain but moves
  // used.idx by 2. 2.7.9: an element for the last chain of a run accounts for the whole run, so
  // used.idx must move by 3; the driver refuses the element and the queue breaks.
  it('a used element for a run that used.idx does not cover breaks the queue (USED_IDX_JUMP)', () => {
    const w = new World({
      queueSize: 4, startIdx: 65534, eventIdx: false, indirect: false, indirectMax: 1,
      interrupts: false, notify: false, cuts: [], inOrder: true,
    }, true);
    const w64 = { len: 64, writable: true };
    expect(w.add([[w64], [w64], [w64]])).toBe(3);
    expect(w.pop(3, 1 << 20).rc).toBe(3);
    expect([0, 1, 2].map((i) => w.p.engineRaw.availRing((65534 + i) & 0xffff))).toEqual([0, 1, 2]);
    w.tamperUsed(0, 2, 64, 2);
    const got = w.collect(1 << 20);
    expect(got.rc).toBe(E.ERR_USED_IDX_JUMP);
    expect(w.p.driver.status).toBe(E.ERR_USED_IDX_JUMP);
    expect(w.p.refDriver.detail).toBe(0); // used.idx as read: 65534 + 2, modulo 2^16
    w.checkAll();
    // Covering the whole run is a proper return of all three, the first two complete.
    w.reset();
    expect(w.add([[w64], [w64], [w64]])).toBe(3);
    expect(w.pop(3, 1 << 20).rc).toBe(3);
    w.tamperUsed(0, w.p.engineRaw.availRing(w.p.driver.availIdx - 1), 5, 3);
    expect(w.collect(1 << 20).items.map((u) => u.len)).toEqual([64, 64, 5]);
    w.checkAll();
  });
});

describe('split ring with IN_ORDER: engine and reference model agree', () => {
  it('on random interleavings of driver and device operations', () => {
    let collected = 0;
    let errors = 0;
    let batched = 0;
    fc.assert(
      fc.property(paramsArb.map(inOrder), fc.commands([honestWithReset], { maxCommands: 100, size: 'large' }), (params, cmds) => {
        const w = new World(params);
        fc.modelRun(() => ({ model: w, real: {} }), cmds);
        collected += w.seen.collected;
        errors += w.seen.errors;
        batched += w.seen.batched;
        w.drain();
        w.checkArena();
      }),
      { numRuns: RUNS },
    );
    if (ENOUGH) {
      expect(collected).toBeGreaterThan(0);
      expect(errors).toBeGreaterThan(0); // refused bursts, runs that do not fit a collect
      expect(batched).toBeGreaterThan(0); // chains returned without a used element of their own
    }
  });

  it('when the peer scribbles on the rings: same verdicts, same error codes, same bytes', () => {
    const codes = new Set<number>();
    fc.assert(
      fc.property(hostileParamsArb.map(inOrder), fc.commands([inOrderHostile], { maxCommands: 80, size: 'large' }), (params, cmds) => {
        const w = new World(params, true);
        fc.modelRun(() => ({ model: w, real: {} }), cmds);
        w.reset();
        w.checkAll();
        w.checkArena();
        for (const c of w.codes) codes.add(c);
      }),
      { numRuns: RUNS },
    );
    if (ENOUGH) expect(codes.size).toBeGreaterThanOrEqual(8);
  });

  it('over many round trips: descriptors in ring order, runs batched, across index wraps', () => {
    const longParams: fc.Arbitrary<PairParams> = fc.record({
      queueSize: fc.constantFrom(2, 4, 8),
      startIdx: fc.oneof(fc.integer({ min: 65536 - 800, max: 65535 }), fc.nat(0xffff)),
      eventIdx: fc.boolean(),
      indirect: fc.boolean(),
      indirectMax: fc.constantFrom(2, 4),
      interrupts: fc.boolean(),
      notify: fc.boolean(),
      cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 2 }),
      inOrder: fc.constant(true),
    });
    const rounds = 800;
    let batched = 0;
    fc.assert(
      fc.property(longParams, fc.integer(), (params, seed) => {
        const w = new World(params);
        const r = rng(seed);
        const q = params.queueSize;
        let nextDesc = 0; // 2.7.5.2: where the next chain's descriptors start, in ring order
        for (let round = 0; round < rounds; round++) {
          const chains: SegSpec[][] = [];
          for (let c = 1 + r(q); c > 0; c--) {
            const segs: SegSpec[] = [];
            for (let s = 1 + r(3); s > 0; s--) segs.push({ len: r(65), writable: r(2) === 1 });
            chains.push([...segs.filter((s) => !s.writable), ...segs.filter((s) => s.writable)]);
          }
          const availBefore = w.p.driver.availIdx;
          const added = w.add(chains);
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
        expect(w.seen.collected).toBeGreaterThan(rounds / 4);
        batched += w.seen.batched;
      }),
      { numRuns: RUNS },
    );
    if (ENOUGH) expect(batched).toBeGreaterThan(RUNS);
  });
});
