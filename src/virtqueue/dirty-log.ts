// Dirty-page logging as the host's device handles see it (vhost-user.rst "Migration"; the bits
// are assembly/layout/dirty-log.ts, the marking is the engine's, assembly/shared/dirty-log.ts):
// what a device is given to log into, and the log block the engine reads it from.
import * as L from '../../assembly/layout/dirty-log.js';
import type { Engine } from '../engine.js';

/** What a device logs into while the front-end migrates. */
export interface DirtyLogOptions {
  /** Wasm offset of the bitmap (one bit per 4096 bytes of guest physical addresses). */
  bitmap: number;
  /** Bytes of bitmap: no bit past them is ever set. */
  size: number;
  /** Split rings: the used ring's guest physical address (SET_VRING_ADDR's log address). */
  usedGpa: bigint;
}

/** Bytes and alignment of the log block a device reserves when it logs. */
export const LOG_BLOCK_SIZE = L.LOG_BLOCK_SIZE;
export const LOG_BLOCK_ALIGN = L.LOG_BLOCK_ALIGN;

/** Writes the log block at `at` (LOG_BLOCK_SIZE bytes). */
export function writeLogBlock(engine: Engine, at: number, o: DirtyLogOptions): void {
  if (!Number.isInteger(o.bitmap) || o.bitmap <= 0 || !Number.isInteger(o.size) || o.size <= 0 || o.size > 0xffff_ffff) {
    throw new RangeError(`dirty log: bitmap at ${o.bitmap} of ${o.size} bytes (needs a positive offset and 1 to 2^32 - 1 bytes)`);
  }
  const v = engine.view;
  v.setUint32(at + L.LOG_BITMAP, o.bitmap, true);
  v.setUint32(at + L.LOG_SIZE, o.size, true);
  v.setBigUint64(at + L.LOG_USED_GPA, BigInt.asUintN(64, o.usedGpa), true);
}
