// fast-check commands over a lock-step world, whatever the layout: each runs one operation on
// the engine and on the reference model (the world compares them) and then checks every
// invariant. Commands carry raw random numbers; the world interprets them against the state at
// the time they run, so any sequence is valid and shrinks well. Each layout's misbehaving peer
// is in split-commands.ts / packed-commands.ts.
import fc from 'fast-check';
import type { LockstepWorld, SegSpec, PushPick } from './lockstep-world.js';
import type { AnyDesc, LayoutTypes, ModelParams, ModelPair } from './lockstep-layout.js';
import { MAX_ADD_BURST, MAX_CHAIN_SEGS, POP_SEG_ROOM, SEG_STRIDE, SLOT_SIZE } from './lockstep-pair.js';

type World = LockstepWorld<LayoutTypes>;

export class Step<W extends World = World> implements fc.Command<W, object> {
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

/** A chain's segments, device-readable ones first (2.7.4.2, 2.8.17); mostly short. */
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
  new Step(`add(${chains.map(fmtChain).join(' ')}${overlong ? ', overlong' : ''})`, (w) => w.add(chains, overlong)));

const burstMax = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant(1 << 20));

const popArb = fc.record({ batch: fc.nat(POP_SEG_ROOM.length - 1), max: burstMax })
  .map(({ batch, max }) => new Step(`pop(room ${POP_SEG_ROOM[batch]}, max ${max})`, (w) => w.pop(batch, max)));

const pickArb: fc.Arbitrary<PushPick> = fc.record({
  pick: fc.nat(1000),
  // -1: all the writable bytes; 0: nothing; otherwise that many modulo (capacity + 1).
  len: fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: 1, max: 4 * SEG_STRIDE })),
});
const pushArb = fc.array(pickArb, { minLength: 0, maxLength: 12 })
  .map((picks) => new Step(`push(${picks.map((p) => `${p.pick}:${p.len}`).join(' ')})`, (w) => w.push(picks)));

const collectArb = burstMax.map((max) => new Step(`collect(${max})`, (w) => w.collect(max)));

export const step = <W extends World>(label: string, act: (w: W) => unknown) => fc.constant(new Step<W>(label, act));

/** The operations of a well-behaved driver and device, weighted towards the data path. */
export const honestCommands: fc.Arbitrary<Step> = fc.oneof(
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

export const resetArb = step('reset', (w) => w.reset());

/** Honest operations plus the occasional device reset. */
export const honestWithReset: fc.Arbitrary<Step> = fc.oneof(
  { weight: 30, arbitrary: honestCommands },
  { weight: 1, arbitrary: resetArb },
);

/** The device host returns records of its own making (any id, any length). */
export const pushRawArb = fc.array(fc.record({
  id: fc.oneof(fc.nat(7), fc.nat(300), fc.nat(0xffffffff)),
  len: fc.oneof(fc.nat(600), fc.nat(0xffffffff)),
}), { maxLength: 4 })
  .map((used) => new Step(`pushRaw(${JSON.stringify(used)})`, (w) => w.pushRaw(used)));

/** A descriptor address of kind 0 to 5 for this pair (see the comments), `offset` into it. */
export function descAddr(p: ModelPair, kind: number, offset: number): bigint {
  const arenaBytes = p.slots * SLOT_SIZE;
  const addrs = [
    BigInt(p.arena + (offset % arenaBytes)), // inside the buffer arena
    BigInt(p.indirectBase || p.arena) + BigInt(offset & ~15), // an indirect table (or the arena)
    BigInt(offset), // low memory: outside every region
    (1n << 64n) - BigInt(offset % 64), // runs past 2^64
    BigInt(p.arena + arenaBytes - (offset % 64)), // runs off the end of the last region
    BigInt(p.ring.desc), // the ring itself: not guest buffer memory
  ];
  return addrs[kind] & ((1n << 64n) - 1n);
}

/** A rogue driver writes one descriptor of the ring or of an indirect table. */
export function tamperDescArb<S, D extends AnyDesc, W extends World>(descArb: fc.Arbitrary<S>, make: (w: W, d: S) => D) {
  return fc.record({ index: fc.oneof(fc.nat(7), fc.nat(1 << 12)), indirect: fc.boolean(), d: descArb })
    .map(({ index, indirect, d }) => new Step<W>(
      `tamperDesc(${index}, ${indirect ? 'indirect' : 'ring'}, ${JSON.stringify(d)})`,
      (w) => w.tamperDesc(index, make(w, d), indirect)));
}

/**
 * Run parameters: Queue Size from `queueSizes`, the layout's own fields from `own`, the features
 * and the arena's region cuts at random.
 */
export function paramsArb<X extends object>(
  queueSizes: readonly number[], own: { [K in keyof X]: fc.Arbitrary<X[K]> },
  o: { indirectMax?: number[]; maxCuts?: number } = {},
): fc.Arbitrary<ModelParams & X> {
  return fc.record({
    queueSize: fc.constantFrom(...queueSizes),
    ...own,
    eventIdx: fc.boolean(),
    indirect: fc.boolean(),
    indirectMax: fc.constantFrom(...(o.indirectMax ?? [1, 2, 3, 4, 8, 16])),
    interrupts: fc.boolean(),
    notify: fc.boolean(),
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: o.maxCuts ?? 4 }),
  }) as fc.Arbitrary<ModelParams & X>;
}

/** For hostile runs: sometimes a device that accepts shorter chains than Queue Size. */
export const withShortMaxChain = <P extends ModelParams>(base: fc.Arbitrary<P>): fc.Arbitrary<P> => fc.record({
  base,
  maxChain: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
}).map(({ base, maxChain }) => ({ ...base, maxChain }));
