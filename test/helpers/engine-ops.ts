// The engine's side of each operation, through the src/ handles, with results turned into the
// reference model's plain shapes: a return code (count or negative error code, as the engine
// export returned it) plus plain objects read back out of the burst batches.
import { VirtqueueError } from '../../src/index.js';
import { CB_DETAIL } from '../../assembly/layout/queue.js';
import type { RefBurst, RefChain, RefPoppedChain, RefUsed } from '../../sim/reference/index.js';
import type { ChainBatch, UsedBatch } from '../../src/virtqueue/batch.js';
import type { Engine } from '../../src/engine.js';
import type { DriverHandle, DeviceHandle } from '../../src/virtqueue/queue-handles.js';

/** The engine half of a model pair, whatever the ring layout (split ModelPair, PackedPair). */
export interface EngineSide {
  engine: Engine;
  driver: DriverHandle;
  device: DeviceHandle;
  addBatch: ChainBatch;
  popBatches: ChainBatch[];
  usedBatch: UsedBatch;
  collectBatch: UsedBatch;
}

/** Runs a handle call; a VirtqueueError becomes its (negative) code, a boolean becomes 1/0. */
export function rcOf(call: () => number | boolean | void): number {
  try {
    const r = call();
    return typeof r === 'boolean' ? (r ? 1 : 0) : (r ?? 0);
  } catch (e) {
    if (e instanceof VirtqueueError) return e.code;
    throw e;
  }
}

/** Detail the engine recorded with its last refusal or fault. */
export function engineDetail(p: EngineSide, side: 'driver' | 'device'): number {
  const cb = side === 'driver' ? p.driver.cb : p.device.cb;
  return p.engine.u32[(cb + CB_DETAIL) >>> 2];
}

export function engineAdd(p: EngineSide, chains: readonly RefChain[]): number {
  const b = p.addBatch;
  b.clear();
  for (const c of chains) {
    b.begin(c.id);
    for (const s of c.segments) {
      if (s.writable) b.write(s.offset, s.len); else b.read(s.offset, s.len);
    }
    b.end();
  }
  return rcOf(() => p.driver.add(b));
}

export function enginePop(p: EngineSide, batchIndex: number, max: number): RefBurst<RefPoppedChain> {
  const b = p.popBatches[batchIndex];
  const rc = rcOf(() => p.device.pop(b, max));
  const items: RefPoppedChain[] = [];
  for (let i = 0; i < Math.max(rc, 0); i++) {
    const first = b.firstSeg(i);
    const nRead = b.nRead(i);
    const nWrite = b.nWrite(i);
    const segments = [];
    for (let j = 0; j < nRead + nWrite; j++) {
      segments.push({ offset: b.segOffset(first + j), len: b.segLen(first + j), writable: j >= nRead });
    }
    items.push({ id: b.id(i), segments, nRead, nWrite, readLen: b.readLen(i), writeLen: b.writeLen(i), descs: b.descs(i) });
  }
  return { rc, items };
}

export function enginePush(p: EngineSide, used: readonly RefUsed[]): number {
  const u = p.usedBatch;
  u.clear();
  for (const e of used) u.push(e.id, e.len);
  return rcOf(() => p.device.push(u));
}

function usedItems(rc: number, read: (i: number) => RefUsed): RefBurst<RefUsed> {
  const items: RefUsed[] = [];
  for (let i = 0; i < Math.max(rc, 0); i++) items.push(read(i));
  return { rc, items };
}

export function engineCollect(p: EngineSide, max: number): RefBurst<RefUsed> {
  const c = p.collectBatch;
  const rc = rcOf(() => p.driver.collect(c, max));
  return usedItems(rc, (i) => ({ id: c.id(i), len: c.len(i) }));
}

export function engineDetach(p: EngineSide): RefBurst<RefUsed> {
  const c = p.collectBatch;
  const rc = rcOf(() => p.driver.detach(c));
  return usedItems(rc, (i) => ({ id: c.id(i), len: c.len(i) }));
}
