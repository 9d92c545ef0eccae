// The driver's address base (assembly/layout/queue.ts DRV_ADDR_BASE; DriverHandleOptions.addressBase):
// descriptors carry Wasm offset + base (VIRTIO 1.2 2.7.5, 2.8.4: a buffer's physical address;
// through VFIO, an IOVA). An engine driver with a base, paired with the engine's own device whose
// region table maps [base, base + memory) to Wasm offset 0: traffic flows, on both layouts, with
// and without indirect tables, and the descriptor bytes hold offset + base.
import { describe, it, expect } from 'vitest';
import {
  createSharedMemory, MemoryPlan, allocRing, createDriver, createDevice, ChainBatch, UsedBatch, FEATURES,
  type RingLayout, type DriverQueue,
} from '../src/index.js';
import { loadEngine } from '../src/node.js';
import * as Q from '../assembly/layout/queue.js';
import * as S from '../assembly/layout/split.js';
import * as P from '../assembly/layout/packed.js';
import * as E from '../assembly/layout/errors.js';

const MEM = 4 << 20;
const IOVA = 2n ** 32n;

function world(layout: RingLayout, indirect: boolean, addressBase: bigint | number) {
  const memory = createSharedMemory(MEM);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const features = FEATURES.VERSION_1 | (layout === 'packed' ? FEATURES.RING_PACKED : 0n) | (indirect ? FEATURES.INDIRECT_DESC : 0n);
  const areas = allocRing(plan, { layout, queueSize: 8 });
  const driver = createDriver(engine, plan, layout, areas, { features, addressBase });
  const base = BigInt(addressBase);
  const device = createDevice(engine, plan, layout, areas, { features, regions: [{ gpa: base, size: BigInt(MEM), offset: 0 }] });
  const add = new ChainBatch(engine, plan, 8, 16);
  const pop = new ChainBatch(engine, plan, 8, 16);
  const used = new UsedBatch(engine, plan, 8);
  const bufs = plan.alloc(8 * 4096, 64, 'buffers');
  return { engine, plan, features, areas, driver, device, add, pop, used, bufs, base };
}

/** The (addr, len) pairs of the descriptors the driver wrote for its first chain (the ring's slot 0 onwards; an indirect table followed). */
function descriptorAddrs(w: ReturnType<typeof world>, layout: RingLayout, k: number): { ring: bigint; table?: bigint[] } {
  const v = w.engine.view;
  if (layout === 'split') {
    const head = v.getUint16(w.areas.driver + S.AVAIL_RING, true);
    const d = w.areas.desc + head * S.DESC_SIZE;
    const ring = v.getBigUint64(d + S.DESC_ADDR, true);
    if ((v.getUint16(d + S.DESC_FLAGS, true) & S.DESC_F_INDIRECT) === 0) return { ring };
    const at = Number(ring - w.base);
    return { ring, table: Array.from({ length: k }, (_, j) => v.getBigUint64(at + j * S.DESC_SIZE + S.DESC_ADDR, true)) };
  }
  const d = w.areas.desc;
  const ring = v.getBigUint64(d + P.PDESC_ADDR, true);
  if ((v.getUint16(d + P.PDESC_FLAGS, true) & P.PDESC_F_INDIRECT) === 0) return { ring };
  const at = Number(ring - w.base);
  return { ring, table: Array.from({ length: k }, (_, j) => v.getBigUint64(at + j * P.PDESC_SIZE + P.PDESC_ADDR, true)) };
}

/** One chain (a readable segment of `n` bytes, a writable one of 256) through the pair: the device copies it reversed. */
function roundTrip(w: ReturnType<typeof world>, layout: RingLayout, id: number, n: number): { got: Uint8Array; len: number; id: number; descs: { ring: bigint; table?: bigint[] } } {
  const src = w.bufs + id * 4096;
  const dst = src + 2048;
  const pattern = Uint8Array.from({ length: n }, (_, i) => (i * 7 + id) & 0xff);
  w.engine.u8.set(pattern, src);
  w.engine.u8.fill(0, dst, dst + 256);
  w.add.clear();
  w.add.begin(id);
  w.add.read(src, n);
  w.add.write(dst, 256);
  w.add.end();
  expect(w.driver.add(w.add)).toBe(1);
  // Read before the device uses it (a packed device writes its used descriptor over the slot).
  const descs = descriptorAddrs(w, layout, 2);
  expect(w.device.pop(w.pop)).toBe(1);
  // The device translated the addresses back to the Wasm offsets the driver was given.
  const first = w.pop.firstSeg(0);
  expect([w.pop.segOffset(first), w.pop.segLen(first)]).toEqual([src, n]);
  expect([w.pop.segOffset(first + 1), w.pop.segLen(first + 1)]).toEqual([dst, 256]);
  w.engine.u8.set(w.engine.u8.slice(w.pop.segOffset(first), w.pop.segOffset(first) + n).reverse(), w.pop.segOffset(first + 1));
  w.used.clear();
  w.used.push(w.pop.id(0), n);
  expect(w.device.push(w.used)).toBe(1);
  const out = new UsedBatch(w.engine, w.plan, 8);
  expect(w.driver.collect(out)).toBe(1);
  return { got: w.engine.u8.slice(dst, dst + out.len(0)), len: out.len(0), id: out.id(0), descs };
}

describe('driver address base: descriptors carry Wasm offset + base', () => {
  for (const layout of ['split', 'packed'] as const) {
    for (const indirect of [false, true]) {
      it(`${layout}${indirect ? ', indirect' : ''}: traffic flows to a device whose region starts at the base, and the descriptor bytes are offset + base`, () => {
        const w = world(layout, indirect, IOVA);
        expect((w.driver as DriverQueue & { addressBase: bigint }).addressBase).toBe(IOVA);
        const r = roundTrip(w, layout, 3, 100);
        expect(r.id).toBe(3);
        expect(r.len).toBe(100);
        expect([...r.got]).toEqual(Array.from({ length: 100 }, (_, i) => ((99 - i) * 7 + 3) & 0xff));
        const a = r.descs;
        const src = w.bufs + 3 * 4096;
        if (indirect) {
          // The ring descriptor points at the indirect table by its address too, and the table's entries carry the base.
          expect(a.table).toEqual([IOVA + BigInt(src), IOVA + BigInt(src + 2048)]);
          const table = Number(a.ring - IOVA);
          expect(a.ring).toBeGreaterThanOrEqual(IOVA);
          expect((w.driver as unknown as { privateAreas: [number, number][] }).privateAreas.some(([s, e]) => table >= s && table < e)).toBe(true);
        } else {
          expect(a.ring).toBe(IOVA + BigInt(src));
          expect(a.table).toBeUndefined();
        }
      });
    }

    it(`${layout}: a device that takes the addresses as Wasm offsets (no base) refuses them: the base is really in the descriptors`, () => {
      const w = world(layout, false, IOVA);
      w.device.setRegions([{ gpa: 65536n, size: BigInt(MEM - 65536), offset: 65536 }]);
      w.add.clear();
      w.add.single(1, w.bufs, 64, false);
      expect(w.driver.add(w.add)).toBe(1);
      expect(() => w.device.pop(w.pop)).toThrow(expect.objectContaining({ code: E.ERR_BUFFER_NOT_IN_REGIONS }));
    });

    it(`${layout}: reset keeps the base (the host writes it once, before the first reset)`, () => {
      const w = world(layout, false, 0x7f_0000_0000n);
      roundTrip(w, layout, 0, 10);
      w.driver.reset();
      w.device.reset();
      expect(w.engine.view.getBigUint64(w.driver.cb + Q.DRV_ADDR_BASE, true)).toBe(0x7f_0000_0000n);
      const r = roundTrip(w, layout, 5, 40);
      expect(r.len).toBe(40);
      expect(r.descs.ring).toBe(0x7f_0000_0000n + BigInt(w.bufs + 5 * 4096));
    });
  }

  it('defaults to 0: the addresses are the Wasm offsets (vhost-user, the simulator)', () => {
    const memory = createSharedMemory(MEM);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory);
    const areas = allocRing(plan, { layout: 'split', queueSize: 8 });
    const driver = createDriver(engine, plan, 'split', areas, { features: FEATURES.VERSION_1 });
    const add = new ChainBatch(engine, plan, 1, 1);
    add.single(0, 0x20000, 8, false);
    expect(driver.add(add)).toBe(1);
    expect(engine.view.getBigUint64(areas.desc + S.DESC_ADDR, true)).toBe(0x20000n);
  });

  it('refuses a base that is negative, not an integer, or with which the memory would pass 2^64, naming it', () => {
    for (const bad of [-1, 1.5, -1n, 2n ** 64n - BigInt(MEM), 2n ** 64n]) {
      expect(() => world('split', false, bad), String(bad)).toThrow(/addressBase/);
    }
    // The largest base that fits: the memory's last byte at 2^64 - 1.
    const w = world('packed', false, 2n ** 64n - BigInt(MEM) - 1n);
    expect(roundTrip(w, 'packed', 2, 16).len).toBe(16);
  });

  it('the engine\'s reset checks the base too (a block written by other hands): ERR_BAD_CONFIG', () => {
    for (const layout of ['split', 'packed'] as const) {
      const w = world(layout, false, 0);
      w.engine.view.setBigUint64(w.driver.cb + Q.DRV_ADDR_BASE, 2n ** 64n - 4096n, true);
      expect(() => w.driver.reset(), layout).toThrow(expect.objectContaining({ code: E.ERR_BAD_CONFIG }));
    }
  });
});
