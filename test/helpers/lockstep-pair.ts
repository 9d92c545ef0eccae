// The engine (through its src/ handles) and the reference model (sim/reference) set up side by
// side over two memories with the same layout: every ring area, indirect table and buffer sits at
// the same address in both, so their bytes can be compared directly. The layout adapter builds
// the ring and the handles; the buffer arena, its regions and the batches are the same for both.
import { createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, RING_FEATURES } from '../../src/index.js';
import { loadEngine } from '../../src/node.js';
import type { RefRegion } from '../../sim/reference/index.js';
import type { Area, Layout, LayoutTypes, ModelPair } from './lockstep-layout.js';

/** Every chain gets its own slot of the buffer arena: segment j at slot + j * SEG_STRIDE. */
export const MAX_CHAIN_SEGS = 9;
export const SEG_STRIDE = 128;
export const SLOT_SIZE = MAX_CHAIN_SEGS * SEG_STRIDE;
/** Segment capacities of the device's pop batches (a pop command picks one). */
export const POP_SEG_ROOM = [1, 3, 8, 4096] as const;
export const MAX_ADD_BURST = 16;
const MEMORY_BYTES = 2 << 20;

/** The feature bits both layouts draw. */
export const commonFeatures = (p: { eventIdx: boolean; indirect: boolean }): bigint =>
  (p.eventIdx ? RING_FEATURES.EVENT_IDX : 0n) | (p.indirect ? RING_FEATURES.INDIRECT_DESC : 0n);

export function openPair<T extends LayoutTypes>(layout: Layout<T>, params: T['params']): ModelPair<T> {
  const q = params.queueSize;
  const feats = layout.features(params);
  const memory = createSharedMemory(MEMORY_BYTES);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const { ring, driver } = layout.driver(engine, plan, params, feats);
  const indirectBase = engine.u32[(driver.cb + layout.indirectFields.base) >>> 2];
  const indirectMax = indirectBase !== 0 ? engine.u32[(driver.cb + layout.indirectFields.max) >>> 2] : 0;

  // In flight at once: at most q chains, plus one burst being added.
  const slots = q + MAX_ADD_BURST;
  const arena = plan.alloc(slots * SLOT_SIZE, 4096, 'buffer arena');
  const regions: RefRegion[] = [];
  if (indirectBase !== 0) {
    regions.push({ gpa: BigInt(indirectBase), size: BigInt(q * indirectMax * layout.descSize), offset: indirectBase });
  }
  const arenaEnd = arena + slots * SLOT_SIZE;
  const cuts = [...new Set(params.cuts.map((f) => arena + Math.floor(f * slots * SLOT_SIZE)))]
    .filter((c) => c > arena && c < arenaEnd).sort((a, b) => a - b);
  let from = arena;
  for (const to of [...cuts, arenaEnd]) {
    regions.push({ gpa: BigInt(from), size: BigInt(to - from), offset: from });
    from = to;
  }

  const device = layout.device(engine, plan, ring, params, feats, regions);
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
  const ref = layout.reference(refView, ring, params, feats, { base: indirectBase, max: indirectMax }, regions);
  return {
    params, engine, ring, driver, device, ...ref,
    engineRaw: layout.raw(engine.view, ring),
    refRaw: layout.raw(refView, ring),
    engineBytes: engine.u8,
    refBytes: new Uint8Array(refBuffer),
    indirectBase, indirectMax, regions, arena, slots, ...batches,
  };
}

/** The ring's areas and the indirect tables: what the two sides must agree on byte for byte. */
export function comparedAreas<T extends LayoutTypes>(layout: Layout<T>, p: ModelPair<T>): Area[] {
  const areas = layout.areas(p);
  if (p.indirectBase !== 0) {
    areas.push({ name: 'indirect tables', at: p.indirectBase, size: p.ring.queueSize * p.indirectMax * layout.descSize });
  }
  return areas;
}

/** Throws, naming the area and offset, where engine and reference memory differ. */
export function assertSameBytes(p: ModelPair, areas: readonly Area[]): void {
  for (const area of areas) {
    const a = p.engineBytes.subarray(area.at, area.at + area.size);
    const b = p.refBytes.subarray(area.at, area.at + area.size);
    if (Buffer.compare(a, b) === 0) continue;
    let i = 0;
    while (a[i] === b[i]) i++;
    throw new Error(`${area.name} differs at +${i} (engine ${a[i]}, reference ${b[i]})`);
  }
}

/** Writes `bytes` at `offset` in both memories (what a buffer's owner would write). */
export function writeBoth(p: ModelPair, offset: number, bytes: Uint8Array): void {
  p.engineBytes.set(bytes, offset);
  p.refBytes.set(bytes, offset);
}
