// The front-end's guest memory as the back-end sees it: each region's fd mapped over a slot of a
// reserved window of the shared Wasm memory, and the table that translates guest addresses (for
// the device's region table) and front-end user addresses (for vring addresses) to Wasm offsets.
// All or nothing: a table that cannot be mapped whole leaves nothing mapped.
import { fstatSync } from 'node:fs';
import { mapIntoMemory, unmapFromMemory, memoryBaseAddress, PAGE_SIZE, type MemoryFault } from '../native/index.js';
import type { Region } from '../virtqueue/queue-side.js';
import type { MemRegion } from './message.js';
import { memoryTableProblem, placeRegions, placeRegion, translateUser, type MemoryWindow, type PlacedRegion } from './memory-table.js';

export class GuestMemoryError extends Error {
  override name = 'GuestMemoryError';
}

/** Most regions ADD_MEM_REG may bring (GET_MAX_MEM_SLOTS); the engine's region table holds 64. */
export const MAX_MEM_SLOTS = 32;

export class GuestMemory {
  private table: PlacedRegion[] = [];
  /** ADD_MEM_REGs of a region that was mapped already, by regionKey (see addRepeat). */
  private repeats = new Map<string, number>();
  /** The memory's address in this process, as faults name it (asked for once, when first needed). */
  private base: number | undefined;

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
    regions.forEach((r, i) => this.checkFileSize(r, fds[i], i));
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

  /**
   * ADD_MEM_REG of a region identical to a mapped one (guest address, size, user address and
   * mmap offset: the same front-end memory): counted, not mapped again, and true is returned.
   * QEMU before 8.0 sends ADD_MEM_REG from the vhost_dev of every queue pair of a multiqueue
   * virtio-net (8.0 made it a one-time request), so each region comes once per queue pair.
   * REM_MEM_REG then takes one count off before it unmaps (see remove).
   */
  addRepeat(region: MemRegion): boolean {
    const same = this.table.some((r) => r.gpa === region.gpa && r.size === region.size && r.uaddr === region.uaddr && r.mmapOffset === region.mmapOffset);
    if (!same) return false;
    const key = regionKey(region);
    this.repeats.set(key, (this.repeats.get(key) ?? 0) + 1);
    return true;
  }

  /**
   * ADD_MEM_REG: maps one more region (checked against the others as a whole table, placed in a
   * free gap of the window). On failure nothing changes.
   */
  add(region: MemRegion, fd: number): void {
    const problem = memoryTableProblem([...this.table, region], PAGE_SIZE, MAX_MEM_SLOTS);
    if (problem !== null) throw new GuestMemoryError(problem);
    let placed: PlacedRegion;
    try {
      placed = placeRegion(region, this.table, this.window);
    } catch (e) {
      throw new GuestMemoryError((e as Error).message);
    }
    this.checkFileSize(region, fd, 0);
    try {
      mapIntoMemory(this.memory, placed.offset, fd, Number(region.mmapOffset), Number(region.size));
    } catch (e) {
      throw new GuestMemoryError(`mapping the region: ${(e as Error).message}`);
    }
    this.table = [...this.table, placed];
  }

  /**
   * REM_MEM_REG: unmaps the region with the same guest address, size and user address
   * (vhost-user.rst: the mmap offset is not compared). Throws when there is none.
   */
  remove(region: MemRegion): void {
    const i = this.table.findIndex((r) => r.gpa === region.gpa && r.size === region.size && r.uaddr === region.uaddr);
    if (i < 0) throw new GuestMemoryError(`no region at gpa 0x${region.gpa.toString(16)} of size 0x${region.size.toString(16)} and user address 0x${region.uaddr.toString(16)}`);
    const key = regionKey(region);
    const repeats = this.repeats.get(key) ?? 0;
    if (repeats > 0) {
      if (repeats === 1) this.repeats.delete(key);
      else this.repeats.set(key, repeats - 1);
      return;
    }
    const r = this.table[i];
    this.table = this.table.filter((_, k) => k !== i);
    unmapFromMemory(this.memory, r.offset, Number(r.size));
  }

  private checkFileSize(r: MemRegion, fd: number, i: number): void {
    let size: bigint;
    try {
      size = fstatSync(fd, { bigint: true }).size;
    } catch (e) {
      throw new GuestMemoryError(`region ${i}: fd ${fd}: ${(e as Error).message}`);
    }
    if (r.mmapOffset + r.size > size) {
      throw new GuestMemoryError(`region ${i}: [0x${r.mmapOffset.toString(16)}, +0x${r.size.toString(16)}) reaches past the end of its ${size}-byte file`);
    }
  }

  /**
   * What a fault of the SIGBUS guard (src/native/memory-faults.ts) says about this guest memory:
   * the reason to end the session when it hit one of the regions mapped now, else undefined.
   * The front-end shrank the file behind the region; the guard has put zero pages over it.
   */
  faultReason(f: MemoryFault): string | undefined {
    if (f.base !== (this.base ??= memoryBaseAddress(this.memory))) return undefined;
    const i = this.table.findIndex((r) => r.offset === f.offset && Number(r.size) === f.length && Number(r.mmapOffset) === f.fdOffset);
    if (i < 0) return undefined;
    const r = this.table[i];
    const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
    return `guest memory region ${i} (gpa ${hex(r.gpa)}, size ${hex(r.size)}) shrank under its mapping: SIGBUS at offset ${hex(f.address)} ` +
      `(gpa ${hex(r.gpa + BigInt(f.address))}): the front-end truncated the file it sent for it (memfd without F_SEAL_SHRINK)`;
  }

  /** Unmaps every region (zero pages come back in the window). */
  clear(): void {
    const old = this.table;
    this.table = [];
    this.repeats.clear();
    for (const r of old) unmapFromMemory(this.memory, r.offset, Number(r.size));
  }
}

/** A region as REM_MEM_REG names it: guest address, size and user address. */
const regionKey = (r: MemRegion): string => `${r.gpa}:${r.size}:${r.uaddr}`;
