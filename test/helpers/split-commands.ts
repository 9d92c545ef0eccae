// The split ring's runs (2.7): their parameters, and a peer that breaks the rules by writing the
// descriptor table, the available ring and the used ring directly, in both memories. The honest
// commands are lockstep-commands.ts's.
import fc from 'fast-check';
import type { Desc } from '../../sim/raw-split.js';
import {
  Step, honestCommands, resetArb, pushRawArb, descAddr, tamperDescArb, paramsArb, withShortMaxChain,
} from './lockstep-commands.js';
import type { SplitParams, SplitWorld } from './split-layout.js';

/** Queue sizes are powers of two; avail.idx and used.idx start anywhere, often just below the 16-bit wrap. */
export const splitParamsArb: fc.Arbitrary<SplitParams> = paramsArb([1, 2, 4, 8, 16, 64, 256], {
  startIdx: fc.oneof(fc.constant(0), fc.integer({ min: 65536 - 8, max: 65535 }), fc.integer({ min: 65536 - 64, max: 65535 }),
    fc.nat(0xffff)),
});

export const hostileSplitParamsArb = withShortMaxChain(splitParamsArb);

/** Writes an available ring entry `delta` slots past avail.idx, and optionally moves avail.idx. */
export function tamperAvail(w: SplitWorld, delta: number, head: number, publish: number): void {
  for (const raw of [w.p.engineRaw, w.p.refRaw]) {
    const idx = raw.availIdx;
    raw.setAvailRing((idx + delta) & 0xffff, head);
    raw.availIdx = idx + publish;
  }
  w.hostile = true;
}

/** Writes a used element `delta` slots past used.idx, and optionally moves used.idx. */
export function tamperUsed(w: SplitWorld, delta: number, id: number, len: number, publish: number): void {
  for (const raw of [w.p.engineRaw, w.p.refRaw]) {
    const idx = raw.usedIdx;
    raw.setUsedElem((idx + delta) & 0xffff, id, len);
    raw.usedIdx = idx + publish;
  }
  w.hostile = true;
}

type DescSpec = { addrKind: number; addrOffset: number; len: number; flags: number; next: number };

/** Interesting descriptor contents for a misbehaving driver. */
const descArb: fc.Arbitrary<DescSpec> = fc.record({
  addrKind: fc.nat(5),
  addrOffset: fc.nat(1 << 16),
  len: fc.oneof(fc.constant(0), fc.constant(16), fc.constant(17), fc.constant(48), fc.integer({ min: 1, max: 4096 }),
    fc.constant(0x7fffffff), fc.constant(0xffffffff)),
  flags: fc.oneof({ weight: 4, arbitrary: fc.nat(7) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
  next: fc.oneof(fc.nat(3), fc.nat(300)),
});

const makeDesc = (w: SplitWorld, d: DescSpec): Desc =>
  ({ addr: descAddr(w.p, d.addrKind, d.addrOffset), len: d.len, flags: d.flags, next: d.next });

/** A short chain of made-up descriptors at small indices, published as the next available entry. */
const craftArb = fc.array(descArb, { minLength: 1, maxLength: 3 })
  .map((descs) => new Step<SplitWorld>(`craft(${JSON.stringify(descs)})`, (w) => {
    descs.forEach((d, i) => w.tamperDesc(i, makeDesc(w, { ...d, next: d.next % (descs.length + 1) }), false));
    tamperAvail(w, 0, 0, 1);
  }));

const tamperAvailArb = fc.record({
  delta: fc.nat(8), head: fc.oneof(fc.nat(300), fc.nat(0xffff)), publish: fc.oneof(fc.constant(0), fc.nat(300)),
}).map(({ delta, head, publish }) => new Step<SplitWorld>(`tamperAvail(+${delta}, head ${head}, publish ${publish})`,
  (w) => tamperAvail(w, delta, head, publish)));

const tamperUsedArb = fc.record({
  delta: fc.nat(8), id: fc.oneof(fc.nat(7), fc.nat(300), fc.nat(0xffffffff)),
  len: fc.oneof(fc.nat(600), fc.nat(0xffffffff)), publish: fc.oneof(fc.constant(0), fc.nat(300)),
}).map(({ delta, id, len, publish }) => new Step<SplitWorld>(`tamperUsed(+${delta}, id ${id}, len ${len}, publish ${publish})`,
  (w) => tamperUsed(w, delta, id, len, publish)));

/** Honest operations mixed with a peer that scribbles on the rings, and resets that recover. */
export const splitHostileCommands: fc.Arbitrary<Step<SplitWorld>> = fc.oneof(
  { weight: 12, arbitrary: honestCommands },
  { weight: 2, arbitrary: tamperDescArb(descArb, makeDesc) },
  { weight: 2, arbitrary: craftArb },
  { weight: 1, arbitrary: tamperAvailArb },
  { weight: 1, arbitrary: tamperUsedArb },
  { weight: 1, arbitrary: pushRawArb },
  { weight: 1, arbitrary: resetArb },
);
