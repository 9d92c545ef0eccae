// fast-check commands over a World: each runs one operation on the engine and on the reference
// model (World compares them) and then checks every invariant. Commands carry raw random
// numbers; the World interprets them against the state at the time they run, so any sequence
// is valid and shrinks well.
import fc from 'fast-check';
import type { World, SegSpec, PushPick } from './model-world.js';
import type { Desc } from '../../sim/raw-split.js';
import { MAX_ADD_BURST, MAX_CHAIN_SEGS, POP_SEG_ROOM, SEG_STRIDE, SLOT_SIZE, type PairParams } from './model-pair.js';

/** The operations the data-path commands drive, whatever the ring layout (World, PackedWorld). */
export interface ModelWorld {
  add(specs: readonly (readonly SegSpec[])[], overlong?: boolean): number;
  kick(): number;
  pop(batch: number, max: number): unknown;
  push(picks: readonly PushPick[]): number;
  interrupt(): number;
  collect(max: number): unknown;
  enableInterrupts(): number;
  disableInterrupts(): number;
  enableNotify(): number;
  disableNotify(): number;
  reset(): void;
  checkAll(): void;
}

export class Step<W extends ModelWorld = World> implements fc.Command<W, object> {
  constructor(readonly label: string, readonly act: (w: W) => unknown) {}
  check(): boolean { return true; }
  run(w: W): void {
    this.act(w);
    w.checkAll();
  }
  toString(): string { return this.label; }
}

const segArb: fc.Arbitrary<SegSpec> = fc.record({
  len: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 8, arbitrary: fc.integer({ min: 1, max: SEG_STRIDE }) }),
  writable: fc.boolean(),
});

/** A chain's segments, device-readable ones first (2.7.4.2); mostly short. */
export const chainArb: fc.Arbitrary<SegSpec[]> = fc.oneof(
  { weight: 6, arbitrary: fc.array(segArb, { minLength: 1, maxLength: 2 }) },
  { weight: 3, arbitrary: fc.array(segArb, { minLength: 3, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.array(segArb, { minLength: 5, maxLength: MAX_CHAIN_SEGS }) },
).map((segs) => [...segs.filter((s) => !s.writable), ...segs.filter((s) => s.writable)]);

const fmtChain = (c: readonly SegSpec[]): string => `[${c.map((s) => `${s.writable ? 'w' : 'r'}${s.len}`).join(',')}]`;

const addArb = fc.record({
  chains: fc.array(chainArb, { minLength: 1, maxLength: MAX_ADD_BURST }),
  // Rarely, keep chains longer than Queue Size (the driver must refuse the burst, 2.7.5.3.1).
  overlong: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
}).map(({ chains, overlong }) =>
  new Step<ModelWorld>(`add(${chains.map(fmtChain).join(' ')}${overlong ? ', overlong' : ''})`, (w) => w.add(chains, overlong)));

const burstMax = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant(1 << 20));

const popArb = fc.record({ batch: fc.nat(POP_SEG_ROOM.length - 1), max: burstMax })
  .map(({ batch, max }) => new Step<ModelWorld>(`pop(room ${POP_SEG_ROOM[batch]}, max ${max})`, (w) => w.pop(batch, max)));

const pickArb: fc.Arbitrary<PushPick> = fc.record({
  pick: fc.nat(1000),
  // -1: all the writable bytes; 0: nothing; otherwise that many modulo (capacity + 1).
  len: fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: 1, max: 4 * SEG_STRIDE })),
});
const pushArb = fc.array(pickArb, { minLength: 0, maxLength: 12 })
  .map((picks) => new Step<ModelWorld>(`push(${picks.map((p) => `${p.pick}:${p.len}`).join(' ')})`, (w) => w.push(picks)));

const collectArb = burstMax.map((max) => new Step<ModelWorld>(`collect(${max})`, (w) => w.collect(max)));

const step = <W extends ModelWorld>(label: string, act: (w: W) => unknown) => fc.constant(new Step<W>(label, act));

/** The operations of a well-behaved driver and device, weighted towards the data path. */
export const honestCommands: fc.Arbitrary<Step<ModelWorld>> = fc.oneof(
  { weight: 3, arbitrary: addArb },
  { weight: 2, arbitrary: step('kickNeeded', (w) => w.kick()) },
  { weight: 4, arbitrary: popArb },
  { weight: 4, arbitrary: pushArb },
  { weight: 2, arbitrary: step('interruptNeeded', (w) => w.interrupt()) },
  { weight: 4, arbitrary: collectArb },
  { weight: 1, arbitrary: step('enableInterrupts', (w) => w.enableInterrupts()) },
  { weight: 1, arbitrary: step('disableInterrupts', (w) => w.disableInterrupts()) },
  { weight: 1, arbitrary: step('enableNotify', (w) => w.enableNotify()) },
  { weight: 1, arbitrary: step('disableNotify', (w) => w.disableNotify()) },
);

const resetArb = step<ModelWorld>('reset', (w) => w.reset());

/** Interesting descriptor contents for a misbehaving driver. */
const descArb = fc.record({
  addrKind: fc.nat(5),
  addrOffset: fc.nat(1 << 16),
  len: fc.oneof(fc.constant(0), fc.constant(16), fc.constant(17), fc.constant(48), fc.integer({ min: 1, max: 4096 }),
    fc.constant(0x7fffffff), fc.constant(0xffffffff)),
  flags: fc.oneof({ weight: 4, arbitrary: fc.nat(7) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
  next: fc.oneof(fc.nat(3), fc.nat(300)),
});

/** Descriptor with its address worked out for this world (see descArb). */
function makeDesc(w: World, d: DescSpec): Desc {
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
  return { addr: addrs[d.addrKind] & ((1n << 64n) - 1n), len: d.len, flags: d.flags, next: d.next };
}
type DescSpec = { addrKind: number; addrOffset: number; len: number; flags: number; next: number };

const tamperDescArb = fc.record({ index: fc.oneof(fc.nat(7), fc.nat(1 << 12)), indirect: fc.boolean(), d: descArb })
  .map(({ index, indirect, d }) => new Step(
    `tamperDesc(${index}, ${indirect ? 'indirect' : 'ring'}, ${JSON.stringify(d)})`,
    (w) => w.tamperDesc(index, makeDesc(w, d), indirect)));

/** A short chain of made-up descriptors at small indices, published as the next available entry. */
const craftArb = fc.array(descArb, { minLength: 1, maxLength: 3 })
  .map((descs) => new Step(`craft(${JSON.stringify(descs)})`, (w) => {
    descs.forEach((d, i) => w.tamperDesc(i, makeDesc(w, { ...d, next: d.next % (descs.length + 1) }), false));
    w.tamperAvail(0, 0, 1);
  }));

const tamperAvailArb = fc.record({ delta: fc.nat(8), head: fc.oneof(fc.nat(300), fc.nat(0xffff)), publish: fc.oneof(fc.constant(0), fc.nat(300)) })
  .map(({ delta, head, publish }) => new Step(`tamperAvail(+${delta}, head ${head}, publish ${publish})`,
    (w) => w.tamperAvail(delta, head, publish)));

const tamperUsedArb = fc.record({
  delta: fc.nat(8), id: fc.oneof(fc.nat(7), fc.nat(300), fc.nat(0xffffffff)),
  len: fc.oneof(fc.nat(600), fc.nat(0xffffffff)), publish: fc.oneof(fc.constant(0), fc.nat(300)),
}).map(({ delta, id, len, publish }) => new Step(`tamperUsed(+${delta}, id ${id}, len ${len}, publish ${publish})`,
  (w) => w.tamperUsed(delta, id, len, publish)));

const pushRawArb = fc.array(fc.record({
  id: fc.oneof(fc.nat(7), fc.nat(300), fc.nat(0xffffffff)),
  len: fc.oneof(fc.nat(600), fc.nat(0xffffffff)),
}), { maxLength: 4 })
  .map((used) => new Step(`pushRaw(${JSON.stringify(used)})`, (w) => w.pushRaw(used)));

/** Honest operations mixed with a peer that scribbles on the rings, and resets that recover. */
export const hostileCommands: fc.Arbitrary<Step> = fc.oneof(
  { weight: 12, arbitrary: honestCommands },
  { weight: 2, arbitrary: tamperDescArb },
  { weight: 2, arbitrary: craftArb },
  { weight: 1, arbitrary: tamperAvailArb },
  { weight: 1, arbitrary: tamperUsedArb },
  { weight: 1, arbitrary: pushRawArb },
  { weight: 1, arbitrary: resetArb },
);

/** Honest operations plus the occasional device reset. */
export const honestWithReset: fc.Arbitrary<Step<ModelWorld>> = fc.oneof(
  { weight: 30, arbitrary: honestCommands },
  { weight: 1, arbitrary: resetArb },
);

/** Per-run parameters: queue size, start index (often just below the 16-bit wrap), features. */
export const paramsArb: fc.Arbitrary<PairParams> = fc.record({
  queueSize: fc.constantFrom(1, 2, 4, 8, 16, 64, 256),
  startIdx: fc.oneof(fc.constant(0), fc.integer({ min: 65536 - 8, max: 65535 }), fc.integer({ min: 65536 - 64, max: 65535 }), fc.nat(0xffff)),
  eventIdx: fc.boolean(),
  indirect: fc.boolean(),
  indirectMax: fc.constantFrom(1, 2, 3, 4, 8, 16),
  interrupts: fc.boolean(),
  notify: fc.boolean(),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
});

/** For hostile runs: sometimes a device that accepts shorter chains than Queue Size. */
export const hostileParamsArb: fc.Arbitrary<PairParams> = fc.record({
  base: paramsArb,
  maxChain: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
}).map(({ base, maxChain }) => ({ ...base, maxChain }));
