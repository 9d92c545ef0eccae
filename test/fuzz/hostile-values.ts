// Values a hostile peer writes into ring fields, biased to the edges the engine must check:
// guest addresses at and across region borders, around 2^64, outside every region; lengths 0,
// 1, 16-multiples and not, up to 2^32 - 1; 16-bit indices and ids at and past Queue Size.
import type { Rng } from './harness.js';
import { ALIAS_GPA, ARENA_BYTES, SIDE_REGION_BYTES, TOP_GPA, type RingWorld } from './ring-world.js';

const U64 = (1n << 64n) - 1n;

/**
 * One hostile write; returns what it wrote: its kind (a fuzz feature), then details in
 * parentheses for the trace.
 */
export type HostileAct = (rng: Rng) => string;

/** The kind of a hostile act's label (the text before its details). */
export const actKind = (label: string): string => {
  const i = label.indexOf('(');
  return i < 0 ? label : label.slice(0, i);
};

/** A descriptor for a trace line: address (hex), length, flags (hex), then next or id. */
export const fmtDesc = (d: { addr: bigint; len: number; flags: number; next?: number; id?: number }): string =>
  `0x${d.addr.toString(16)}+${d.len} f${d.flags.toString(16)}${d.next !== undefined ? ` n${d.next}` : ''}${d.id !== undefined ? ` id${d.id}` : ''}`;

/** A guest address for a buffer or table of `len` bytes. */
export function hostileAddr(w: RingWorld, rng: Rng, len: number): bigint {
  const room = Math.max(ARENA_BYTES - len, 0);
  switch (rng.below(12)) {
    case 0: case 1: case 2: case 3:
      return BigInt(w.arena + rng.below(room + 1)); // inside the arena (may cross a cut)
    case 4: return regionEdge(w, rng, len);
    case 5:
      return w.indirectBase !== 0 ? BigInt(w.indirectBase + 16 * rng.below(w.indirectBytes / 16)) : BigInt(w.arena);
    case 6: return ALIAS_GPA + BigInt(rng.below(SIDE_REGION_BYTES + 64));
    case 7: return TOP_GPA + BigInt(rng.below(SIDE_REGION_BYTES)); // the region ending at 2^64
    case 8: return U64 - BigInt(rng.below(64)); // runs past 2^64
    case 9: return BigInt(rng.pick([0, 0x100, w.desc, w.driverArea, w.deviceArea, w.device.cb])); // not guest buffer memory
    case 10: return BigInt(w.arenaEnd - rng.below(64)); // off the end of the arena
    default: return (BigInt(rng.u32()) << 32n) | BigInt(rng.u32());
  }
}

/**
 * An address for `len` bytes at the edge of a region: ending one byte short of, at, or one or
 * two bytes past its end, or starting at or just before its start.
 */
export function regionEdge(w: RingWorld, rng: Rng, len: number): bigint {
  const r = w.regions[rng.below(w.regions.length)]!;
  const end = r.gpa + r.size - BigInt(len) + BigInt(rng.pick([-1, 0, 0, 1, 1, 2]));
  return (rng.chance(0.75) ? end : r.gpa - BigInt(rng.below(2))) & U64;
}

/** A buffer length. */
export function hostileLen(rng: Rng): number {
  switch (rng.below(12)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 16 * (1 + rng.below(4));
    case 3: return 17;
    case 4: return ARENA_BYTES;
    case 5: return rng.pick([0x7fff_ffff, 0xffff_ffff, 0xffff_fff0, 0x8000_0000]);
    case 6: return rng.edgy(32);
    default: return 1 + rng.below(256);
  }
}

/** An index of a descriptor table of `n` entries: mostly inside, sometimes at or past the end. */
export function hostileIndex(rng: Rng, n: number): number {
  if (rng.chance(0.8)) return rng.below(n);
  return rng.pick([n, n + 1, 0xffff, 0x8000, rng.edgy(16)]);
}

/** Descriptor flags: mostly NEXT / WRITE / INDIRECT mixes, sometimes any 16 bits. */
export function hostileFlags(rng: Rng): number {
  return rng.chance(0.8) ? rng.below(8) : rng.edgy(16);
}

/** A random byte, 16-bit or 32-bit value written at a random place of one of `ranges`. */
export function scribble(w: RingWorld, rng: Rng, ranges: readonly (readonly [number, number])[]): string {
  const [a, b] = ranges[rng.below(ranges.length)]!;
  const size = rng.pick([1, 2, 4]);
  if (b - a < size) return 'scribble';
  const at = a + rng.below(b - a - size + 1);
  const v = w.engine.view;
  const x = size === 1 ? rng.u32() & 0xff : rng.edgy(size * 8);
  if (size === 1) v.setUint8(at, x);
  else if (size === 2) v.setUint16(at, x, true);
  else v.setUint32(at, x, true);
  return `scribble(${size} bytes at ${at} = 0x${x.toString(16)})`;
}
