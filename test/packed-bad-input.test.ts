// Hostile input on the packed ring: a device that must not trust the driver's descriptors, and a
// driver that must not trust the device's used descriptors (VIRTIO 1.2, 2.8).
import { describe, expect, it } from 'vitest';
import {
  createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, RING_FEATURES, VirtqueueError,
  type FeatureSet,
} from '../src/index.js';
import { PackedDriver, PackedDevice, allocPackedRing } from '../src/virtqueue/packed.js';
import { loadEngine } from '../src/node.js';
import { RawPackedRing } from '../sim/raw-packed.js';
import * as E from '../assembly/layout/errors.js';
import * as P from '../assembly/layout/packed.js';
import * as Q from '../assembly/layout/queue.js';

const { NEXT, WRITE, INDIRECT } = { NEXT: P.PDESC_F_NEXT, WRITE: P.PDESC_F_WRITE, INDIRECT: P.PDESC_F_INDIRECT };
const A1 = RawPackedRing.avail(1); // available in the first lap
const A0 = RawPackedRing.avail(0); // available in the second lap

function deviceRig(queueSize = 8, features: FeatureSet = 0n) {
  const memory = createSharedMemory(4 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const areas = allocPackedRing(plan, queueSize);
  const device = new PackedDevice(engine, plan, areas, { features });
  const popped = new ChainBatch(engine, plan, 64, 256);
  const buffers = plan.alloc(64 * 1024, 4096, 'buffers');
  const raw = new RawPackedRing(engine.view, areas);
  const allowed: [number, number][] = [
    ...device.privateAreas.map(([a, b]): [number, number] => [a, b - a]),
    [popped.chainsPtr, popped.maxChains * 24],
    [popped.segsPtr, popped.maxSegs * 8],
  ];
  // Every byte outside the device's own state must be as it was.
  const snapshot = () => engine.u8.slice(0, plan.start + plan.used);
  const untouched = (before: Uint8Array) => {
    const after = engine.u8.subarray(0, before.length);
    for (let i = 0; i < before.length; i++) {
      if (before[i] !== after[i] && !allowed.some(([p, n]) => i >= p && i < p + n)) {
        throw new Error(`byte ${i} changed outside the device's state`);
      }
    }
  };
  const buf = (i: number) => BigInt(buffers + i * 1024);
  return { engine, plan, device, popped, buffers, raw, snapshot, untouched, buf };
}

type Rig = ReturnType<typeof deviceRig>;

function expectBroken(rig: Rig, code: number) {
  const before = rig.snapshot();
  let err: unknown;
  try { rig.device.pop(rig.popped); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(VirtqueueError);
  expect((err as VirtqueueError).code).toBe(code);
  expect((err as VirtqueueError).message).toMatch(/\(VIRTIO 1\.2 §2\.8(\.\d+)+\)/);
  expect(rig.device.broken).toBe(true);
  rig.untouched(before);
  // Sticky until reset.
  expect(() => rig.device.pop(rig.popped)).toThrow(VirtqueueError);
}

describe('packed device refuses a corrupt ring', () => {
  it('a chained descriptor whose flags say available for the other wrap counter', () => {
    const r = deviceRig();
    r.raw.writeDesc(1, { addr: r.buf(1), len: 64, id: 0, flags: A0 });
    r.raw.writeDesc(0, { addr: r.buf(0), len: 64, id: 0, flags: A1 | NEXT });
    expectBroken(r, E.ERR_PACKED_DESC_NOT_AVAILABLE);
  });

  it('a head whose flags match the other wrap counter is just not available yet', () => {
    const r = deviceRig();
    r.raw.writeDesc(0, { addr: r.buf(0), len: 64, id: 0, flags: A0 });
    expect(r.device.pop(r.popped)).toBe(0);
    expect(r.device.broken).toBe(false);
  });

  it('a buffer id out of range', () => {
    const r = deviceRig();
    r.raw.writeDesc(0, { addr: r.buf(0), len: 64, id: 8, flags: A1 });
    expectBroken(r, E.ERR_PACKED_ID_OUT_OF_RANGE);
  });

  it('a buffer id already in flight (good buffers before it are returned first)', () => {
    const r = deviceRig();
    r.raw.writeDesc(0, { addr: r.buf(0), len: 64, id: 3, flags: A1 });
    r.raw.writeDesc(1, { addr: r.buf(1), len: 64, id: 3, flags: A1 });
    expect(r.device.pop(r.popped)).toBe(1);
    expect(r.popped.id(0)).toBe(3);
    expect(r.device.broken).toBe(true);
    expect(() => r.device.pop(r.popped)).toThrow(expect.objectContaining({ code: E.ERR_PACKED_ID_IN_FLIGHT }));
  });

  it('a list longer than the queue size (it runs on around the ring)', () => {
    const r = deviceRig(4);
    for (let s = 0; s < 4; s++) r.raw.writeDesc(s, { addr: r.buf(s), len: 64, id: 0, flags: A1 | NEXT });
    expectBroken(r, E.ERR_CHAIN_TOO_LONG);
  });

  it('an indirect descriptor with NEXT', () => {
    const r = deviceRig(8, RING_FEATURES.INDIRECT_DESC);
    r.raw.writeDesc(0, { addr: r.buf(4), len: 32, id: 0, flags: A1 | INDIRECT | NEXT });
    r.raw.writeDesc(1, { addr: r.buf(1), len: 64, id: 0, flags: A1 });
    expectBroken(r, E.ERR_INDIRECT_WITH_NEXT);
  });

  it('an indirect descriptor inside a list linked by NEXT', () => {
    const r = deviceRig(8, RING_FEATURES.INDIRECT_DESC);
    r.raw.writeDesc(1, { addr: r.buf(4), len: 32, id: 0, flags: A1 | INDIRECT });
    r.raw.writeDesc(0, { addr: r.buf(0), len: 64, id: 0, flags: A1 | NEXT });
    expectBroken(r, E.ERR_INDIRECT_IN_LIST);
  });

  it('a nested indirect table', () => {
    const r = deviceRig(8, RING_FEATURES.INDIRECT_DESC);
    const table = r.buffers + 8 * 1024;
    r.raw.writeDesc(0, { addr: r.buf(1), len: 64, id: 0, flags: 0 }, table);
    r.raw.writeDesc(1, { addr: r.buf(4), len: 32, id: 0, flags: INDIRECT }, table);
    r.raw.writeDesc(0, { addr: BigInt(table), len: 32, id: 0, flags: A1 | INDIRECT });
    expectBroken(r, E.ERR_INDIRECT_NESTED);
  });

  it('an indirect descriptor when INDIRECT_DESC was not negotiated', () => {
    const r = deviceRig(8, 0n);
    r.raw.writeDesc(0, { addr: r.buf(4), len: 32, id: 0, flags: A1 | INDIRECT });
    expectBroken(r, E.ERR_INDIRECT_NOT_NEGOTIATED);
  });

  it('an indirect table whose length is not a multiple of 16, or zero', () => {
    for (const len of [24, 0]) {
      const r = deviceRig(8, RING_FEATURES.INDIRECT_DESC);
      r.raw.writeDesc(0, { addr: r.buf(4), len, id: 0, flags: A1 | INDIRECT });
      expectBroken(r, E.ERR_INDIRECT_BAD_LENGTH);
    }
  });

  it('an indirect table longer than the queue size', () => {
    const r = deviceRig(2, RING_FEATURES.INDIRECT_DESC);
    r.raw.writeDesc(0, { addr: r.buf(4), len: 48, id: 0, flags: A1 | INDIRECT });
    expectBroken(r, E.ERR_CHAIN_TOO_LONG);
  });

  it('a buffer whose address + length overflows 64 bits', () => {
    const r = deviceRig();
    r.raw.writeDesc(0, { addr: 0xffff_ffff_ffff_ff00n, len: 0x200, id: 0, flags: A1 });
    expectBroken(r, E.ERR_BUFFER_ADDRESS_OVERFLOW);
  });

  it('a buffer outside every region, and one running off the end of memory', () => {
    for (const addr of [16n, BigInt(4 << 20) - 32n]) {
      const r = deviceRig();
      r.raw.writeDesc(0, { addr, len: 64, id: 0, flags: A1 });
      expectBroken(r, E.ERR_BUFFER_NOT_IN_REGIONS);
    }
  });

  it('a device-readable element after a device-writable one', () => {
    const r = deviceRig();
    r.raw.writeDesc(1, { addr: r.buf(1), len: 64, id: 0, flags: A1 });
    r.raw.writeDesc(0, { addr: r.buf(0), len: 64, id: 0, flags: A1 | NEXT | WRITE });
    expectBroken(r, E.ERR_WRITABLE_BEFORE_READABLE);
  });

  it('a device-readable element after a zero-length device-writable one', () => {
    const r = deviceRig();
    r.raw.writeDesc(1, { addr: r.buf(1), len: 64, id: 0, flags: A1 });
    r.raw.writeDesc(0, { addr: r.buf(0), len: 0, id: 0, flags: A1 | NEXT | WRITE });
    expectBroken(r, E.ERR_WRITABLE_BEFORE_READABLE);
  });

  it('a list of 2^32 bytes or more', () => {
    const r = deviceRig();
    r.raw.writeDesc(1, { addr: r.buf(1), len: 0xffff_ffff, id: 0, flags: A1 });
    r.raw.writeDesc(0, { addr: r.buf(0), len: 2, id: 0, flags: A1 | NEXT });
    expectBroken(r, E.ERR_CHAIN_TOO_MANY_BYTES);
  });

  it('more descriptors available than the ring holds (the driver reused slots the device still owns)', () => {
    const r = deviceRig(2);
    r.raw.writeDesc(0, { addr: r.buf(0), len: 64, id: 0, flags: A1 });
    r.raw.writeDesc(1, { addr: r.buf(1), len: 64, id: 1, flags: A1 });
    expect(r.device.pop(r.popped)).toBe(2);
    // Slot 0 again, second lap, while ids 0 and 1 were never used.
    r.raw.writeDesc(0, { addr: r.buf(2), len: 64, id: 0, flags: A0 });
    expect(() => r.device.pop(r.popped)).toThrow(expect.objectContaining({ code: E.ERR_PACKED_ID_IN_FLIGHT }));
  });

  it('works again after reset', () => {
    const r = deviceRig();
    r.raw.writeDesc(0, { addr: r.buf(0), len: 64, id: 9, flags: A1 });
    expect(() => r.device.pop(r.popped)).toThrow(VirtqueueError);
    r.raw.writeDesc(0, { addr: r.buf(0), len: 64, id: 2, flags: A1 });
    r.device.reset();
    expect(r.device.pop(r.popped)).toBe(1);
    expect(r.popped.id(0)).toBe(2);
  });
});

function driverRig(queueSize = 4, features: FeatureSet = 0n) {
  const memory = createSharedMemory(4 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const areas = allocPackedRing(plan, queueSize);
  const driver = new PackedDriver(engine, plan, areas, { features });
  const add = new ChainBatch(engine, plan, 16, 64);
  const out = new UsedBatch(engine, plan, 64);
  const buffers = plan.alloc(64 * 1024, 4096, 'buffers');
  const raw = new RawPackedRing(engine.view, areas);
  return { driver, add, out, buffers, raw };
}

describe('packed driver refuses bad used descriptors', () => {
  const addTwo = (r: ReturnType<typeof driverRig>) => {
    r.add.clear();
    r.add.single(100, r.buffers, 64, true);
    r.add.single(101, r.buffers + 1024, 64, true);
    expect(r.driver.add(r.add)).toBe(2);
  };

  it('an id not in flight, after a good one', () => {
    const r = driverRig();
    addTwo(r);
    r.raw.writeDesc(1, { addr: 0n, len: 0, id: 3, flags: RawPackedRing.used(1) });
    r.raw.writeDesc(0, { addr: 0n, len: 10, id: 0, flags: RawPackedRing.used(1) | WRITE });
    expect(r.driver.collect(r.out)).toBe(1);
    expect([r.out.id(0), r.out.len(0)]).toEqual([100, 10]);
    expect(() => r.driver.collect(r.out)).toThrow(expect.objectContaining({ code: E.ERR_USED_ID_NOT_IN_FLIGHT }));
    // Nothing is lost: the one still in flight comes back through detach.
    expect(r.driver.detach(r.out)).toBe(1);
    expect(r.out.id(0)).toBe(101);
  });

  it('an id out of range', () => {
    const r = driverRig();
    addTwo(r);
    r.raw.writeDesc(0, { addr: 0n, len: 0, id: 4, flags: RawPackedRing.used(1) });
    expect(() => r.driver.collect(r.out)).toThrow(expect.objectContaining({ code: E.ERR_USED_ID_OUT_OF_RANGE }));
  });

  it('a written length larger than the buffer', () => {
    const r = driverRig();
    addTwo(r);
    r.raw.writeDesc(0, { addr: 0n, len: 65, id: 0, flags: RawPackedRing.used(1) | WRITE });
    expect(() => r.driver.collect(r.out)).toThrow(expect.objectContaining({ code: E.ERR_USED_LEN_TOO_LARGE }));
  });

  it('ignores the length of a used descriptor without WRITE (2.8.4)', () => {
    const r = driverRig();
    addTwo(r);
    r.raw.writeDesc(0, { addr: 0n, len: 999999, id: 1, flags: RawPackedRing.used(1) });
    expect(r.driver.collect(r.out)).toBe(1);
    expect([r.out.id(0), r.out.len(0)]).toEqual([101, 0]);
  });

  it('refuses a chain longer than the queue size, changing nothing', () => {
    const r = driverRig(2, RING_FEATURES.INDIRECT_DESC);
    r.add.clear();
    r.add.single(1, r.buffers, 64, false);
    r.add.begin(2);
    for (let i = 0; i < 3; i++) r.add.read(r.buffers + i * 128, 64);
    r.add.end();
    const before = [r.driver.numFree, r.driver.nextAvail, r.raw.readDesc(0).flags];
    expect(() => r.driver.add(r.add)).toThrow(expect.objectContaining({ code: E.ERR_BAD_ARGUMENT }));
    expect([r.driver.numFree, r.driver.nextAvail, r.raw.readDesc(0).flags]).toEqual(before);
  });
});
