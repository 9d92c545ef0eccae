// The simulator's packet format: a virtio_net_hdr followed by a frame, in one buffer.
//
//   0            12           16           20                    12 + frameSize
//   +------------+------------+------------+---- ... ------------+
//   | net hdr    | seq u32    | pattern[1] | pattern[2..]        |
//   | (all zero) |            |            | (last word partial) |
//   +------------+------------+------------+---- ... ------------+
//
// The header is struct virtio_net_hdr without VIRTIO_NET_F_MRG_RXBUF / HASH_REPORT (VIRTIO
// 1.2, 5.1.6: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers = 12
// bytes), all zero: no checksum offload, no GSO. The frame is not parsed by anyone, so it carries
// no Ethernet header: word 0 is the sequence number and every further word is a cheap function
// of (sequence number, run key), so a receiver can check the whole frame with a few compares
// and tell a frame from another run, another sequence number, or a stale buffer.
//
// Offsets passed here are Wasm byte offsets that must be 4-byte aligned.
import { mix32 } from './prng.js';

/** sizeof(struct virtio_net_hdr) without mergeable buffers (VIRTIO 1.2, 5.1.6). */
export const NET_HDR_SIZE = 12;
/** Smallest frame: the sequence number and one pattern word. */
export const MIN_FRAME_SIZE = 8;
/** Largest frame: a jumbo frame. */
export const MAX_FRAME_SIZE = 9216;

const STEP = 0x9e3779b9;

/** First pattern word of frame `seq` (pattern word i adds (i - 1) * STEP). */
export function patternBase(seq: number, key: number): number {
  return mix32(seq ^ key);
}

/** Writes header and frame `seq` at `offset` (4-byte aligned): NET_HDR_SIZE + frameSize bytes. */
export function stampPacket(u8: Uint8Array, u32: Uint32Array, offset: number, frameSize: number, seq: number, key: number): void {
  let w = offset >>> 2;
  u32[w] = 0; // virtio_net_hdr
  u32[w + 1] = 0;
  u32[w + 2] = 0;
  w += 3;
  u32[w] = seq;
  const words = frameSize >>> 2;
  let p = patternBase(seq, key);
  for (let i = 1; i < words; i++) {
    u32[w + i] = p;
    p = (p + STEP) | 0;
  }
  // A frame size that is not a multiple of 4 ends with the low bytes of the next word.
  const tail = frameSize & 3;
  const b = offset + NET_HDR_SIZE + (words << 2);
  for (let j = 0; j < tail; j++) u8[b + j] = p >>> (8 * j);
}

/**
 * Checks the packet at `offset` (4-byte aligned), of `len` bytes, against frame `seq` stamped by
 * stampPacket. Returns true when the length, the header and every frame byte are as stamped.
 */
export function checkPacket(u8: Uint8Array, u32: Uint32Array, offset: number, len: number, frameSize: number, seq: number, key: number): boolean {
  if (len !== NET_HDR_SIZE + frameSize) return false;
  let w = offset >>> 2;
  if ((u32[w] | u32[w + 1] | u32[w + 2]) !== 0) return false;
  w += 3;
  if (u32[w] !== seq) return false;
  const words = frameSize >>> 2;
  let p = patternBase(seq, key);
  for (let i = 1; i < words; i++) {
    if (u32[w + i] !== p) return false;
    p = (p + STEP) >>> 0;
  }
  const tail = frameSize & 3;
  const b = offset + NET_HDR_SIZE + (words << 2);
  for (let j = 0; j < tail; j++) if (u8[b + j] !== ((p >>> (8 * j)) & 0xff)) return false;
  return true;
}

/** The sequence number a packet at `offset` claims to carry (before it is checked). */
export function packetSeq(u32: Uint32Array, offset: number): number {
  return u32[(offset + NET_HDR_SIZE) >>> 2];
}
