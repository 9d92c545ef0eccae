// The virtio_net_hdr that precedes every frame on the transmit and receive queues
// (VIRTIO 1.2 5.1.6): flags u8, gso_type u8, hdr_len u16, gso_size u16, csum_start u16,
// csum_offset u16, num_buffers u16, little-endian. num_buffers is there when VERSION_1 or
// MRG_RXBUF is negotiated (5.1.6), so a modern device's header is 12 bytes; a legacy one
// without MRG_RXBUF has 10. The engine writes receive headers (assembly/net/forward.ts); the
// sizes are in assembly/layout/net.ts.
import { NET_HDR_SIZE, NET_HDR_LEGACY_SIZE } from '../../assembly/layout/net.js';
import { FEATURES, type FeatureSet } from '../features.js';

export { NET_HDR_SIZE, NET_HDR_LEGACY_SIZE };

/** Header length for a negotiated feature set (5.1.6). */
export function netHdrSize(features: FeatureSet): number {
  return (features & (FEATURES.VERSION_1 | FEATURES.NET_MRG_RXBUF)) !== 0n ? NET_HDR_SIZE : NET_HDR_LEGACY_SIZE;
}

/** MRG_RXBUF negotiated: a received frame may span several buffers (5.1.6.4). */
export const mergeable = (features: FeatureSet): boolean => (features & FEATURES.NET_MRG_RXBUF) !== 0n;
