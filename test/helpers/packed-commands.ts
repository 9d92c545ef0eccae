// The packed ring's runs (2.8): their parameters, and a peer that breaks the rules by writing
// descriptors and event suppression structures directly, in both memories. The honest commands
// are lockstep-commands.ts's.
import fc from 'fast-check';
import * as P from '../../assembly/layout/packed.js';
import type { PackedDesc } from '../../sim/raw-packed.js';
import {
  Step, honestCommands, resetArb, pushRawArb, descAddr, tamperDescArb, paramsArb, withShortMaxChain,
} from './lockstep-commands.js';
import { deviceWrapCounters, type PackedParams, type PackedWorld } from './packed-layout.js';

/** Packed queues need not be powers of two (2.8); sizes around the small edge cases and a few larger. */
export const PACKED_QUEUE_SIZES = [1, 2, 3, 5, 8, 64, 100, 256] as const;

export const packedParamsArb: fc.Arbitrary<PackedParams> = paramsArb(PACKED_QUEUE_SIZES, { inOrder: fc.boolean() });

export const hostilePackedParamsArb = withShortMaxChain(packedParamsArb);

/**
 * A rogue driver writes a list at the device's next slot, each descriptor made available with
 * the wrap counter of its slot unless `raw`, the first one's flags last.
 */
export function craft(w: PackedWorld, descs: readonly PackedDesc[], raw: boolean): void {
  let slot = w.p.device.nextAvail;
  let wrap = deviceWrapCounters(w.p).avail;
  const writes: { slot: number; d: PackedDesc }[] = [];
  for (const d of descs) {
    const flags = raw ? d.flags : (d.flags & ~(P.PDESC_F_AVAIL | P.PDESC_F_USED)) | (wrap ? P.PDESC_F_AVAIL : P.PDESC_F_USED);
    writes.push({ slot, d: { ...d, flags } });
    if (++slot === w.q) { slot = 0; wrap ^= 1; }
  }
  for (const x of [...writes.slice(1), writes[0]]) w.tamperDesc(x.slot, x.d, false);
}

/**
 * A rogue driver offers one more list under a buffer id the device does not hold (the lowest
 * such id, else Queue Size): with every slot held, the ring is overrun.
 */
export function craftUnheld(w: PackedWorld, desc: PackedDesc): void {
  const held = new Set(w.held.map((c) => c.id));
  let id = 0;
  while (id < w.q && held.has(id)) id++;
  craft(w, [{ ...desc, id, flags: desc.flags & ~P.PDESC_F_NEXT }], false);
}

/** A rogue device writes a used descriptor `delta` slots past the driver's next used slot. */
export function tamperUsed(w: PackedWorld, delta: number, id: number, len: number, flagBits: number, markUsed: boolean): void {
  let slot = w.p.driver.nextUsed + delta;
  let wrap = w.p.driver.usedWrapCounter;
  if (slot >= w.q) { slot %= w.q; wrap ^= 1; }
  const d = w.p.engineRaw.readDesc(slot);
  const flags = markUsed ? (flagBits & ~(P.PDESC_F_AVAIL | P.PDESC_F_USED)) | (wrap ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0) : flagBits;
  w.tamperDesc(slot, { addr: d.addr, len, id, flags }, false);
}

/** Either side scribbles on an event suppression structure. */
export function tamperEvent(w: PackedWorld, area: 'driver' | 'device', offWrap: number, flags: number): void {
  w.p.engineRaw.setEvent(area, offWrap, flags);
  w.p.refRaw.setEvent(area, offWrap, flags);
  w.hostile = true;
}

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

const makeDesc = (w: PackedWorld, d: DescSpec): PackedDesc =>
  ({ addr: descAddr(w.p, d.addrKind, d.addrOffset), len: d.len, id: d.id, flags: d.flags });

const fmt = (v: unknown): string => JSON.stringify(v);

/** A rogue list at the device's next slot (made available properly, or with raw flags). */
const craftArb = fc.record({
  descs: fc.array(descArb, { minLength: 1, maxLength: 3 }),
  raw: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
}).map(({ descs, raw }) => new Step<PackedWorld>(`craft(${fmt(descs)}${raw ? ', raw flags' : ''})`,
  (w) => craft(w, descs.map((d) => makeDesc(w, d)), raw)));

/** The driver fills every free slot with two-buffer lists and the device pops them all: the ring is full. */
const fillArb = fc.constant(new Step<PackedWorld>('fillAndPop', (w) => {
  for (let guard = 0; w.p.driver.numFree > 0 && !w.p.driver.broken && guard < 300; guard++) {
    const n = Math.min(2, w.p.driver.numFree);
    if (w.add([Array.from({ length: n }, () => ({ len: 8, writable: false }))]) <= 0) break;
  }
  w.pop(3, 1 << 20);
}));

const craftUnheldArb = descArb.map((d) => new Step<PackedWorld>(`craftUnheld(${fmt(d)})`, (w) => craftUnheld(w, makeDesc(w, d))));

const tamperUsedArb = fc.record({
  delta: fc.oneof(fc.constant(0), fc.nat(8)),
  id: fc.oneof(fc.nat(7), fc.nat(300), fc.nat(0xffff)),
  len: fc.oneof(fc.nat(600), fc.nat(0xffffffff)),
  flags: fc.oneof(fc.constant(P.PDESC_F_WRITE), fc.constant(0), fc.nat(0xffff)),
  markUsed: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
}).map(({ delta, id, len, flags, markUsed }) => new Step<PackedWorld>(
  `tamperUsed(+${delta}, id ${id}, len ${len}, flags ${flags}${markUsed ? ', used' : ''})`,
  (w) => tamperUsed(w, delta, id, len, flags, markUsed)));

const tamperEventArb = fc.record({
  area: fc.constantFrom('driver' as const, 'device' as const),
  offWrap: fc.oneof(fc.nat(0xffff), fc.nat(8), fc.integer({ min: 0x8000, max: 0x8008 })),
  flags: fc.oneof(fc.nat(3), fc.nat(0xffff)),
}).map(({ area, offWrap, flags }) => new Step<PackedWorld>(`tamperEvent(${area}, ${offWrap}, ${flags})`,
  (w) => tamperEvent(w, area, offWrap, flags)));

/** Honest operations mixed with a peer that scribbles on the ring, and resets that recover. */
export const packedHostileCommands: fc.Arbitrary<Step<PackedWorld>> = fc.oneof(
  { weight: 12, arbitrary: honestCommands },
  { weight: 2, arbitrary: tamperDescArb(descArb, makeDesc) },
  { weight: 3, arbitrary: craftArb },
  { weight: 1, arbitrary: craftUnheldArb },
  { weight: 1, arbitrary: fillArb },
  { weight: 2, arbitrary: tamperUsedArb },
  { weight: 1, arbitrary: tamperEventArb },
  { weight: 1, arbitrary: pushRawArb },
  { weight: 1, arbitrary: resetArb },
);
