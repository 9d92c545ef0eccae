// Pinned cases from the packed model-based properties (test/packed.model.test.ts). No run found
// the engine and the reference model disagreeing, and no run broke a spec invariant, so no
// engine fix came out of them; these are the cases the random search reached least often (found
// by probing the hostile runs' error codes and by checking which deliberate model mutations the
// properties caught), written out as explicit steps. Each replays through the lock-step world
// (packedWorld), which compares engine and reference after every step, and states what the spec
// expects.
import { describe, expect, it } from 'vitest';
import * as E from '../assembly/layout/errors.js';
import * as P from '../assembly/layout/packed.js';
import { packedWorld, type PackedParams } from './helpers/packed-layout.js';
import { craft } from './helpers/packed-commands.js';

const BIG = 1 << 20;
const params = (o: Partial<PackedParams>): PackedParams => ({
  queueSize: 8, eventIdx: false, indirect: false, inOrder: false, indirectMax: 1,
  interrupts: false, notify: false, cuts: [], ...o,
});
const w8 = { len: 64, writable: true };
const r8 = { len: 8, writable: false };

describe('packed ring pinned cases', () => {
  // Hostile probe, {queueSize 5}: craft([{len 2^32-1}, {len 2^32-1}]), craft([{len 48, NEXT|WRITE}]), pop.
  // The list breaks two rules at its second descriptor: a device-readable buffer after a
  // device-writable one (2.8.17) and more than 2^32 - 1 bytes (2.8.4). The device checks a
  // buffer's byte count before anything else about it, so the verdict is the byte count,
  // located at the list's first slot.
  it('a list over 2^32 bytes is refused for its size before the readable-after-writable rule', () => {
    const w = packedWorld(params({ queueSize: 5 }), true);
    const arena = BigInt(w.p.arena);
    craft(w, [
      { addr: arena, len: 48, id: 0, flags: P.PDESC_F_NEXT | P.PDESC_F_WRITE },
      { addr: arena, len: 0xffffffff, id: 0, flags: 0 },
    ], false);
    expect(w.pop(3, BIG).rc).toBe(E.ERR_CHAIN_TOO_MANY_BYTES);
    expect(w.p.device.status).toBe(E.ERR_CHAIN_TOO_MANY_BYTES);
    expect(w.p.refDevice.detail).toBe(0);
    w.checkAll();
    // Sticky until reset, and nothing was written to the ring.
    expect(w.pop(3, BIG).rc).toBe(E.ERR_CHAIN_TOO_MANY_BYTES);
    w.reset();
    w.checkAll();
  });

  // {queueSize 8, IN_ORDER}: add 4, pop, push [full, full, 10 bytes], collect(2), collect(3).
  // 2.8.8: the used descriptor for the third buffer stands for all three and sits at the first
  // one's slot; a collect with room for two cannot take part of the run, so it refuses (a caller
  // error) and changes nothing.
  it('in order: one used descriptor for a run, at its first slot; a collect too small for it changes nothing', () => {
    const w = packedWorld(params({ inOrder: true }));
    expect(w.add([[w8], [w8], [w8], [w8]])).toBe(4);
    expect(w.pop(3, BIG).rc).toBe(4);
    const ids = [0, 1, 2, 3].map((s) => w.p.engineRaw.readDesc(s).id);
    expect(w.push([{ pick: 0, len: -1 }, { pick: 0, len: -1 }, { pick: 0, len: 10 }])).toBe(3);
    const used = w.p.engineRaw.readDesc(0);
    expect(used).toMatchObject({ id: ids[2], len: 10 });
    expect(used.flags & (P.PDESC_F_AVAIL | P.PDESC_F_USED | P.PDESC_F_WRITE)).toBe(P.PDESC_F_AVAIL | P.PDESC_F_USED | P.PDESC_F_WRITE);
    // Slots 1 and 2 keep the driver's descriptors: they are skipped, not used.
    expect(w.p.engineRaw.readDesc(1).flags & P.PDESC_F_USED).toBe(0);
    const before = { numFree: w.p.driver.numFree, nextUsed: w.p.driver.nextUsed };
    expect(w.collect(2).rc).toBe(E.ERR_SEGMENTS_FULL);
    expect(w.p.refDriver.detail).toBe(3);
    expect({ numFree: w.p.driver.numFree, nextUsed: w.p.driver.nextUsed }).toEqual(before);
    expect(w.p.driver.broken).toBe(false);
    expect(w.collect(3).items.map((u) => u.len)).toEqual([64, 64, 10]);
    // A buffer used completely at the end of a burst still gets its own used descriptor.
    expect(w.push([{ pick: 0, len: -1 }])).toBe(1);
    expect(w.p.engineRaw.readDesc(3)).toMatchObject({ id: ids[3], len: 64 });
    expect(w.collect(BIG).items.map((u) => u.len)).toEqual([64]);
    w.checkAll();
  });

  // Long runs, {queueSize 3, EVENT_IDX, notify}: a list that starts at the last slot ends in the
  // next lap. 2.8.1: each descriptor carries the wrap counter of its own slot. 2.8.10: the device
  // asked (off_wrap) for the descriptor at slot 2 of the lap it is in, which is now the previous
  // lap for the driver; the driver made it available, so it must kick.
  it('a list across the ring end: flags per slot, and a kick for an event in the previous lap', () => {
    const w = packedWorld(params({ queueSize: 3, eventIdx: true, notify: true }));
    expect(w.add([[r8, r8]])).toBe(1);
    expect(w.kick()).toBe(1);
    expect(w.pop(3, BIG).rc).toBe(1);
    expect(w.push([{ pick: 0, len: -1 }])).toBe(1);
    expect(w.collect(BIG).rc).toBe(1);
    expect(w.p.engineRaw.event('device')).toEqual({ offWrap: 2 | (1 << 15), flags: P.RING_EVENT_FLAGS_DESC });
    expect(w.add([[r8, r8]])).toBe(1);
    expect(w.p.driver.availWrapCounter).toBe(0);
    const bits = (s: number) => w.p.engineRaw.readDesc(s).flags & (P.PDESC_F_AVAIL | P.PDESC_F_USED | P.PDESC_F_NEXT);
    expect(bits(2)).toBe(P.PDESC_F_AVAIL | P.PDESC_F_NEXT); // lap 1: AVAIL = 1, USED = 0
    expect(bits(0)).toBe(P.PDESC_F_USED); // lap 2: AVAIL = 0, USED = 1
    expect(w.kick()).toBe(1);
    const popped = w.pop(3, BIG);
    expect(popped.items.map((c) => c.descs)).toEqual([2]);
    w.drain();
    w.checkAll();
  });
});
