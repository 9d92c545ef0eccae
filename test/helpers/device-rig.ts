// A device over a split ring that the test writes by hand (no driver), and a bounded pop that
// also reports every byte the pop changed outside the device's own control block and the
// pop's batch arrays.
import { expect } from 'vitest';
import { splitPair, type SplitPair } from './split-pair.js';
import { BoundedCaller } from './bounded-call.js';
import { changesOutside, type Range } from './memory-diff.js';
import { SplitDevice, VirtqueueError, type FeatureSet, type Region } from '../../src/index.js';
import { engineModule } from '../../src/node.js';
import type { Desc } from '../../sim/raw-split.js';
import * as Q from '../../assembly/layout/queue.js';
import * as B from '../../assembly/layout/batch.js';

export interface RigOptions {
  queueSize?: number;
  features?: FeatureSet;
  /** Region table for the device (default: identity over the memory). */
  regions?: (p: SplitPair) => Region[];
  maxChain?: number;
  memoryBytes?: number;
}

export interface Rig extends SplitPair {
  dev: SplitDevice;
}

export function rig(o: RigOptions = {}): Rig {
  const p = splitPair({ noDriver: true, queueSize: o.queueSize ?? 16, features: o.features, memoryBytes: o.memoryBytes });
  const custom = o.regions !== undefined || o.maxChain !== undefined;
  const dev = custom
    ? new SplitDevice(p.engine, p.plan, p.ring, { features: o.features, regions: o.regions?.(p), maxChain: o.maxChain })
    : p.device;
  return { ...p, dev };
}

export const desc = (addr: number | bigint, len: number, flags = 0, next = 0): Desc =>
  ({ addr: BigInt(addr), len, flags, next });

export const caller = new BoundedCaller(engineModule());

export interface PopResult {
  rc: number;
  /** Bytes changed outside the control block and the batch arrays (should be empty). */
  strayWrites: string[];
  /** Bytes changed anywhere (for calls that must change nothing). */
  anyWrites: string[];
}

/** splitDevicePop into r.popped on a worker thread, with a deadline. */
export async function pop(r: Rig, maxChains = r.popped.maxChains): Promise<PopResult> {
  const { engine, dev, popped } = r;
  const before = engine.u8.slice();
  const rc = await caller.call(r.memory, 'splitDevicePop', [dev.cb, popped.chainsPtr, popped.segsPtr, maxChains, popped.maxSegs]);
  const own: Range[] = [
    ...dev.privateAreas.map(([a, b]): Range => [a, b]),
    [popped.chainsPtr, popped.chainsPtr + popped.maxChains * B.CHAIN_SIZE],
    [popped.segsPtr, popped.segsPtr + popped.maxSegs * B.SEG_SIZE],
  ];
  popped.count = Math.max(rc, 0);
  return { rc, strayWrites: changesOutside(before, engine.u8, own), anyWrites: changesOutside(before, engine.u8, []) };
}

export function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

/**
 * The next pop returns `good` chains (or, with good = 0, fails with `code`), having touched only
 * its own ranges; the queue is then broken with `code`, and later pops fail with it too,
 * changing nothing at all. Returns the error the host sees, for detail checks.
 */
export async function expectRejected(r: Rig, code: number, section: string, good = 0): Promise<VirtqueueError> {
  const first = await pop(r);
  expect(first.strayWrites).toEqual([]);
  expect(first.rc).toBe(good > 0 ? good : code);
  expect(r.dev.status).toBe(code);
  expect(r.dev.broken).toBe(true);
  // Sticky: fails with nothing pending (a healthy queue would return 0), and with the bad chain
  // still there; either way it changes nothing at all.
  const availIdx = r.raw.availIdx;
  for (const idx of [r.dev.lastAvailIdx, availIdx]) {
    r.raw.availIdx = idx;
    const again = await pop(r);
    expect(again.rc).toBe(code);
    expect(again.anyWrites).toEqual([]);
  }
  const err = thrown(() => r.dev.pop(r.popped));
  expect(err).toBeInstanceOf(VirtqueueError);
  const e = err as VirtqueueError;
  expect(e.code).toBe(code);
  expect(e.info.section).toBe(section);
  expect(e.info.breaksQueue).toBe(true);
  return e;
}
