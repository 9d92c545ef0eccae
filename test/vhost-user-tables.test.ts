// The pure parts of the vhost-user back-end: memory table checks and placement, user address
// translation, vring sizes and areas, the virtio-net config space, and the ring base of a packed
// device (avail index and wrap in bits 0-15, used index and wrap in bits 16-31, as QEMU sends
// them; DPDK's low half only) surviving a stop and a restart.
import { describe, expect, it } from 'vitest';
import { createSharedMemory, MemoryPlan, allocPackedRing, allocSplitRing, FEATURES, PackedDriver, ChainBatch, UsedBatch, identityRegion } from '../src/index.js';
import { loadEngine } from '../src/node.js';
import { memoryTableProblem, placeRegions, translateUser } from '../src/vhost-user/memory-table.js';
import { vringAreas, vringNumProblem, buildRingDevice, vringBase, vringBaseProblem, packedBaseToPosition } from '../src/vhost-user/vring.js';
import { readNetConfig } from '../src/vhost-user/net/config.js';
import type { DeviceQueue } from '../src/virtqueue/queue-side.js';
import type { MemRegion } from '../src/vhost-user/message.js';

const PAGE = 4096;
const reg = (gpa: bigint, size: bigint, uaddr: bigint, mmapOffset = 0n): MemRegion => ({ gpa, size, uaddr, mmapOffset });

describe('memory tables', () => {
  it('accepts adjacent regions and refuses overlaps, empty, overflowing, unaligned and too many', () => {
    expect(memoryTableProblem([reg(0n, 0x1000n, 0x10000n), reg(0x1000n, 0x1000n, 0x11000n)], PAGE)).toBeNull();
    expect(memoryTableProblem([reg(0n, 0x2000n, 0n), reg(0x1fffn, 0x1000n, 0x10000n)], PAGE)).toMatch(/overlaps region 0 in guest/);
    expect(memoryTableProblem([reg(0n, 0x1000n, 0n), reg(0x10000n, 0x1000n, 0xfffn)], PAGE)).toMatch(/overlaps region 0 in user/);
    expect(memoryTableProblem([reg(0n, 0n, 0n)], PAGE)).toMatch(/empty/);
    expect(memoryTableProblem([reg(0xffff_ffff_ffff_f000n, 0x1000n, 0n)], PAGE)).toBeNull(); // ends exactly at 2^64
    expect(memoryTableProblem([reg(0xffff_ffff_ffff_f000n, 0x2000n, 0n)], PAGE)).toMatch(/64-bit guest/);
    expect(memoryTableProblem([reg(0n, 0x1000n, 0n, 0xffff_ffff_ffff_f000n + 0x800n)], PAGE)).toMatch(/mmap offset/);
    expect(memoryTableProblem([reg(0n, 0x1800n, 0n)], PAGE)).toMatch(/not a multiple/);
    expect(memoryTableProblem(Array.from({ length: 9 }, (_, i) => reg(BigInt(i) << 20n, 0x1000n, BigInt(i) << 20n)), PAGE)).toMatch(/9 regions/);
    expect(memoryTableProblem([], PAGE)).toMatch(/no regions/);
  });

  it('places regions one after another in the window and translates user addresses inside one region only', () => {
    const placed = placeRegions([reg(0n, 0x2000n, 0x7000_0000n), reg(0x10_0000n, 0x1000n, 0x7000_2000n)], { offset: 0x100000, size: 0x3000 });
    expect(placed.map((p) => p.offset)).toEqual([0x100000, 0x102000]);
    expect(() => placeRegions([reg(0n, 0x4000n, 0n)], { offset: 0x100000, size: 0x3000 })).toThrow(/does not fit/);
    expect(translateUser(placed, 0x7000_1ff0n, 16)).toBe(0x101ff0);
    // Adjacent in user addresses, but not one region: refused.
    expect(translateUser(placed, 0x7000_1ff0n, 32)).toBeUndefined();
    expect(translateUser(placed, 0x7000_2000n, 0x1000)).toBe(0x102000);
    expect(translateUser(placed, 0x6fff_fff0n, 8)).toBeUndefined();
  });
});

describe('vrings', () => {
  it('queue sizes per layout', () => {
    expect([0, 1, 64, 100, 32768, 32769].map((n) => vringNumProblem(n, 'split'))).toEqual([
      'queue size 0', null, null, 'queue size 100 is not a power of two (split ring)', null, 'queue size 32769 is above 32768']);
    expect([1, 100, 32768].map((n) => vringNumProblem(n, 'packed'))).toEqual([null, null, null]);
  });

  it('areas must each lie whole inside a region and be aligned', () => {
    const t = (u: bigint, n: number): number | undefined => (u >= 0x1000n && u + BigInt(n) <= 0x3000n ? Number(u) + 0x10000 - 0x1000 : undefined);
    const addr = { index: 0, flags: 0, desc: 0x1000n, avail: 0x1400n, used: 0x1800n, log: 0n };
    expect(vringAreas('split', 64, addr, t)).toEqual({ queueSize: 64, desc: 0x10000, driver: 0x10400, device: 0x10800 });
    expect(vringAreas('split', 64, { ...addr, used: 0x2ff0n }, t)).toMatch(/device area \[0x2ff0, \+518\) is not inside/);
    expect(vringAreas('split', 64, { ...addr, avail: 0x1401n }, t)).toMatch(/driver area at 0x1401 is not 2-byte aligned/);
    expect(vringAreas('packed', 3, { ...addr, avail: 0x1402n }, t)).toMatch(/not 4-byte aligned/);
    expect(vringAreas('packed', 3, addr, t)).toEqual({ queueSize: 3, desc: 0x10000, driver: 0x10400, device: 0x10800 });
  });

  it('a packed device built from SET_VRING_BASE reports the same state, and where it got to, in both halves', () => {
    const memory = createSharedMemory(4 << 20);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory);
    const areas = allocPackedRing(plan, 5);
    const features = FEATURES.VERSION_1 | FEATURES.RING_PACKED;
    const regions = [identityRegion(memory)];
    const base = (d: DeviceQueue): number => vringBase('packed', d.position());
    const WRAPS = 0x8000_8000; // a fresh packed ring as QEMU sends it: slot 0, both wrap counters 1
    // DPDK sends the low half only (avail index and wrap): the used side starts where avail does.
    expect(packedBaseToPosition(0x8000)).toEqual({ nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1 });
    expect(base(buildRingDevice(engine, plan, { layout: 'packed', areas, features, regions, base: 0x8000, notify: false }))).toBe(WRAPS);
    const dev = buildRingDevice(engine, plan, { layout: 'packed', areas, features, regions, base: WRAPS, notify: false });
    expect(base(dev)).toBe(WRAPS);
    // The driver makes 4 single-buffer chains available; the device pops them and uses 3.
    const driver = new PackedDriver(engine, plan, areas, { features });
    const add = new ChainBatch(engine, plan, 8, 8);
    const pop = new ChainBatch(engine, plan, 8, 8);
    const buf = plan.alloc(4096);
    for (let i = 0; i < 4; i++) { add.begin(i); add.read(buf, 16); add.end(); }
    expect(driver.add(add)).toBe(4);
    expect(dev.pop(pop)).toBe(4);
    const used = new UsedBatch(engine, plan, 4);
    for (let i = 0; i < 3; i++) used.push(pop.id(i), 0);
    expect(dev.push(used)).toBe(3);
    const stopped = base(dev);
    expect(stopped).toBe((4 | (1 << 15) | ((3 | (1 << 15)) << 16)) >>> 0);
    const again = buildRingDevice(engine, new MemoryPlan(memory, { start: 2 << 20 }), { layout: 'packed', areas, features, regions, base: stopped, notify: false });
    expect(again.position()).toEqual({ nextAvail: 4, availWrap: 1, nextUsed: 3, usedWrap: 1 });
    expect(base(again)).toBe(stopped);
    // QEMU's value from the report that started this issue: avail 0 / wrap 1 and used 0 / wrap 1 after one lap.
    expect(vringBaseProblem('packed', 2147516416, 256)).toBeNull();
    expect(vringBaseProblem('packed', 0x8005, 5)).toMatch(/not below the queue size 5/);
    expect(vringBaseProblem('split', 65536, 8)).toMatch(/above 65535/);
  });

  it('a split device starts reading at the base and takes used.idx from guest memory', () => {
    const memory = createSharedMemory(4 << 20);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory);
    const ring = allocSplitRing(plan, 8);
    engine.u16[(ring.used + 2) >>> 1] = 65533;
    const split = buildRingDevice(engine, plan, { layout: 'split', areas: ring, features: FEATURES.VERSION_1, regions: [identityRegion(memory)], base: 65535, notify: false });
    expect(split.position()).toMatchObject({ nextAvail: 65535, nextUsed: 65533 });
    expect(vringBase('split', split.position())).toBe(65535);
  });
});

describe('virtio-net config space', () => {
  const c = { mac: [1, 2, 3, 4, 5, 6], status: 1, maxVirtqueuePairs: 4, mtu: 1500 };
  it('reads exactly the bytes asked for, and nothing outside', () => {
    expect([...readNetConfig(c, 0, 12)!]).toEqual([1, 2, 3, 4, 5, 6, 1, 0, 4, 0, 0xdc, 0x05]);
    expect([...readNetConfig(c, 8, 2)!]).toEqual([4, 0]);
    expect(readNetConfig(c, 12, 0)).toEqual(new Uint8Array(0));
    expect(readNetConfig(c, 11, 2)).toBeUndefined();
    expect(readNetConfig(c, 0xffff_ffff, 1)).toBeUndefined();
  });
});
