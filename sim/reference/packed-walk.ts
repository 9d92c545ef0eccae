// How the reference packed device reads one descriptor list (VIRTIO 1.2, 2.8.5 - 2.8.7 and 2.8.17
// - 2.8.19), trusting nothing the driver wrote. The rules, in the order the device meets them:
//
// - a list holds at most maxChain descriptors (<= Queue Size, 2.8.17); every descriptor after the
//   first must be available with the wrap counter of its own slot (the driver makes the whole
//   list available before its first descriptor, 2.8.6);
// - INDIRECT (2.8.7, 2.8.19): only when negotiated, never with NEXT, only as the sole descriptor
//   of its list, a table of len / 16 >= 1 whole descriptors inside one region and within maxChain;
//   inside a table a nested INDIRECT is refused, NEXT and the other bits are ignored;
// - for every buffer: the list's byte count stays below 2^32 (checked before anything else about
//   the buffer), no device-readable buffer after a device-writable one (a zero-length one counts),
//   the range does not run past 2^64, and it translates through the regions;
// - the buffer id is the one the last descriptor carries (2.8.6).
import * as P from '../../assembly/layout/packed.js';
import * as E from '../../assembly/layout/errors.js';
import type { RawPackedRing } from '../raw-packed.js';
import { isAvailable, advance, type RingPosition } from './packed-ring.js';
import { translatePieces, translateWhole } from './regions.js';
import type { RefPoppedChain, RefRegion, RefSegment } from './types.js';

const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 0xffffffff;

/** Whether [addr, addr + len) (len > 0) runs past the end of the 64-bit guest address space. */
const wraps = (addr: bigint, len: number): boolean => len > 0 && addr + BigInt(len) - 1n > U64_MAX;

export interface WalkContext {
  ring: RawPackedRing;
  regions: readonly RefRegion[];
  maxChain: number;
  indirectOk: boolean;
}

export type Walk = { chain: RefPoppedChain } | { code: number; detail: number };

type Fault = { code: number; detail: number };

/** Collects a list's buffers: byte counts, the readable-before-writable rule, translation. */
class ListBuffers {
  readonly segments: RefSegment[] = [];
  readLen = 0;
  writeLen = 0;
  private sawWritable = false;

  constructor(private readonly ctx: WalkContext, private readonly room: number, private readonly headSlot: number) {}

  /** Adds one buffer; `where` locates it in a fault (ring slot, or index in the indirect table). */
  add(addr: bigint, len: number, writable: boolean, where: number): Fault | undefined {
    // 2.8.4 (as 2.7.5.2): a list holds less than 2^32 bytes, so its used length fits in len.
    if (this.readLen + this.writeLen + len > U32_MAX) return { code: E.ERR_CHAIN_TOO_MANY_BYTES, detail: this.headSlot };
    // 2.8.17: device-writable buffers come after all device-readable ones.
    if (!writable && this.sawWritable) return { code: E.ERR_WRITABLE_BEFORE_READABLE, detail: where };
    if (writable) this.sawWritable = true;
    if (writable) this.writeLen += len; else this.readLen += len;
    if (len === 0) return undefined;
    if (wraps(addr, len)) return { code: E.ERR_BUFFER_ADDRESS_OVERFLOW, detail: where };
    const t = translatePieces(this.ctx.regions, addr, len, writable, this.room - this.segments.length);
    if ('fault' in t) {
      return { code: t.fault === 'segments-full' ? E.ERR_SEGMENTS_FULL : E.ERR_BUFFER_NOT_IN_REGIONS, detail: where };
    }
    this.segments.push(...t.pieces);
    return undefined;
  }
}

/**
 * Reads the list whose first descriptor, at `start`, the caller saw available. `room` is how many
 * segments the caller can still take. The chain's id is the buffer id, descs the ring slots used.
 */
export function walkList(ctx: WalkContext, start: RingPosition, room: number): Walk {
  const q = ctx.ring.size;
  const buffers = new ListBuffers(ctx, room, start.slot);
  let pos = start;
  let descs = 0;
  let id = 0;
  for (;;) {
    if (descs >= ctx.maxChain) return { code: E.ERR_CHAIN_TOO_LONG, detail: start.slot };
    const d = ctx.ring.readDesc(pos.slot);
    if (descs > 0 && !isAvailable(d.flags, pos.wrapCounter)) return { code: E.ERR_PACKED_DESC_NOT_AVAILABLE, detail: pos.slot };
    descs++;
    id = d.id;
    if ((d.flags & P.PDESC_F_INDIRECT) !== 0) {
      const f = readTable(ctx, d, pos.slot, descs, buffers);
      if (f !== undefined) return f;
      break;
    }
    const f = buffers.add(d.addr, d.len, (d.flags & P.PDESC_F_WRITE) !== 0, pos.slot);
    if (f !== undefined) return f;
    if ((d.flags & P.PDESC_F_NEXT) === 0) break;
    pos = advance(pos, 1, q);
  }
  const segments = buffers.segments;
  const nRead = segments.filter((s) => !s.writable).length;
  const nWrite = segments.length - nRead;
  if (nRead > 0xffff || nWrite > 0xffff) return { code: E.ERR_CHAIN_TOO_LONG, detail: start.slot };
  return { chain: { id, segments, nRead, nWrite, readLen: buffers.readLen, writeLen: buffers.writeLen, descs } };
}

/** The buffers of the indirect table descriptor `d` (at ring slot `slot`, the list's `nth` descriptor). */
function readTable(ctx: WalkContext, d: { addr: bigint; len: number; flags: number }, slot: number, nth: number, buffers: ListBuffers): Fault | undefined {
  const at = (code: number): Fault => ({ code, detail: slot });
  if (!ctx.indirectOk) return at(E.ERR_INDIRECT_NOT_NEGOTIATED);
  if ((d.flags & P.PDESC_F_NEXT) !== 0) return at(E.ERR_INDIRECT_WITH_NEXT);
  if (nth > 1) return at(E.ERR_INDIRECT_IN_LIST);
  if (d.len === 0 || d.len % P.PDESC_SIZE !== 0) return at(E.ERR_INDIRECT_BAD_LENGTH);
  if (wraps(d.addr, d.len)) return at(E.ERR_BUFFER_ADDRESS_OVERFLOW);
  const count = d.len / P.PDESC_SIZE;
  if (count > ctx.maxChain) return at(E.ERR_CHAIN_TOO_LONG);
  const table = translateWhole(ctx.regions, d.addr, BigInt(d.len));
  if (table === undefined) return at(E.ERR_BUFFER_NOT_IN_REGIONS);
  for (let j = 0; j < count; j++) {
    const e = ctx.ring.readDesc(j, table);
    if ((e.flags & P.PDESC_F_INDIRECT) !== 0) return { code: E.ERR_INDIRECT_NESTED, detail: j };
    const f = buffers.add(e.addr, e.len, (e.flags & P.PDESC_F_WRITE) !== 0, j);
    if (f !== undefined) return f;
  }
  return undefined;
}
