// Scatter-gather copy between popped chains, in place in shared memory: the one copy a frame
// makes on its way from a transmit chain's device-readable segments to a receive chain's
// device-writable ones. Segments are chain views (layout/batch.ts), already translated and
// bounds-checked by the pop that produced them. scatterStream serves the virtio-net data path
// (forward.ts); sgCopy, exported, serves any host code that holds chains between calls (the
// simulator's NIC), so every frame copy in the project runs this code.
import {
  CHAIN_SIZE, CHAIN_ID, CHAIN_SEG, CHAIN_NREAD, CHAIN_NWRITE, SEG_SIZE, SEG_OFFSET, SEG_LEN,
  USED_REC_SIZE, USED_REC_ID, USED_REC_LEN,
} from "../layout/batch";
import { ERR_OUT_OF_MEMORY_BOUNDS } from "../layout/errors";
import { inMemory } from "../shared/common";
import { copyBytes } from "../shared/copy";

/**
 * Copies a byte stream into the device-writable segments of receive chains
 * rxChains[k .. k + nb) (their segments in `rxSegs`), filling each chain before the next, and
 * writes used records rxUsed[k .. k + nb) with each chain's id and the bytes it got. The stream
 * is: `aLen` bytes at `a`, then `bLen` bytes at `b`, then `len` bytes gathered from the
 * segments segs[first ..] after skipping their first `skip` bytes. The caller has checked that
 * the chains hold the whole stream and that the segments hold skip + len bytes.
 */
export function scatterStream(
  rxChains: u32, rxSegs: u32, k: u32, nb: u32, rxUsed: u32,
  a: u32, aLen: u32, b: u32, bLen: u32,
  segs: u32, first: u32, skip: u32, len: u32,
): void {
  // Source cursor: the current piece [sPtr, sPtr + sLeft); phase 0 = a, 1 = b, 2 = segments.
  let phase: u32 = 0;
  let sPtr = a;
  let sLeft = aLen;
  let sSeg = first;
  let rest = len;
  // Destination cursor: chain c, its writable segment dSeg (up to dEnd), [dPtr, dPtr + dLeft).
  let c = k;
  const end = k + nb;
  let rec = rxChains + c * CHAIN_SIZE;
  let dSeg = load<u32>(rec + CHAIN_SEG) + <u32>load<u16>(rec + CHAIN_NREAD);
  let dEnd = dSeg + <u32>load<u16>(rec + CHAIN_NWRITE);
  let dPtr: u32 = 0;
  let dLeft: u32 = 0;
  let written: u32 = 0;
  for (;;) {
    if (sLeft == 0) {
      if (phase == 0) { phase = 1; sPtr = b; sLeft = bLen; continue; }
      if (rest == 0) break;
      phase = 2;
      const s = segs + sSeg * SEG_SIZE;
      sSeg++;
      let o = load<u32>(s + SEG_OFFSET);
      let n = load<u32>(s + SEG_LEN);
      if (skip >= n) { skip -= n; continue; }
      o += skip;
      n -= skip;
      skip = 0;
      sPtr = o;
      sLeft = n < rest ? n : rest;
      rest -= sLeft;
      continue;
    }
    if (dLeft == 0) {
      if (dSeg == dEnd) {
        // This chain is full: record it and go on with the next one.
        store<u32>(rxUsed + c * USED_REC_SIZE + USED_REC_ID, load<u32>(rec + CHAIN_ID));
        store<u32>(rxUsed + c * USED_REC_SIZE + USED_REC_LEN, written);
        written = 0;
        c++;
        if (c == end) return; // cannot happen when the caller checked the room
        rec = rxChains + c * CHAIN_SIZE;
        dSeg = load<u32>(rec + CHAIN_SEG) + <u32>load<u16>(rec + CHAIN_NREAD);
        dEnd = dSeg + <u32>load<u16>(rec + CHAIN_NWRITE);
        continue;
      }
      const d = rxSegs + dSeg * SEG_SIZE;
      dSeg++;
      dPtr = load<u32>(d + SEG_OFFSET);
      dLeft = load<u32>(d + SEG_LEN);
      continue;
    }
    const n = sLeft < dLeft ? sLeft : dLeft;
    copyBytes(dPtr, sPtr, n);
    sPtr += n;
    sLeft -= n;
    dPtr += n;
    dLeft -= n;
    written += n;
  }
  // The last chain written, and any after it the stream did not reach (len 0).
  for (; c < end; c++) {
    rec = rxChains + c * CHAIN_SIZE;
    store<u32>(rxUsed + c * USED_REC_SIZE + USED_REC_ID, load<u32>(rec + CHAIN_ID));
    store<u32>(rxUsed + c * USED_REC_SIZE + USED_REC_LEN, written);
    written = 0;
  }
}

/**
 * Reads the first `n` (<= 16) bytes of the stream segs[first ..] after `skip` bytes into `to`.
 * The caller has checked that the segments hold them.
 */
export function gatherHead(segs: u32, first: u32, skip: u32, to: u32, n: u32): void {
  let s = segs + first * SEG_SIZE;
  let got: u32 = 0;
  while (got < n) {
    const o = load<u32>(s + SEG_OFFSET);
    const l = load<u32>(s + SEG_LEN);
    s += SEG_SIZE;
    if (skip >= l) { skip -= l; continue; }
    let m = l - skip;
    if (m > n - got) m = n - got;
    copyBytes(to + got, o + skip, m);
    got += m;
    skip = 0;
  }
}

/**
 * Copies `bytes` bytes from the segment list src[0 .. srcN) (after its first `srcSkip` bytes) to
 * the segment list dst[0 .. dstN) (after its first `dstSkip` bytes), across segment boundaries on
 * either side. Segment lists are SEG records (layout/batch.ts), for example the segments of
 * chains a device holds. Copies as much as both lists hold; returns the bytes copied, or
 * ERR_OUT_OF_MEMORY_BOUNDS (nothing copied) when a list or a segment lies outside memory.
 */
export function sgCopy(dst: u32, dstN: u32, dstSkip: u32, src: u32, srcN: u32, srcSkip: u32, bytes: u32): i32 {
  if (!inMemory(dst, <u64>dstN * SEG_SIZE) || !inMemory(src, <u64>srcN * SEG_SIZE)) return ERR_OUT_OF_MEMORY_BOUNDS;
  for (let i: u32 = 0; i < dstN; i++) {
    if (!inMemory(load<u32>(dst + i * SEG_SIZE + SEG_OFFSET), load<u32>(dst + i * SEG_SIZE + SEG_LEN))) return ERR_OUT_OF_MEMORY_BOUNDS;
  }
  for (let i: u32 = 0; i < srcN; i++) {
    if (!inMemory(load<u32>(src + i * SEG_SIZE + SEG_OFFSET), load<u32>(src + i * SEG_SIZE + SEG_LEN))) return ERR_OUT_OF_MEMORY_BOUNDS;
  }
  let si: u32 = 0;
  let di: u32 = 0;
  let sPtr: u32 = 0;
  let sLeft: u32 = 0;
  let dPtr: u32 = 0;
  let dLeft: u32 = 0;
  let done: u32 = 0;
  while (done < bytes) {
    if (sLeft == 0) {
      if (si == srcN) break;
      sPtr = load<u32>(src + si * SEG_SIZE + SEG_OFFSET);
      sLeft = load<u32>(src + si * SEG_SIZE + SEG_LEN);
      si++;
      const cut = srcSkip < sLeft ? srcSkip : sLeft;
      srcSkip -= cut; sPtr += cut; sLeft -= cut;
      continue;
    }
    if (dLeft == 0) {
      if (di == dstN) break;
      dPtr = load<u32>(dst + di * SEG_SIZE + SEG_OFFSET);
      dLeft = load<u32>(dst + di * SEG_SIZE + SEG_LEN);
      di++;
      const cut = dstSkip < dLeft ? dstSkip : dLeft;
      dstSkip -= cut; dPtr += cut; dLeft -= cut;
      continue;
    }
    let n = sLeft < dLeft ? sLeft : dLeft;
    if (n > bytes - done) n = bytes - done;
    copyBytes(dPtr, sPtr, n);
    sPtr += n; sLeft -= n;
    dPtr += n; dLeft -= n;
    done += n;
  }
  return <i32>done;
}
