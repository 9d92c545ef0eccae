// Burst arrays in shared memory: chain records with their segments, and used records
// (layout in assembly/layout/batch.ts). The host fills or reads them through typed views, so a
// burst crosses into Wasm with one call and allocates nothing.
import * as B from '../../assembly/layout/batch.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';

/**
 * Chains and their segments. A driver fills it (begin, read/write segments, end) and adds it;
 * a device pops into it and reads it back with the accessors.
 */
export class ChainBatch {
  readonly chainsPtr: number;
  readonly segsPtr: number;
  readonly maxChains: number;
  readonly maxSegs: number;
  /** Chains in the batch. */
  count = 0;
  /** Segments used by the chains in the batch. */
  segCount = 0;
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  private open = false;
  private writing = false;

  constructor(engine: Engine, plan: MemoryPlan, maxChains: number, maxSegs = maxChains) {
    if (!(maxChains >= 1 && maxSegs >= 1)) throw new RangeError(`batch needs room for a chain and a segment, got ${maxChains}, ${maxSegs}`);
    this.maxChains = maxChains;
    this.maxSegs = maxSegs;
    this.chainsPtr = plan.alloc(maxChains * B.CHAIN_SIZE, 64, 'chain batch');
    this.segsPtr = plan.alloc(maxSegs * B.SEG_SIZE, 64, 'segment batch');
    this.u16 = engine.u16;
    this.u32 = engine.u32;
  }

  clear(): void {
    this.count = 0;
    this.segCount = 0;
    this.open = false;
  }

  /** Starts a chain whose id (driver side: the token returned when it is used) is `id`. */
  begin(id: number): void {
    if (this.open) throw new Error('ChainBatch.begin: the previous chain was not ended');
    if (this.count >= this.maxChains) throw new RangeError(`ChainBatch: more than ${this.maxChains} chains`);
    const c = (this.chainsPtr + this.count * B.CHAIN_SIZE) >>> 2;
    this.u32[c + B.CHAIN_ID / 4] = id;
    this.u32[c + B.CHAIN_SEG / 4] = this.segCount;
    this.u32[c + B.CHAIN_NREAD / 4] = 0; // nRead and nWrite together
    this.open = true;
    this.writing = false;
  }

  /** Appends a device-readable segment to the open chain. */
  read(offset: number, len: number): void {
    if (this.writing) throw new Error('ChainBatch.read: device-readable segments must come before device-writable ones (VIRTIO 1.2 §2.7.4.2)');
    this.segment(offset, len, B.CHAIN_NREAD);
  }

  /** Appends a device-writable segment to the open chain. */
  write(offset: number, len: number): void {
    this.writing = true;
    this.segment(offset, len, B.CHAIN_NWRITE);
  }

  end(): void {
    if (!this.open) throw new Error('ChainBatch.end: no chain is open');
    const c = this.chainsPtr + this.count * B.CHAIN_SIZE;
    if (this.u16[(c + B.CHAIN_NREAD) >>> 1] + this.u16[(c + B.CHAIN_NWRITE) >>> 1] === 0) {
      throw new Error('ChainBatch.end: a chain needs at least one segment');
    }
    this.open = false;
    this.count++;
  }

  /** One-segment chain: the common case for packet buffers. */
  single(id: number, offset: number, len: number, writable: boolean): void {
    this.begin(id);
    if (writable) this.write(offset, len); else this.read(offset, len);
    this.end();
  }

  private segment(offset: number, len: number, field: number): void {
    if (!this.open) throw new Error('ChainBatch: begin() a chain first');
    if (this.segCount >= this.maxSegs) throw new RangeError(`ChainBatch: more than ${this.maxSegs} segments`);
    const s = (this.segsPtr + this.segCount * B.SEG_SIZE) >>> 2;
    this.u32[s] = offset;
    this.u32[s + 1] = len;
    this.segCount++;
    this.u16[(this.chainsPtr + this.count * B.CHAIN_SIZE + field) >>> 1]++;
  }

  // Accessors for chain i and segment j (device side after pop, or for inspection).
  id(i: number): number { return this.u32[(this.chainsPtr + i * B.CHAIN_SIZE + B.CHAIN_ID) >>> 2]; }
  firstSeg(i: number): number { return this.u32[(this.chainsPtr + i * B.CHAIN_SIZE + B.CHAIN_SEG) >>> 2]; }
  nRead(i: number): number { return this.u16[(this.chainsPtr + i * B.CHAIN_SIZE + B.CHAIN_NREAD) >>> 1]; }
  nWrite(i: number): number { return this.u16[(this.chainsPtr + i * B.CHAIN_SIZE + B.CHAIN_NWRITE) >>> 1]; }
  readLen(i: number): number { return this.u32[(this.chainsPtr + i * B.CHAIN_SIZE + B.CHAIN_READ_LEN) >>> 2]; }
  writeLen(i: number): number { return this.u32[(this.chainsPtr + i * B.CHAIN_SIZE + B.CHAIN_WRITE_LEN) >>> 2]; }
  descs(i: number): number { return this.u16[(this.chainsPtr + i * B.CHAIN_SIZE + B.CHAIN_DESCS) >>> 1]; }
  segOffset(j: number): number { return this.u32[(this.segsPtr + j * B.SEG_SIZE + B.SEG_OFFSET) >>> 2]; }
  segLen(j: number): number { return this.u32[(this.segsPtr + j * B.SEG_SIZE + B.SEG_LEN) >>> 2]; }
}

/** Used records: a device pushes them, a driver collects into them. */
export class UsedBatch {
  readonly ptr: number;
  readonly capacity: number;
  count = 0;
  private readonly u32: Uint32Array;

  constructor(engine: Engine, plan: MemoryPlan, capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`UsedBatch needs a capacity of at least 1, got ${capacity}`);
    this.capacity = capacity;
    this.ptr = plan.alloc(capacity * B.USED_REC_SIZE, 64, 'used batch');
    this.u32 = engine.u32;
  }

  clear(): void {
    this.count = 0;
  }

  push(id: number, len: number): void {
    if (this.count >= this.capacity) throw new RangeError(`UsedBatch: more than ${this.capacity} records`);
    const r = (this.ptr + this.count * B.USED_REC_SIZE) >>> 2;
    this.u32[r] = id;
    this.u32[r + 1] = len;
    this.count++;
  }

  id(i: number): number { return this.u32[(this.ptr + i * B.USED_REC_SIZE + B.USED_REC_ID) >>> 2]; }
  len(i: number): number { return this.u32[(this.ptr + i * B.USED_REC_SIZE + B.USED_REC_LEN) >>> 2]; }
}
