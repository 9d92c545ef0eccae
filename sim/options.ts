// Simulation options: what can be set, the defaults, and the checks. The CLI parses flags into
// SimOptions and reports SimOptionError against the flag; runSimulation checks again.
import { MAX_QUEUE_SIZE } from '../assembly/layout/split.js';
import { MIN_FRAME_SIZE, MAX_FRAME_SIZE } from './frame.js';
import { RING_KINDS, type RingKind } from './queues.js';
import type { Engine } from '../src/engine.js';

export type SimMode = 'loopback' | 'generator' | 'sink';
export const SIM_MODES: readonly SimMode[] = ['loopback', 'generator', 'sink'];

export interface SimOptions {
  /** Ring format (default split). */
  ring?: RingKind;
  /** Queue Size of the TX and the RX queue (power of two, 1..32768; default 256). */
  queueSize?: number;
  /** Frames to move (default 5,000,000: a few seconds). */
  packets?: number;
  /** Chains per driver add and per NIC pop (1..queueSize; default 32). */
  batch?: number;
  /** Seed for everything random: payload pattern, latency jitter, ordering, drops (u32; default 1). */
  seed?: number;
  /** loopback: TX frames come back on RX; generator: the NIC sends on RX; sink: the NIC eats TX. */
  mode?: SimMode;
  /** Frame bytes after the 12-byte virtio_net_hdr (8..9216; default 64). */
  frameSize?: number;
  /** NIC completion latency in ticks (one tick = one NIC poll; default 0). */
  latency?: number;
  /** Largest random extra latency in ticks (default 2 with outOfOrder, else 0). */
  jitter?: number;
  /** Probability that the NIC drops a frame on the wire, in [0, 1) (default 0). */
  drop?: number;
  /** Completions due in the same tick are released in a shuffled order. */
  outOfOrder?: boolean;
  /** Negotiate VIRTIO_F_EVENT_IDX. */
  eventIdx?: boolean;
  /** Negotiate VIRTIO_F_INDIRECT_DESC (packets then travel as 2-segment chains in indirect tables). */
  indirect?: boolean;
  /** Negotiate VIRTIO_F_IN_ORDER: the NIC completes in order and batches used entries (no reordering). */
  inOrder?: boolean;
  /** Segments per packet chain, 1..4 (default 2 with indirect, else 1). */
  segments?: number;
  /** How often onProgress is called, in milliseconds (default 200). */
  progressIntervalMs?: number;
  /** Loads the engine over a memory (Node: loadEngine from src/node.ts). */
  loadEngine?: (memory: WebAssembly.Memory) => Engine;
}

export type ResolvedSimOptions = Required<Omit<SimOptions, 'loadEngine'>>;

export const SIM_DEFAULTS = {
  ring: 'split' as RingKind,
  queueSize: 256,
  packets: 5_000_000,
  batch: 32,
  seed: 1,
  mode: 'loopback' as SimMode,
  frameSize: 64,
  latency: 0,
  drop: 0,
} as const;

/** Longest latency or jitter accepted, in ticks. */
export const MAX_LATENCY = 1_000_000;
export const MAX_SEGMENTS = 4;
export const MAX_PACKETS = 0xffffffff;

/** A bad option value; `option` names the SimOptions field. */
export class SimOptionError extends RangeError {
  readonly option: keyof SimOptions;
  readonly problem: string;
  constructor(option: keyof SimOptions, problem: string) {
    super(`${option} ${problem}`);
    this.name = 'SimOptionError';
    this.option = option;
    this.problem = problem;
  }
}

const isInt = (v: number, lo: number, hi: number): boolean => Number.isInteger(v) && v >= lo && v <= hi;

/** Fills in defaults and checks every value; throws SimOptionError for the first bad one. */
export function resolveSimOptions(o: SimOptions): ResolvedSimOptions {
  const outOfOrder = o.outOfOrder ?? false;
  const indirect = o.indirect ?? false;
  const r: ResolvedSimOptions = {
    ring: o.ring ?? SIM_DEFAULTS.ring,
    queueSize: o.queueSize ?? SIM_DEFAULTS.queueSize,
    packets: o.packets ?? SIM_DEFAULTS.packets,
    batch: o.batch ?? SIM_DEFAULTS.batch,
    seed: o.seed ?? SIM_DEFAULTS.seed,
    mode: o.mode ?? SIM_DEFAULTS.mode,
    frameSize: o.frameSize ?? SIM_DEFAULTS.frameSize,
    latency: o.latency ?? SIM_DEFAULTS.latency,
    jitter: o.jitter ?? (outOfOrder ? 2 : 0),
    drop: o.drop ?? SIM_DEFAULTS.drop,
    outOfOrder,
    eventIdx: o.eventIdx ?? false,
    indirect,
    inOrder: o.inOrder ?? false,
    segments: o.segments ?? (indirect ? 2 : 1),
    progressIntervalMs: o.progressIntervalMs ?? 200,
  };
  if (!RING_KINDS.includes(r.ring)) throw new SimOptionError('ring', `must be one of ${RING_KINDS.join(', ')}, got ${String(r.ring)}`);
  if (!SIM_MODES.includes(r.mode)) throw new SimOptionError('mode', `must be one of ${SIM_MODES.join(', ')}, got ${String(r.mode)}`);
  if (r.ring === 'split' && !(isInt(r.queueSize, 1, MAX_QUEUE_SIZE) && (r.queueSize & (r.queueSize - 1)) === 0)) {
    throw new SimOptionError('queueSize', `must be a power of two from 1 to ${MAX_QUEUE_SIZE} for a split ring, got ${r.queueSize}`);
  }
  if (r.ring === 'packed' && !isInt(r.queueSize, 1, MAX_QUEUE_SIZE)) {
    throw new SimOptionError('queueSize', `must be an integer from 1 to ${MAX_QUEUE_SIZE} for a packed ring, got ${r.queueSize}`);
  }
  if (!isInt(r.packets, 1, MAX_PACKETS)) throw new SimOptionError('packets', `must be an integer from 1 to ${MAX_PACKETS}, got ${r.packets}`);
  if (!isInt(r.batch, 1, r.queueSize)) throw new SimOptionError('batch', `must be an integer from 1 to the queue size (${r.queueSize}), got ${r.batch}`);
  if (!isInt(r.seed, 0, 0xffffffff)) throw new SimOptionError('seed', `must be an integer from 0 to 4294967295, got ${r.seed}`);
  if (!isInt(r.frameSize, MIN_FRAME_SIZE, MAX_FRAME_SIZE)) throw new SimOptionError('frameSize', `must be an integer from ${MIN_FRAME_SIZE} to ${MAX_FRAME_SIZE} bytes, got ${r.frameSize}`);
  if (!isInt(r.latency, 0, MAX_LATENCY)) throw new SimOptionError('latency', `must be an integer from 0 to ${MAX_LATENCY} ticks, got ${r.latency}`);
  if (!isInt(r.jitter, 0, MAX_LATENCY)) throw new SimOptionError('jitter', `must be an integer from 0 to ${MAX_LATENCY} ticks, got ${r.jitter}`);
  if (!(typeof r.drop === 'number' && r.drop >= 0 && r.drop < 1)) throw new SimOptionError('drop', `must be a probability in [0, 1), got ${r.drop}`);
  if (!isInt(r.segments, 1, MAX_SEGMENTS)) throw new SimOptionError('segments', `must be an integer from 1 to ${MAX_SEGMENTS}, got ${r.segments}`);
  if (!r.indirect && r.segments > r.queueSize) {
    throw new SimOptionError('segments', `${r.segments} descriptors per chain do not fit a queue of ${r.queueSize} without indirect descriptors`);
  }
  // 2.7.9 / 2.8.8: with IN_ORDER the device uses buffers in the order they were made available.
  if (r.inOrder && (r.outOfOrder || r.jitter > 0)) {
    throw new SimOptionError('inOrder', 'cannot be combined with out-of-order completion or latency jitter');
  }
  if (!(r.progressIntervalMs > 0)) throw new SimOptionError('progressIntervalMs', `must be positive, got ${r.progressIntervalMs}`);
  return r;
}
