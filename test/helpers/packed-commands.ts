// fast-check commands and run parameters for the packed model tests (PackedWorld). The data path
// (add, kick, pop, push, interrupt, collect, enable/disable) is model-commands.ts's, shared with
// the split ring; here are the packed ring's parameters and its misbehaving peer.
import fc from 'fast-check';
import * as P from '../../assembly/layout/packed.js';
import type { PackedDesc } from '../../sim/raw-packed.js';
import { honestCommands, Step } from './model-commands.js';
import { SLOT_SIZE } from './model-pair.js';
import type { PackedParams } from './packed-pair.js';
import type { PackedWorld } from './packed-world.js';

/** Packed queues need not be powers of two (2.8); sizes around the small edge cases and a few larger. */
export const PACKED_QUEUE_SIZES = [1, 2, 3, 5, 8, 64, 100, 256] as const;

export const packedParamsArb: fc.Arbitrary<PackedParams> = fc.record({
  queueSize: fc.constantFrom(...PACKED_QUEUE_SIZES),
  eventIdx: fc.boolean(),
  indirect: fc.boolean(),
  inOrder: fc.boolean(),
  indirectMax: fc.constantFrom(1, 2, 3, 4, 8, 16),
  interrupts: fc.boolean(),
  notify: fc.boolean(),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
});

/** For hostile runs: sometimes a device that accepts shorter lists than Queue Size. */
export const hostilePackedParamsArb: fc.Arbitrary<PackedParams> = fc.record({
  base: packedParamsArb,
  maxChain: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
}).map(({ base, maxChain }) => ({ ...base, maxChain }));

const resetArb = fc.constant(new Step<PackedWorld>('reset', (w) => w.reset()));

/** Honest operations plus the occasional device reset. */
export const packedHonestWithReset: fc.Arbitrary<Step<PackedWorld>> = fc.oneof(
  { weight: 30, arbitrary: honestCommands },
  { weight: 1, arbitrary: resetArb },
);

type DescSpec = { addrKind: number; addrOffset: number; len: number; id: number; flags: number };

/** Interesting descriptor contents for a misbehaving driver. */
const descArb: fc.Arbitrary<DescSpec> = fc.record({
  // Mostly addresses that translate, so that the rules checked after translation are reached.
  addrKind: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: fc.nat(5) }),
  addrOffset: fc.nat(1 << 16),
  len: fc.oneof(fc.constant(0), fc.constant(16), fc.constant(17), fc.constant(48), fc.integer({ min: 1, max: 4096 }),
    fc.integer({ min: 1, max: 64 }), fc.constant(0x7fffffff), fc.constant(0xffffffff)),
  id: fc.oneof({ weight: 4, arbitrary: fc.nat(7) }, { weight: 1, arbitrary: fc.nat(300) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
  // NEXT, WRITE, INDIRECT in any mix, sometimes with AVAIL/USED or anything else.
  flags: fc.oneof({ weight: 4, arbitrary: fc.nat(7) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
});

/** Descriptor with its address worked out for this world. */
function makeDesc(w: PackedWorld, d: DescSpec): PackedDesc {
  const p = w.p;
  const arenaBytes = p.slots * SLOT_SIZE;
  const addrs = [
    BigInt(p.arena + (d.addrOffset % arenaBytes)), // inside the buffer arena
    BigInt(p.indirectBase || p.arena) + BigInt(d.addrOffset & ~15), // an indirect table (or the arena)
    BigInt(d.addrOffset), // low memory: outside every region
    (1n << 64n) - BigInt(d.addrOffset % 64), // runs past 2^64
    BigInt(p.arena + arenaBytes - (d.addrOffset % 64)), // runs off the end of the last region
    BigInt(p.ring.desc), // the ring itself: not guest buffer memory
  ];
  return { addr: addrs[d.addrKind] & ((1n << 64n) - 1n), len: d.len, id: d.id, flags: d.flags };
}

const fmt = (v: unknown): string => JSON.stringify(v);

const tamperDescArb = fc.record({ index: fc.oneof(fc.nat(7), fc.nat(1 << 12)), indirect: fc.boolean(), d: descArb })
  .map(({ index, indirect, d }) => new Step<PackedWorld>(`tamperDesc(${index}, ${indirect ? 'indirect' : 'ring'}, ${fmt(d)})`,
    (w) => w.tamperDesc(index, makeDesc(w, d), indirect)));

/** A rogue list at the device's next slot (made available properly, or with raw flags). */
const craftArb = fc.record({
  descs: fc.array(descArb, { minLength: 1, maxLength: 3 }),
  raw: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
}).map(({ descs, raw }) => new Step<PackedWorld>(`craft(${fmt(descs)}${raw ? ', raw flags' : ''})`,
  (w) => w.craft(descs.map((d) => makeDesc(w, d)), raw)));

/** The driver fills every free slot with two-buffer lists and the device pops them all: the ring is full. */
const fillArb = fc.constant(new Step<PackedWorld>('fillAndPop', (w) => {
  for (let guard = 0; w.p.driver.numFree > 0 && !w.p.driver.broken && guard < 300; guard++) {
    const n = Math.min(2, w.p.driver.numFree);
    if (w.add([Array.from({ length: n }, () => ({ len: 8, writable: false }))]) <= 0) break;
  }
  w.pop(3, 1 << 20);
}));

const craftUnheldArb = descArb.map((d) => new Step<PackedWorld>(`craftUnheld(${fmt(d)})`, (w) => w.craftUnheld(makeDesc(w, d))));

const tamperUsedArb = fc.record({
  delta: fc.oneof(fc.constant(0), fc.nat(8)),
  id: fc.oneof(fc.nat(7), fc.nat(300), fc.nat(0xffff)),
  len: fc.oneof(fc.nat(600), fc.nat(0xffffffff)),
  flags: fc.oneof(fc.constant(P.PDESC_F_WRITE), fc.constant(0), fc.nat(0xffff)),
  markUsed: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
}).map(({ delta, id, len, flags, markUsed }) => new Step<PackedWorld>(
  `tamperUsed(+${delta}, id ${id}, len ${len}, flags ${flags}${markUsed ? ', used' : ''})`,
  (w) => w.tamperUsed(delta, id, len, flags, markUsed)));

const tamperEventArb = fc.record({
  area: fc.constantFrom('driver' as const, 'device' as const),
  offWrap: fc.oneof(fc.nat(0xffff), fc.nat(8), fc.integer({ min: 0x8000, max: 0x8008 })),
  flags: fc.oneof(fc.nat(3), fc.nat(0xffff)),
}).map(({ area, offWrap, flags }) => new Step<PackedWorld>(`tamperEvent(${area}, ${offWrap}, ${flags})`,
  (w) => w.tamperEvent(area, offWrap, flags)));

const pushRawArb = fc.array(fc.record({
  id: fc.oneof(fc.nat(7), fc.nat(300), fc.nat(0xffffffff)),
  len: fc.oneof(fc.nat(600), fc.nat(0xffffffff)),
}), { maxLength: 4 })
  .map((used) => new Step<PackedWorld>(`pushRaw(${fmt(used)})`, (w) => w.pushRaw(used)));

/** Honest operations mixed with a peer that scribbles on the ring, and resets that recover. */
export const packedHostileCommands: fc.Arbitrary<Step<PackedWorld>> = fc.oneof(
  { weight: 12, arbitrary: honestCommands },
  { weight: 2, arbitrary: tamperDescArb },
  { weight: 3, arbitrary: craftArb },
  { weight: 1, arbitrary: craftUnheldArb },
  { weight: 1, arbitrary: fillArb },
  { weight: 2, arbitrary: tamperUsedArb },
  { weight: 1, arbitrary: tamperEventArb },
  { weight: 1, arbitrary: pushRawArb },
  { weight: 1, arbitrary: resetArb },
);
