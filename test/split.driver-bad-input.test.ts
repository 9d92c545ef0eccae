// The driver side must not trust the device's used ring (VIRTIO 1.2, 2.7.8), and must refuse
// bad bursts from its own caller without applying any part of them. The device's half of the
// ring is written by hand with RawSplitRing.
import { describe, expect, it } from 'vitest';
import { splitPair, type SplitPair } from './helpers/split-pair.js';
import { changesOutside, type Range } from './helpers/memory-diff.js';
import { ChainBatch, RING_FEATURES, UsedBatch, VirtqueueError } from '../src/index.js';
import * as E from '../assembly/layout/errors.js';
import * as Q from '../assembly/layout/queue.js';
import * as B from '../assembly/layout/batch.js';

const Q_SIZE = 8;

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

interface ChainSpec {
  token: number;
  read?: number[];
  write?: number[];
}

/** Adds the chains (segment lengths as given) and returns the head each one got. */
function addChains(p: SplitPair, specs: ChainSpec[]): number[] {
  const from = p.driver.availIdx;
  p.add.clear();
  let at = p.buffers;
  for (const s of specs) {
    p.add.begin(s.token);
    for (const len of s.read ?? []) { p.add.read(at, len); at += 256; }
    for (const len of s.write ?? []) { p.add.write(at, len); at += 256; }
    p.add.end();
  }
  expect(p.driver.add(p.add)).toBe(specs.length);
  return specs.map((_, i) => p.raw.availRing((from + i) & 0xffff));
}

function collected(p: SplitPair): [token: number, len: number][] {
  return Array.from({ length: p.collected.count }, (_, i) => [p.collected.id(i), p.collected.len(i)]);
}

/** Ranges a collect may write: the control block, the private shadow state, the output array. */
function collectRanges(p: SplitPair): Range[] {
  const shadow = p.engine.u32[(p.driver.cb + Q.SDRV_SHADOW) >>> 2];
  return [
    [p.driver.cb, p.driver.cb + Q.QUEUE_CB_SIZE],
    [shadow, shadow + Q_SIZE * Q.SHADOW_SIZE],
    [p.collected.ptr, p.collected.ptr + p.collected.capacity * B.USED_REC_SIZE],
  ];
}

/**
 * Collect returns `good` (token, len) pairs, or fails with `code` when there are none; either way
 * the queue is then broken, and stays so (sticky) even with nothing pending. Detach then returns
 * each token of `inFlight` exactly once, and after a reset of both sides the queue works again.
 */
function expectBroken(p: SplitPair, code: number, section: string, good: [number, number][], inFlight: number[]): VirtqueueError {
  const before = p.engine.u8.slice();
  let first: VirtqueueError | undefined;
  if (good.length > 0) {
    expect(p.driver.collect(p.collected)).toBe(good.length);
    expect(collected(p)).toEqual(good);
  } else {
    first = thrown(() => p.driver.collect(p.collected)) as VirtqueueError;
  }
  expect(changesOutside(before, p.engine.u8, collectRanges(p))).toEqual([]);
  expect(p.driver.status).toBe(code);
  expect(p.driver.broken).toBe(true);

  const usedIdx = p.raw.usedIdx;
  p.raw.usedIdx = p.driver.lastUsedIdx; // nothing pending: only the sticky status can fail now
  const sticky = thrown(() => p.driver.collect(p.collected)) as VirtqueueError;
  p.raw.usedIdx = usedIdx;
  const err = first ?? thrown(() => p.driver.collect(p.collected)) as VirtqueueError;
  for (const e of [err, sticky, thrown(() => p.driver.add(p.add)) as VirtqueueError]) {
    expect(e).toBeInstanceOf(VirtqueueError);
    expect(e.code).toBe(code);
    expect(e.info.section).toBe(section);
    expect(e.info.breaksQueue).toBe(true);
  }

  // Detach in small steps: every chain still in flight comes back once, with len 0.
  const small = new UsedBatch(p.engine, p.plan, 2);
  const tokens: number[] = [];
  for (let round = 0; round <= Q_SIZE; round++) { // bounded, in case detach never ends
    const n = p.driver.detach(small);
    if (n === 0) break;
    for (let i = 0; i < n; i++) {
      tokens.push(small.id(i));
      expect(small.len(i)).toBe(0);
    }
  }
  expect(tokens.sort((a, b) => a - b)).toEqual([...inFlight].sort((a, b) => a - b));
  expect(p.driver.inFlight).toBe(0);

  p.device.reset();
  p.driver.reset();
  expect(p.driver.broken).toBe(false);
  expect(p.driver.numFree).toBe(Q_SIZE);
  addChains(p, [{ token: 7, read: [8], write: [16] }, { token: 9, write: [4] }]);
  expect(p.device.pop(p.popped)).toBe(2);
  p.used.clear();
  p.used.push(p.popped.id(1), 3);
  p.used.push(p.popped.id(0), 16);
  p.device.push(p.used);
  expect(p.driver.collect(p.collected)).toBe(2);
  expect(collected(p)).toEqual([[9, 3], [7, 16]]);
  expect(p.driver.numFree).toBe(Q_SIZE);
  return err;
}

const pair = (features = 0n): SplitPair => splitPair({ queueSize: Q_SIZE, features });

describe('split driver: a used ring that breaks a rule', () => {
  it.each([8, 0xffff, 0xffff_ffff])('used id %d (>= Queue Size) is USED_ID_OUT_OF_RANGE', (bad) => {
    const p = pair();
    const [h0, , h2] = addChains(p, [{ token: 100, write: [64] }, { token: 101, write: [64] }, { token: 102, write: [64] }]);
    p.raw.complete({ id: h0, len: 10 }, { id: bad, len: 0 }, { id: h2, len: 5 });
    const e = expectBroken(p, E.ERR_USED_ID_OUT_OF_RANGE, '2.7.8', [[100, 10]], [101, 102]);
    expect(e.detail).toBe(bad);
  });

  it('an id that was never made available is USED_ID_NOT_IN_FLIGHT', () => {
    const p = pair();
    const [h0, h1] = addChains(p, [{ token: 100, write: [64] }, { token: 101, read: [8] }]);
    const never = [0, 1, 2, 3].find((i) => i !== h0 && i !== h1) as number;
    p.raw.complete({ id: h0, len: 64 }, { id: never, len: 0 });
    expect(expectBroken(p, E.ERR_USED_ID_NOT_IN_FLIGHT, '2.7.8', [[100, 64]], [101]).detail).toBe(never);
  });

  it('an id already collected is USED_ID_NOT_IN_FLIGHT', () => {
    const p = pair();
    const [h0] = addChains(p, [{ token: 100, write: [64] }, { token: 101, read: [8] }]);
    p.raw.complete({ id: h0, len: 1 });
    expect(p.driver.collect(p.collected)).toBe(1);
    p.raw.complete({ id: h0, len: 1 });
    expect(expectBroken(p, E.ERR_USED_ID_NOT_IN_FLIGHT, '2.7.8', [], [101]).detail).toBe(h0);
  });

  it('an id twice in one burst is USED_ID_NOT_IN_FLIGHT at the second', () => {
    const p = pair();
    const [h0, h1] = addChains(p, [{ token: 100, write: [64] }, { token: 101, read: [8] }, { token: 102, read: [8] }]);
    p.raw.complete({ id: h1, len: 0 }, { id: h0, len: 2 }, { id: h0, len: 2 });
    expectBroken(p, E.ERR_USED_ID_NOT_IN_FLIGHT, '2.7.8', [[101, 0], [100, 2]], [102]);
  });

  it('an id that is a descriptor inside a chain (not its head) is USED_ID_NOT_IN_FLIGHT', () => {
    const p = pair();
    const [h0] = addChains(p, [{ token: 100, read: [8, 8], write: [8] }, { token: 101, read: [8] }]);
    const second = p.raw.readDesc(h0).next;
    p.raw.complete({ id: second, len: 0 });
    expect(expectBroken(p, E.ERR_USED_ID_NOT_IN_FLIGHT, '2.7.8', [], [100, 101]).detail).toBe(second);
  });

  it.each([
    ['one writable segment of 64', 0n, { read: [8], write: [64] }, 65],
    ['two writable segments of 32', 0n, { write: [32, 32] }, 65],
    ['no writable segment', 0n, { read: [64] }, 1],
    ['an indirect chain with 32 writable bytes', RING_FEATURES.INDIRECT_DESC, { read: [8, 8], write: [32] }, 33],
  ])('a length above the capacity of %s is USED_LEN_TOO_LARGE', (_what, features, shape, len) => {
    const p = pair(features);
    const [h0, h1] = addChains(p, [{ token: 100, ...shape }, { token: 101, ...shape }]);
    p.raw.complete({ id: h0, len: len - 1 }, { id: h1, len }); // the first is exactly at capacity
    expect(expectBroken(p, E.ERR_USED_LEN_TOO_LARGE, '2.7.8.2', [[100, len - 1]], [101]).detail).toBe(h1);
  });

  it.each([
    ['one past the chains in flight', 3],
    ['backwards (0xffff)', 0xffff],
    ['by half the index space', 0x8000],
  ])('used.idx moving %s is USED_IDX_JUMP', (_what, idx) => {
    const p = pair();
    const [h0, h1] = addChains(p, [{ token: 100, write: [64] }, { token: 101, write: [64] }]);
    p.raw.setUsedElem(0, h0, 1);
    p.raw.setUsedElem(1, h1, 1);
    p.raw.usedIdx = idx;
    expect(expectBroken(p, E.ERR_USED_IDX_JUMP, '2.7.8', [], [100, 101]).detail).toBe(idx);
  });

  it('used.idx running past the chains still in flight after some were collected is USED_IDX_JUMP', () => {
    const p = pair();
    const [h0] = addChains(p, [{ token: 100, write: [64] }, { token: 101, write: [64] }, { token: 102, write: [64] }]);
    p.raw.complete({ id: h0, len: 1 });
    expect(p.driver.collect(p.collected)).toBe(1);
    p.raw.usedIdx = 4; // 3 pending, 2 in flight
    expectBroken(p, E.ERR_USED_IDX_JUMP, '2.7.8', [], [101, 102]);
  });
});

describe('split driver: caller errors change nothing', () => {
  /** Runs `call`, expecting `code` with the queue healthy and no byte changed but CB_DETAIL. */
  function expectRefused(p: SplitPair, code: number, call: () => number): void {
    const before = p.engine.u8.slice();
    const state = [p.driver.numFree, p.driver.availIdx, p.driver.inFlight, p.driver.lastUsedIdx];
    expect(call()).toBe(code);
    const detail = p.driver.cb + Q.CB_DETAIL;
    expect(changesOutside(before, p.engine.u8, [[detail, detail + 4]])).toEqual([]);
    expect([p.driver.numFree, p.driver.availIdx, p.driver.inFlight, p.driver.lastUsedIdx]).toEqual(state);
    expect(p.driver.broken).toBe(false);
  }
  const add = (p: SplitPair, batch: ChainBatch = p.add): number =>
    p.engine.exports.splitDriverAdd(p.driver.cb, batch.chainsPtr, batch.segsPtr, batch.count);

  /** A pair with one chain in flight and a valid chain (token 1) first in p.add. */
  function primed(features = 0n): SplitPair {
    const p = pair(features);
    addChains(p, [{ token: 50, read: [8] }]);
    p.add.clear();
    p.add.single(1, p.buffers, 64, true);
    return p;
  }

  it('a chain of 0 segments after a valid one: nothing is added', () => {
    const p = primed();
    const c = (p.add.chainsPtr + B.CHAIN_SIZE) >>> 2; // a second record, written by hand
    p.engine.u32[c + B.CHAIN_ID / 4] = 2;
    p.engine.u32[c + B.CHAIN_SEG / 4] = 1;
    p.engine.u32[c + B.CHAIN_NREAD / 4] = 0;
    p.add.count = 2;
    expectRefused(p, E.ERR_BAD_ARGUMENT, () => add(p));
    expect(p.engine.u32[(p.driver.cb + Q.CB_DETAIL) >>> 2]).toBe(1);
  });

  it.each([
    ['without indirect', 0n],
    ['with indirect (2.7.5.3.1 counts a table\'s descriptors too)', RING_FEATURES.INDIRECT_DESC],
  ])('a chain longer than Queue Size %s: nothing is added; one of exactly Queue Size fits', (_what, features) => {
    const p = primed(features);
    p.add.begin(2);
    for (let i = 0; i < Q_SIZE + 1; i++) p.add.read(p.buffers + i * 64, 64);
    p.add.end();
    expectRefused(p, E.ERR_BAD_ARGUMENT, () => add(p));
    expect((thrown(() => p.driver.add(p.add)) as VirtqueueError).code).toBe(E.ERR_BAD_ARGUMENT);

    const fits = primed(features);
    fits.add.begin(2);
    for (let i = 0; i < Q_SIZE; i++) fits.add.read(fits.buffers + i * 64, 64);
    fits.add.end();
    fits.add.single(3, fits.buffers, 8, false);
    // Indirect: one descriptor each; otherwise the long chain needs all 8 and only 6 are left.
    expect(fits.driver.add(fits.add)).toBe(features ? 3 : 1);
  });

  it('a chain of 2^32 bytes or more: nothing is added', () => {
    const p = primed();
    p.add.begin(2);
    p.add.read(p.buffers, 0x8000_0000);
    p.add.write(p.buffers, 0x8000_0000);
    p.add.end();
    expectRefused(p, E.ERR_BAD_ARGUMENT, () => add(p));
  });

  it('burst arrays outside memory: nothing is added, collected or detached', () => {
    const p = primed();
    const { cb } = p.driver;
    const x = p.engine.exports;
    const OOB = E.ERR_OUT_OF_MEMORY_BOUNDS;
    expectRefused(p, OOB, () => x.splitDriverAdd(cb, 0xffff_fff0, p.add.segsPtr, 1));
    expectRefused(p, OOB, () => x.splitDriverAdd(cb, p.add.chainsPtr, p.add.segsPtr, 0x1000_0000));
    expectRefused(p, OOB, () => x.splitDriverAdd(cb, p.add.chainsPtr, 0xffff_fff8, 1));
    p.engine.u32[(p.add.chainsPtr + B.CHAIN_SEG) >>> 2] = 0x2000_0000; // first segment far away
    expectRefused(p, OOB, () => x.splitDriverAdd(cb, p.add.chainsPtr, p.add.segsPtr, 1));
    p.raw.complete({ id: p.raw.availRing(0), len: 0 });
    expectRefused(p, OOB, () => x.splitDriverCollect(cb, 0xffff_fff8, 4));
    expectRefused(p, OOB, () => x.splitDriverDetach(cb, 0xffff_fff8, 4));
    expect(p.driver.collect(p.collected)).toBe(1);
    expect(collected(p)).toEqual([[50, 0]]);
  });
});

describe('ChainBatch and UsedBatch misuse throws a clear Error', () => {
  const p = pair();
  const b = new ChainBatch(p.engine, p.plan, 2, 3);

  it('rejects a device-readable segment after a device-writable one', () => {
    b.clear();
    b.begin(1);
    b.write(p.buffers, 8);
    expect(() => b.read(p.buffers, 8)).toThrow(/device-readable segments must come before device-writable ones.*2\.7\.4\.2/);
  });

  it('rejects ending a chain with no segments, or with none open', () => {
    b.clear();
    expect(() => b.end()).toThrow(/no chain is open/);
    b.begin(1);
    expect(() => b.end()).toThrow(/at least one segment/);
    expect(b.count).toBe(0);
  });

  it('rejects segments outside a chain and a chain begun inside another', () => {
    b.clear();
    expect(() => b.read(p.buffers, 8)).toThrow(/begin\(\) a chain first/);
    b.begin(1);
    expect(() => b.begin(2)).toThrow(/not ended/);
  });

  it('rejects more chains or segments than it holds', () => {
    b.clear();
    b.single(1, p.buffers, 8, false);
    b.single(2, p.buffers, 8, true);
    expect(() => b.begin(3)).toThrow(RangeError);
    expect(() => b.begin(3)).toThrow(/more than 2 chains/);
    b.clear();
    b.begin(1);
    for (let i = 0; i < 3; i++) b.read(p.buffers, 8);
    expect(() => b.read(p.buffers, 8)).toThrow(/more than 3 segments/);
    const u = new UsedBatch(p.engine, p.plan, 1);
    u.push(1, 0);
    expect(() => u.push(2, 0)).toThrow(/more than 1 records/);
    expect(() => new ChainBatch(p.engine, p.plan, 0)).toThrow(RangeError);
  });
});
