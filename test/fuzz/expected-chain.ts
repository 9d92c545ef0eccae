// What a chain the device accepted must be, worked out from the ring as the driver left it: a
// chain that keeps every rule a device checks (2.7.4.2, 2.7.5, 2.7.5.2, 2.7.5.3; packed 2.8.6,
// 2.8.7, 2.8.17, 2.8.19), and its segments: each buffer translated through the region table and
// cut where it crosses from one region into the next. For chains the device popped only; a
// device that hands out a chain breaking a rule is caught here.
import * as S from '../../assembly/layout/split.js';
import * as P from '../../assembly/layout/packed.js';
import * as Q from '../../assembly/layout/queue.js';
import { RING_FEATURES, has } from '../../src/index.js';
import type { RingWorld } from './ring-world.js';

export interface Segment {
  offset: number;
  len: number;
  writable: boolean;
}

/** The chain's segments, or the rule it breaks. */
export type Expected = { segs: Segment[]; id: number } | { bad: string };

/** Wasm offset of guest address `gpa` and the bytes left in its region, or undefined. */
function translate(w: RingWorld, gpa: bigint): { offset: number; room: bigint } | undefined {
  for (const r of w.regions) {
    const delta = gpa - r.gpa;
    if (delta >= 0n && delta < r.size) return { offset: r.offset + Number(delta), room: r.size - delta };
  }
  return undefined;
}

/** A chain's buffers as they are checked and cut into segments, in order. */
class Buffers {
  readonly segs: Segment[] = [];
  private bytes = 0;
  private sawWritable = false;
  bad = '';

  constructor(private readonly w: RingWorld) {}

  /** Adds buffer [gpa, gpa + len); false (with `bad` set) when it breaks a rule. */
  add(gpa: bigint, len: number, writable: boolean): boolean {
    // 2.7.4.2 / 2.8.17: device-writable descriptors after all device-readable ones (empty ones too).
    if (!writable && this.sawWritable) return this.fail('a device-readable buffer after a device-writable one');
    this.sawWritable ||= writable;
    // 2.7.5.2: fewer than 2^32 bytes in a chain.
    if ((this.bytes += len) > 0xffff_ffff) return this.fail('2^32 bytes or more');
    let left = BigInt(len);
    let a = gpa;
    while (left > 0n) {
      const t = translate(this.w, a);
      if (!t) return this.fail(`buffer 0x${gpa.toString(16)}+${len} outside the region table`);
      const take = left < t.room ? left : t.room;
      this.segs.push({ offset: t.offset, len: Number(take), writable });
      a += take;
      left -= take;
    }
    return true;
  }

  fail(why: string): false {
    this.bad ||= why;
    return false;
  }
}

/** The Wasm offset of an indirect table of `len` bytes at `gpa` (2.7.5.3, 2.8.7), or a reason it is not one. */
function table(w: RingWorld, gpa: bigint, len: number): number | string {
  if (!has(w.features, RING_FEATURES.INDIRECT_DESC)) return 'an indirect descriptor without VIRTIO_F_INDIRECT_DESC';
  if (len === 0 || len % 16 !== 0) return `an indirect table of ${len} bytes`;
  const t = translate(w, gpa);
  return t && BigInt(len) <= t.room ? t.offset : 'an indirect table outside the region table';
}

/** The longest chain the device takes (its configured limit, at most Queue Size). */
const maxChain = (w: RingWorld): number => w.engine.u32[(w.device.cb + Q.DEV_MAX_CHAIN) >>> 2]!;

/**
 * The split chain headed by descriptor `head` that took `descs` descriptors of the main table
 * (2.7.5): next within its table, at most one indirect table (the last descriptor, without
 * NEXT, holding no indirect descriptor), no longer than the device's limit.
 */
export function splitChain(w: RingWorld, head: number, descs: number): Expected {
  const v = w.engine.view;
  const b = new Buffers(w);
  const limit = maxChain(w);
  if (descs > limit) return { bad: `${descs} descriptors, more than ${limit}` };
  let i = head;
  for (let n = 0; n < descs; n++) {
    if (i >= w.q) return { bad: `descriptor ${i} outside the table` };
    const d = w.desc + i * S.DESC_SIZE;
    const addr = v.getBigUint64(d + S.DESC_ADDR, true);
    const len = v.getUint32(d + S.DESC_LEN, true);
    const flags = v.getUint16(d + S.DESC_FLAGS, true);
    if ((flags & S.DESC_F_INDIRECT) !== 0) {
      if ((flags & S.DESC_F_NEXT) !== 0) return { bad: 'INDIRECT with NEXT' };
      if (n !== descs - 1) return { bad: 'an indirect descriptor before the end of the count' };
      const t = table(w, addr, len);
      if (typeof t === 'string') return { bad: t };
      // The table is a chain of its own, from entry 0, bounded by its size and the limit.
      let j = 0;
      for (let k = 0; k < Math.min(len / S.DESC_SIZE, limit); k++) {
        const e = t + j * S.DESC_SIZE;
        const f = v.getUint16(e + S.DESC_FLAGS, true);
        if ((f & S.DESC_F_INDIRECT) !== 0) return { bad: 'an indirect descriptor inside an indirect table' };
        if (!b.add(v.getBigUint64(e + S.DESC_ADDR, true), v.getUint32(e + S.DESC_LEN, true), (f & S.DESC_F_WRITE) !== 0)) return { bad: b.bad };
        if ((f & S.DESC_F_NEXT) === 0) return { segs: b.segs, id: head };
        j = v.getUint16(e + S.DESC_NEXT, true);
        if (j >= len / S.DESC_SIZE) return { bad: `table entry next ${j} outside the table` };
      }
      return { bad: 'an indirect chain longer than its table or the limit' };
    }
    if (!b.add(addr, len, (flags & S.DESC_F_WRITE) !== 0)) return { bad: b.bad };
    if ((flags & S.DESC_F_NEXT) === 0) return n === descs - 1 ? { segs: b.segs, id: head } : { bad: `the chain ends after ${n + 1} of ${descs} descriptors` };
    i = v.getUint16(d + S.DESC_NEXT, true);
  }
  return { bad: `the chain goes on past ${descs} descriptors` };
}

/**
 * The packed list that took `descs` slots from `slot`, whose first descriptor was available in
 * lap `wrap` (2.8.6: every descriptor of the list made available, each with its slot's lap; NEXT
 * on all but the last; the buffer id in the last), with at most one indirect table, as the only
 * descriptor (2.8.19).
 */
export function packedList(w: RingWorld, slot: number, wrap: number, descs: number): Expected {
  const v = w.engine.view;
  const b = new Buffers(w);
  const limit = maxChain(w);
  if (descs > limit) return { bad: `${descs} descriptors, more than ${limit}` };
  let id = 0;
  for (let n = 0; n < descs; n++) {
    const s = (slot + n) % w.q;
    const lap = (wrap ^ (Math.floor((slot + n) / w.q) & 1)) >>> 0;
    const d = w.desc + s * P.PDESC_SIZE;
    const addr = v.getBigUint64(d + P.PDESC_ADDR, true);
    const len = v.getUint32(d + P.PDESC_LEN, true);
    const flags = v.getUint16(d + P.PDESC_FLAGS, true);
    id = v.getUint16(d + P.PDESC_ID, true);
    const avail = (flags & P.PDESC_F_AVAIL) !== 0 ? 1 : 0;
    const used = (flags & P.PDESC_F_USED) !== 0 ? 1 : 0;
    if (avail !== lap || used === lap) return { bad: `slot ${s} is not available in lap ${lap} (flags 0x${flags.toString(16)})` };
    if (((flags & P.PDESC_F_NEXT) !== 0) !== (n < descs - 1)) return { bad: `NEXT ${n < descs - 1 ? 'missing before' : 'set on'} the list's last descriptor` };
    if ((flags & P.PDESC_F_INDIRECT) !== 0) {
      if (descs !== 1) return { bad: 'an indirect descriptor in a list' };
      const t = table(w, addr, len);
      if (typeof t === 'string') return { bad: t };
      if (len / P.PDESC_SIZE > limit) return { bad: `an indirect table of ${len / P.PDESC_SIZE} entries, more than ${limit}` };
      for (let k = 0; k < len / P.PDESC_SIZE; k++) {
        const e = t + k * P.PDESC_SIZE;
        const f = v.getUint16(e + P.PDESC_FLAGS, true);
        if ((f & P.PDESC_F_INDIRECT) !== 0) return { bad: 'an indirect descriptor inside an indirect table' };
        if (!b.add(v.getBigUint64(e + P.PDESC_ADDR, true), v.getUint32(e + P.PDESC_LEN, true), (f & P.PDESC_F_WRITE) !== 0)) return { bad: b.bad };
      }
      return { segs: b.segs, id };
    }
    if (!b.add(addr, len, (flags & P.PDESC_F_WRITE) !== 0)) return { bad: b.bad };
  }
  return { segs: b.segs, id };
}
