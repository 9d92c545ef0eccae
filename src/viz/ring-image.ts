// A ring image: the bytes the snapshot readers read (split-snapshot.ts, packed-snapshot.ts), cut
// out of the shared memory as a few segments, so that the picture is drawn where it is looked at.
// The live stream (stream.ts) sends images, not snapshots: the dataplane's process only copies
// bytes (a few KiB a queue, no walk, no object per entry), and the page (or any viewer) runs the
// same readers over the image (snapshotImage). Browser-safe.
//
// Per queue the segments are, each only when it is inside the memory:
//   - the ring areas: split, the descriptor table and the available and used rings (2.7);
//     packed, the descriptor ring and the two event suppression structures (2.8);
//   - each control block present (QUEUE_CB_SIZE bytes) and the private arrays its fields point
//     at: the driver's per-descriptor shadow, the device's per-head shadow, and the packed in-order
//     driver's FIFO of buffer ids.
// What the readers read is all in there; test/viz-snapshot.test.ts checks that a snapshot of
// the image equals one of the memory, for both layouts, both sides, in order or not.
//
// The segments are read while the workers run, by a plain copy (the base64 encoder), not the
// atomic loads the readers use over live memory: a 16- or 32-bit field being written may come
// out torn, and the readers check it like any other racing value (an anomaly for that frame).
import * as Q from '../../assembly/layout/queue.js';
import * as P from '../../assembly/layout/packed.js';
import { splitAreaSizes } from '../virtqueue/layout.js';
import type { Engine } from '../engine.js';
import { RacingMemory, field, type MemoryWindow } from './racing-memory.js';
import { snapshotQueue, type PoolSnapshot, type QueueSource, type Snapshot, type SnapshotOptions, SNAPSHOT_VERSION } from './snapshot.js';

/** Wasm32: no address of the memory is 2^32 or more. */
const MEMORY_LIMIT = 2 ** 32;

/** Bytes at `addr` of the memory. */
export interface ImageSegment { addr: number; bytes: Uint8Array }

export interface RingImage {
  /** Where each queue lives (the memory's addresses, which the segments keep). */
  queues: QueueSource[];
  /** Pools are read where the memory is (a few counters; Mempool's own reader). */
  pools: PoolSnapshot[];
  /** Sorted by address and apart. */
  segments: ImageSegment[];
}

interface Range { addr: number; size: number }

/** The shadow arrays a control block of `kind` points at: [field, entry size] pairs. */
const PRIVATE_ARRAYS: Record<number, readonly (readonly [number, number])[]> = {
  [Q.CB_KIND_SPLIT_DRIVER]: [[Q.SDRV_SHADOW, Q.SHADOW_SIZE]],
  [Q.CB_KIND_SPLIT_DEVICE]: [[Q.SDEV_SHADOW, Q.DSHADOW_SIZE]],
  [Q.CB_KIND_PACKED_DRIVER]: [[Q.PDRV_SHADOW, Q.SHADOW_SIZE], [Q.PDRV_ORDER, 2]],
  [Q.CB_KIND_PACKED_DEVICE]: [[Q.PDEV_SHADOW, Q.DSHADOW_SIZE]],
};

/** The ranges a queue's snapshot reads, those inside the memory. */
function queueRanges(m: RacingMemory, src: QueueSource): Range[] {
  const q = src.areas.queueSize;
  const a = src.areas;
  const out: Range[] = [];
  if (src.layout === 'split') {
    const s = splitAreaSizes(q);
    out.push({ addr: a.desc, size: s.desc }, { addr: a.driver, size: s.avail }, { addr: a.device, size: s.used });
  } else {
    out.push({ addr: a.desc, size: q * P.PDESC_SIZE }, { addr: a.driver, size: P.EVENT_SIZE }, { addr: a.device, size: P.EVENT_SIZE });
  }
  for (const cb of [src.driverCb, src.deviceCb]) {
    if (!cb || cb % Q.QUEUE_CB_ALIGN !== 0 || !m.has(cb, Q.QUEUE_CB_SIZE)) continue;
    out.push({ addr: cb, size: Q.QUEUE_CB_SIZE });
    for (const [f, size] of PRIVATE_ARRAYS[field(m, cb, Q.CB_KIND)] ?? []) out.push({ addr: field(m, cb, f), size: q * size });
  }
  return out.filter((r) => Number.isSafeInteger(r.size) && r.size > 0 && m.has(r.addr, r.size));
}

/** Sorted, with ranges that overlap or touch made one. */
function merged(ranges: Range[]): Range[] {
  const out: Range[] = [];
  for (const r of [...ranges].sort((x, y) => x.addr - y.addr)) {
    const last = out.at(-1);
    if (last && r.addr <= last.addr + last.size) last.size = Math.max(last.size, r.addr + r.size - last.addr);
    else out.push({ ...r });
  }
  return out;
}

/**
 * The image of `queues` in `engine`'s memory, with `pools` already read. Its segments are views
 * of the live memory (no copy): encode or copy them before the workers move on.
 */
export function captureImage(engine: Engine, queues: readonly QueueSource[], pools: PoolSnapshot[] = []): RingImage {
  const m = new RacingMemory(engine);
  const ranges = merged(queues.flatMap((q) => queueRanges(m, q)));
  return {
    queues: queues.map((q) => ({ ...q, areas: { ...q.areas } })),
    pools,
    segments: ranges.map((r) => ({ addr: r.addr, bytes: engine.u8.subarray(r.addr, r.addr + r.size) })),
  };
}

/**
 * A RacingMemory over the image's segments (copied into one buffer, each at its address's
 * alignment modulo 8). Throws a TypeError naming a segment that is not sorted, apart and whole.
 */
export function imageMemory(segments: readonly ImageSegment[]): RacingMemory {
  const windows: MemoryWindow[] = [];
  let at = 0;
  let end = 0;
  for (const [i, s] of segments.entries()) {
    if (!Number.isSafeInteger(s.addr) || s.addr <= 0 || !(s.bytes instanceof Uint8Array) || s.bytes.length === 0) {
      throw new TypeError(`ring image: segment ${i} is not a positive address with some bytes`);
    }
    if (s.addr + s.bytes.length > MEMORY_LIMIT) throw new TypeError(`ring image: segment ${i} at ${s.addr} ends past 4 GiB, the most a Wasm32 memory has`);
    if (s.addr < end) throw new TypeError(`ring image: segment ${i} at ${s.addr} overlaps or precedes the one before (which ends at ${end})`);
    end = s.addr + s.bytes.length;
    at += (s.addr - at) & 7; // at ≡ addr (mod 8)
    windows.push({ addr: s.addr, size: s.bytes.length, at });
    at += s.bytes.length;
  }
  const buf = new ArrayBuffer((at + 7) & ~7);
  const u8 = new Uint8Array(buf);
  segments.forEach((s, i) => u8.set(s.bytes, windows[i].at));
  return new RacingMemory({ view: new DataView(buf), u16: new Uint16Array(buf), u32: new Uint32Array(buf) }, windows);
}

/** The snapshot of an image: the same readers, over its bytes. */
export function snapshotImage(image: RingImage, opts: SnapshotOptions = {}): Snapshot {
  const m = imageMemory(image.segments);
  return { version: SNAPSHOT_VERSION, queues: image.queues.map((q) => snapshotQueue(m, q, opts)), pools: image.pools };
}
