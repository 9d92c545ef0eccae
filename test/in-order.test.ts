// VIRTIO_F_IN_ORDER (2.7.9, 2.8.8): descriptors in ring order, runs of buffers returned with one
// used entry, and what each side refuses.
import { describe, expect, it } from 'vitest';
import { RING_FEATURES, VirtqueueError, UsedBatch } from '../src/index.js';
import { splitPair } from './helpers/split-pair.js';
import * as E from '../assembly/layout/errors.js';
import * as S from '../assembly/layout/split.js';

const F = RING_FEATURES;
const codeOf = (f: () => unknown): number => {
  try { f(); } catch (e) { if (e instanceof VirtqueueError) return e.code; throw e; }
  throw new Error('expected a VirtqueueError');
};

describe('split ring, in order', () => {
  const inOrderPair = (queueSize = 8) => splitPair({ queueSize, features: F.VERSION_1 | F.IN_ORDER });

  it('allocates descriptors in ring order, next = x + 1 and 0 after the last (2.7.5.2)', () => {
    const p = inOrderPair(4);
    for (let round = 0; round < 5; round++) {
      p.add.clear();
      p.add.begin(round);
      for (let s = 0; s < 3; s++) p.add.read(p.buffers + s * 64, 64);
      p.add.end();
      expect(p.driver.add(p.add)).toBe(1);
      const head = (round * 3) % 4;
      for (let s = 0; s < 2; s++) {
        const d = p.raw.readDesc((head + s) % 4);
        expect(d.flags & S.DESC_F_NEXT).toBe(S.DESC_F_NEXT);
        expect(d.next).toBe((head + s + 1) % 4);
      }
      expect(p.device.pop(p.popped)).toBe(1);
      expect(p.popped.id(0)).toBe(head);
      p.used.clear();
      p.used.push(head, 0);
      p.device.push(p.used);
      expect(p.driver.collect(p.collected)).toBe(1);
      expect(p.collected.id(0)).toBe(round);
    }
  });

  it('returns a run of completely used buffers with one used element, the last one partial', () => {
    const p = inOrderPair(8);
    p.add.clear();
    for (let i = 0; i < 5; i++) p.add.single(100 + i, p.buffers + i * 256, 256, true);
    expect(p.driver.add(p.add)).toBe(5);
    expect(p.device.pop(p.popped)).toBe(5);
    p.used.clear();
    const lens = [256, 256, 10, 256, 7];
    for (let i = 0; i < 5; i++) p.used.push(p.popped.id(i), lens[i]);
    p.device.push(p.used);
    // Runs: [0,1,2] (ends partial at 2) and [3,4]: two elements, at ring positions 0 and 3.
    expect(p.raw.usedIdx).toBe(5);
    expect(p.raw.usedElem(0)).toEqual({ id: p.popped.id(2), len: 10 });
    expect(p.raw.usedElem(3)).toEqual({ id: p.popped.id(4), len: 7 });
    expect(p.driver.collect(p.collected)).toBe(5);
    for (let i = 0; i < 5; i++) {
      expect(p.collected.id(i)).toBe(100 + i);
      expect(p.collected.len(i)).toBe(lens[i]);
    }
    expect(p.driver.numFree).toBe(8);
  });

  it('the device refuses records out of pop order, changing nothing', () => {
    const p = inOrderPair(8);
    p.add.clear();
    for (let i = 0; i < 3; i++) p.add.single(i, p.buffers + i * 64, 64, false);
    p.driver.add(p.add);
    p.device.pop(p.popped);
    p.used.clear();
    p.used.push(p.popped.id(1), 0);
    expect(codeOf(() => p.device.push(p.used))).toBe(E.ERR_BAD_ARGUMENT);
    expect(p.raw.usedIdx).toBe(0);
    expect(p.device.broken).toBe(false);
    p.used.clear();
    for (let i = 0; i < 3; i++) p.used.push(p.popped.id(i), 0);
    expect(p.device.push(p.used)).toBe(3);
  });

  it('the driver refuses a run that reaches past used.idx', () => {
    const p = inOrderPair(8);
    p.add.clear();
    for (let i = 0; i < 3; i++) p.add.single(i, p.buffers + i * 64, 64, false);
    p.driver.add(p.add);
    // A rogue device names the third chain at position 0 but publishes only one entry.
    p.raw.complete({ id: 2, len: 0 });
    expect(codeOf(() => p.driver.collect(p.collected))).toBe(E.ERR_USED_IDX_JUMP);
    expect(p.driver.detach(p.collected)).toBe(3);
  });

  it('reap (a transmit queue): the oldest chains by used.idx alone, the used elements never read', () => {
    const p = inOrderPair(8);
    const reap = (max = 8): number => p.engine.check(p.engine.exports.splitDriverReap(p.driver.cb, p.collected.ptr, max), p.driver.cb, 'reap');
    p.add.clear();
    for (let i = 0; i < 5; i++) p.add.single(10 + i, p.buffers + i * 64, 64, false);
    expect(p.driver.add(p.add)).toBe(5);
    // Whatever the elements say (an id never made available, a length past any buffer), used.idx
    // counts two buffers: the two oldest chains, lengths 0.
    p.raw.complete({ id: 0xdead, len: 0xffffffff }, { id: 0xbeef, len: 1 });
    expect(reap()).toBe(2);
    expect([p.collected.id(0), p.collected.id(1), p.collected.len(0), p.collected.len(1)]).toEqual([10, 11, 0, 0]);
    expect(p.driver.numFree).toBe(5);
    expect(p.driver.inFlight).toBe(3);
    p.raw.complete({ id: 0, len: 0 }, { id: 0, len: 0 }, { id: 0, len: 0 });
    expect(reap(2)).toBe(2);
    expect(reap()).toBe(1);
    expect([p.collected.id(0)]).toEqual([14]);
    expect(reap()).toBe(0);
    // Descriptors still come in ring order after it (2.7.5.2).
    p.add.clear();
    p.add.single(20, p.buffers, 64, false);
    expect(p.driver.add(p.add)).toBe(1);
    expect(p.raw.availRing(5)).toBe(5);
    // used.idx past what is in flight: refused, the queue broken.
    p.raw.complete({ id: 0, len: 0 }, { id: 0, len: 0 });
    expect(codeOf(reap)).toBe(E.ERR_USED_IDX_JUMP);
    expect(p.driver.broken).toBe(true);
  });

  it('the driver refuses a used id that is not in flight', () => {
    const p = inOrderPair(8);
    p.add.clear();
    p.add.single(7, p.buffers, 64, false);
    p.driver.add(p.add);
    p.raw.complete({ id: 5, len: 0 });
    expect(codeOf(() => p.driver.collect(p.collected))).toBe(E.ERR_USED_ID_NOT_IN_FLIGHT);
  });

  it('a run larger than the caller\'s array is refused until there is room', () => {
    const p = inOrderPair(8);
    p.add.clear();
    for (let i = 0; i < 4; i++) p.add.single(i, p.buffers + i * 64, 64, false);
    p.driver.add(p.add);
    p.device.pop(p.popped);
    p.used.clear();
    for (let i = 0; i < 4; i++) p.used.push(p.popped.id(i), 0);
    p.device.push(p.used);
    const small = new UsedBatch(p.engine, p.plan, 2);
    expect(codeOf(() => p.driver.collect(small))).toBe(E.ERR_SEGMENTS_FULL);
    expect(p.driver.broken).toBe(false);
    expect(p.driver.collect(p.collected)).toBe(4);
  });
});
