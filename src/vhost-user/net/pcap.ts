// Classic libpcap capture file writer: global header (magic 0xa1b2c3d4, version 2.4, thiszone 0,
// sigfigs 0, snaplen 65535, linktype 1 = Ethernet), then per frame ts_sec, ts_usec, incl_len,
// orig_len (host byte order, little-endian here; readers tell by the magic) and the bytes.
// Buffered; at most `maxFrames` frames are written, later ones are only counted.
import { openSync, writeSync, closeSync } from 'node:fs';

export const PCAP_MAGIC = 0xa1b2c3d4;
export const PCAP_SNAPLEN = 65535;
export const LINKTYPE_ETHERNET = 1;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
const BUFFER = 1 << 20;

export class PcapWriter {
  private fd: number | undefined;
  private readonly buf = Buffer.alloc(BUFFER);
  private used = 0;
  /** Frames written. */
  written = 0;
  /** Frames seen after the limit (not written). */
  skipped = 0;

  constructor(readonly path: string, readonly maxFrames = Infinity) {
    this.fd = openSync(path, 'w');
    const h = Buffer.alloc(GLOBAL_HEADER);
    h.writeUInt32LE(PCAP_MAGIC, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeUInt32LE(PCAP_SNAPLEN, 16);
    h.writeUInt32LE(LINKTYPE_ETHERNET, 20);
    writeSync(this.fd, h);
  }

  /** Records bytes [at, at + len) of `b` (cut to the snaplen; orig_len keeps the real length). */
  frame(b: Uint8Array, at: number, len: number): void {
    if (this.fd === undefined) return;
    if (this.written >= this.maxFrames) {
      this.skipped++;
      return;
    }
    const incl = Math.min(len, PCAP_SNAPLEN);
    if (this.used + RECORD_HEADER + incl > BUFFER) this.flush();
    const now = Date.now();
    const r = this.used;
    this.buf.writeUInt32LE(Math.floor(now / 1000), r);
    this.buf.writeUInt32LE((now % 1000) * 1000, r + 4);
    this.buf.writeUInt32LE(incl, r + 8);
    this.buf.writeUInt32LE(len, r + 12);
    this.buf.set(b.subarray(at, at + incl), r + RECORD_HEADER);
    this.used = r + RECORD_HEADER + incl;
    this.written++;
  }

  flush(): void {
    if (this.fd === undefined || this.used === 0) return;
    writeSync(this.fd, this.buf, 0, this.used);
    this.used = 0;
  }

  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    closeSync(this.fd);
    this.fd = undefined;
  }
}
