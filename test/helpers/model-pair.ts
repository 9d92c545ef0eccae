// The engine (through its src/ handles) and the reference model (sim/reference) set up side by
// side over two memories with the same layout: every ring, indirect table and buffer sits at the
// same address in both, so their bytes can be compared directly.
import {
  createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, SplitDriver, SplitDevice, allocSplitRing,
  RING_FEATURES, type Engine, type SplitRingAddrs,
} from '../../src/index.js';
import { loadEngine } from '../../src/node.js';
import * as Q from '../../assembly/layout/queue.js';
import * as S from '../../assembly/layout/split.js';
import { splitAreaSizes } from '../../src/layout.js';
import { RawSplitRing } from '../../sim/raw-split.js';
import { RefSplitDriver, RefSplitDevice, type RefRegion } from '../../sim/reference/index.js';

export interface PairParams {
  queueSize: number;
  /** First avail.idx / used.idx of both sides. */
  startIdx: number;
  eventIdx: boolean;
  indirect: boolean;
  /** Descriptors per indirect table (the driver's area exists only with INDIRECT_DESC). */
  indirectMax: number;
  /** Driver wants used buffer notifications from the start. */
  interrupts: boolean;
  /** Device wants kicks from the start. */
  notify: boolean;
  /** Where the buffer arena is cut into separate (identity) regions, as fractions of its size. */
  cuts: number[];
  /** Device's longest chain in descriptors (0: Queue Size). Below the driver's chains only for hostile runs. */
  maxChain?: number;
  /** VIRTIO_F_IN_ORDER (2.7.9) on both sides (default off). */
  inOrder?: boolean;
}

/** Every chain gets its own slot of the buffer arena: segment j at slot + j * SEG_STRIDE. */
export const MAX_CHAIN_SEGS = 9;
export const SEG_STRIDE = 128;
export const SLOT_SIZE = MAX_CHAIN_SEGS * SEG_STRIDE;
/** Segment capacities of the device's pop batches (a pop command picks one). */
export const POP_SEG_ROOM = [1, 3, 8, 4096] as const;

export interface ModelPair {
  params: PairParams;
  engine: Engine;
  ring: SplitRingAddrs;
  driver: SplitDriver;
  device: SplitDevice;
  refDriver: RefSplitDriver;
  refDevice: RefSplitDevice;
  /** Raw views of the ring in each memory (for tampering and for reading descriptors). */
  engineRaw: RawSplitRing;
  refRaw: RawSplitRing;
  engineBytes: Uint8Array;
  refBytes: Uint8Array;
  indirectBase: number;
  indirectMax: number;
  /** The regions both devices translate through (indirect area + arena pieces). */
  regions: RefRegion[];
  arena: number;
  slots: number;
  addBatch: ChainBatch;
  popBatches: ChainBatch[];
  usedBatch: UsedBatch;
  collectBatch: UsedBatch;
}

const MEMORY_BYTES = 2 << 20;
export const MAX_ADD_BURST = 16;

export function features(p: Pick<PairParams, 'eventIdx' | 'indirect' | 'inOrder'>): bigint {
  return (p.eventIdx ? RING_FEATURES.EVENT_IDX : 0n) | (p.indirect ? RING_FEATURES.INDIRECT_DESC : 0n)
    | (p.inOrder ? RING_FEATURES.VERSION_1 | RING_FEATURES.IN_ORDER : 0n);
}

export function modelPair(params: PairParams): ModelPair {
  const q = params.queueSize;
  const feats = features(params);
  const memory = createSharedMemory(MEMORY_BYTES);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const ring = allocSplitRing(plan, q);
  const driver = new SplitDriver(engine, plan, ring, {
    features: feats, indirectMax: params.indirectMax, startIdx: params.startIdx, interrupts: params.interrupts,
  });
  const indirectBase = engine.u32[(driver.cb + Q.DRV_INDIRECT) >>> 2];
  const indirectMax = indirectBase !== 0 ? engine.u32[(driver.cb + Q.DRV_INDIRECT_MAX) >>> 2] : 0;

  // In flight at once: at most q chains, plus one burst being added.
  const slots = q + MAX_ADD_BURST;
  const arena = plan.alloc(slots * SLOT_SIZE, 4096, 'buffer arena');
  const regions: RefRegion[] = [];
  if (indirectBase !== 0) {
    const size = q * indirectMax * S.DESC_SIZE;
    regions.push({ gpa: BigInt(indirectBase), size: BigInt(size), offset: indirectBase });
  }
  const arenaEnd = arena + slots * SLOT_SIZE;
  const cuts = [...new Set(params.cuts.map((f) => arena + Math.floor(f * slots * SLOT_SIZE)))]
    .filter((c) => c > arena && c < arenaEnd).sort((a, b) => a - b);
  let from = arena;
  for (const to of [...cuts, arenaEnd]) {
    regions.push({ gpa: BigInt(from), size: BigInt(to - from), offset: from });
    from = to;
  }

  const device = new SplitDevice(engine, plan, ring, {
    features: feats, startIdx: params.startIdx, notify: params.notify, regions, maxChain: params.maxChain,
  });
  const maxChains = q + 1;
  const pair = {
    addBatch: new ChainBatch(engine, plan, MAX_ADD_BURST, MAX_ADD_BURST * MAX_CHAIN_SEGS),
    popBatches: POP_SEG_ROOM.map((room) => new ChainBatch(engine, plan, maxChains, room)),
    usedBatch: new UsedBatch(engine, plan, q + 8),
    collectBatch: new UsedBatch(engine, plan, maxChains),
  };

  // The reference gets its own memory, zeroed like the planned areas, same addresses.
  const refBuffer = new ArrayBuffer(memory.buffer.byteLength);
  const refView = new DataView(refBuffer);
  const refDriver = new RefSplitDriver(refView, {
    ring, features: feats, indirect: { base: indirectBase, max: indirectMax },
    startIdx: params.startIdx, interrupts: params.interrupts,
  });
  const refDevice = new RefSplitDevice(refView, {
    ring, features: feats, regions, startIdx: params.startIdx, notify: params.notify, maxChain: params.maxChain,
  });

  return {
    params, engine, ring, driver, device, refDriver, refDevice,
    engineRaw: new RawSplitRing(engine.view, ring),
    refRaw: new RawSplitRing(refView, ring),
    engineBytes: engine.u8,
    refBytes: new Uint8Array(refBuffer),
    indirectBase, indirectMax, regions, arena, slots, ...pair,
  };
}

/** The memory areas the two sides must agree on byte for byte. */
export function comparedAreas(p: ModelPair): { name: string; at: number; size: number }[] {
  const sizes = splitAreaSizes(p.ring.queueSize);
  const areas = [
    { name: 'descriptor table', at: p.ring.desc, size: sizes.desc },
    { name: 'available ring', at: p.ring.avail, size: sizes.avail },
    { name: 'used ring', at: p.ring.used, size: sizes.used },
  ];
  if (p.indirectBase !== 0) {
    areas.push({ name: 'indirect tables', at: p.indirectBase, size: p.ring.queueSize * p.indirectMax * S.DESC_SIZE });
  }
  return areas;
}

/** First difference between engine and reference memory in [at, at + size), or undefined. */
export function firstDifference(p: ModelPair, at: number, size: number): number | undefined {
  const a = p.engineBytes.subarray(at, at + size);
  const b = p.refBytes.subarray(at, at + size);
  if (Buffer.compare(a, b) === 0) return undefined;
  for (let i = 0; i < size; i++) if (a[i] !== b[i]) return at + i;
  return undefined;
}

/** Throws, naming the area and offset, when the rings or indirect tables differ. */
export function assertSameRingBytes(p: ModelPair): void {
  for (const area of comparedAreas(p)) {
    const at = firstDifference(p, area.at, area.size);
    if (at !== undefined) {
      throw new Error(`${area.name} differs at +${at - area.at} (engine ${p.engineBytes[at]}, reference ${p.refBytes[at]})`);
    }
  }
}

/** Writes `bytes` at `offset` in both memories (what a buffer's owner would write). */
export function writeBoth(p: ModelPair, offset: number, bytes: Uint8Array): void {
  p.engineBytes.set(bytes, offset);
  p.refBytes.set(bytes, offset);
}
