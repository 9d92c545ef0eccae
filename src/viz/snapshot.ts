// What the ring visualizer renders: a plain, JSON-serialisable picture of virtqueues and mempools
// read straight out of the shared memory the engine runs over (the same views, the same layout
// constants: assembly/layout/*). This file is the contract between the reader (split-snapshot.ts,
// packed-snapshot.ts, pool-snapshot.ts) and whoever renders it (web/, the live stream in
// stream.ts). Browser-safe: no Node import.
//
// The reader never writes to the memory, and the memory may be changing under it (workers run
// the rings while the main thread or the page reads them): every index it reads is masked or
// checked, every walk is bounded by the Queue Size, and what does not add up is reported in
// `anomalies` instead of thrown.
import type { RingLayout } from '../virtqueue/factory.js';
import type { RingAreas } from '../virtqueue/queue-side.js';
import type { CacheStats } from '../dataplane/mempool.js';
import type { Engine } from '../engine.js';
import { snapshotSplit } from './split-snapshot.js';
import { snapshotPacked } from './packed-snapshot.js';
import { snapshotPool } from './pool-snapshot.js';
import { RacingMemory } from './racing-memory.js';

/** Where one queue lives in the memory: its ring areas, and the control blocks of the sides that run here. */
export interface QueueSource {
  /** Shown as the queue's name, e.g. 'transmitq1'. */
  name: string;
  layout: RingLayout;
  areas: RingAreas;
  /** The driver side's control block (Wasm offset), when it is in this memory; 0 or absent: none (a back-end). */
  driverCb?: number;
  /** The device side's control block, when it is in this memory; 0 or absent: none. */
  deviceCb?: number;
}

/** A mempool to show (its header's Wasm offset). */
export interface PoolSource {
  name: string;
  addr: number;
}

export interface SnapshotOptions {
  /** Descriptor entries (and split ring entries) listed per queue; the rest are counted only. Default: all. */
  maxEntries?: number;
}

/**
 * Who holds a descriptor (split: a descriptor table entry; packed: a descriptor ring slot), by
 * the spec's rules of ownership (2.7.13, 2.8.21): a buffer made available belongs to the device
 * until it is used, then to the driver again.
 * - 'free': the driver's to reuse (only known when the driver's control block is in this memory);
 * - 'device': the head of a chain made available and not used yet (taken or not: see its chain's stage);
 * - 'driver': the head of a chain used and not collected yet, or of one the rings do not place
 *   (stage 'inFlight'), or, when the driver's control block is not in this memory (a vhost-user
 *   back-end), any entry not known to be the device's;
 * - 'chain': a later descriptor of a chain in flight (`chain` names the chain).
 */
export type Owner = 'free' | 'driver' | 'device' | 'chain';

/**
 * Where a chain in flight is:
 * - 'available': made available by the driver, not taken by the device yet;
 * - 'device': taken (popped) by the device, not used yet;
 * - 'used': used by the device, not collected by the driver yet;
 * - 'inFlight': the driver's record has it in flight but the rings do not place it (the snapshot
 *   raced the ring, or the device's block is not in this memory).
 *
 * With VIRTIO_F_IN_ORDER one used element (split, 2.7.9) or used descriptor (packed, 2.8.8) may
 * stand for a run of buffers: the reader places the run from the driver's in-order bookkeeping
 * (split: its oldest head and the used.idx count; packed: its FIFO of buffer ids), each buffer
 * on the slots it took, never from the used ring entries the device left unwritten.
 */
export type ChainStage = 'available' | 'device' | 'used' | 'inFlight';

export interface DescriptorEntry {
  /** Split: descriptor table index. Packed: descriptor ring slot. */
  index: number;
  /** The 64-bit address field, in hex ('0x1f000'): a guest address (vhost-user) or a Wasm offset (simulator). */
  addr: string;
  len: number;
  /** The flags field as written (split: NEXT 1, WRITE 2, INDIRECT 4; packed adds AVAIL 0x80, USED 0x8000). */
  flags: number;
  /** Split: the next field. Packed: null. */
  next: number | null;
  /** Packed: the buffer id field. Split: null. */
  id: number | null;
  owner: Owner;
  /** The chain in flight it is part of (split: its head's index; packed: its buffer id), or null. */
  chain: number | null;
}

export interface ChainInFlight {
  /** Split: index of the head descriptor. Packed: buffer id. */
  head: number;
  stage: ChainStage;
  /** Descriptors it takes in the table or ring (1 for an indirect chain), when known. */
  descriptors: number | null;
  indirect: boolean;
  /** Packed: ring slot of its first descriptor (available) or of its used descriptor (used), when known. */
  slot: number | null;
}

/** A side's health: 0 while healthy, else the engine's error code, with its name and spec section. */
export interface SideStatus {
  /** Wasm offset of the control block. */
  cb: number;
  status: number;
  detail: number;
  /** e.g. 'CHAIN_TOO_LONG' (null while healthy). */
  error: string | null;
  /** VIRTIO 1.2 section of the rule that was broken, e.g. '2.7.5.3.1' ('' for a caller error; null while healthy). */
  section: string | null;
  /** The side asked for the peer's notifications (CB_OPT_NOTIFY: driver, used buffer notifications; device, kicks). */
  notify: boolean;
}

/** The split driver's control block (layout/queue.ts SDRV_*). */
export interface SplitDriverState extends SideStatus {
  freeHead: number;
  numFree: number;
  /** Next avail.idx it publishes (16 bits). */
  availIdx: number;
  /** avail.idx at its last notification decision (event index "old"). */
  kickIdx: number;
  /** Next used ring index it collects (16 bits). */
  lastUsed: number;
  inFlight: number;
}

/** The split device's control block (SDEV_*). */
export interface SplitDeviceState extends SideStatus {
  /** Next available ring index it reads (16 bits): last_avail_idx. */
  lastAvail: number;
  /** Next used.idx it publishes. */
  usedIdx: number;
  /** used.idx at its last interrupt decision. */
  signalIdx: number;
  inFlight: number;
}

/** The split rings as they are in memory (2.7.6, 2.7.8). Entries listed up to maxEntries. */
export interface SplitRings {
  avail: { flags: number; idx: number; ring: number[]; usedEvent: number };
  used: { flags: number; idx: number; ring: { id: number; len: number }[]; availEvent: number };
}

/** The packed driver's control block (PDRV_*). */
export interface PackedDriverState extends SideStatus {
  nextAvail: number;
  /** Driver Ring Wrap Counter (2.8.1). */
  availWrap: number;
  nextUsed: number;
  /** The wrap counter the next used descriptor it collects carries. */
  usedWrap: number;
  numFree: number;
  freeId: number;
  inFlight: number;
}

/** The packed device's control block (PDEV_*). */
export interface PackedDeviceState extends SideStatus {
  nextAvail: number;
  /** The wrap counter the next available descriptor it reads must carry. */
  availWrap: number;
  nextUsed: number;
  /** Device Ring Wrap Counter (2.8.1). */
  usedWrap: number;
  inFlight: number;
  /** Ring slots the buffers it holds take. */
  inFlightDescs: number;
}

/** An event suppression structure (2.8.10): desc offset and wrap, and flags. */
export interface EventSuppression {
  offset: number;
  wrap: number;
  /** RING_EVENT_FLAGS_*: 0 enable, 1 disable, 2 desc. */
  flags: number;
  mode: 'enable' | 'disable' | 'desc' | 'reserved';
}

export interface PackedRings {
  /** Driver Event Suppression (driver area): what the driver asks of the device's interrupts. */
  driverEvent: EventSuppression;
  /** Device Event Suppression (device area): what the device asks of the driver's kicks. */
  deviceEvent: EventSuppression;
}

/** Chains per stage, and the driver's free count. */
export type QueueCounters = {
  available: number;
  device: number;
  used: number;
  inFlight: number;
  /** Driver's free descriptors (split) or ring slots (packed); null without the driver's block. */
  free: number | null;
};

export interface QueueSnapshot {
  name: string;
  layout: RingLayout;
  queueSize: number;
  /** Negotiated feature bits (hex), from a control block; null when neither side is in this memory. */
  features: string | null;
  areas: RingAreas;
  /** The sides whose control blocks are in this memory (null: not here, or not yet known). */
  driver: SplitDriverState | PackedDriverState | null;
  device: SplitDeviceState | PackedDeviceState | null;
  /** Split: the descriptor table. Packed: the descriptor ring. Up to maxEntries. */
  descriptors: DescriptorEntry[];
  /** Entries left out of `descriptors` (and of the split ring arrays). */
  truncated: number;
  split: SplitRings | null;
  packed: PackedRings | null;
  /** Every chain in flight, by head (split) or buffer id (packed). */
  chains: ChainInFlight[];
  counters: QueueCounters;
  /** What did not add up (a torn read of a running ring, a misbehaving peer, a bad source). */
  anomalies: string[];
}

export interface PoolSnapshot {
  name: string;
  addr: number;
  size: number;
  free: number;
  inUse: number;
  /** Free buffers in the free ring (the rest of `free` are in the caches). */
  ring: number;
  caches: CacheStats[];
  /** Why the pool could not be read (no mempool header at addr), else null. */
  error: string | null;
}

export interface Snapshot {
  /** Bumped when a field changes meaning. */
  version: 1;
  queues: QueueSnapshot[];
  pools: PoolSnapshot[];
}

export const SNAPSHOT_VERSION = 1;

/**
 * One queue's picture; never writes to the memory, never throws on what it reads. Over the
 * engine's memory as it is, or over a RacingMemory of a ring image (ring-image.ts).
 */
export function snapshotQueue(memory: Engine | RacingMemory, source: QueueSource, opts: SnapshotOptions = {}): QueueSnapshot {
  const m = memory instanceof RacingMemory ? memory : new RacingMemory(memory);
  return source.layout === 'split' ? snapshotSplit(m, source, opts) : snapshotPacked(m, source, opts);
}

/** Every queue and pool named. */
export function takeSnapshot(engine: Engine, queues: readonly QueueSource[], pools: readonly PoolSource[] = [], opts: SnapshotOptions = {}): Snapshot {
  const m = new RacingMemory(engine);
  return {
    version: SNAPSHOT_VERSION,
    queues: queues.map((q) => snapshotQueue(m, q, opts)),
    pools: pools.map((p) => snapshotPool(engine, p)),
  };
}
