// The virtio_net_hdr that precedes every frame on the transmit and receive queues
// (VIRTIO 1.2 5.1.6): flags u8, gso_type u8, hdr_len u16, gso_size u16, csum_start u16,
// csum_offset u16, num_buffers u16, little-endian. num_buffers is there when VERSION_1 or
// MRG_RXBUF is negotiated (5.1.6), so a modern device's header is 12 bytes; a legacy one
// without MRG_RXBUF has 10.
import { FEATURES, type FeatureSet } from '../../features.js';

export const NET_HDR_SIZE = 12;
export const NET_HDR_LEGACY_SIZE = 10;
/** Byte offset of num_buffers in the header. */
export const NUM_BUFFERS_OFFSET = 10;

/** Header length for a negotiated feature set (5.1.6). */
export function netHdrSize(features: FeatureSet): number {
  return (features & (FEATURES.VERSION_1 | FEATURES.NET_MRG_RXBUF)) !== 0n ? NET_HDR_SIZE : NET_HDR_LEGACY_SIZE;
}

export const mergeable = (features: FeatureSet): boolean => (features & FEATURES.NET_MRG_RXBUF) !== 0n;

/**
 * A receive header: everything zero (no checksum or GSO offload is offered, 5.1.6.4: flags 0 and
 * gso_type VIRTIO_NET_HDR_GSO_NONE) but num_buffers, the number of buffers the frame spans
 * (5.1.6.4; always 1 without MRG_RXBUF).
 */
export function fillRxHeader(into: Uint8Array, hdrSize: number, numBuffers: number): void {
  into.fill(0, 0, hdrSize);
  if (hdrSize === NET_HDR_SIZE) {
    into[NUM_BUFFERS_OFFSET] = numBuffers & 0xff;
    into[NUM_BUFFERS_OFFSET + 1] = numBuffers >>> 8;
  }
}
