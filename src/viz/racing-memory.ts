// Reading memory that other threads are writing, for the visualizer: every read is bounds-checked
// (an address from a torn or hostile value never throws), nothing is ever written, and the
// published fields (ring indices, packed flags) are read with atomic loads so a value is whole
// (over live memory; a ring image's bytes were copied, and a field may have been torn then).
import * as Q from '../../assembly/layout/queue.js';
import { ERRORS } from '../errors.js';
import type { Engine } from '../engine.js';
import type { QueueSource, SideStatus } from './snapshot.js';

/**
 * Where a range of the memory's addresses is held: the live memory is one window from 0 at 0; a
 * ring image (ring-image.ts) is a few windows, each its segment's bytes at `at` in the image.
 */
export interface MemoryWindow { addr: number; size: number; at: number }

export class RacingMemory {
  /** One past the highest address held. */
  readonly bytes: number;
  private readonly view: DataView;
  private readonly u16a: Uint16Array;
  private readonly u32a: Uint32Array;
  private readonly windows: readonly MemoryWindow[];
  /** The window the last read found (reads come in runs within one area). */
  private last: MemoryWindow;

  /**
   * Over `engine`'s memory as it is (no `windows`), or over an image of some of its addresses:
   * `windows` place them in the image (sorted by addr, apart, each `at` as aligned as its `addr`
   * modulo 8, so published fields stay aligned for atomic loads).
   */
  constructor(engine: Pick<Engine, 'view' | 'u16' | 'u32'>, windows?: readonly MemoryWindow[]) {
    this.view = engine.view;
    this.u16a = engine.u16;
    this.u32a = engine.u32;
    this.windows = windows ?? [{ addr: 0, size: engine.view.byteLength, at: 0 }];
    this.last = this.windows[0] ?? { addr: 0, size: 0, at: 0 };
    const top = this.windows.at(-1);
    this.bytes = top ? top.addr + top.size : 0;
  }

  /** The window holding all of [addr, addr + size), or undefined. */
  private find(addr: number, size: number): MemoryWindow | undefined {
    const l = this.last;
    if (addr >= l.addr && addr + size <= l.addr + l.size) return l;
    // The last window starting at or below addr (they are sorted and apart).
    let lo = 0;
    let hi = this.windows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.windows[mid].addr <= addr) lo = mid;
      else hi = mid - 1;
    }
    const w = this.windows[lo];
    return w !== undefined && addr >= w.addr && addr + size <= w.addr + w.size ? (this.last = w) : undefined;
  }

  /** Where the `size` bytes at addr are in the view; a read outside what is held is a reader's bug (RangeError). */
  private at(addr: number, size: number): number {
    const w = this.find(addr, size);
    if (w === undefined) throw new RangeError(`the snapshot reader read ${size} bytes at ${addr}, which this memory does not hold`);
    return addr - w.addr + w.at;
  }

  /** [addr, addr + size) is held (and addr is not 0: page 0 is never planned). */
  has(addr: number, size: number): boolean {
    return Number.isInteger(addr) && addr > 0 && size >= 0 && this.find(addr, size) !== undefined;
  }

  u16(addr: number): number { return this.view.getUint16(this.at(addr, 2), true); }
  u32(addr: number): number { return this.view.getUint32(this.at(addr, 4), true); }
  /** A 64-bit field as hex ('0x1000'). */
  hex64(addr: number): string {
    const at = this.at(addr, 8);
    const lo = this.view.getUint32(at, true);
    const hi = this.view.getUint32(at + 4, true);
    return hi === 0 ? `0x${lo.toString(16)}` : `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`;
  }
  /** A published 16-bit field (2-aligned), read whole. */
  load16(addr: number): number { return Atomics.load(this.u16a, this.at(addr, 2) >>> 1); }
  /** A published 32-bit field (4-aligned), read whole. */
  load32(addr: number): number { return Atomics.load(this.u32a, this.at(addr, 4) >>> 2); }
}

/** A control block field (4-aligned words). */
export const field = (m: RacingMemory, cb: number, f: number): number => m.load32(cb + f);

/**
 * The side's common header, or null when `cb` is absent, or is not a control block of `kind` for
 * this ring (noted in `anomalies`).
 */
export function sideStatus(m: RacingMemory, cb: number | undefined, kind: number, src: QueueSource, label: string, anomalies: string[]): SideStatus | null {
  if (!cb) return null;
  if (cb % Q.QUEUE_CB_ALIGN !== 0 || !m.has(cb, Q.QUEUE_CB_SIZE)) {
    anomalies.push(`${label} control block at ${cb} is outside the memory or misaligned`);
    return null;
  }
  const k = field(m, cb, Q.CB_KIND);
  if (k !== kind || field(m, cb, Q.CB_QUEUE_SIZE) !== src.areas.queueSize || field(m, cb, Q.CB_DESC) !== src.areas.desc) {
    anomalies.push(`${label} control block at ${cb} is not this ring's (kind 0x${k.toString(16)}, queue size ${field(m, cb, Q.CB_QUEUE_SIZE)})`);
    return null;
  }
  const status = m.load32(cb + Q.CB_STATUS) | 0;
  const info = status === 0 ? undefined : ERRORS.get(status);
  const packed = kind === Q.CB_KIND_PACKED_DRIVER || kind === Q.CB_KIND_PACKED_DEVICE;
  return {
    cb,
    status,
    detail: field(m, cb, Q.CB_DETAIL),
    error: status === 0 ? null : info?.name ?? `code ${status}`,
    section: status === 0 ? null : (packed ? info?.packedSection ?? info?.section : info?.section) ?? '',
    notify: (field(m, cb, Q.CB_OPTIONS) & Q.CB_OPT_NOTIFY) !== 0,
  };
}

/** Negotiated features (hex) from the first side present. */
export function featuresOf(m: RacingMemory, ...sides: (SideStatus | null)[]): string | null {
  const s = sides.find((x) => x !== null);
  if (!s) return null;
  const v = (BigInt(field(m, s.cb, Q.CB_FEATURES_HI)) << 32n) | BigInt(field(m, s.cb, Q.CB_FEATURES_LO));
  return `0x${v.toString(16)}`;
}

/** Whether a side's negotiated features hold feature bit `bit` (layout/features.ts F_*). */
export const hasFeature = (m: RacingMemory, side: SideStatus, bit: number): boolean =>
  ((field(m, side.cb, bit < 32 ? Q.CB_FEATURES_LO : Q.CB_FEATURES_HI) >>> (bit % 32)) & 1) === 1;

/** A private per-entry array of a side (shadow) of `n` entries of `size` bytes, or 0 when it is not all in memory. */
export function privateArray(m: RacingMemory, addr: number, n: number, size: number, label: string, anomalies: string[]): number {
  if (m.has(addr, n * size)) return addr;
  anomalies.push(`${label} at ${addr} is outside the memory`);
  return 0;
}
