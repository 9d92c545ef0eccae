// A memfd mapped over pages of a shared WebAssembly.Memory: the file's bytes and the memory's
// bytes are the same bytes, in this thread and in a worker thread sharing the memory, until the
// mapping is undone, which leaves zero pages and a memory that still works.
import { describe, expect, it } from 'vitest';
import { readSync, writeSync } from 'node:fs';
import { createSharedMemory } from '../src/index.js';
import {
  memfdCreate, close, mapIntoMemory, unmapFromMemory, mappings, memoryBaseAddress, PAGE_SIZE,
} from '../src/native/index.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { MemoryPeer } from './helpers/memory-peer.js';

checkFdLeaks();

const MiB = 1 << 20;
const KiB = 1024;

const pattern = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

function fileBytes(fd: number, at: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  expect(readSync(fd, b, 0, n, at)).toBe(n);
  return b;
}

/** A fresh memory, a memfd of `size` bytes, and cleanup for both. */
function setup(memoryBytes: number, size: number) {
  const memory = createSharedMemory(memoryBytes);
  const fd = memfdCreate('virtqueue-test', size);
  return { memory, u8: new Uint8Array(memory.buffer), fd };
}

describe('a memfd mapped into a shared WebAssembly.Memory', () => {
  it("the memory's backing store is page-aligned and the same whichever way the memory is given", () => {
    const memory = createSharedMemory(MiB);
    const base = memoryBaseAddress(memory);
    expect(base).toBeGreaterThan(0);
    expect(base % PAGE_SIZE).toBe(0);
    expect(memoryBaseAddress(memory.buffer as unknown as SharedArrayBuffer)).toBe(base);
    expect(memoryBaseAddress(createSharedMemory(MiB))).not.toBe(base);
  });

  it('bytes written to the file appear in the memory, and bytes written in the memory reach the file', () => {
    const { memory, u8, fd } = setup(4 * MiB, 256 * KiB);
    u8.fill(0xee, MiB - PAGE_SIZE, 2 * MiB); // what was there before, to see what the mapping replaces
    writeSync(fd, Buffer.from('written before mapping'), 0, 22, 4096 + 7);
    mapIntoMemory(memory, MiB, fd, 0, 256 * KiB);
    try {
      expect(mappings(memory)).toEqual([{ offset: MiB, length: 256 * KiB, fd, fdOffset: 0, thisThread: true }]);
      expect(u8[MiB]).toBe(0); // the file's zero, not the 0xee that was there
      expect(Buffer.from(u8.subarray(MiB + 4096 + 7, MiB + 4096 + 29)).toString()).toBe('written before mapping');
      expect([u8[MiB - 1], u8[MiB + 256 * KiB]]).toEqual([0xee, 0xee]); // only the range changed

      // pwrite on the file, while mapped: the memory sees it at once.
      const p = pattern(5000, 3);
      writeSync(fd, p, 0, p.length, 100_000);
      expect(u8.subarray(MiB + 100_000, MiB + 105_000)).toEqual(p);

      // Plain and atomic stores into the memory: the file holds them.
      const q = pattern(3000, 99);
      u8.set(q, MiB + 200_000);
      expect(fileBytes(fd, 200_000, 3000)).toEqual(q);
      const words = new Int32Array(memory.buffer, MiB + 250 * KiB, 4);
      Atomics.store(words, 0, 0x01020304);
      Atomics.add(words, 0, 0x10);
      expect(Buffer.from(fileBytes(fd, 250 * KiB, 4)).readInt32LE(0)).toBe(0x01020314);
    } finally {
      unmapFromMemory(memory, MiB, 256 * KiB);
      close(fd);
    }
    expect(mappings(memory)).toEqual([]);
  });

  it('one file mapped at two offsets (and at a file offset): a store through one view shows in the others', () => {
    const { memory, u8, fd } = setup(4 * MiB, 128 * KiB);
    const [a, b, c] = [MiB, 2 * MiB, 3 * MiB];
    mapIntoMemory(memory, a, fd, 0, 128 * KiB);
    mapIntoMemory(memory, b, fd, 0, 128 * KiB);
    mapIntoMemory(memory, c, fd, 64 * KiB, 64 * KiB); // the file's second half only
    try {
      expect(mappings(memory).map((m) => [m.offset, m.fdOffset, m.length])).toEqual([
        [a, 0, 128 * KiB], [b, 0, 128 * KiB], [c, 64 * KiB, 64 * KiB],
      ]);
      u8[a + 5] = 0x5a;
      expect(u8[b + 5]).toBe(0x5a);
      u8[b + 64 * KiB + 9] = 0xc3;
      expect([u8[a + 64 * KiB + 9], u8[c + 9]]).toEqual([0xc3, 0xc3]);
      u8[c + 64 * KiB - 1] = 0x77;
      expect([u8[a + 128 * KiB - 1], u8[b + 128 * KiB - 1]]).toEqual([0x77, 0x77]);
    } finally {
      unmapFromMemory(memory, a, 128 * KiB);
      unmapFromMemory(memory, c, 64 * KiB);
      unmapFromMemory(memory, b, 128 * KiB);
      close(fd);
    }
    // Each range is zero again and independent of the others.
    u8[a + 5] = 1;
    expect([u8[b + 5], u8[b + 64 * KiB + 9], u8[c + 9]]).toEqual([0, 0, 0]);
  });

  it('a worker thread that shares the memory sees the mapped bytes and its stores reach the file', async () => {
    const { memory, fd } = setup(4 * MiB, 64 * KiB);
    const peer = await MemoryPeer.start(memory); // running (with its views) before the mapping exists
    try {
      expect(await peer.read(MiB, 4)).toEqual([0, 0, 0, 0]);
      const p = pattern(64, 7);
      writeSync(fd, p, 0, p.length, 4096);
      new Uint8Array(memory.buffer).fill(0xab, MiB, MiB + 8192);
      expect(await peer.read(MiB + 4096, 64)).toEqual(new Array(64).fill(0xab)); // not mapped yet
      mapIntoMemory(memory, MiB, fd, 0, 64 * KiB);
      expect(await peer.read(MiB + 4096, 64)).toEqual([...p]);
      expect(await peer.read(MiB, 4)).toEqual([0, 0, 0, 0]); // the file's zeros replaced the 0xab
      const q = pattern(100, 11);
      await peer.write(MiB + 10_000, q);
      expect(fileBytes(fd, 10_000, 100)).toEqual(q);

      unmapFromMemory(memory, MiB, 64 * KiB);
      expect(await peer.read(MiB + 4096, 64)).toEqual(new Array(64).fill(0));
      await peer.write(MiB + 4096, pattern(64, 1));
      expect(fileBytes(fd, 4096, 64)).toEqual(p); // the file no longer follows the memory
    } finally {
      expect(await peer.stop()).toBe(0);
      close(fd);
    }
  });

  it('unmapping leaves zero pages: the memory stays usable, the file keeps its bytes, the range can be mapped again', () => {
    const { memory, u8, fd } = setup(2 * MiB, 64 * KiB);
    mapIntoMemory(memory, MiB, fd, 0, 64 * KiB);
    u8.fill(0x42, MiB, MiB + 64 * KiB);
    unmapFromMemory(memory, MiB, 64 * KiB);
    try {
      expect(u8.subarray(MiB, MiB + 64 * KiB).every((x) => x === 0)).toBe(true);
      u8.fill(0x17, MiB, MiB + 64 * KiB); // ordinary memory again
      expect(u8[MiB + 64 * KiB - 1]).toBe(0x17);
      expect(Atomics.add(new Int32Array(memory.buffer, MiB, 1), 0, 1)).toBe(0x17171717);
      expect(fileBytes(fd, 0, 4)).toEqual(new Uint8Array([0x42, 0x42, 0x42, 0x42]));
      mapIntoMemory(memory, MiB, fd, 0, 64 * KiB);
      expect(u8[MiB + 123]).toBe(0x42);
      unmapFromMemory(memory, MiB, 64 * KiB);
    } finally {
      close(fd);
    }
    expect(mappings(memory)).toEqual([]);
  });

  it('mappings() lists the live mappings of each memory separately', () => {
    const one = setup(MiB, 64 * KiB);
    const two = createSharedMemory(MiB);
    mapIntoMemory(one.memory, 64 * KiB, one.fd, 0, 64 * KiB);
    mapIntoMemory(two, 128 * KiB, one.fd, 0, 4096);
    try {
      expect(mappings(one.memory).map((m) => m.offset)).toEqual([64 * KiB]);
      expect(mappings(two).map((m) => [m.offset, m.length])).toEqual([[128 * KiB, 4096]]);
      // Two memories share the file: a store through one shows in the other.
      new Uint8Array(two.buffer)[128 * KiB + 1] = 9;
      expect(one.u8[64 * KiB + 1]).toBe(9);
    } finally {
      unmapFromMemory(two, 128 * KiB, 4096);
      unmapFromMemory(one.memory, 64 * KiB, 64 * KiB);
      close(one.fd);
    }
    expect([mappings(one.memory), mappings(two)]).toEqual([[], []]);
  });
});
