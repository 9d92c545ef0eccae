// The packed engine (through its src/ handles) and the packed reference model set up side by side
// over two memories with the same layout: the descriptor ring, both event suppression structures,
// the indirect tables and every buffer sit at the same address in both, so their bytes can be
// compared directly. The packed counterpart of model-pair.ts (same buffer arena and batches).
import {
  createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, RING_FEATURES, type Engine,
} from '../../src/index.js';
import { PackedDriver, PackedDevice, allocPackedRing } from '../../src/packed.js';
import type { RingAreas } from '../../src/queue-side.js';
import { loadEngine } from '../../src/node.js';
import * as Q from '../../assembly/layout/queue.js';
import * as P from '../../assembly/layout/packed.js';
import { RawPackedRing } from '../../sim/raw-packed.js';
import { RefPackedDriver, RefPackedDevice, type RefRegion } from '../../sim/reference/index.js';
import { MAX_ADD_BURST, MAX_CHAIN_SEGS, POP_SEG_ROOM, SLOT_SIZE } from './model-pair.js';

export interface PackedParams {
  /** Any size from 1 to 32768 (packed rings need not be powers of two). */
  queueSize: number;
  eventIdx: boolean;
  indirect: boolean;
  inOrder: boolean;
  /** Descriptors per indirect table (the driver's area exists only with INDIRECT_DESC). */
  indirectMax: number;
  /** Driver wants used buffer notifications from the start. */
  interrupts: boolean;
  /** Device wants kicks from the start. */
  notify: boolean;
  /** Where the buffer arena is cut into separate (identity) regions, as fractions of its size. */
  cuts: number[];
  /** Device's longest list in descriptors (0: Queue Size). Below the driver's lists only for hostile runs. */
  maxChain?: number;
}

export interface PackedPair {
  params: PackedParams;
  engine: Engine;
  ring: RingAreas;
  driver: PackedDriver;
  device: PackedDevice;
  refDriver: RefPackedDriver;
  refDevice: RefPackedDevice;
  /** Raw views of the ring in each memory (for tampering and for reading descriptors). */
  engineRaw: RawPackedRing;
  refRaw: RawPackedRing;
  engineBytes: Uint8Array;
  refBytes: Uint8Array;
  indirectBase: number;
  indirectMax: number;
  regions: RefRegion[];
  arena: number;
  slots: number;
  addBatch: ChainBatch;
  popBatches: ChainBatch[];
  usedBatch: UsedBatch;
  collectBatch: UsedBatch;
}

const MEMORY_BYTES = 2 << 20;

export function packedFeatures(p: Pick<PackedParams, 'eventIdx' | 'indirect' | 'inOrder'>): bigint {
  return (p.eventIdx ? RING_FEATURES.EVENT_IDX : 0n) | (p.indirect ? RING_FEATURES.INDIRECT_DESC : 0n)
    | (p.inOrder ? RING_FEATURES.IN_ORDER : 0n) | RING_FEATURES.RING_PACKED;
}

export function packedPair(params: PackedParams): PackedPair {
  const q = params.queueSize;
  const feats = packedFeatures(params);
  const memory = createSharedMemory(MEMORY_BYTES);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const ring = allocPackedRing(plan, q);
  const driver = new PackedDriver(engine, plan, ring, { features: feats, indirectMax: params.indirectMax, interrupts: params.interrupts });
  const indirectBase = engine.u32[(driver.cb + Q.PDRV_INDIRECT) >>> 2];
  const indirectMax = indirectBase !== 0 ? engine.u32[(driver.cb + Q.PDRV_INDIRECT_MAX) >>> 2] : 0;

  // In flight at once: at most q buffers, plus one burst being added.
  const slots = q + MAX_ADD_BURST;
  const arena = plan.alloc(slots * SLOT_SIZE, 4096, 'buffer arena');
  const regions: RefRegion[] = [];
  if (indirectBase !== 0) regions.push({ gpa: BigInt(indirectBase), size: BigInt(q * indirectMax * P.PDESC_SIZE), offset: indirectBase });
  const arenaEnd = arena + slots * SLOT_SIZE;
  const cuts = [...new Set(params.cuts.map((f) => arena + Math.floor(f * slots * SLOT_SIZE)))]
    .filter((c) => c > arena && c < arenaEnd).sort((a, b) => a - b);
  let from = arena;
  for (const to of [...cuts, arenaEnd]) {
    regions.push({ gpa: BigInt(from), size: BigInt(to - from), offset: from });
    from = to;
  }
  const device = new PackedDevice(engine, plan, ring, { features: feats, notify: params.notify, regions, maxChain: params.maxChain });
  const maxChains = q + 1;
  const batches = {
    addBatch: new ChainBatch(engine, plan, MAX_ADD_BURST, MAX_ADD_BURST * MAX_CHAIN_SEGS),
    popBatches: POP_SEG_ROOM.map((room) => new ChainBatch(engine, plan, maxChains, room)),
    usedBatch: new UsedBatch(engine, plan, q + 8),
    collectBatch: new UsedBatch(engine, plan, maxChains),
  };

  // The reference gets its own memory, zeroed like the planned areas, same addresses.
  const refBuffer = new ArrayBuffer(memory.buffer.byteLength);
  const refView = new DataView(refBuffer);
  const refDriver = new RefPackedDriver(refView, {
    ring, features: feats, indirect: { base: indirectBase, max: indirectMax }, interrupts: params.interrupts,
  });
  const refDevice = new RefPackedDevice(refView, { ring, features: feats, regions, notify: params.notify, maxChain: params.maxChain });

  return {
    params, engine, ring, driver, device, refDriver, refDevice,
    engineRaw: new RawPackedRing(engine.view, ring),
    refRaw: new RawPackedRing(refView, ring),
    engineBytes: engine.u8,
    refBytes: new Uint8Array(refBuffer),
    indirectBase, indirectMax, regions, arena, slots, ...batches,
  };
}

/** The device's wrap counters, which its handle does not report. */
export function deviceWrapCounters(p: PackedPair): { avail: number; used: number } {
  const u32 = p.engine.u32;
  return { avail: u32[(p.device.cb + Q.PDEV_AVAIL_WRAP) >>> 2], used: u32[(p.device.cb + Q.PDEV_USED_WRAP) >>> 2] };
}

/** The memory areas the two sides must agree on byte for byte. */
export function packedAreas(p: PackedPair): { name: string; at: number; size: number }[] {
  const q = p.ring.queueSize;
  const areas = [
    { name: 'descriptor ring', at: p.ring.desc, size: q * P.PDESC_SIZE },
    { name: 'driver event suppression', at: p.ring.driver, size: P.EVENT_SIZE },
    { name: 'device event suppression', at: p.ring.device, size: P.EVENT_SIZE },
  ];
  if (p.indirectBase !== 0) areas.push({ name: 'indirect tables', at: p.indirectBase, size: q * p.indirectMax * P.PDESC_SIZE });
  return areas;
}

/** Throws, naming the area and offset, when the rings or indirect tables differ. */
export function assertSamePackedBytes(p: PackedPair): void {
  for (const area of packedAreas(p)) {
    const a = p.engineBytes.subarray(area.at, area.at + area.size);
    const b = p.refBytes.subarray(area.at, area.at + area.size);
    if (Buffer.compare(a, b) === 0) continue;
    let i = 0;
    while (a[i] === b[i]) i++;
    throw new Error(`${area.name} differs at +${i} (engine ${a[i]}, reference ${b[i]})`);
  }
}

/** Writes `bytes` at `offset` in both memories (what a buffer's owner would write). */
export function writeBoth(p: PackedPair, offset: number, bytes: Uint8Array): void {
  p.engineBytes.set(bytes, offset);
  p.refBytes.set(bytes, offset);
}
