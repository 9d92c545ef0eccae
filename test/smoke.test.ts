import { describe, expect, it } from 'vitest';
import { splitPair } from './helpers/split-pair.js';
import { RING_FEATURES } from '../src/index.js';

describe('split ring round trip', () => {
  it('moves chains driver -> device -> driver across the 16-bit index wrap', () => {
    const p = splitPair({ queueSize: 8, startIdx: 65530, features: RING_FEATURES.EVENT_IDX | RING_FEATURES.INDIRECT_DESC });
    for (let round = 0; round < 20; round++) {
      p.add.clear();
      for (let i = 0; i < 5; i++) {
        p.add.begin(1000 * round + i);
        p.add.read(p.buffers + i * 4096, 64);
        if (i % 2) p.add.write(p.buffers + i * 4096 + 64, 128);
        p.add.end();
      }
      expect(p.driver.add(p.add)).toBe(5);
      expect(p.device.pop(p.popped)).toBe(5);
      p.used.clear();
      for (let i = 0; i < 5; i++) {
        expect(p.popped.readLen(i)).toBe(64);
        expect(p.popped.writeLen(i)).toBe(i % 2 ? 128 : 0);
        p.used.push(p.popped.id(i), p.popped.writeLen(i));
      }
      expect(p.device.push(p.used)).toBe(5);
      expect(p.driver.collect(p.collected)).toBe(5);
      for (let i = 0; i < 5; i++) {
        expect(p.collected.id(i)).toBe(1000 * round + i);
        expect(p.collected.len(i)).toBe(i % 2 ? 128 : 0);
      }
      expect(p.driver.numFree).toBe(8);
    }
    expect(p.raw.availIdx).toBe((65530 + 100) & 0xffff);
    expect(p.raw.usedIdx).toBe((65530 + 100) & 0xffff);
  });
});
