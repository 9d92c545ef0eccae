import { describe, expect, it } from 'vitest';
import {
  createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, RING_FEATURES, type FeatureSet,
} from '../src/index.js';
import { PackedDriver, PackedDevice, allocPackedRing } from '../src/virtqueue/packed.js';
import { loadEngine } from '../src/node.js';

function packedPair(queueSize: number, features: FeatureSet) {
  const memory = createSharedMemory(8 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const ring = allocPackedRing(plan, queueSize);
  return {
    engine, plan,
    driver: new PackedDriver(engine, plan, ring, { features }),
    device: new PackedDevice(engine, plan, ring, { features }),
    add: new ChainBatch(engine, plan, 64, 256),
    popped: new ChainBatch(engine, plan, 64, 256),
    used: new UsedBatch(engine, plan, 64),
    collected: new UsedBatch(engine, plan, 64),
    buffers: plan.alloc(1 << 20, 4096),
  };
}

const F = RING_FEATURES;
const combos: [string, FeatureSet][] = [
  ['plain', 0n], ['event-idx', F.EVENT_IDX], ['indirect', F.INDIRECT_DESC], ['in-order', F.IN_ORDER],
  ['all', F.EVENT_IDX | F.INDIRECT_DESC | F.IN_ORDER],
];

describe('packed ring round trip', () => {
  for (const [name, features] of combos) {
    for (const q of [1, 3, 8, 250]) {
      it(`${name}, queue size ${q}: tokens come back once, with lengths, across many wrap flips`, () => {
        const p = packedPair(q, features);
        const inOrder = (features & F.IN_ORDER) !== 0n;
        let next = 0;
        const outstanding = new Map<number, number>();
        for (let round = 0; round < 200; round++) {
          p.add.clear();
          const want = 1 + (round % 5);
          for (let i = 0; i < want; i++) {
            const token = next++;
            const segs = 1 + ((token * 7) % Math.min(3, q));
            p.add.begin(token);
            p.add.read(p.buffers + (token % 200) * 4096, 32);
            for (let s = 1; s < segs; s++) p.add.write(p.buffers + (token % 200) * 4096 + 64 * s, 64);
            p.add.end();
            outstanding.set(token, (segs - 1) * 64);
          }
          const added = p.driver.add(p.add);
          for (let i = added; i < want; i++) outstanding.delete(p.add.id(i));
          next -= want - added;
          const n = p.device.pop(p.popped);
          expect(n).toBe(p.device.inFlight);
          p.used.clear();
          // Out of order unless IN_ORDER: complete in reverse.
          for (let k = 0; k < n; k++) {
            const i = inOrder ? k : n - 1 - k;
            p.used.push(p.popped.id(i), p.popped.writeLen(i));
          }
          expect(p.device.push(p.used)).toBe(n);
          const c = p.driver.collect(p.collected);
          for (let i = 0; i < c; i++) {
            const tok = p.collected.id(i);
            expect(outstanding.has(tok)).toBe(true);
            expect(p.collected.len(i)).toBe(outstanding.get(tok));
            outstanding.delete(tok);
          }
        }
        expect(outstanding.size).toBe(0);
        expect(p.driver.numFree).toBe(q);
        expect(next).toBeGreaterThan(q * 2); // the wrap counters flipped at least twice
      });
    }
  }
});
