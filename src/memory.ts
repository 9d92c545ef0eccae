// Shared memory for the engine, and a plan of what lives where in it.
//
// The memory is declared with initial = maximum, so it never grows and never moves: the engine,
// every worker thread and (for vhost-user) a peer mapping the same pages all keep valid
// addresses for its whole life. Wasm32 addresses are 32 bits, so everything a process shares
// this way (rings, buffers, a peer's guest memory) must fit in 4 GiB.

export const WASM_PAGE = 65536;
/** 65536 pages of 64 KiB: the whole 32-bit address space. */
export const MAX_PAGES = 65536;

/** A shared WebAssembly.Memory of at least `bytes`, fixed in size. */
export function createSharedMemory(bytes: number): WebAssembly.Memory {
  if (!Number.isFinite(bytes) || bytes <= 0) throw new RangeError(`memory size must be a positive number of bytes, got ${bytes}`);
  const pages = Math.ceil(bytes / WASM_PAGE);
  if (pages > MAX_PAGES) {
    throw new RangeError(`memory of ${bytes} bytes exceeds the 4 GiB that wasm32 can address`);
  }
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

export interface Allocation {
  label: string;
  offset: number;
  size: number;
}

/**
 * A bump allocator over [start, end) of a memory, for long-lived areas (rings, control blocks,
 * buffer arenas). It never frees: plan once, at setup. Page 0 is left out by default, so offset 0
 * is never a valid allocation.
 */
export class MemoryPlan {
  readonly memory: WebAssembly.Memory;
  readonly start: number;
  readonly end: number;
  private next: number;
  private readonly log: Allocation[] = [];

  constructor(memory: WebAssembly.Memory, opts: { start?: number; end?: number } = {}) {
    this.memory = memory;
    const size = memory.buffer.byteLength;
    this.start = opts.start ?? WASM_PAGE;
    this.end = opts.end ?? size;
    if (!(this.start > 0 && this.start <= this.end && this.end <= size)) {
      throw new RangeError(`memory plan [${this.start}, ${this.end}) does not fit a memory of ${size} bytes`);
    }
    this.next = this.start;
  }

  /** Reserves `size` bytes aligned to `align` (a power of two), zero-filled. */
  alloc(size: number, align = 64, label = 'area'): number {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`${label}: size must be a whole number of bytes, got ${size}`);
    if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) {
      throw new RangeError(`${label}: alignment must be a power of two, got ${align}`);
    }
    const offset = Math.ceil(this.next / align) * align;
    if (offset + size > this.end) {
      throw new RangeError(
        `${label}: out of planned memory (${size} bytes wanted at ${offset}, plan ends at ${this.end}; ` +
        `${this.end - this.next} bytes left). Create a larger memory.`);
    }
    this.next = offset + Math.max(size, 1);
    new Uint8Array(this.memory.buffer, offset, size).fill(0);
    this.log.push({ label, offset, size });
    return offset;
  }

  /** Bytes handed out so far, including alignment padding. */
  get used(): number {
    return this.next - this.start;
  }

  get allocations(): readonly Allocation[] {
    return this.log;
  }
}
