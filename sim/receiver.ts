// The receiving end's bookkeeping: checks every packet that arrives and counts it as delivered,
// corrupt or duplicate. A packet is delivered when its sequence number is in [0, packets), was
// never delivered before, and the whole packet is intact (frame.ts). The order of deliveries is
// folded into a checksum, so two runs can be compared without keeping the order itself.
import { checkPacket, packetSeq } from './frame.js';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Order checksum of deliveries `seqs` in that order (what `Receiver.orderChecksum` computes). */
export function orderChecksumOf(seqs: Iterable<number>): number {
  let h = FNV_OFFSET;
  for (const s of seqs) h = Math.imul(h ^ s, FNV_PRIME) >>> 0;
  return h;
}

export class Receiver {
  readonly packets: number;
  readonly frameSize: number;
  readonly key: number;
  delivered = 0;
  corrupt = 0;
  duplicate = 0;
  /** Deliveries whose sequence number is below one delivered earlier. */
  reordered = 0;
  /** FNV-1a-style hash of the delivered sequence numbers, in delivery order. */
  orderChecksum = FNV_OFFSET;
  private highest = -1;
  private readonly seen: Uint32Array;
  private readonly u8: Uint8Array;
  private readonly u32: Uint32Array;

  constructor(u8: Uint8Array, u32: Uint32Array, packets: number, frameSize: number, key: number) {
    this.u8 = u8;
    this.u32 = u32;
    this.packets = packets;
    this.frameSize = frameSize;
    this.key = key;
    this.seen = new Uint32Array(Math.ceil(packets / 32));
  }

  /** Counts a packet that could not even be looked at as corrupt. */
  reject(): void {
    this.corrupt++;
  }

  /** Checks the `len`-byte packet at `offset` (4-byte aligned) and counts it. */
  receive(offset: number, len: number): void {
    const seq = packetSeq(this.u32, offset);
    if (seq >= this.packets || !checkPacket(this.u8, this.u32, offset, len, this.frameSize, seq, this.key)) {
      this.corrupt++;
      return;
    }
    const w = seq >>> 5;
    const bit = 1 << (seq & 31);
    if ((this.seen[w] & bit) !== 0) {
      this.duplicate++;
      return;
    }
    this.seen[w] |= bit;
    this.delivered++;
    if (seq < this.highest) this.reordered++; else this.highest = seq;
    this.orderChecksum = Math.imul(this.orderChecksum ^ seq, FNV_PRIME) >>> 0;
  }
}
