// Scatter-gather lists of the chains a device holds between popping and completing them.
//
// A popped chain record lives in a ChainBatch only until the next pop, but a device with latency
// keeps chains for many ticks. ChainStore copies each held chain's segments (Wasm offset and
// length, already translated by the engine) into an area of the Wasm memory, under the chain's
// head id, which is unique while the chain is in flight. The segments are SEG records
// (assembly/layout/batch.ts), so a held chain is a segment list the engine's sgCopy
// (assembly/net/scatter.ts) reads as it is: copyBetween, scatterInto and gatherFrom are one
// engine call each, and the frame bytes move in the same code as on the vhost-user data path.
// The two sides may cut the same bytes at different places.
import { SEG_SIZE, SEG_OFFSET, SEG_LEN } from '../assembly/layout/batch.js';
import type { ChainBatch } from '../src/virtqueue/batch.js';
import type { Engine, EngineExports } from '../src/engine.js';
import type { MemoryPlan } from '../src/memory.js';

// ChainStore area: Q = queue size (head ids 0 .. Q-1), M = maxSegs. Offsets from the area's
// start, which is 4-byte aligned.
//
//   0                    Q*M*8             Q*M*8 + 4Q        Q*M*8 + 6Q
//   +--------------------+-----------------+-----------------+
//   | segs               | bytes           | nSegs           |
//   +--------------------+-----------------+-----------------+
//   segs   Q*M SEG records (u32 offset, u32 len). Chain `head` has the M records from
//          head * M * SEG_SIZE, of which the first nSegs[head] are its segments, in order.
//   bytes  u32 per head: the bytes in all of the chain's segments.
//   nSegs  u16 per head: the chain's segments (1 .. M).
//
// Besides the area, each ChainStore object has one SEG record of its own (scratch), always in
// its own plan: a contiguous source or destination of a copy, as a one-segment list.
function areaLayout(queueSize: number, maxSegs: number): { segs: number; bytes: number; nSegs: number; size: number } {
  const segs = 0;
  const bytes = segs + queueSize * maxSegs * SEG_SIZE;
  const nSegs = bytes + 4 * queueSize;
  return { segs, bytes, nSegs, size: nSegs + 2 * queueSize };
}

export class ChainStore {
  /** Most segments one held chain may have. */
  readonly maxSegs: number;
  /** Wasm offset of the area (layout above). */
  readonly addr: number;
  /** Bytes in all segments of chain `head`: [head]. */
  readonly bytes: Uint32Array;
  /** Segments of chain `head`: [head]. */
  readonly nSegs: Uint16Array;
  /** Wasm offset of this object's scratch SEG record. */
  private readonly scratch: number;
  /** Bytes between two chains' segment lists: maxSegs * SEG_SIZE. */
  private readonly stride: number;
  private readonly u32: Uint32Array;
  /** The engine's sgCopy (assembly/net/scatter.ts). */
  readonly sgCopy: EngineExports['sgCopy'];

  /**
   * A store for heads 0 .. queueSize-1. Its area is allocated from `plan`, or, with `area`, is
   * the ChainStore.bytes(queueSize, maxSegs) bytes at that 4-byte aligned offset of the shared
   * memory (planned elsewhere), so a chain held by one worker can be read by another after a
   * handoff that orders the accesses, such as a HandleRing. The scratch SEG record always comes
   * from `plan` (private to this object).
   */
  constructor(engine: Engine, plan: MemoryPlan, queueSize: number, maxSegs: number, area?: number) {
    if (!(queueSize >= 1 && maxSegs >= 1)) throw new RangeError(`ChainStore needs a queue size and maxSegs of at least 1, got ${queueSize}, ${maxSegs}`);
    const at = areaLayout(queueSize, maxSegs);
    this.maxSegs = maxSegs;
    this.stride = maxSegs * SEG_SIZE;
    this.addr = area ?? plan.alloc(at.size, 64, 'chain store');
    if ((this.addr & 3) !== 0) throw new RangeError(`ChainStore area at ${this.addr} is not 4-byte aligned`);
    const buffer = engine.memory.buffer;
    this.bytes = new Uint32Array(buffer, this.addr + at.bytes, queueSize);
    this.nSegs = new Uint16Array(buffer, this.addr + at.nSegs, queueSize);
    this.scratch = plan.alloc(SEG_SIZE, SEG_SIZE, 'chain store scratch segment');
    this.u32 = engine.u32;
    this.sgCopy = engine.exports.sgCopy;
  }

  /** Bytes of a ChainStore area (the part another worker may share). */
  static bytes(queueSize: number, maxSegs: number): number {
    return areaLayout(queueSize, maxSegs).size;
  }

  /** Bytes to plan for a ChainStore that allocates its area: the area, the scratch record, alignment. */
  static planBytes(queueSize: number, maxSegs: number): number {
    return ChainStore.bytes(queueSize, maxSegs) + 64 + 2 * SEG_SIZE;
  }

  /** Wasm offset of chain `head`'s segment list (its SEG records). */
  segs(head: number): number {
    return this.addr + head * this.stride;
  }

  /**
   * Keeps chain `i` of a popped batch under its head id. Returns false (keeping nothing) when it
   * has more than maxSegs segments.
   */
  hold(batch: ChainBatch, i: number): boolean {
    const head = batch.id(i);
    const n = batch.nRead(i) + batch.nWrite(i);
    if (n > this.maxSegs) return false;
    const u32 = this.u32;
    let s = (batch.segsPtr + batch.firstSeg(i) * SEG_SIZE) >>> 2;
    let d = this.segs(head) >>> 2;
    let total = 0;
    for (let j = 0; j < n; j++) {
      const len = u32[s + SEG_LEN / 4];
      u32[d + SEG_OFFSET / 4] = u32[s + SEG_OFFSET / 4];
      u32[d + SEG_LEN / 4] = len;
      total += len;
      s += SEG_SIZE / 4;
      d += SEG_SIZE / 4;
    }
    this.nSegs[head] = n;
    this.bytes[head] = total;
    return true;
  }

  /** Whether chain `head` is one segment starting on a 4-byte boundary (frames can be used in place). */
  isFlatAligned(head: number): boolean {
    return this.nSegs[head] === 1 && (this.firstOffset(head) & 3) === 0;
  }

  /** Offset of chain `head`'s first segment. */
  firstOffset(head: number): number {
    return this.u32[(this.segs(head) + SEG_OFFSET) >>> 2];
  }

  /** `len` bytes of contiguous memory at `at` as a one-segment list (this object's scratch record). */
  span(at: number, len: number): number {
    const r = this.scratch >>> 2;
    this.u32[r + SEG_OFFSET / 4] = at;
    this.u32[r + SEG_LEN / 4] = len;
    return this.scratch;
  }
}

/** sgCopy's result must be the bytes asked for: the callers have checked that both sides hold them. */
function copied(rc: number, bytes: number, where: string): void {
  if (rc !== bytes) throw new Error(`${where}: the engine's sgCopy moved ${rc} of ${bytes} bytes (a list lies outside memory or holds fewer bytes)`);
}

/**
 * Copies `bytes` bytes from chain `srcHead` of `src` to chain `dstHead` of `dst` (both must hold
 * at least that many), across segment boundaries on either side.
 */
export function copyBetween(src: ChainStore, srcHead: number, dst: ChainStore, dstHead: number, bytes: number): void {
  copied(src.sgCopy(dst.segs(dstHead), dst.nSegs[dstHead], 0, src.segs(srcHead), src.nSegs[srcHead], 0, bytes), bytes, 'copyBetween');
}

/** Copies `bytes` bytes from contiguous memory at `from` into chain `head` of `dst` (scatter). */
export function scatterInto(from: number, dst: ChainStore, head: number, bytes: number): void {
  copied(dst.sgCopy(dst.segs(head), dst.nSegs[head], 0, dst.span(from, bytes), 1, 0, bytes), bytes, 'scatterInto');
}

/** Copies the first `bytes` bytes of chain `head` of `src` to contiguous memory at `to` (gather). */
export function gatherFrom(src: ChainStore, head: number, to: number, bytes: number): void {
  copied(src.sgCopy(src.span(to, bytes), 1, 0, src.segs(head), src.nSegs[head], 0, bytes), bytes, 'gatherFrom');
}
