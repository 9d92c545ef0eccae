// createSharedMemory (fixed-size shared memory, at most 4 GiB) and MemoryPlan (the bump
// allocator every ring, control block and batch is placed with).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createSharedMemory, MemoryPlan, WASM_PAGE } from '../src/index.js';

describe('createSharedMemory', () => {
  it('makes a shared memory of whole pages that cannot grow (initial == maximum)', () => {
    const m = createSharedMemory(WASM_PAGE + 1);
    expect(m.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(m.buffer.byteLength).toBe(2 * WASM_PAGE);
    expect(() => m.grow(1)).toThrow(RangeError);
    expect(m.buffer.byteLength).toBe(2 * WASM_PAGE);
    expect(createSharedMemory(1).buffer.byteLength).toBe(WASM_PAGE);
    expect(createSharedMemory(3 * WASM_PAGE).buffer.byteLength).toBe(3 * WASM_PAGE);
  });

  it.each([2 ** 32 + 1, 2 ** 32 + WASM_PAGE, 2 ** 40, Number.MAX_SAFE_INTEGER])('rejects %d bytes (over 4 GiB)', (bytes) => {
    expect(() => createSharedMemory(bytes)).toThrow(RangeError);
    expect(() => createSharedMemory(bytes)).toThrow(/4 GiB/);
  });

  it.each([0, -1, -WASM_PAGE, NaN, Infinity, -Infinity, '65536' as unknown as number, undefined as unknown as number])(
    'rejects the size %s', (bytes) => {
      expect(() => createSharedMemory(bytes)).toThrow(/positive number of bytes/);
    });
});

describe('MemoryPlan', () => {
  const memory = createSharedMemory(4 * WASM_PAGE);

  it('never hands out page 0 by default, and refuses a plan that starts at offset 0', () => {
    const plan = new MemoryPlan(memory);
    expect(plan.start).toBe(WASM_PAGE);
    expect(plan.alloc(1, 1, 'first')).toBe(WASM_PAGE);
    expect(() => new MemoryPlan(memory, { start: 0 })).toThrow(RangeError);
    expect(() => new MemoryPlan(memory, { end: 5 * WASM_PAGE })).toThrow(/does not fit/);
    expect(() => new MemoryPlan(memory, { start: 3 * WASM_PAGE, end: 2 * WASM_PAGE })).toThrow(/does not fit/);
  });

  it('aligns every allocation and never overlaps two (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ size: fc.nat(5000), alignLog: fc.nat(12) }), { maxLength: 40 }),
      (reqs) => {
        const plan = new MemoryPlan(memory);
        let end = plan.start;
        for (const { size, alignLog } of reqs) {
          const align = 2 ** alignLog;
          const at = plan.alloc(size, align, 'x');
          expect(at % align).toBe(0);
          expect(at).toBeGreaterThanOrEqual(end);
          expect(at).toBeGreaterThanOrEqual(WASM_PAGE);
          expect(at + size).toBeLessThanOrEqual(plan.end);
          end = at + Math.max(size, 1); // zero-size areas still get distinct offsets
        }
        expect(plan.allocations.length).toBe(reqs.length);
      }));
  });

  it('zero-fills what it hands out', () => {
    const u8 = new Uint8Array(memory.buffer);
    u8.fill(0xee, WASM_PAGE, 2 * WASM_PAGE);
    const plan = new MemoryPlan(memory);
    const at = plan.alloc(300, 64, 'dirty');
    expect(u8.subarray(at, at + 300).every((b) => b === 0)).toBe(true);
    expect(u8[at + 300]).toBe(0xee);
  });

  it('rejects bad sizes and alignments, naming the area', () => {
    const plan = new MemoryPlan(memory);
    for (const align of [0, 3, -4, 1.5, 48]) expect(() => plan.alloc(8, align, 'ring')).toThrow(/ring: alignment must be a power of two/);
    for (const size of [-1, 1.5, NaN]) expect(() => plan.alloc(size, 8, 'ring')).toThrow(/ring: size must be a whole number/);
    expect(plan.used).toBe(0);
  });

  it('reports exhaustion with the label and the bytes left, and stays usable', () => {
    const plan = new MemoryPlan(memory, { end: WASM_PAGE + 1000 });
    expect(plan.alloc(100, 64, 'small')).toBe(WASM_PAGE);
    expect(() => plan.alloc(2000, 64, 'descriptor table')).toThrow(/^descriptor table: out of planned memory.*900 bytes left/);
    // Alignment padding counts: 900 bytes are left, but only 900 - 28 from the next 64-byte boundary.
    expect(() => plan.alloc(900, 64, 'used ring')).toThrow(/used ring: .*900 bytes left/);
    expect(plan.used).toBe(100);
    expect(plan.alloc(900, 4, 'rest')).toBe(WASM_PAGE + 100);
    expect(() => plan.alloc(1, 1, 'one more')).toThrow(/one more: .*0 bytes left/);
    expect(plan.allocations.map((a) => a.label)).toEqual(['small', 'rest']);
  });
});
