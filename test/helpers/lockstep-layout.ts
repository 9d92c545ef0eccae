// What the lock-step world (lockstep-world.ts) needs to know about a ring layout: the types it
// works with and one small adapter object per layout, split-layout.ts (VIRTIO 1.2, 2.7: split
// virtqueue) and packed-layout.ts (2.8: packed virtqueue). Everything else the two share.
import type { Engine, MemoryPlan, ChainBatch, UsedBatch } from '../../src/index.js';
import type { DriverHandle, DeviceHandle } from '../../src/virtqueue/queue-handles.js';
import type { RefBurst, RefChain, RefPoppedChain, RefRegion, RefUsed, RingPosition } from '../../sim/reference/index.js';

/** Run parameters of both layouts (each adds its own). */
export interface ModelParams {
  queueSize: number;
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
  /** VIRTIO_F_IN_ORDER (2.7.9, 2.8.8) on both sides (default off). */
  inOrder?: boolean;
}

/** The reference driver as the world calls it (RefSplitDriver, RefPackedDriver). */
export interface RefDriver {
  readonly status: number;
  readonly detail: number;
  readonly numFree: number;
  readonly inFlight: number;
  add(chains: readonly RefChain[]): number;
  kickNeeded(): number;
  collect(max: number): RefBurst<RefUsed>;
  detach(max: number): RefBurst<RefUsed>;
  enableInterrupts(): number;
  disableInterrupts(): number;
  reset(): number;
}

/** The reference device as the world calls it (RefSplitDevice, RefPackedDevice). */
export interface RefDevice {
  readonly status: number;
  readonly detail: number;
  readonly inFlight: number;
  pop(maxChains: number, maxSegs: number): RefBurst<RefPoppedChain>;
  push(used: readonly RefUsed[]): number;
  interruptNeeded(): number;
  enableNotify(): number;
  disableNotify(): number;
  reset(): number;
}

/** A descriptor as both layouts have it (the split one adds next, the packed one id). */
export interface AnyDesc { addr: bigint; len: number; flags: number }

/** Raw descriptor access to one memory's ring (sim/raw-split.ts, sim/raw-packed.ts); `table`: an indirect table's. */
export interface RawRing<D extends AnyDesc> {
  readDesc(i: number, table?: number): D;
  writeDesc(i: number, desc: D, table?: number): void;
}

/** The types a layout brings. */
export interface LayoutTypes {
  params: ModelParams;
  ring: { desc: number; queueSize: number };
  driver: DriverHandle;
  device: DeviceHandle;
  refDriver: RefDriver;
  refDevice: RefDevice;
  desc: AnyDesc;
  raw: RawRing<AnyDesc>;
}

/** The engine (through its src/ handles) and the reference model over twin memories (lockstep-pair.ts). */
export interface ModelPair<T extends LayoutTypes = LayoutTypes> {
  params: T['params'];
  engine: Engine;
  ring: T['ring'];
  driver: T['driver'];
  device: T['device'];
  refDriver: T['refDriver'];
  refDevice: T['refDevice'];
  /** Raw views of the ring in each memory (for tampering and for reading descriptors). */
  engineRaw: T['raw'];
  refRaw: T['raw'];
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

/** A memory area the two sides must agree on byte for byte. */
export interface Area { name: string; at: number; size: number }

/** The four positions of a ring whose descriptors are used in ring order (packed, 2.8.1). */
export interface RingPositions {
  driverAvail: RingPosition;
  deviceAvail: RingPosition;
  deviceUsed: RingPosition;
  driverUsed: RingPosition;
}

/** The layout-specific parts of building and checking a pair. */
export interface Layout<T extends LayoutTypes> {
  /** Bytes of one descriptor, in the ring and in an indirect table. */
  readonly descSize: number;
  /** The descriptor flag that points at an indirect table. */
  readonly indirectFlag: number;
  /** Control block offsets of the driver's indirect area and of its descriptors per table. */
  readonly indirectFields: { base: number; max: number };
  features(params: T['params']): bigint;

  // ------------------------------------------------ building (in this order, see lockstep-pair.ts)
  /** Plans the ring and puts the engine's driver on it. */
  driver(engine: Engine, plan: MemoryPlan, params: T['params'], features: bigint): { ring: T['ring']; driver: T['driver'] };
  device(engine: Engine, plan: MemoryPlan, ring: T['ring'], params: T['params'], features: bigint, regions: RefRegion[]): T['device'];
  reference(view: DataView, ring: T['ring'], params: T['params'], features: bigint,
    indirect: { base: number; max: number }, regions: RefRegion[]): { refDriver: T['refDriver']; refDevice: T['refDevice'] };
  raw(view: DataView, ring: T['ring']): T['raw'];

  // ------------------------------------------------ checking
  /** The ring's areas (the pair adds the indirect tables). */
  areas(p: ModelPair<T>): Area[];
  /** The control state compared after every step, in one shape for engine and reference. */
  state(p: ModelPair<T>, side: 'engine' | 'ref'): { driver: object; device: object };
  /** A popped chain's first descriptor in the engine's ring; `slot`: where the device found it (packed). */
  headDesc(p: ModelPair<T>, c: RefPoppedChain, slot: number): AnyDesc;
  /** Whether the flags that turn notifications off bind (split: only without EVENT_IDX, 2.7.10; packed: always, 2.8.10). */
  flagsBind(params: T['params']): boolean;
  /**
   * Chains available and not popped, used and not collected, read off the ring's indices (split).
   * Absent (packed): the world goes by its books, which hold only while the peer behaves.
   */
  waiting?(p: ModelPair<T>): { avail: boolean; used: boolean };
  /** The ring positions, where descriptors go round in ring order (packed); absent for split. */
  positions?(p: ModelPair<T>): RingPositions;
}
