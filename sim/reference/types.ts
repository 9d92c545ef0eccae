// Plain-object shapes the reference model speaks in. They carry the same information as the
// engine's burst records (assembly/layout/batch.ts), without the packing.

/** A buffer of a chain: `len` bytes at `offset` (a Wasm offset, which the driver uses as its guest address). */
export interface RefSegment {
  offset: number;
  len: number;
  /** Device-writable (DESC_F_WRITE) rather than device-readable. */
  writable: boolean;
}

/** What a driver makes available: the caller's token and the chain's buffers, readable ones first (2.7.4.2). */
export interface RefChain {
  id: number;
  segments: RefSegment[];
}

/** A chain as the device pops it: the head id to return, and its buffers translated to Wasm offsets. */
export interface RefPoppedChain {
  /** Head descriptor index (what the used element must name, 2.7.8). */
  id: number;
  /** Translated pieces in chain order; a buffer crossing a region boundary gives several. */
  segments: RefSegment[];
  nRead: number;
  nWrite: number;
  readLen: number;
  writeLen: number;
  /** Descriptors of the ring's own table the chain occupied (the INDIRECT one counts, its table does not). */
  descs: number;
}

/** A used element: head id (device side) or caller's token (driver side), and bytes written. */
export interface RefUsed {
  id: number;
  len: number;
}

/**
 * Result of a burst call. `rc` is what the engine export would return: the number of items
 * (>= 0), or an error code from assembly/layout/errors.ts (< 0) with no items.
 */
export interface RefBurst<T> {
  rc: number;
  items: T[];
}

/** Guest address range [gpa, gpa + size) that sits at Wasm offset `offset` (device side). */
export interface RefRegion {
  gpa: bigint;
  size: bigint;
  offset: number;
}
