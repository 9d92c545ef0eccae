// Inflight I/O tracking on the split device (vhost-user.rst "Inflight I/O tracking", split
// virtqueue): the region bytes after each pop, push and unpop follow the spec's rules, and a new
// device resuming from the region of one that "died" at each point of a push (before it
// published, between publishing used.idx and updating used_idx) pops again exactly the chains
// the driver has not got back, in counter order, whatever order the others were used in (the
// resubmission list), so the driver gets every chain back once, even when the new device dies
// too before using them. Regions no driver and device could have left (garbage, repeats, more in
// flight than offered, a chain in flight offered again) are refused with the error naming the rule.
import { describe, expect, it } from 'vitest';
import {
  createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, SplitDriver, SplitDevice, allocSplitRing,
  VirtqueueError, type FeatureSet,
} from '../src/index.js';
import { loadEngine } from '../src/node.js';
import { inflightRegionSize } from '../src/virtqueue/inflight.js';
import * as S from '../assembly/layout/split.js';
import * as I from '../assembly/layout/inflight.js';
import * as B from '../assembly/layout/batch.js';
import { readSplitRegion, splitEntry } from './helpers/inflight-region.js';

const Q = 8;

/** A split ring of Q entries whose indices start at `start`, a driver, and a region to track into. */
function world(start = 0, features: FeatureSet = 0n) {
  const memory = createSharedMemory(4 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const ring = allocSplitRing(plan, Q);
  const region = plan.alloc(inflightRegionSize('split', Q), 64, 'inflight region');
  const buffers = plan.alloc(Q * 256, 64);
  const driver = new SplitDriver(engine, plan, ring, { features, startIdx: start });
  engine.u16[(ring.used + S.USED_IDX) >>> 1] = start;
  const add = new ChainBatch(engine, plan, Q);
  const popped = new ChainBatch(engine, plan, Q);
  const used = new UsedBatch(engine, plan, Q);
  const got = new UsedBatch(engine, plan, Q);
  const device = (opts: { resume?: boolean; startIdx?: number } = {}): SplitDevice => new SplitDevice(engine, plan, ring, {
    features, inflight: { region, resume: opts.resume }, startIdx: opts.startIdx ?? start, usedIdx: usedIdxOf(),
  });
  const usedIdxOf = (): number => engine.u16[(ring.used + S.USED_IDX) >>> 1];
  const r = () => readSplitRegion(engine.view, region, Q);
  /** The driver offers `tokens` (one writable 64-byte buffer each). */
  const offer = (tokens: number[]): void => {
    add.clear();
    for (const t of tokens) add.single(t, buffers + t * 256, 64, true);
    expect(driver.add(add)).toBe(tokens.length);
  };
  const pop = (d: SplitDevice, max = Q): number[] => {
    const n = d.pop(popped, max);
    return Array.from({ length: n }, (_, i) => popped.id(i));
  };
  const push = (d: SplitDevice, heads: number[]): void => {
    used.clear();
    for (const h of heads) used.push(h, 10 + h);
    d.push(used);
  };
  const collect = (): number[] => {
    const n = driver.collect(got);
    return Array.from({ length: n }, (_, i) => got.id(i));
  };
  return { engine, ring, region, driver, device, offer, pop, push, collect, r, usedIdxOf, popped };
}

/** Every token the driver offered comes back exactly once, whatever happened in between. */
function finish(w: ReturnType<typeof world>, d: SplitDevice, offered: number[], already: number[], popped: number[] = []): void {
  const back = [...already];
  if (popped.length > 0) w.push(d, popped);
  for (let round = 0; round < 4; round++) {
    const heads = w.pop(d);
    if (heads.length > 0) w.push(d, heads);
    back.push(...w.collect());
  }
  expect([...back].sort((a, b) => a - b)).toEqual([...offered].sort((a, b) => a - b));
}

describe('split inflight region: the spec\'s rules at each step', () => {
  it('reset formats it (version 1, desc_num, used_idx at the start, nothing in flight), even over garbage', () => {
    const w = world();
    w.engine.u8.fill(0xa5, w.region, w.region + inflightRegionSize('split', Q));
    w.engine.u16[(w.ring.used + S.USED_IDX) >>> 1] = 5;
    const d = w.device({ startIdx: 5 });
    const r = w.r();
    expect([r.version, r.descNum, r.usedIdx]).toEqual([1, Q, 5]);
    expect(r.desc.map((e) => e.inflight)).toEqual(Array(Q).fill(0));
    expect(d.position()).toEqual({ nextAvail: 5, availWrap: 0, nextUsed: 5, usedWrap: 0 });
  });

  it('pop: counter then inflight = 1 per head, in pop order; push: next / last_batch_head, used.idx, inflight = 0, used_idx', () => {
    const w = world();
    const d = w.device();
    w.offer([0, 1, 2, 3, 4]);
    // The driver's heads are descriptor indices: the tokens it gave are what pop returns as ids
    // only on the driver side, so read the heads the device saw.
    const heads = w.pop(d, 3);
    let r = w.r();
    heads.forEach((h, k) => {
      expect(r.desc[h].inflight).toBe(1);
      expect(r.desc[h].counter).toBe(BigInt(k));
    });
    expect(r.desc.filter((e) => e.inflight === 1)).toHaveLength(3);
    expect(r.usedIdx).toBe(0);
    const more = w.pop(d);
    expect(more).toHaveLength(2);
    r = w.r();
    more.forEach((h, k) => expect(r.desc[h].counter).toBe(BigInt(3 + k)));

    w.push(d, [heads[0], heads[1]]);
    r = w.r();
    expect(w.usedIdxOf()).toBe(2);
    expect(r.usedIdx).toBe(2);
    expect(r.lastBatchHead).toBe(heads[1]);
    expect(r.desc[heads[1]].next).toBe(heads[0]);
    expect([r.desc[heads[0]].inflight, r.desc[heads[1]].inflight]).toEqual([0, 0]);
    expect(r.desc.filter((e) => e.inflight === 1)).toHaveLength(3);

    // The next batch's list runs on from the previous one (the spec links every batch).
    w.push(d, [heads[2]]);
    r = w.r();
    expect(r.lastBatchHead).toBe(heads[2]);
    expect(r.desc[heads[2]].next).toBe(heads[1]);
    expect(r.usedIdx).toBe(3);
  });

  it('unpop: the chains given back are no longer in flight and the counter goes back with them', () => {
    const w = world();
    const d = w.device();
    w.offer([0, 1, 2, 3]);
    const heads = w.pop(d);
    const rec = w.popped;
    // Give back the last two (their records are at 2 and 3 of the popped batch).
    w.engine.exports.splitDeviceUnpop(d.cb, rec.chainsPtr + 2 * B.CHAIN_SIZE, 2);
    let r = w.r();
    expect(heads.map((h) => r.desc[h].inflight)).toEqual([1, 1, 0, 0]);
    const again = w.pop(d);
    expect(again).toEqual(heads.slice(2));
    r = w.r();
    expect(again.map((h) => r.desc[h].counter)).toEqual([2n, 3n]);
  });
});

describe('split inflight region: a new device resumes where the old one died', () => {
  it('died with chains popped and none pushed: resumes at used.idx and pops the same chains again', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2, 3, 4, 5]);
    const heads = w.pop(d1);
    // The front-end sends a stale base (say 0 for split is fine; QEMU sends used.idx): both 0 here.
    const d2 = w.device({ resume: true, startIdx: 6 });
    expect(d2.recovered).toEqual({
      inflight: 6, from: { nextAvail: 6, availWrap: 0, nextUsed: 0, usedWrap: 0 }, to: { nextAvail: 6, availWrap: 0, nextUsed: 0, usedWrap: 0 },
    });
    expect(w.pop(d2)).toEqual(heads);
    finish(w, d2, [0, 1, 2, 3, 4, 5], [], heads);
  });

  it('died after pushing some: resumes after them; the chains pushed are not popped again', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2, 3, 4]);
    const heads = w.pop(d1);
    w.push(d1, heads.slice(0, 2));
    const back = w.collect();
    expect(back).toHaveLength(2);
    const d2 = w.device({ resume: true, startIdx: 0 });
    expect(d2.recovered?.inflight).toBe(3);
    expect(d2.recovered?.to).toMatchObject({ nextAvail: 5, nextUsed: 2 });
    expect(w.pop(d2)).toEqual(heads.slice(2));
    finish(w, d2, [0, 1, 2, 3, 4], back, heads.slice(2));
  });

  it('died between publishing used.idx and clearing the batch (used_idx behind): the last batch list is cleared', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2, 3, 4, 5]);
    const heads = w.pop(d1);
    w.push(d1, heads.slice(0, 4));
    // As the region was right after [R4]: the batch still marked in flight, used_idx not moved.
    const v = w.engine.view;
    for (const h of heads.slice(0, 4)) v.setUint8(splitEntry(w.region, h) + I.ISPLIT_D_INFLIGHT, 1);
    v.setUint16(w.region + I.ISPLIT_USED_IDX, 0, true);
    const back = w.collect();
    expect(back).toHaveLength(4);
    const d2 = w.device({ resume: true, startIdx: 4 });
    expect(d2.recovered?.inflight).toBe(2);
    expect(d2.recovered?.to).toMatchObject({ nextAvail: 6, nextUsed: 4 });
    const r = w.r();
    expect(r.usedIdx).toBe(4);
    // The batch cleared; the two to resubmit stay marked (with their counters) until used.
    expect(heads.map((h) => r.desc[h].inflight)).toEqual([0, 0, 0, 0, 1, 1]);
    expect(w.pop(d2)).toEqual(heads.slice(4));
    finish(w, d2, [0, 1, 2, 3, 4, 5], back, heads.slice(4));
  });

  it('died while linking a batch (before used.idx moved): the whole batch is popped again', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2]);
    const heads = w.pop(d1);
    // The links of a batch were written, used.idx was not.
    const v = w.engine.view;
    v.setUint16(splitEntry(w.region, heads[1]) + I.ISPLIT_D_NEXT, heads[0], true);
    v.setUint16(w.region + I.ISPLIT_LAST_BATCH_HEAD, heads[1], true);
    const d2 = w.device({ resume: true, startIdx: 3 });
    expect(d2.recovered?.inflight).toBe(3);
    expect(w.pop(d2)).toEqual(heads);
    finish(w, d2, [0, 1, 2], [], heads);
  });

  it('across the 16-bit wrap of the indices', () => {
    const w = world(65533);
    const d1 = w.device();
    w.offer([0, 1, 2, 3, 4]);
    const heads = w.pop(d1);
    w.push(d1, heads.slice(0, 3));
    const back = w.collect();
    expect(w.usedIdxOf()).toBe(0);
    const d2 = w.device({ resume: true, startIdx: 65533 });
    expect(d2.recovered).toMatchObject({ inflight: 2, to: { nextAvail: 2, nextUsed: 0 } });
    expect(w.pop(d2)).toEqual(heads.slice(3));
    finish(w, d2, [0, 1, 2, 3, 4], back, heads.slice(3));
  });
});

describe('split inflight region: out-of-order completion, resubmitted in counter order', () => {
  it('chains used out of pop order: the ones left are popped again first, in pop order, then the ring from used.idx + count', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2, 3, 4]);
    const heads = w.pop(d1);
    w.push(d1, [heads[3], heads[1]]);
    const back = w.collect();
    w.offer([5, 6]);
    const d2 = w.device({ resume: true, startIdx: 0 });
    expect(d2.recovered).toMatchObject({ inflight: 3, to: { nextAvail: 5, nextUsed: 2 } });
    // The three left, in the order they were popped, then what the ring offers after the five.
    const again = w.pop(d2);
    expect(again.slice(0, 3)).toEqual([heads[0], heads[2], heads[4]]);
    expect(again).toHaveLength(5);
    w.push(d2, again);
    finish(w, d2, [0, 1, 2, 3, 4, 5, 6], [...back, ...w.collect()]);
  });

  it('the counters, not the head numbers, give the order; gaps in them are chains used first', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2, 3]);
    const heads = w.pop(d1);
    w.push(d1, [heads[1]]);
    const back = w.collect();
    // As if heads[3] had been popped long before heads[0] (a device holding it a long time).
    const v = w.engine.view;
    v.setBigUint64(splitEntry(w.region, heads[3]) + I.ISPLIT_D_COUNTER, 100n, true);
    v.setBigUint64(splitEntry(w.region, heads[0]) + I.ISPLIT_D_COUNTER, 250n, true);
    v.setBigUint64(splitEntry(w.region, heads[2]) + I.ISPLIT_D_COUNTER, 300n, true);
    const d2 = w.device({ resume: true, startIdx: 0 });
    expect(d2.recovered?.inflight).toBe(3);
    expect(w.pop(d2)).toEqual([heads[3], heads[0], heads[2]]);
    // New pops count on from the highest counter; the resubmitted keep theirs.
    w.offer([4]);
    const fresh = w.pop(d2);
    expect(fresh).toHaveLength(1);
    const r = w.r();
    expect([r.desc[heads[3]].counter, r.desc[heads[0]].counter, r.desc[heads[2]].counter, r.desc[fresh[0]].counter]).toEqual([100n, 250n, 300n, 301n]);
    w.push(d2, [heads[3], heads[0], heads[2], fresh[0]]);
    finish(w, d2, [0, 1, 2, 3, 4], [...back, ...w.collect()]);
  });

  it('a burst smaller than the list, and chains given back (unpop) go back on the list, marks untouched', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2, 3, 4]);
    const heads = w.pop(d1);
    w.push(d1, [heads[2]]);
    const back = w.collect();
    const d2 = w.device({ resume: true, startIdx: 0 });
    expect(w.pop(d2, 2)).toEqual([heads[0], heads[1]]);
    w.offer([5]);
    const more = w.pop(d2);
    expect(more.slice(0, 2)).toEqual([heads[3], heads[4]]);
    expect(more).toHaveLength(3);
    // Give back the last three popped: two from the list, one from the ring.
    w.engine.exports.splitDeviceUnpop(d2.cb, w.popped.chainsPtr, 3);
    const r = w.r();
    expect([heads[3], heads[4]].map((h) => r.desc[h].inflight)).toEqual([1, 1]);
    expect(r.desc[more[2]].inflight).toBe(0);
    expect(w.pop(d2)).toEqual(more);
    w.push(d2, [heads[0], heads[1], ...more]);
    finish(w, d2, [0, 1, 2, 3, 4, 5], [...back, ...w.collect()]);
  });

  it('the new back-end dies too before using them: the next one resubmits the same chains, in the same order', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2, 3, 4]);
    const heads = w.pop(d1);
    w.push(d1, [heads[4], heads[1]]);
    const back = w.collect();
    const d2 = w.device({ resume: true, startIdx: 0 });
    expect(w.pop(d2, 1)).toEqual([heads[0]]);
    w.offer([5]);
    // d2 dies here, holding heads[0] and having popped nothing else.
    const d3 = w.device({ resume: true, startIdx: 0 });
    expect(d3.recovered).toMatchObject({ inflight: 3, to: { nextAvail: 5, nextUsed: 2 } });
    const again = w.pop(d3);
    expect(again.slice(0, 3)).toEqual([heads[0], heads[2], heads[3]]);
    w.push(d3, again);
    finish(w, d3, [0, 1, 2, 3, 4, 5], [...back, ...w.collect()]);
  });

  it('a resubmitted chain whose descriptors the driver broke meanwhile breaks the queue with the rule it broke', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2]);
    const heads = w.pop(d1);
    w.push(d1, [heads[1]]);
    const d2 = w.device({ resume: true, startIdx: 0 });
    // heads[2]'s descriptor now says NEXT to an index past the table.
    const desc = w.ring.desc + heads[2] * S.DESC_SIZE;
    w.engine.view.setUint16(desc + S.DESC_FLAGS, S.DESC_F_NEXT | S.DESC_F_WRITE, true);
    w.engine.view.setUint16(desc + S.DESC_NEXT, 0x7fff, true);
    expect(w.pop(d2)).toEqual([heads[0]]);
    expect(() => w.pop(d2)).toThrow(/NEXT_OUT_OF_RANGE|next/i);
  });
});

describe('split inflight region: refused when no driver and device could have left it (vhost-user.rst "Inflight I/O tracking")', () => {
  function refused(w: ReturnType<typeof world>, name: string): VirtqueueError {
    let err: unknown;
    try {
      w.device({ resume: true, startIdx: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VirtqueueError);
    const e = err as VirtqueueError;
    expect(e.info.name).toBe(name);
    expect(e.message).toContain('vhost-user.rst "Inflight I/O tracking"');
    return e;
  }

  it('a region nobody formatted (version 0), or one for another queue size', () => {
    const w = world();
    refused(w, 'INFLIGHT_BAD_REGION');
    w.device();
    w.engine.view.setUint16(w.region + I.INFLIGHT_DESC_NUM, Q * 2, true);
    expect(refused(w, 'INFLIGHT_BAD_REGION').detail).toBe(Q * 2);
  });

  it('an inflight byte other than 0 or 1, two chains with the same counter, a last batch head out of range, a last batch longer than the queue', () => {
    const v = (w: ReturnType<typeof world>) => w.engine.view;
    let w = world();
    let d1 = w.device();
    w.offer([0, 1, 2]);
    let heads = w.pop(d1);
    v(w).setUint8(splitEntry(w.region, heads[1]) + I.ISPLIT_D_INFLIGHT, 0x5a);
    expect(refused(w, 'INFLIGHT_RANGE').detail).toBe(heads[1]);
    v(w).setUint8(splitEntry(w.region, heads[1]) + I.ISPLIT_D_INFLIGHT, 1);
    v(w).setBigUint64(splitEntry(w.region, heads[2]) + I.ISPLIT_D_COUNTER, 0n, true);
    expect(refused(w, 'INFLIGHT_COUNTERS').detail).toBe(3);

    w = world();
    d1 = w.device();
    w.offer([0, 1, 2]);
    heads = w.pop(d1);
    w.push(d1, [heads[0]]);
    v(w).setUint16(w.region + I.ISPLIT_USED_IDX, 0, true);
    v(w).setUint16(w.region + I.ISPLIT_LAST_BATCH_HEAD, 0xfff0, true);
    expect(refused(w, 'INFLIGHT_RANGE').detail).toBe(0xfff0);

    w = world();
    d1 = w.device();
    w.engine.u16[(w.ring.used + S.USED_IDX) >>> 1] = 100; // 100 used since used_idx 0: more than Q
    expect(refused(w, 'INFLIGHT_BATCH').detail).toBe(100);
  });

  it('more chains in flight than the ring made available beyond used.idx, or a chain in flight that the ring offers again', () => {
    const v = (w: ReturnType<typeof world>) => w.engine.view;
    let w = world();
    let d1 = w.device();
    w.offer([0, 1]);
    let heads = w.pop(d1);
    // A third head marked in flight that the driver never offered: 3 in flight, 2 offered.
    const spare = [0, 1, 2, 3].find((h) => !heads.includes(h))!;
    v(w).setBigUint64(splitEntry(w.region, spare) + I.ISPLIT_D_COUNTER, 2n, true);
    v(w).setUint8(splitEntry(w.region, spare) + I.ISPLIT_D_INFLIGHT, 1);
    expect(refused(w, 'INFLIGHT_OUT_OF_ORDER').detail).toBe(2); // avail.idx

    w = world();
    d1 = w.device();
    w.offer([0, 1, 2, 3]);
    heads = w.pop(d1, 2);
    // The device took two; the region also marks the head the ring offers next (never taken).
    const next = w.engine.u16[(w.ring.avail + S.AVAIL_RING + 2 * S.AVAIL_ELEM_SIZE) >>> 1];
    expect(heads).not.toContain(next);
    v(w).setUint8(splitEntry(w.region, heads[1]) + I.ISPLIT_D_INFLIGHT, 0);
    v(w).setBigUint64(splitEntry(w.region, next) + I.ISPLIT_D_COUNTER, 1n, true);
    v(w).setUint8(splitEntry(w.region, next) + I.ISPLIT_D_INFLIGHT, 1);
    w.engine.u16[(w.ring.used + S.USED_IDX) >>> 1] = 0;
    expect(refused(w, 'INFLIGHT_OUT_OF_ORDER').detail).toBe(next);
  });

  it('a refused recovery leaves the region as the spec\'s first step made it, and a fresh start still works', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2]);
    const heads = w.pop(d1);
    w.push(d1, [heads[1]]);
    w.engine.view.setBigUint64(splitEntry(w.region, heads[2]) + I.ISPLIT_D_COUNTER, 0n, true);
    refused(w, 'INFLIGHT_COUNTERS');
    const d2 = w.device({ startIdx: 3 });
    expect(d2.recovered).toBeUndefined();
    expect(w.r().desc.every((e) => e.inflight === 0)).toBe(true);
  });
});
