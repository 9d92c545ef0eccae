// Scatter-gather lists of the chains a device holds between popping and completing them.
//
// A popped chain record lives in a ChainBatch only until the next pop, but a device with latency
// keeps chains for many ticks. ChainStore copies each held chain's segments (Wasm offset and
// length, already translated by the engine) into JS typed arrays indexed by the chain's head id,
// which is unique while the chain is in flight. copyBetween() moves bytes from one list to
// another with copyWithin over the shared memory, one call per overlapping pair of segments, so
// the two sides may cut the same bytes at different places.
import type { ChainBatch } from '../src/batch.js';

export class ChainStore {
  /** Most segments one held chain may have. */
  readonly maxSegs: number;
  /** Segment j of chain `head` is at [head * maxSegs + j]. */
  readonly segOffset: Uint32Array;
  readonly segLen: Uint32Array;
  readonly nSegs: Uint16Array;
  /** Bytes in all segments of the chain. */
  readonly bytes: Uint32Array;

  /**
   * In JS memory by default; with `shared` ({ buffer, addr }: ChainStore.bytes(...) bytes at a
   * 4-byte aligned offset of a shared memory) in that memory, so a chain held by one worker can
   * be read by another (after a handoff that orders the accesses, such as a HandleRing).
   */
  constructor(queueSize: number, maxSegs: number, shared?: { buffer: ArrayBufferLike; addr: number }) {
    this.maxSegs = maxSegs;
    const n = queueSize * maxSegs;
    if (shared) {
      const { buffer, addr } = shared;
      this.segOffset = new Uint32Array(buffer, addr, n);
      this.segLen = new Uint32Array(buffer, addr + 4 * n, n);
      this.bytes = new Uint32Array(buffer, addr + 8 * n, queueSize);
      this.nSegs = new Uint16Array(buffer, addr + 8 * n + 4 * queueSize, queueSize);
    } else {
      this.segOffset = new Uint32Array(n);
      this.segLen = new Uint32Array(n);
      this.nSegs = new Uint16Array(queueSize);
      this.bytes = new Uint32Array(queueSize);
    }
  }

  /** Bytes a ChainStore takes in shared memory. */
  static bytes(queueSize: number, maxSegs: number): number {
    return 8 * queueSize * maxSegs + 6 * queueSize;
  }

  /**
   * Keeps chain `i` of a popped batch under its head id. Returns false (keeping nothing) when it
   * has more than maxSegs segments.
   */
  hold(batch: ChainBatch, i: number): boolean {
    const head = batch.id(i);
    const n = batch.nRead(i) + batch.nWrite(i);
    if (n > this.maxSegs) return false;
    const first = batch.firstSeg(i);
    const base = head * this.maxSegs;
    let total = 0;
    for (let j = 0; j < n; j++) {
      const len = batch.segLen(first + j);
      this.segOffset[base + j] = batch.segOffset(first + j);
      this.segLen[base + j] = len;
      total += len;
    }
    this.nSegs[head] = n;
    this.bytes[head] = total;
    return true;
  }

  /** Whether chain `head` is one segment starting on a 4-byte boundary (frames can be used in place). */
  isFlatAligned(head: number): boolean {
    return this.nSegs[head] === 1 && (this.segOffset[head * this.maxSegs] & 3) === 0;
  }

  /** Offset of chain `head`'s first segment. */
  firstOffset(head: number): number {
    return this.segOffset[head * this.maxSegs];
  }
}

/**
 * Copies `bytes` bytes from chain `srcHead` of `src` to chain `dstHead` of `dst` (both must hold
 * at least that many), across segment boundaries on either side.
 */
export function copyBetween(u8: Uint8Array, src: ChainStore, srcHead: number, dst: ChainStore, dstHead: number, bytes: number): void {
  let si = srcHead * src.maxSegs;
  let di = dstHead * dst.maxSegs;
  let sOff = src.segOffset[si];
  let sLeft = src.segLen[si];
  let dOff = dst.segOffset[di];
  let dLeft = dst.segLen[di];
  while (bytes > 0) {
    if (sLeft === 0) { si++; sOff = src.segOffset[si]; sLeft = src.segLen[si]; continue; }
    if (dLeft === 0) { di++; dOff = dst.segOffset[di]; dLeft = dst.segLen[di]; continue; }
    let n = sLeft < dLeft ? sLeft : dLeft;
    if (n > bytes) n = bytes;
    u8.copyWithin(dOff, sOff, sOff + n);
    sOff += n; sLeft -= n;
    dOff += n; dLeft -= n;
    bytes -= n;
  }
}

/** Copies `bytes` bytes from contiguous memory at `from` into chain `head` of `dst` (scatter). */
export function scatterInto(u8: Uint8Array, from: number, dst: ChainStore, head: number, bytes: number): void {
  let i = head * dst.maxSegs;
  while (bytes > 0) {
    const n = Math.min(dst.segLen[i], bytes);
    u8.copyWithin(dst.segOffset[i], from, from + n);
    from += n;
    bytes -= n;
    i++;
  }
}

/** Copies the first `bytes` bytes of chain `head` of `src` to contiguous memory at `to` (gather). */
export function gatherFrom(u8: Uint8Array, src: ChainStore, head: number, to: number, bytes: number): void {
  let i = head * src.maxSegs;
  while (bytes > 0) {
    const n = Math.min(src.segLen[i], bytes);
    u8.copyWithin(to, src.segOffset[i], src.segOffset[i] + n);
    to += n;
    bytes -= n;
    i++;
  }
}
