// What the lock-step property tests (split.model, packed.model, split.in-order.model) share: how
// many runs, the bodies of the random-command properties, and one round trip of the long runs.
// Runs per property: VIRTQUEUE_PROPERTY_RUNS (default 200).
import fc from 'fast-check';
import type { LockstepWorld, SegSpec } from './lockstep-world.js';
import type { LayoutTypes } from './lockstep-layout.js';
import type { Step } from './lockstep-commands.js';

type World = LockstepWorld<LayoutTypes>;

export const RUNS = Number(process.env.VIRTQUEUE_PROPERTY_RUNS ?? 200);
/** Coverage checks ("the runs did reach this path") only mean something with enough runs. */
export const ENOUGH = RUNS >= 100;

/**
 * Well-behaved sides on a fresh world per run, up to 100 random commands; `each` looks at the
 * world after them. Then whatever is still in flight comes back, each token once, with its length.
 */
export function honestRuns<P, W extends World>(
  world: (params: P) => W, params: fc.Arbitrary<P>, commands: fc.Arbitrary<Step<W>>, each: (w: W, params: P) => void,
): void {
  fc.assert(
    fc.property(params, fc.commands([commands], { maxCommands: 100, size: 'large' }), (p, cmds) => {
      const w = world(p);
      fc.modelRun(() => ({ model: w, real: {} }), cmds);
      each(w, p);
      w.drain();
      w.checkArena();
    }),
    { numRuns: RUNS },
  );
}

/**
 * A peer that scribbles on the rings, up to 80 random commands a run; after them a reset, and
 * even a misbehaving device cannot make the driver lose or duplicate a token. Returns the error
 * codes met over all runs (each time both sides gave the same verdict).
 */
export function hostileRuns<P, W extends World>(
  world: (params: P, faultsAllowed: boolean) => W, params: fc.Arbitrary<P>, commands: fc.Arbitrary<Step<W>>,
): Set<number> {
  const codes = new Set<number>();
  fc.assert(
    fc.property(params, fc.commands([commands], { maxCommands: 80, size: 'large' }), (p, cmds) => {
      const w = world(p, true);
      fc.modelRun(() => ({ model: w, real: {} }), cmds);
      w.reset();
      w.checkAll();
      w.checkArena();
      for (const c of w.codes) codes.add(c);
    }),
    { numRuns: RUNS },
  );
  return codes;
}

/** Small deterministic generator for the long runs (xorshift32), seeded by fast-check. */
export function rng(seed: number): (n: number) => number {
  let x = (seed | 0) || 0x9e3779b9;
  return (n) => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** 1 to q chains of 1 to 3 short segments, readable ones first. */
export function randomChains(r: (n: number) => number, q: number): SegSpec[][] {
  const chains: SegSpec[][] = [];
  for (let c = 1 + r(q); c > 0; c--) {
    const segs: SegSpec[] = [];
    for (let s = 1 + r(3); s > 0; s--) segs.push({ len: r(65), writable: r(2) === 1 });
    chains.push([...segs.filter((s) => !s.writable), ...segs.filter((s) => s.writable)]);
  }
  return chains;
}

/** One time in four, turns a notification on or off; then checks. */
export function toggleNotifications(w: World, r: (n: number) => number): void {
  switch (r(16)) {
    case 0: w.enableInterrupts(); break;
    case 1: w.disableInterrupts(); break;
    case 2: w.enableNotify(); break;
    case 3: w.disableNotify(); break;
    default: break;
  }
  w.checkAll();
}

/**
 * One round of the long runs, checked after every step: add, kick, pop, the device uses a random
 * subset in random order (in pop order with IN_ORDER), some only partly written, interrupt,
 * collect, and now and then a notification turned on or off.
 */
export function roundTrip(w: World, r: (n: number) => number, q: number): void {
  w.add(randomChains(r, q));
  w.checkAll();
  w.kick();
  w.pop(3, r(4) === 0 ? 1 + r(3) : 1 << 20);
  w.checkAll();
  w.push(Array.from({ length: r(q + 1) }, () => ({ pick: r(64), len: r(3) === 0 ? r(200) : -1 })));
  w.checkAll();
  w.interrupt();
  w.collect(r(4) === 0 ? r(3) : 1 << 20);
  w.checkAll();
  toggleNotifications(w, r);
}
