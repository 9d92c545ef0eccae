// Bad arguments to the mapping calls are clear JS errors, never a crash, and leave the memory
// and the registry as they were.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSharedMemory } from '../src/index.js';
import {
  memfdCreate, close, mapIntoMemory, unmapFromMemory, mappings, allMappings, eventfdCreate, native, PAGE_SIZE,
} from '../src/native/index.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';

checkFdLeaks();

const MiB = 1 << 20;
let dir = '';
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'vq-map-errors-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mapIntoMemory refuses', () => {
  const memory = createSharedMemory(MiB);
  const u8 = new Uint8Array(memory.buffer);
  let fd = -1;
  beforeAll(() => {
    u8.fill(0x3c);
    fd = memfdCreate('errors', 64 * 1024);
  });
  afterAll(() => close(fd));

  const refused: [string, () => unknown, RegExp, string][] = [
    ['an unaligned offset', () => mapIntoMemory(memory, 4097, fd, 0, 4096),
      /^mapIntoMemory: offset 4097 is not page-aligned \(page size 4096\)$/, 'ERR_OUT_OF_RANGE'],
    ['an unaligned length', () => mapIntoMemory(memory, 8192, fd, 0, 1000), /length 1000 is not page-aligned/, 'ERR_OUT_OF_RANGE'],
    ['a zero length', () => mapIntoMemory(memory, 8192, fd, 0, 0), /length 0 is out of range/, 'ERR_OUT_OF_RANGE'],
    ['an unaligned file offset', () => mapIntoMemory(memory, 8192, fd, 100, 4096), /fdOffset 100 is not page-aligned/, 'ERR_OUT_OF_RANGE'],
    ['a negative offset', () => mapIntoMemory(memory, -4096, fd, 0, 4096), /offset -4096 is out of range/, 'ERR_OUT_OF_RANGE'],
    ['a fractional offset', () => mapIntoMemory(memory, 4096.5, fd, 0, 4096), /offset must be a whole number, got 4096.5/, 'ERR_OUT_OF_RANGE'],
    ['a string for a number', () => mapIntoMemory(memory, '4096' as unknown as number, fd, 0, 4096), /offset must be a number, got a string/, 'ERR_INVALID_ARG_TYPE'],
    ['a range past the end of the memory', () => mapIntoMemory(memory, MiB - 4096, fd, 0, 8192),
      /^mapIntoMemory: \[1044480, 1052672\) is outside the memory \(1048576 bytes\)$/, 'ERR_OUT_OF_RANGE'],
    ['an offset past the end of the memory', () => mapIntoMemory(memory, 2 * MiB, fd, 0, 4096), /is outside the memory/, 'ERR_OUT_OF_RANGE'],
    ['a range past the end of the file', () => mapIntoMemory(memory, 8192, fd, 32 * 1024, 64 * 1024),
      /fd \d+ is 65536 bytes; \[32768, 98304\) runs past its end/, 'ERR_OUT_OF_RANGE'],
    ['a closed fd', () => mapIntoMemory(memory, 8192, 1_000_000, 0, 4096), /^mapIntoMemory fd 1000000: EBADF \(Bad file descriptor\)$/, 'EBADF'],
    ['a negative fd', () => mapIntoMemory(memory, 8192, -1, 0, 4096), /fd -1 is out of range/, 'ERR_OUT_OF_RANGE'],
    ['a plain ArrayBuffer', () => mapIntoMemory(new ArrayBuffer(MiB) as unknown as SharedArrayBuffer, 0, fd, 0, 4096),
      /must be a shared WebAssembly.Memory or a SharedArrayBuffer/, ''],
    ['a memory that is not shared', () => mapIntoMemory(new WebAssembly.Memory({ initial: 1 }), 0, fd, 0, 4096),
      /must be a shared WebAssembly.Memory or a SharedArrayBuffer/, ''],
    ['a heap SharedArrayBuffer (not page-aligned)', () => mapIntoMemory(new SharedArrayBuffer(MiB), 0, fd, 0, 4096),
      /the memory's backing store at 0x[0-9a-f]+ is not page-aligned; use a shared WebAssembly.Memory/, 'ERR_OUT_OF_RANGE'],
  ];

  it.each(refused)('%s', (_, call, message, code) => {
    let thrown: unknown;
    try {
      call();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).toMatch(message);
    if (code) expect((thrown as { code?: string }).code).toBe(code);
    expect(mappings(memory)).toEqual([]);
    expect(u8.every((b) => b === 0x3c)).toBe(true); // nothing was mapped, nothing was zeroed
  });

  it('a file opened read-only (EACCES: the mapping is writable)', () => {
    const path = join(dir, 'read-only');
    writeFileSync(path, Buffer.alloc(8192, 1));
    const ro = openSync(path, 'r');
    try {
      expect(() => mapIntoMemory(memory, 8192, ro, 0, 4096)).toThrow(/^mapIntoMemory fd \d+: EACCES \(Permission denied\)$/);
    } finally {
      closeSync(ro);
    }
    expect(u8.every((b) => b === 0x3c)).toBe(true); // no hole left behind
  });

  it('an fd that cannot be mapped (an eventfd: ENODEV)', () => {
    const efd = eventfdCreate();
    try {
      expect(() => mapIntoMemory(memory, 8192, efd, 0, 4096)).toThrow(/^mapIntoMemory fd \d+: ENODEV/);
    } finally {
      close(efd);
    }
    expect(u8.every((b) => b === 0x3c)).toBe(true);
  });

  it('a range overlapping a live mapping, but not one next to it', () => {
    mapIntoMemory(memory, 16 * 1024, fd, 0, 16 * 1024);
    try {
      expect(() => mapIntoMemory(memory, 28 * 1024, fd, 0, 8192))
        .toThrow(/^mapIntoMemory: \[28672, 36864\) overlaps the mapping at offset 16384 \(length 16384\)$/);
      expect(() => mapIntoMemory(memory, 8192, fd, 0, 3 * PAGE_SIZE)).toThrow(/overlaps the mapping at offset 16384/);
      mapIntoMemory(memory, 32 * 1024, fd, 0, 4096); // adjacent: fine
      expect(mappings(memory).map((m) => m.offset)).toEqual([16 * 1024, 32 * 1024]);
    } finally {
      unmapFromMemory(memory, 32 * 1024, 4096);
      unmapFromMemory(memory, 16 * 1024, 16 * 1024);
    }
    u8.fill(0x3c); // the two ranges are zero pages now
  });

  it('wrong arguments to the native call itself', () => {
    expect(() => native.mapIntoMemory(new Uint8Array(new SharedArrayBuffer(8)).subarray(1) as Uint8Array, 0, fd, 0, 4096))
      .toThrow(/memory must be a Uint8Array over the whole SharedArrayBuffer/);
    expect(() => native.mapIntoMemory(new Uint16Array(memory.buffer) as unknown as Uint8Array, 0, fd, 0, 4096))
      .toThrow(/memory must be a Uint8Array over the whole SharedArrayBuffer/);
    expect(() => native.mapIntoMemory({} as Uint8Array, 0, fd, 0, 4096)).toThrow(/memory must be a Uint8Array over a SharedArrayBuffer/);
    expect(() => (native.mapIntoMemory as (...a: unknown[]) => void)(new Uint8Array(memory.buffer), 0))
      .toThrow(/^mapIntoMemory: expected 5 arguments, got 2$/);
  });
});

describe('unmapFromMemory refuses', () => {
  it('a range that is not exactly one live mapping', () => {
    const memory = createSharedMemory(MiB);
    const fd = memfdCreate('errors', 64 * 1024);
    mapIntoMemory(memory, 64 * 1024, fd, 0, 64 * 1024);
    try {
      expect(() => unmapFromMemory(memory, 128 * 1024, 4096)).toThrow(/^unmapFromMemory: nothing is mapped at \[131072, 135168\) of this memory$/);
      expect(() => unmapFromMemory(memory, 64 * 1024, 4096)).toThrow(/nothing is mapped at \[65536, 69632\)/); // part of it
      expect(() => unmapFromMemory(createSharedMemory(MiB), 64 * 1024, 64 * 1024)).toThrow(/nothing is mapped/); // another memory
      expect(() => unmapFromMemory(memory, 64 * 1024 + 1, 4096)).toThrow(/offset 65537 is not page-aligned/);
      expect(mappings(memory)).toHaveLength(1);
    } finally {
      unmapFromMemory(memory, 64 * 1024, 64 * 1024);
      close(fd);
    }
    expect(allMappings()).toEqual([]);
  });
});

describe('memfdCreate and close refuse', () => {
  it('bad sizes, names and fds', () => {
    expect(() => memfdCreate('x', -1)).toThrow(/^memfdCreate: size -1 is out of range/);
    expect(() => memfdCreate('x', 2 ** 53)).toThrow(/^memfdCreate: size 9007199254740992 is out of range \[0, 9007199254740991\]$/);
    expect(() => memfdCreate('x'.repeat(250), 4096)).toThrow(/^memfdCreate: name is 250 bytes long, at most 249 allowed$/);
    expect(() => memfdCreate('a\0b', 4096)).toThrow(/name contains a NUL character/);
    expect(() => close(1_000_000)).toThrow(/^close fd 1000000: EBADF \(Bad file descriptor\)$/);
    expect(() => close(1.5)).toThrow(/fd must be a whole number/);
  });

  it('a memfd cannot shrink (it is sealed), so nothing mapped from it can lose its pages', () => {
    const fd = memfdCreate('sealed', 8192);
    try {
      expect(() => ftruncateSync(fd, 4096)).toThrow(/EPERM/);
      ftruncateSync(fd, 16384); // growing is allowed
    } finally {
      close(fd);
    }
  });
});
