// Bursts of well-formed chains for the engine's driver to add (device-readable segments first,
// 2.7.4.2 / 2.8.17), over the world's buffer arena, and now and then a burst the driver must
// refuse whole (a chain longer than Queue Size, or of 2^32 bytes).
import type { Rng } from './harness.js';
import { ARENA_BYTES, MAX_ADD_CHAINS, MAX_ADD_SEGS, type RingWorld } from './ring-world.js';

export interface AddedChain {
  token: number;
  /** Segments (the driver's descriptors unless it uses an indirect table). */
  segs: number;
  /** Device-writable bytes: the most a used length may say. */
  writeLen: number;
  /** All its bytes (the driver refuses 2^32 or more, 2.7.5.2). */
  bytes: number;
}

export type BurstKind = 'ok' | 'overlong' | 'huge';

/** A segment length: mostly small, sometimes empty or large. */
function segLen(rng: Rng): number {
  switch (rng.below(8)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 2048;
    default: return 1 + rng.below(256);
  }
}

/**
 * Fills w.addBatch with 1..8 chains, tokens from `token` up. 'overlong' and 'huge' put one chain
 * in the burst that breaks the driver's rules (more segments than Queue Size; 2^32 bytes).
 */
export function fillAddBatch(w: RingWorld, rng: Rng, token: number, kind: BurstKind = 'ok'): AddedChain[] {
  const b = w.addBatch;
  b.clear();
  const chains: AddedChain[] = [];
  const n = 1 + (rng.chance(0.8) ? rng.below(4) : rng.below(MAX_ADD_CHAINS));
  const bad = kind === 'ok' ? -1 : rng.below(n);
  let segsLeft = MAX_ADD_SEGS;
  for (let i = 0; i < n; i++) {
    const huge = i === bad && kind === 'huge';
    const maxK = Math.min(w.q, segsLeft - (n - i - 1) - (huge ? 1 : 0), 8);
    let k = 1 + (rng.chance(0.7) ? rng.below(Math.min(maxK, 3)) : rng.below(maxK));
    if (i === bad && kind === 'overlong') k = Math.min(w.q + 1, segsLeft - (n - i - 1));
    if (k < 1) break;
    const nRead = rng.below(k + 1);
    b.begin(token + i);
    let writeLen = 0;
    let bytes = 0;
    for (let j = 0; j < k; j++) {
      const len = huge && j === 0 ? 0x8000_0000 : segLen(rng);
      bytes += len;
      const at = w.arena + rng.below(ARENA_BYTES - Math.min(len, ARENA_BYTES));
      if (j < nRead) {
        b.read(at, len);
      } else {
        b.write(at, len);
        writeLen += len;
      }
    }
    if (huge) {
      b.write(w.arena, 0x8000_0000);
      writeLen += 0x8000_0000;
      bytes += 0x8000_0000;
      k++;
    }
    b.end();
    chains.push({ token: token + i, segs: k, writeLen, bytes });
    segsLeft -= k;
  }
  return chains;
}
