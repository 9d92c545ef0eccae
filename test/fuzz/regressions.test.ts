// Regressions found by the ring fuzz targets (test/fuzz/*.fuzz.test.ts), each the minimal input
// written out by hand, with the seed that found it (seeds replay only with the generators as
// they were then).
import { describe, expect, it } from 'vitest';
import * as E from '../../assembly/layout/errors.js';
import * as B from '../../assembly/layout/batch.js';
import * as Q from '../../assembly/layout/queue.js';
import { RawPackedRing } from '../../sim/raw-packed.js';
import { splitPair } from '../helpers/split-pair.js';
import { changesOutside } from '../helpers/memory-diff.js';
import {
  createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, PackedDevice, allocPackedRing,
  type Engine,
} from '../../src/index.js';
import { loadEngine } from '../../src/node.js';

/** Writes chain records naming `ids` (what unpop reads) into `b`. */
function records(engine: Engine, b: ChainBatch, ids: number[]): void {
  ids.forEach((id, i) => { engine.u32[(b.chainsPtr + i * B.CHAIN_SIZE + B.CHAIN_ID) >>> 2] = id; });
}

describe('ring fuzz regressions', () => {
  // Engine bug (device, caller input not refused). split-device.fuzz, an honest case: pop
  // heads 3, 0, 1; push 1 and 0; unpop 3. Unpop gives back "the last chains popped", so the
  // ring position moves back by their count; without IN_ORDER the device only checked that the
  // chain given back was in flight, so it moved back over head 1 instead: the next pop handed
  // head 1 out again (already used: the driver then broke on a used id not in flight) and head 3
  // was never seen again (lost). The device now keeps each chain's pop serial and refuses
  // (BAD_ARGUMENT, nothing changed) chains that are not the last popped, in order.
  it('split: unpop of a chain popped before others that were already pushed is refused (it would be lost)', () => {
    const p = splitPair({ queueSize: 4 });
    p.add.clear();
    for (let t = 0; t < 3; t++) p.add.single(10 + t, p.buffers + t * 64, 64, true);
    expect(p.driver.add(p.add)).toBe(3);
    expect(p.device.pop(p.popped)).toBe(3);
    const [a, b, c] = [0, 1, 2].map((i) => p.popped.id(i));
    p.used.clear();
    p.used.push(c!, 1);
    p.used.push(b!, 1);
    expect(p.device.push(p.used)).toBe(2);
    const before = p.engine.u8.slice();
    const back = new ChainBatch(p.engine, p.plan, 4);
    records(p.engine, back, [a!]);
    expect(p.engine.exports.splitDeviceUnpop(p.device.cb, back.chainsPtr, 1)).toBe(E.ERR_BAD_ARGUMENT);
    expect(p.device.broken).toBe(false);
    expect(p.device.lastAvailIdx).toBe(3);
    expect(p.device.inFlight).toBe(1);
    expect(p.device.pop(p.popped)).toBe(0); // nothing popped twice
    // Only the control block's detail changed.
    const detail = p.device.cb + Q.CB_DETAIL;
    expect(changesOutside(before, p.engine.u8, [[detail, detail + 4]])).toEqual([]);
    // Every chain completes exactly once.
    p.used.clear();
    p.used.push(a!, 1);
    expect(p.device.push(p.used)).toBe(1);
    expect(p.driver.collect(p.collected)).toBe(3);
    expect([0, 1, 2].map((i) => p.collected.id(i)).sort()).toEqual([10, 11, 12]);
    expect(p.driver.broken).toBe(false);
  });

  it('split: unpop of the last chains popped, after earlier ones were pushed, still works', () => {
    const p = splitPair({ queueSize: 4 });
    p.add.clear();
    for (let t = 0; t < 3; t++) p.add.single(10 + t, p.buffers + t * 64, 64, true);
    expect(p.driver.add(p.add)).toBe(3);
    expect(p.device.pop(p.popped)).toBe(3);
    const ids = [0, 1, 2].map((i) => p.popped.id(i));
    p.used.clear();
    p.used.push(ids[0]!, 1);
    expect(p.device.push(p.used)).toBe(1);
    const back = new ChainBatch(p.engine, p.plan, 4);
    records(p.engine, back, [ids[1]!, ids[2]!]);
    // Out of pop order is refused; in pop order it goes back.
    records(p.engine, back, [ids[2]!, ids[1]!]);
    expect(p.engine.exports.splitDeviceUnpop(p.device.cb, back.chainsPtr, 2)).toBe(E.ERR_BAD_ARGUMENT);
    records(p.engine, back, [ids[1]!, ids[2]!]);
    expect(p.engine.exports.splitDeviceUnpop(p.device.cb, back.chainsPtr, 2)).toBe(2);
    expect(p.device.lastAvailIdx).toBe(1);
    expect(p.device.pop(p.popped)).toBe(2);
    expect([p.popped.id(0), p.popped.id(1)]).toEqual([ids[1], ids[2]]);
  });

  // The same on the packed ring: pop ids 0, 1, 2 (slots 0, 1, 2), push 1 and 2, unpop 0. The
  // position moved back one slot, to slot 2, whose descriptor (id 2, already used) was popped
  // again; id 0 was lost.
  it('packed: unpop of a buffer popped before others that were already pushed is refused', () => {
    const memory = createSharedMemory(1 << 20);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory);
    const areas = allocPackedRing(plan, 4);
    const device = new PackedDevice(engine, plan, areas, {});
    const raw = new RawPackedRing(engine.view, areas);
    const buf = plan.alloc(4096);
    for (let s = 0; s < 3; s++) raw.writeDesc(s, { addr: BigInt(buf + s * 64), len: 64, id: s, flags: RawPackedRing.avail(1) });
    const popped = new ChainBatch(engine, plan, 4);
    expect(device.pop(popped)).toBe(3);
    const used = new UsedBatch(engine, plan, 4);
    used.push(1, 0);
    used.push(2, 0);
    expect(device.push(used)).toBe(2);
    const back = new ChainBatch(engine, plan, 4);
    records(engine, back, [0]);
    expect(engine.exports.packedDeviceUnpop(device.cb, back.chainsPtr, 1)).toBe(E.ERR_BAD_ARGUMENT);
    expect(device.broken).toBe(false);
    expect(device.position()).toMatchObject({ nextAvail: 3, availWrap: 1 });
    expect(device.inFlight).toBe(1);
  });
});
