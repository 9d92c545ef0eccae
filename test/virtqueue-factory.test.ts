// The layout-neutral factory (src/virtqueue/factory.ts): createDevice's `start` puts the device
// where a RingPosition says, on either layout, position() reports it back, and a reset goes
// back there.
import { describe, it, expect } from 'vitest';
import {
  createSharedMemory, MemoryPlan, allocRing, createDriver, createDevice, ChainBatch, UsedBatch, FEATURES,
  type RingLayout,
} from '../src/index.js';
import { loadEngine } from '../src/node.js';

function world(layout: RingLayout) {
  const memory = createSharedMemory(4 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const features = FEATURES.VERSION_1 | (layout === 'packed' ? FEATURES.RING_PACKED : 0n);
  const areas = allocRing(plan, { layout, queueSize: 8 });
  return { engine, plan, features, areas };
}

describe('createDevice start', () => {
  it('defaults to a fresh ring', () => {
    for (const layout of ['split', 'packed'] as const) {
      const { engine, plan, features, areas } = world(layout);
      const wrap = layout === 'packed' ? 1 : 0;
      expect(createDevice(engine, plan, layout, areas, { features }).position())
        .toEqual({ nextAvail: 0, availWrap: wrap, nextUsed: 0, usedWrap: wrap });
    }
  });

  it('split: starts at the available and used indices given (wraps unused), and resets to them', () => {
    const { engine, plan, features, areas } = world('split');
    const start = { nextAvail: 65534, availWrap: 0, nextUsed: 65530, usedWrap: 0 };
    const dev = createDevice(engine, plan, 'split', areas, { features, start });
    expect(dev.position()).toEqual(start);
    dev.reset();
    expect(dev.position()).toEqual(start);
  });

  it('packed: starts at the slots and wrap counters given, pops from there, and resets to them', () => {
    const { engine, plan, features, areas } = world('packed');
    const driver = createDriver(engine, plan, 'packed', areas, { features });
    const add = new ChainBatch(engine, plan, 8, 8);
    const buf = plan.alloc(4096);
    // The driver fills slots 0..2 (wrap 1); a device told to start at slot 2 sees one chain.
    for (let i = 0; i < 3; i++) add.single(i, buf, 16, false);
    expect(driver.add(add)).toBe(3);
    const start = { nextAvail: 2, availWrap: 1, nextUsed: 2, usedWrap: 1 };
    const dev = createDevice(engine, plan, 'packed', areas, { features, start });
    expect(dev.position()).toEqual(start);
    const pop = new ChainBatch(engine, plan, 8, 8);
    expect(dev.pop(pop)).toBe(1);
    expect(pop.id(0)).toBe(2);
    const used = new UsedBatch(engine, plan, 1);
    used.push(pop.id(0), 0);
    expect(dev.push(used)).toBe(1);
    expect(dev.position()).toEqual({ nextAvail: 3, availWrap: 1, nextUsed: 3, usedWrap: 1 });
    dev.reset();
    expect(dev.position()).toEqual(start);
  });
});
