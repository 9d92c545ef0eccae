// The packed driver's CB_OPT_USED_LEN_WITHOUT_WRITE (DriverHandleOptions.usedLenWithoutWrite): a
// used descriptor without VIRTQ_DESC_F_WRITE, as QEMU's device model writes them, has its length
// ignored by default (VIRTIO 1.2 2.8.4) and taken with the option, still within the buffer's
// writable capacity.
import { describe, it, expect } from 'vitest';
import {
  createSharedMemory, MemoryPlan, allocRing, createDriver, createDevice, ChainBatch, UsedBatch, FEATURES,
} from '../src/index.js';
import { loadEngine } from '../src/node.js';
import * as P from '../assembly/layout/packed.js';
import * as E from '../assembly/layout/errors.js';

/** One receive buffer of 256 bytes used with `len`, its used descriptor's WRITE flag cleared; what the driver collects. */
function collectWithoutWrite(usedLenWithoutWrite: boolean, len: number): { n: number; len: number } {
  const memory = createSharedMemory(1 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const features = FEATURES.VERSION_1 | FEATURES.RING_PACKED;
  const areas = allocRing(plan, { layout: 'packed', queueSize: 4 });
  const driver = createDriver(engine, plan, 'packed', areas, { features, usedLenWithoutWrite });
  const device = createDevice(engine, plan, 'packed', areas, { features });
  const add = new ChainBatch(engine, plan, 1, 1);
  add.single(7, plan.alloc(256), 256, true);
  expect(driver.add(add)).toBe(1);
  const pop = new ChainBatch(engine, plan, 1, 1);
  expect(device.pop(pop)).toBe(1);
  const used = new UsedBatch(engine, plan, 1);
  used.push(pop.id(0), 100);
  expect(device.push(used)).toBe(1);
  // What QEMU's virtqueue_packed_fill_desc writes: the length, AVAIL and USED, no WRITE.
  const flags = areas.desc + P.PDESC_FLAGS;
  engine.view.setUint16(flags, engine.view.getUint16(flags, true) & ~P.PDESC_F_WRITE, true);
  engine.view.setUint32(areas.desc + P.PDESC_LEN, len, true);
  const out = new UsedBatch(engine, plan, 4);
  const n = driver.collect(out);
  return { n, len: out.len(0) };
}

describe('packed used length without VIRTQ_DESC_F_WRITE', () => {
  it('is ignored by default (2.8.4): the buffer comes back with length 0', () => {
    expect(collectWithoutWrite(false, 100)).toEqual({ n: 1, len: 0 });
  });

  it('is taken with usedLenWithoutWrite', () => {
    expect(collectWithoutWrite(true, 100)).toEqual({ n: 1, len: 100 });
  });

  it('is still checked against the buffer\'s writable capacity with it', () => {
    expect(() => collectWithoutWrite(true, 257)).toThrow(expect.objectContaining({ code: E.ERR_USED_LEN_TOO_LARGE }));
  });
});
