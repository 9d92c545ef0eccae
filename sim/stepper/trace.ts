// The step trace: what the browser visualizer records and `virtqueue sim --replay` plays back.
// One format, defined here only. A trace is a configuration (ring layout, Queue Size, features,
// chain shape) and the operations applied to a fresh queue in order, each with what it returned
// and a digest of the queue's bytes after it, so a replay can say whether it reproduced the
// recording exactly and, if not, at which operation it first differed.
//
//   {
//     "format": "virtqueue-trace", "version": 1,
//     "config": { "layout": "split", "queueSize": 8, "features": ["VERSION_1", "EVENT_IDX"], "segments": 2 },
//     "ops": [ { "op": "add", "n": 2 }, { "op": "notify" }, { "op": "pop", "n": 2 }, ... ],
//     "results": [ { "n": 2, "digest": "9f3a0c1e5b7d2468" }, { "n": 1, "digest": "..." }, ... ]
//   }
//
// A trace comes from a file or a page the user picked: parseTrace checks every field and bound
// before anything is run, and names what is wrong.
import { RING_LAYOUTS, type RingLayout } from '../../src/virtqueue/factory.js';
import { validQueueSize } from '../../src/virtqueue/split.js';
import { validPackedQueueSize } from '../../src/virtqueue/packed.js';
import { featuresFromNames, featureProblems } from '../../src/features.js';

export const TRACE_FORMAT = 'virtqueue-trace';
export const TRACE_VERSION = 1;
/** Operations a trace may hold (a long play at full speed records a few thousand). */
export const MAX_TRACE_OPS = 100_000;
/** Descriptors per chain: the first device-readable, the others device-writable. */
export const MAX_SEGMENTS = 4;
/** Queue Size the stepper accepts: large enough to wrap, small enough to look at. */
export const MAX_STEP_QUEUE_SIZE = 1024;

/** Features the stepper lets a user choose (VERSION_1 always; RING_PACKED follows the layout). */
export const STEP_FEATURES = ['EVENT_IDX', 'INDIRECT_DESC', 'IN_ORDER'] as const;
export type StepFeature = (typeof STEP_FEATURES)[number];

export interface StepConfig {
  layout: RingLayout;
  queueSize: number;
  /** Negotiated feature names (featureNames' spelling). */
  features: string[];
  /** Descriptors per chain the driver adds, 1 to MAX_SEGMENTS. */
  segments: number;
}

/** What a corrupt operation damages (the fault is written into the ring as a peer would). */
export const CORRUPTIONS = ['addr', 'link', 'used-id'] as const;
export type Corruption = (typeof CORRUPTIONS)[number];

/**
 * One operation. Steps: the driver makes `n` chains available (add), decides whether to notify
 * the device (notify), the device pops up to `n` chains (pop) and returns up to `n` of those it
 * holds as used (push), the driver collects what was used (collect). Faults arm the next step
 * they concern (drop-notify, reorder), hold the device's chains back for `n` pushes (delay), or
 * write bad values into the ring (corrupt). reset detaches everything and resets both sides.
 */
export type StepOp =
  | { op: 'add'; n: number }
  | { op: 'notify' }
  | { op: 'pop'; n: number }
  | { op: 'push'; n: number }
  | { op: 'collect' }
  | { op: 'drop-notify' }
  | { op: 'delay'; n: number }
  | { op: 'reorder' }
  | { op: 'corrupt'; what: Corruption }
  | { op: 'reset' };

export const STEP_OPS = ['add', 'notify', 'pop', 'push', 'collect', 'drop-notify', 'delay', 'reorder', 'corrupt', 'reset'] as const;

/** What an operation did: a count, or the engine's (or the stepper's) refusal, and the digest after it. */
export interface StepResult {
  /** Chains added, popped, pushed or collected; 1/0 for notify (delivered or not); 0 for faults. */
  n: number;
  /** Error name (ERRORS' spelling, e.g. NEXT_OUT_OF_RANGE), when the operation failed. */
  error?: string;
  /** Digest of the queue's bytes after the operation (digestBytes). */
  digest: string;
}

export interface Trace {
  format: typeof TRACE_FORMAT;
  version: typeof TRACE_VERSION;
  config: StepConfig;
  ops: StepOp[];
  results: StepResult[];
}

export class TraceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceError';
  }
}

/**
 * A 64-bit fingerprint of byte ranges, as 16 hex digits: two 32-bit multiplicative lanes over
 * little-endian 32-bit words (each range's length mixed in, a short tail zero-padded), cheap
 * enough to take after every operation of a 1024-entry ring. It tells states apart for replay
 * and time travel; it is no defence against someone forging a trace (a replay recomputes it from
 * what it ran).
 */
export function digestBytes(parts: readonly Uint8Array[]): string {
  let a = 0x811c9dc5, b = 0x9e3779b9;
  const word = (w: number): void => {
    a = Math.imul(a ^ w, 0x01000193);
    b = Math.imul((b ^ w) << 13 | (b ^ w) >>> 19, 0x5bd1e995) + 0x6b43a9b5 | 0;
  };
  for (const p of parts) {
    word(p.length);
    const whole = p.length & ~3;
    const words = p.byteOffset % 4 === 0 ? new Uint32Array(p.buffer, p.byteOffset, whole >>> 2) : undefined;
    if (words) for (let i = 0; i < words.length; i++) word(words[i]);
    else for (let i = 0; i < whole; i += 4) word(p[i] | p[i + 1] << 8 | p[i + 2] << 16 | p[i + 3] << 24);
    if (whole < p.length) word(p[whole] | (p[whole + 1] ?? 0) << 8 | (p[whole + 2] ?? 0) << 16);
  }
  // Final avalanche of each lane, each mixed with the other.
  const fmix = (h: number): number => {
    h = Math.imul(h ^ h >>> 16, 0x85ebca6b);
    h = Math.imul(h ^ h >>> 13, 0xc2b2ae35);
    return (h ^ h >>> 16) >>> 0;
  };
  const hi = fmix(a ^ Math.imul(b, 0x27d4eb2f)), lo = fmix(b ^ a);
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function whole(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new TraceError(`${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Checks a configuration (from a trace, or the page's controls). */
export function checkConfig(v: unknown): StepConfig {
  if (!isObject(v)) throw new TraceError('config must be an object');
  const layout = v.layout;
  if (typeof layout !== 'string' || !(RING_LAYOUTS as readonly string[]).includes(layout)) {
    throw new TraceError(`config.layout must be one of ${RING_LAYOUTS.join(', ')}, got ${JSON.stringify(layout)}`);
  }
  const queueSize = whole(v.queueSize, 'config.queueSize', 1, MAX_STEP_QUEUE_SIZE);
  if (layout === 'split' ? !validQueueSize(queueSize) : !validPackedQueueSize(queueSize)) {
    throw new TraceError(`config.queueSize ${queueSize} is not a ${layout} Queue Size${layout === 'split' ? ' (a power of two, VIRTIO 1.2 §2.7)' : ''}`);
  }
  if (!Array.isArray(v.features) || v.features.length > 64 || !v.features.every((f) => typeof f === 'string')) {
    throw new TraceError('config.features must be a list of feature names');
  }
  const features = v.features as string[];
  let set: bigint;
  try {
    set = featuresFromNames(features);
  } catch (e) {
    throw new TraceError(`config.features: ${(e as Error).message}`);
  }
  const allowed = ['VERSION_1', 'RING_PACKED', ...STEP_FEATURES];
  const unknown = features.filter((f) => !allowed.includes(f));
  if (unknown.length) throw new TraceError(`config.features: the stepper negotiates only ${allowed.join(', ')}; not ${unknown.join(', ')}`);
  if (!features.includes('VERSION_1')) throw new TraceError('config.features must include VERSION_1');
  if (features.includes('RING_PACKED') !== (layout === 'packed')) {
    throw new TraceError(`config.features: RING_PACKED must be negotiated exactly when the layout is packed (layout ${layout})`);
  }
  const problems = featureProblems(set);
  if (problems.length) throw new TraceError(`config.features: ${problems.join('; ')}`);
  const segments = whole(v.segments, 'config.segments', 1, MAX_SEGMENTS);
  return { layout: layout as RingLayout, queueSize, features: [...features], segments };
}

/** Checks one operation; `at` names it in errors. */
export function checkOp(v: unknown, at: string, queueSize: number): StepOp {
  if (!isObject(v)) throw new TraceError(`${at} must be an object`);
  const op = v.op;
  const count = (): number => whole(v.n, `${at}.n`, 1, queueSize);
  switch (op) {
    case 'add': case 'pop': case 'push': case 'delay': return { op, n: count() };
    case 'notify': case 'collect': case 'drop-notify': case 'reorder': case 'reset': return { op };
    case 'corrupt': {
      if (typeof v.what !== 'string' || !(CORRUPTIONS as readonly string[]).includes(v.what)) {
        throw new TraceError(`${at}.what must be one of ${CORRUPTIONS.join(', ')}, got ${JSON.stringify(v.what)}`);
      }
      return { op, what: v.what as Corruption };
    }
    default:
      throw new TraceError(`${at}.op must be one of ${STEP_OPS.join(', ')}, got ${JSON.stringify(op)}`);
  }
}

function checkResult(v: unknown, at: string): StepResult {
  if (!isObject(v)) throw new TraceError(`${at} must be an object`);
  const n = whole(v.n, `${at}.n`, 0, 0xffffffff);
  if (typeof v.digest !== 'string' || !/^[0-9a-f]{16}$/.test(v.digest)) throw new TraceError(`${at}.digest must be 16 hex digits`);
  if (v.error !== undefined && (typeof v.error !== 'string' || !/^[A-Z0-9_]{1,64}$/.test(v.error))) {
    throw new TraceError(`${at}.error must be an error name`);
  }
  return v.error === undefined ? { n, digest: v.digest } : { n, error: v.error as string, digest: v.digest };
}

/** A trace from its JSON text: every field checked, bounded, and named when wrong. */
export function parseTrace(text: string): Trace {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TraceError(`not JSON: ${(e as Error).message}`);
  }
  if (!isObject(v)) throw new TraceError('a trace is a JSON object');
  if (v.format !== TRACE_FORMAT) throw new TraceError(`format must be "${TRACE_FORMAT}", got ${JSON.stringify(v.format)}`);
  if (v.version !== TRACE_VERSION) throw new TraceError(`version ${JSON.stringify(v.version)} is not supported (this is version ${TRACE_VERSION})`);
  const config = checkConfig(v.config);
  if (!Array.isArray(v.ops) || v.ops.length > MAX_TRACE_OPS) throw new TraceError(`ops must be a list of at most ${MAX_TRACE_OPS} operations`);
  const ops = v.ops.map((o, i) => checkOp(o, `ops[${i}]`, config.queueSize));
  if (!Array.isArray(v.results) || v.results.length !== ops.length) {
    throw new TraceError(`results must be a list with one entry per operation (${ops.length})`);
  }
  const results = v.results.map((r, i) => checkResult(r, `results[${i}]`));
  return { format: TRACE_FORMAT, version: TRACE_VERSION, config, ops, results };
}

export function traceJson(t: Trace): string {
  return `${JSON.stringify(t, null, 1)}\n`;
}
