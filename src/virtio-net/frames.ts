// Frames the device makes: the fixed txonly frame (Ethernet / IPv4 / UDP, 64 bytes without FCS,
// as testpmd's txonly) and the RARP a back-end broadcasts for SEND_RARP.

export const TXONLY_FRAME_SIZE = 64;

/** One's complement sum of 16-bit big-endian words (RFC 1071). */
function ipChecksum(b: Uint8Array, at: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i += 2) s += (b[at + i] << 8) | b[at + i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * The txonly frame: broadcast-free unicast from 02:00:00:00:00:01 to 02:00:00:00:00:02,
 * IPv4 198.18.0.1 -> 198.18.0.2 (benchmarking range, RFC 2544), UDP 9 -> 9, zero payload.
 */
export function txonlyFrame(): Uint8Array {
  const f = new Uint8Array(TXONLY_FRAME_SIZE);
  f.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00], 0); // Ethernet, type IPv4
  const ipLen = TXONLY_FRAME_SIZE - 14;
  f.set([0x45, 0, ipLen >> 8, ipLen & 0xff, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2], 14);
  const sum = ipChecksum(f, 14, 20);
  f[24] = sum >> 8;
  f[25] = sum & 0xff;
  const udpLen = ipLen - 20;
  f.set([0, 9, 0, 9, udpLen >> 8, udpLen & 0xff, 0, 0], 34); // UDP checksum 0: none (RFC 768)
  return f;
}

/** Bytes of a RARP frame: Ethernet header and the 28-byte ARP-format body, padded to 60. */
export const RARP_FRAME_SIZE = 60;

/**
 * The frame a back-end broadcasts on SEND_RARP (what QEMU's self-announce sends): a Reverse ARP
 * request (RFC 903, ethertype 0x8035, opcode 3) from `mac` to everyone, naming `mac` as both
 * sender and target hardware address, so switches learn where the guest now is.
 */
export function rarpFrame(mac: Uint8Array): Uint8Array {
  const f = new Uint8Array(RARP_FRAME_SIZE);
  f.fill(0xff, 0, 6);
  f.set(mac.subarray(0, 6), 6);
  f.set([0x80, 0x35], 12);
  // htype 1 (Ethernet), ptype 0x0800 (IPv4), hlen 6, plen 4, oper 3 (reverse request).
  f.set([0, 1, 0x08, 0x00, 6, 4, 0, 3], 14);
  f.set(mac.subarray(0, 6), 22); // sender hardware address; sender protocol address 0.0.0.0
  f.set(mac.subarray(0, 6), 32); // target hardware address; target protocol address 0.0.0.0
  return f;
}
