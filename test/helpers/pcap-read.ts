// Reads a classic libpcap file (little-endian, as PcapWriter writes it) back for checks.
import { readFileSync } from 'node:fs';

export interface Pcap {
  magic: number;
  version: [number, number];
  snaplen: number;
  linktype: number;
  records: { tsSec: number; tsUsec: number; inclLen: number; origLen: number; data: Uint8Array }[];
}

export function readPcap(path: string): Pcap {
  const b = readFileSync(path);
  const records: Pcap['records'] = [];
  let at = 24;
  while (at < b.length) {
    if (b.length - at < 16) throw new Error(`truncated record header at ${at}`);
    const inclLen = b.readUInt32LE(at + 8);
    if (b.length - at - 16 < inclLen) throw new Error(`truncated record at ${at}`);
    records.push({ tsSec: b.readUInt32LE(at), tsUsec: b.readUInt32LE(at + 4), inclLen, origLen: b.readUInt32LE(at + 12), data: new Uint8Array(b.subarray(at + 16, at + 16 + inclLen)) });
    at += 16 + inclLen;
  }
  return { magic: b.readUInt32LE(0), version: [b.readUInt16LE(4), b.readUInt16LE(6)], snaplen: b.readUInt32LE(16), linktype: b.readUInt32LE(20), records };
}
