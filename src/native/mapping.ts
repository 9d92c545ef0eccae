// Files mapped over pages of a shared WebAssembly.Memory: the Wasm engine, JavaScript views and
// every thread sharing the memory then read and write the file's pages in place (how a
// vhost-user backend sees its peer's guest memory). Linux; Wasm32 offsets, so at most 4 GiB.
import { native, type NativeMapping } from './binding.js';

export type SharedMemoryLike = WebAssembly.Memory | SharedArrayBuffer;

/** A mapping of one memory: byte offsets within it. */
export type Mapping = Omit<NativeMapping, 'base'>;

/** Page size: offsets, lengths and file offsets must be multiples of it. */
export const PAGE_SIZE: number = native.PAGE_SIZE;

/**
 * The bridge's view of a memory: a Uint8Array over the whole SharedArrayBuffer. Node 20's
 * Node-API cannot read a SharedArrayBuffer's address directly, but can a typed array's over one
 * (native/memory-view.c).
 */
export function memoryView(memory: SharedMemoryLike): Uint8Array {
  const buffer: unknown = memory instanceof WebAssembly.Memory ? memory.buffer : memory;
  if (!(buffer instanceof SharedArrayBuffer)) {
    throw new TypeError('the memory must be a shared WebAssembly.Memory or a SharedArrayBuffer');
  }
  return new Uint8Array(buffer);
}

/**
 * Maps `length` bytes of `fd` from `fdOffset` over [offset, offset + length) of the memory
 * (MAP_SHARED | MAP_FIXED), replacing what was there. Everything page-aligned; the range inside
 * the memory and inside the file; no overlap with a live mapping. The memory is kept alive until
 * unmapped. A thread's mappings are undone when that thread ends.
 *
 * If the file shrinks while mapped, the first access to a page past its new end (from any
 * thread, JS or Wasm) does not kill the process with SIGBUS: zero pages replace the whole
 * mapping, the access reads zeros, and the fault is reported (memory-faults.ts).
 */
export function mapIntoMemory(memory: SharedMemoryLike, offset: number, fd: number, fdOffset: number, length: number): void {
  native.mapIntoMemory(memoryView(memory), offset, fd, fdOffset, length);
}

/**
 * Undoes the mapping at exactly [offset, offset + length): fresh zero pages take its place, so the
 * memory stays usable. Only the thread that mapped it can; refused (EBUSY) while a VFIO DMA
 * mapping covers any of it.
 */
export function unmapFromMemory(memory: SharedMemoryLike, offset: number, length: number): void {
  native.unmapFromMemory(memoryView(memory), offset, length);
}

/** Live mappings over this memory (from any thread), by offset. */
export function mappings(memory: SharedMemoryLike): Mapping[] {
  const base = native.memoryBase(memoryView(memory));
  return native.mappings()
    .filter((m) => m.base === base)
    .map(({ base: _base, ...m }) => m)
    .sort((a, b) => a.offset - b.offset);
}

/** Live mappings in the whole process, over any memory. */
export function allMappings(): NativeMapping[] {
  return native.mappings();
}

/** Address of the memory's backing store in this process (the same in every thread). */
export function memoryBaseAddress(memory: SharedMemoryLike): number {
  return native.memoryBase(memoryView(memory));
}
