// The front-end's guest memory as the back-end sees it: each region's fd mapped over a slot of a
// reserved window of the shared Wasm memory, and the table that translates guest addresses (for
// the device's region table) and front-end user addresses (for vring addresses) to Wasm offsets.
// All or nothing: a table that cannot be mapped whole leaves nothing mapped.
import { fstatSync } from 'node:fs';
import { mapIntoMemory, unmapFromMemory, PAGE_SIZE } from '../native/index.js';
import type { Region } from '../queue-side.js';
import type { MemRegion } from './message.js';
import { memoryTableProblem, placeRegions, translateUser, type MemoryWindow, type PlacedRegion } from './memory-table.js';

export class GuestMemoryError extends Error {
  override name = 'GuestMemoryError';
}

export class GuestMemory {
  private table: PlacedRegion[] = [];

  /** `window` must be page-aligned and inside `memory`. */
  constructor(readonly memory: WebAssembly.Memory, readonly window: MemoryWindow) {
    const { offset, size } = window;
    if (offset % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || offset <= 0 || size <= 0 || offset + size > memory.buffer.byteLength) {
      throw new RangeError(`guest memory window [${offset}, ${offset + size}) must be page-aligned and inside the ${memory.buffer.byteLength}-byte memory`);
    }
  }

  /** The regions mapped now (empty before the first table). */
  get regions(): readonly PlacedRegion[] {
    return this.table;
  }

  /** Guest address -> Wasm offset, for a device's setRegions. */
  deviceRegions(): Region[] {
    return this.table.map((r) => ({ gpa: r.gpa, size: r.size, offset: r.offset }));
  }

  /** Wasm offset of front-end user addresses [uaddr, uaddr + length), if inside one region. */
  translateUser(uaddr: bigint, length: number): number | undefined {
    return translateUser(this.table, uaddr, length);
  }

  /**
   * Checks a new table and whether it would map (fd sizes) without touching anything; throws
   * GuestMemoryError with the reason. Call before stopping rings for a replacement.
   */
  check(regions: readonly MemRegion[], fds: readonly number[]): PlacedRegion[] {
    const problem = memoryTableProblem(regions, PAGE_SIZE);
    if (problem !== null) throw new GuestMemoryError(problem);
    if (fds.length !== regions.length) throw new GuestMemoryError(`${fds.length} file descriptors for ${regions.length} regions`);
    let placed: PlacedRegion[];
    try {
      placed = placeRegions(regions, this.window);
    } catch (e) {
      throw new GuestMemoryError((e as Error).message);
    }
    regions.forEach((r, i) => {
      let size: bigint;
      try {
        size = fstatSync(fds[i], { bigint: true }).size;
      } catch (e) {
        throw new GuestMemoryError(`region ${i}: fd ${fds[i]}: ${(e as Error).message}`);
      }
      if (r.mmapOffset + r.size > size) {
        throw new GuestMemoryError(`region ${i}: [0x${r.mmapOffset.toString(16)}, +0x${r.size.toString(16)}) reaches past the end of its ${size}-byte file`);
      }
    });
    return placed;
  }

  /**
   * Replaces the table: unmaps the old one, maps `regions` from `fds` (which the caller still
   * owns and may close afterwards: the mappings keep the pages). On failure nothing stays mapped.
   */
  replace(regions: readonly MemRegion[], fds: readonly number[]): void {
    const placed = this.check(regions, fds);
    this.clear();
    const done: PlacedRegion[] = [];
    try {
      placed.forEach((r, i) => {
        mapIntoMemory(this.memory, r.offset, fds[i], Number(r.mmapOffset), Number(r.size));
        done.push(r);
      });
    } catch (e) {
      for (const r of done) unmapFromMemory(this.memory, r.offset, Number(r.size));
      throw new GuestMemoryError(`mapping region ${done.length}: ${(e as Error).message}`);
    }
    this.table = placed;
  }

  /** Unmaps every region (zero pages come back in the window). */
  clear(): void {
    const old = this.table;
    this.table = [];
    for (const r of old) unmapFromMemory(this.memory, r.offset, Number(r.size));
  }
}
