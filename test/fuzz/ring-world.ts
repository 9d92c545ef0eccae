// The world every ring fuzz target runs in: one ring (split or packed) in a small fresh shared
// memory, the engine's driver and device over it, a buffer arena, the device's region table,
// burst batches and a memory guard. Run parameters (Queue Size, features, region cuts, start
// index ...) are drawn from the case's seed, so a case replays from its seed alone.
import {
  createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, RING_FEATURES, SplitDriver, SplitDevice,
  allocSplitRing, PackedDriver, PackedDevice, allocPackedRing, type Engine, type Region,
  type RingLayout, type RingAreas, type SplitRingAddrs, type FeatureSet,
} from '../../src/index.js';
import type { RingPosition } from '../../src/virtqueue/queue-side.js';
import { loadEngine } from '../../src/node.js';
import { splitAreaSizes } from '../../src/virtqueue/layout.js';
import { inflightRegionSize } from '../../src/virtqueue/inflight.js';
import * as I from '../../assembly/layout/inflight.js';
import type { DriverHandle, DeviceHandle } from '../../src/virtqueue/queue-handles.js';
import { RawSplitRing } from '../../sim/raw-split.js';
import { RawPackedRing } from '../../sim/raw-packed.js';
import * as Q from '../../assembly/layout/queue.js';
import * as S from '../../assembly/layout/split.js';
import * as P from '../../assembly/layout/packed.js';
import * as B from '../../assembly/layout/batch.js';
import type { Range } from '../helpers/memory-diff.js';
import { MemoryGuard } from './memory-guard.js';
import type { Rng } from './harness.js';

export interface WorldParams {
  layout: RingLayout;
  queueSize: number;
  indirect: boolean;
  inOrder: boolean;
  eventIdx: boolean;
  /** Descriptors per driver indirect table. */
  indirectMax: number;
  /** Longest chain the device accepts (0: Queue Size). */
  maxChain: number;
  notify: boolean;
  interrupts: boolean;
  /** Split: first avail.idx / used.idx of both sides (often just below the 16-bit wrap). */
  startIdx: number;
  /** Pieces the arena's region is cut into (a buffer across a cut becomes two segments). */
  cuts: number;
  /**
   * Where the device starts (vhost-user SET_VRING_BASE), when not where the driver does: split,
   * its first used.idx; packed, its slots and wrap counters.
   */
  deviceStart?: RingPosition;
  /**
   * No hostile peer at all in this case: the engine's driver and device keep every rule, so
   * neither side may ever find a fault (a break is a false alarm).
   */
  honest: boolean;
  /** The device keeps an inflight region (vhost-user.rst "Inflight I/O tracking"). */
  inflight: boolean;
  /**
   * The driver's address base (DRV_ADDR_BASE; the VFIO port's IOVA of Wasm offset 0): descriptors
   * carry Wasm offset + base, and the device's regions over the arena and the indirect tables lie
   * at base + offset. 0 unless drawn (the driver target draws it: drawAddressBase).
   */
  addressBase?: bigint;
}

/**
 * Address bases for the driver target: none, the VFIO port's default IOVA (2^32), one past the
 * alias region, and one whose memory ends just below the top region (every arena address above
 * 2^63: a base added as a signed or 32-bit number would show).
 */
export const ADDRESS_BASES = [0n, 1n << 32n, (1n << 40n) + 0x1000n, (1n << 64n) - (1n << 30n)] as const;
export const drawAddressBase = (rng: Rng): bigint => (rng.chance(0.5) ? 0n : rng.pick([...ADDRESS_BASES]));

const SPLIT_SIZES = [1, 2, 4, 8, 16, 32, 64, 256];
const PACKED_SIZES = [1, 2, 3, 5, 8, 16, 64, 100, 256];
/** Now and then a large queue (slower to check: every call copies more memory). */
const LARGE_SIZES = { split: [1024, 32768], packed: [1000, 32768] };

/** Queue sizes lean small (more wraps, more full rings per operation); the rest is a coin toss. */
export function drawParams(rng: Rng, layout: RingLayout): WorldParams {
  const sizes = layout === 'split' ? SPLIT_SIZES : PACKED_SIZES;
  const queueSize = rng.chance(0.01) ? rng.pick(LARGE_SIZES[layout])
    : sizes[Math.min(rng.below(sizes.length), rng.below(sizes.length))]!;
  const q = queueSize;
  const honest = rng.chance(0.1);
  const deviceStart = honest || !rng.chance(0.2) ? undefined : layout === 'split'
    ? { nextAvail: 0, availWrap: 0, nextUsed: rng.edgy(16), usedWrap: 0 }
    : { nextAvail: rng.below(q), availWrap: rng.below(2), nextUsed: rng.below(q), usedWrap: rng.below(2) };
  return {
    honest,
    inflight: q <= 1024 && rng.chance(0.25),
    deviceStart,
    layout,
    queueSize,
    // Not with the largest queues: q indirect tables would be most of what each call copies.
    indirect: q <= 1024 && rng.chance(0.5),
    inOrder: rng.chance(0.35),
    eventIdx: rng.chance(0.5),
    indirectMax: rng.pick([2, 4, 8]),
    // A limit below Queue Size refuses chains the spec allows: not in an honest case.
    maxChain: !honest && rng.chance(0.2) ? 1 + rng.below(queueSize) : 0,
    notify: rng.chance(0.5),
    interrupts: rng.chance(0.5),
    startIdx: rng.pick([0, 0, 0xffff - rng.below(8), rng.below(0x10000)]),
    cuts: 1 + rng.below(3),
  };
}

/** `xs` in a random order (Fisher-Yates), as a new array. */
export function shuffled<T>(rng: Rng, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Operations in a case: fewer with the largest queues, whose checks copy more memory. */
export const caseOps = (rng: Rng, q: number): number => (q > 1024 ? 100 + rng.below(200) : 300 + rng.below(2700));

export function paramsLabel(p: WorldParams): string {
  const f = [p.indirect && 'indirect', p.inOrder && 'in-order', p.eventIdx && 'event-idx'].filter(Boolean).join('+');
  const more = [p.deviceStart && 'device-start', p.inflight && 'inflight', p.honest && 'honest',
    p.addressBase && `base 0x${p.addressBase.toString(16)}`].filter(Boolean).join(' ');
  return `${p.layout} q${p.queueSize}${f ? ' ' + f : ''}${more ? ' ' + more : ''}`;
}

/** Bytes of each of the two small regions beside the arena. */
export const SIDE_REGION_BYTES = 1024;
/** Guest address of a region far from its Wasm offset. */
export const ALIAS_GPA = 0x7_0000_0000n;
/** A region ending exactly at 2^64. */
export const TOP_GPA = (1n << 64n) - BigInt(SIDE_REGION_BYTES);
export const ARENA_BYTES = 8192;
/** Memory for a queue of `q`: small, so that copying it is cheap. */
const memoryBytes = (q: number): number => (q <= 256 ? 512 << 10 : q <= 1024 ? 2 << 20 : 24 << 20);

/** Segments a pop batch has room for: one, a few, plenty. */
export const POP_SEG_ROOM = [1, 3, 8, 512] as const;
export const MAX_ADD_CHAINS = 8;
/** Chains a pop, push or collect burst has room for (the whole queue, up to this). */
export const MAX_BURST = 256;
export const MAX_ADD_SEGS = 64;

export interface RingWorld {
  params: WorldParams;
  layout: RingLayout;
  q: number;
  features: FeatureSet;
  engine: Engine;
  plan: MemoryPlan;
  desc: number;
  /** Split: available ring; packed: driver event suppression. */
  driverArea: number;
  /** Split: used ring; packed: device event suppression. */
  deviceArea: number;
  driver: DriverHandle;
  device: DeviceHandle;
  split?: RawSplitRing;
  packed?: RawPackedRing;
  arena: number;
  arenaEnd: number;
  /** The driver's indirect tables (mapped for the device at addressBase + offset), or 0. */
  indirectBase: number;
  indirectBytes: number;
  /** The device's region table as it is now (setRegions may reorder it). */
  regions: Region[];
  /** The region far from its Wasm offset (ALIAS_GPA). */
  alias: Region;
  /** The device's inflight region, shared with the front-end (so the hostile peer writes it too). */
  inflight?: Range;
  addBatch: ChainBatch;
  popBatches: ChainBatch[];
  usedBatch: UsedBatch;
  collectBatch: UsedBatch;
  guard: MemoryGuard;
}

function features(p: WorldParams): FeatureSet {
  let f = RING_FEATURES.VERSION_1;
  if (p.indirect) f |= RING_FEATURES.INDIRECT_DESC;
  if (p.inOrder) f |= RING_FEATURES.IN_ORDER;
  if (p.eventIdx) f |= RING_FEATURES.EVENT_IDX;
  if (p.layout === 'packed') f |= RING_FEATURES.RING_PACKED;
  return f;
}

export function openWorld(p: WorldParams): RingWorld {
  const q = p.queueSize;
  const feats = features(p);
  const memory = createSharedMemory(memoryBytes(q));
  const engine = loadEngine(memory);
  // Offset 0 stays out of the plan; nothing else needs the rest of page 0.
  const plan = new MemoryPlan(memory, { start: 4096 });
  const base = p.addressBase ?? 0n;
  const common = { features: feats, indirectMax: p.indirectMax, interrupts: p.interrupts, addressBase: base };
  const splitRing: SplitRingAddrs | undefined = p.layout === 'split' ? allocSplitRing(plan, q) : undefined;
  const packedRing: RingAreas | undefined = splitRing ? undefined : allocPackedRing(plan, q);
  const areas: RingAreas = splitRing ?? packedRing!;
  const driver: DriverHandle = splitRing
    ? new SplitDriver(engine, plan, splitRing, { ...common, startIdx: p.startIdx })
    : new PackedDriver(engine, plan, packedRing!, common);
  const indField = p.layout === 'split' ? Q.SDRV_INDIRECT : Q.PDRV_INDIRECT;
  const indirectBase = engine.u32[(driver.cb + indField) >>> 2];
  const indirectBytes = indirectBase !== 0 ? q * p.indirectMax * (splitRing ? S.DESC_SIZE : P.PDESC_SIZE) : 0;

  const arena = plan.alloc(ARENA_BYTES, 4096, 'fuzz buffer arena');
  const arenaEnd = arena + ARENA_BYTES;
  const regions: Region[] = [];
  let from = arena;
  for (let i = 1; i <= p.cuts; i++) {
    const to = i === p.cuts ? arenaEnd : arena + Math.floor((ARENA_BYTES * i) / p.cuts) - 8 * i;
    regions.push({ gpa: base + BigInt(from), size: BigInt(to - from), offset: from });
    from = to;
  }
  if (indirectBase !== 0) regions.push({ gpa: base + BigInt(indirectBase), size: BigInt(indirectBytes), offset: indirectBase });
  // Two more regions far from their Wasm offsets, each over its own bytes with a gap after them,
  // so that every region's Wasm range is its own: a segment inside none of them whole was
  // translated wrong.
  const side = BigInt(SIDE_REGION_BYTES);
  const alias = { gpa: ALIAS_GPA, size: side, offset: plan.alloc(SIDE_REGION_BYTES + 64, 64, 'fuzz alias region') + 64 };
  regions.push(alias);
  regions.push({ gpa: TOP_GPA, size: side, offset: plan.alloc(SIDE_REGION_BYTES + 64, 64, 'fuzz top region') + 64 });

  const inflightAt = p.inflight ? plan.alloc(inflightRegionSize(p.layout, q), I.INFLIGHT_ALIGN, 'fuzz inflight region') : 0;
  const devOpts = {
    features: feats, regions, maxChain: p.maxChain || undefined, notify: p.notify,
    inflight: p.inflight ? { region: inflightAt } : undefined,
  };
  const at = p.deviceStart;
  const device: DeviceHandle = splitRing
    ? new SplitDevice(engine, plan, splitRing, { ...devOpts, startIdx: p.startIdx, usedIdx: at?.nextUsed })
    : new PackedDevice(engine, plan, packedRing!, {
      ...devOpts, nextAvail: at?.nextAvail, availWrapCounter: at?.availWrap, nextUsed: at?.nextUsed, usedWrapCounter: at?.usedWrap,
    });

  const world: RingWorld = {
    params: p, layout: p.layout, q, features: feats, engine, plan,
    desc: areas.desc, driverArea: areas.driver, deviceArea: areas.device,
    driver, device, arena, arenaEnd,
    split: splitRing && new RawSplitRing(engine.view, splitRing),
    packed: packedRing && new RawPackedRing(engine.view, packedRing), indirectBase, indirectBytes, regions: [...regions], alias,
    inflight: p.inflight ? [inflightAt, inflightAt + inflightRegionSize(p.layout, q)] : undefined,
    addBatch: new ChainBatch(engine, plan, MAX_ADD_CHAINS, MAX_ADD_SEGS),
    popBatches: POP_SEG_ROOM.map((room) => new ChainBatch(engine, plan, Math.min(q, MAX_BURST) + 1, room)),
    usedBatch: new UsedBatch(engine, plan, Math.min(q, MAX_BURST) + 4),
    collectBatch: new UsedBatch(engine, plan, Math.min(q, MAX_BURST) + 4),
    guard: undefined as unknown as MemoryGuard,
  };
  world.guard = new MemoryGuard(engine.u8, plan.start + plan.used, 64);
  return world;
}

/** [start, end) of every descriptor area, ring and event field the two sides share. */
export function ringAreas(w: RingWorld): { desc: Range; driver: Range; device: Range } {
  if (w.layout === 'split') {
    const s = splitAreaSizes(w.q);
    return { desc: [w.desc, w.desc + s.desc], driver: [w.driverArea, w.driverArea + s.avail], device: [w.deviceArea, w.deviceArea + s.used] };
  }
  return {
    desc: [w.desc, w.desc + w.q * P.PDESC_SIZE],
    driver: [w.driverArea, w.driverArea + P.EVENT_SIZE],
    device: [w.deviceArea, w.deviceArea + P.EVENT_SIZE],
  };
}

/** The split ring's fields, each as a [start, end) range. */
export function splitFields(w: RingWorld) {
  const a = w.driverArea;
  const u = w.deviceArea;
  const q = w.q;
  return {
    availFlags: [a + S.AVAIL_FLAGS, a + S.AVAIL_FLAGS + 2] as Range,
    availIdxRing: [a + S.AVAIL_IDX, a + S.AVAIL_RING + q * S.AVAIL_ELEM_SIZE] as Range,
    usedEvent: [a + S.AVAIL_RING + q * S.AVAIL_ELEM_SIZE, a + S.AVAIL_RING + q * S.AVAIL_ELEM_SIZE + 2] as Range,
    usedFlags: [u + S.USED_FLAGS, u + S.USED_FLAGS + 2] as Range,
    usedIdx: [u + S.USED_IDX, u + S.USED_IDX + 2] as Range,
    usedRing: [u + S.USED_RING, u + S.USED_RING + q * S.USED_ELEM_SIZE] as Range,
    availEvent: [u + S.USED_RING + q * S.USED_ELEM_SIZE, u + S.USED_RING + q * S.USED_ELEM_SIZE + 2] as Range,
  };
}

/** The side's private areas (control block, shadow, order FIFO, driver indirect tables) as ranges. */
export const privateRanges = (side: DriverHandle | DeviceHandle): Range[] =>
  side.privateAreas.map(([a, b]): Range => [a, b]);

/** A chain batch's two arrays, as ranges. */
export const batchRanges = (b: ChainBatch): Range[] => [
  [b.chainsPtr, b.chainsPtr + b.maxChains * B.CHAIN_SIZE],
  [b.segsPtr, b.segsPtr + b.maxSegs * B.SEG_SIZE],
];

export const usedBatchRange = (b: UsedBatch): Range => [b.ptr, b.ptr + b.capacity * B.USED_REC_SIZE];

/** Whether [off, off + len) lies inside one region's Wasm range. */
export function inRegionTable(w: RingWorld, off: number, len: number): boolean {
  for (const r of w.regions) {
    if (off >= r.offset && off + len <= r.offset + Number(r.size)) return true;
  }
  return false;
}

/**
 * Descriptors (ring slots) a chain of `k` segments takes when the driver adds it: one with an
 * indirect table for 2 to indirectMax segments, else one per segment.
 */
export const driverDescs = (w: RingWorld, k: number): number =>
  w.indirectBase !== 0 && k > 1 && k <= w.params.indirectMax ? 1 : k;
