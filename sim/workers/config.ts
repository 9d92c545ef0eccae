// Serialisable configs of the simulator's worker tasks: numbers and strings only (addresses in
// the shared memory, sizes, worker indices), built by plan.ts on the main thread.
import type { RingAreas } from '../../src/virtqueue/queue-side.js';
import type { RingKind } from '../queues.js';

/** Private memory a task plans its queue handles and burst arrays in: [start, end). */
export interface Arena { start: number; end: number }

/** One virtqueue side: the ring's areas and the negotiated features. */
export interface QueueRef {
  layout: RingKind;
  areas: RingAreas;
  /** FeatureSet as a decimal string (bigints do not cross postMessage as config keys well). */
  features: string;
  indirectMax: number;
  /** The queue's control block directory entry (assembly/layout/viz.ts), where each side publishes its block. */
  directory: number;
}

/** A Signal word and the worker it wakes. */
export interface SignalRef { addr: number; worker: number }

export interface DriverTaskConfig {
  arena: Arena;
  tx: QueueRef;
  rx: QueueRef;
  pool: number;
  poolBurst: number;
  packets: number;
  frameSize: number;
  segments: number;
  descsPerChain: number;
  batch: number;
  queueSize: number;
  key: number;
  /** Kicks for transmitq1 and receiveq1 (the same word when one NIC task serves both). */
  kickTx: SignalRef;
  kickRx: SignalRef;
  /** Interrupts to this driver (its own worker). */
  irq: SignalRef;
}

export interface NicTaskConfig {
  arena: Arena;
  tx: QueueRef;
  rx: QueueRef;
  queueSize: number;
  batch: number;
  frameSize: number;
  packets: number;
  key: number;
  maxSegs: number;
  latency: number;
  jitter: number;
  outOfOrder: boolean;
  seed: number;
  kicks: SignalRef;
  irq: SignalRef;
}

/** Pipeline: the NIC's transmit stage and receive stage, joined by two HandleRings. */
export interface StageConfig {
  arena: Arena;
  queue: QueueRef;
  queueSize: number;
  maxSegs: number;
  /** Shared ChainStore of the transmit chains in flight between the stages. */
  table: number;
  /** Transmit heads, tx stage -> rx stage, and wake flag of its consumer (the rx stage). */
  toRx: number;
  toRxWake: SignalRef;
  /** Transmit heads done, rx stage -> tx stage, and wake flag of the tx stage. */
  txDone: number;
  txDoneWake: SignalRef;
  kicks: SignalRef;
  irq: SignalRef;
}
