// The live stream between a running `virtqueue sim --viz PORT` / `virtqueue vhost --viz PORT` and
// the page's live mode: the endpoint paths and the message format. Browser-safe (the page
// imports it); the Node side that serves it is cli/live/.
//
// Protocol: server-sent events (text/event-stream) on GET LIVE_PATH, localhost only.
//   - `event: hello` once, data: LiveHello (what is running);
//   - `event: frame` rateHz (LiveHello) times a second while a viewer is connected: the running
//     queues as a ring image (ring-image.ts: the bytes of their rings and control blocks, read out of the
//     dataplane's shared memory by the main thread), plus the workers' statistics and the source's
//     counters. Its first data line is a WireFrame (JSON), then one data line a segment of the
//     image: its address in decimal, a space, its bytes in base64. The viewer draws the Snapshot
//     from the image (decodeFrame), so the dataplane's process only encodes bytes (no walk, no
//     object per entry, no JSON escaping of the bytes): bench/viz-cpu.ts measures it.
//   - `event: end` when the run ends, data: LiveEnd (the command's summary), then the stream closes.
// Every other event's data is one JSON object (JSON.stringify: no newline inside). A viewer that
// reads too slowly misses frames (they are dropped for it, never queued); `seq` shows the gaps.
// GET LIVE_FRAME_PATH answers one LiveFrame as application/json (for scripts and curl), its
// snapshot a plain Snapshot drawn by the server.
import type { WorkerStats } from '../dataplane/control.js';
import type { PoolSnapshot, QueueSource, Snapshot } from './snapshot.js';
import { snapshotImage, type RingImage } from './ring-image.js';

export const LIVE_PATH = '/viz/live';
export const LIVE_FRAME_PATH = '/viz/live/frame';
/**
 * Frames a second sent to the viewers, by default; `--viz-rate` picks another in
 * [LIVE_RATE_MIN, LIVE_RATE_MAX]. At 10 a viewer on the dataplane's own machine left the vhost
 * worker 98.0 to 99.3% of the CPU it had without one; at 20, about 97% (README, "What watching
 * costs").
 */
export const LIVE_RATE_HZ = 10;
export const LIVE_RATE_MIN = 10;
export const LIVE_RATE_MAX = 30;
/** Descriptor (and split ring) entries listed per queue in a live frame; the rest are counted in `truncated`. */
export const LIVE_MAX_ENTRIES = 1024;
/** The page's address with this query (`/?live`) opens it in live mode on LIVE_PATH of the same server. */
export const LIVE_PAGE_QUERY = 'live';
export const LIVE_EVENTS = { hello: 'hello', frame: 'frame', end: 'end' } as const;

export type LiveSource = 'sim' | 'vhost';

export interface LiveHello {
  version: 1;
  source: LiveSource;
  /** The command line's options, as the command resolved them (ring, queue size, workers, ...). */
  options: Record<string, unknown>;
  rateHz: number;
}

export interface LiveFrame {
  /** 1, 2, ... per server (a viewer that misses frames sees gaps). */
  seq: number;
  /** Milliseconds since the epoch when the frame was read. */
  at: number;
  source: LiveSource;
  snapshot: Snapshot;
  /** Each Dataplane worker's state and counters (src/dataplane/control.ts), read while they run. */
  workers: WorkerStats[];
  /**
   * The source's own counters, named: sim: delivered frames so far (from the workers' counters);
   * vhost: each queue pair's NetCounters (rxPackets, txPackets, ...), keyed 'pair0', 'pair1' ...
   */
  counters: Record<string, number | Record<string, number>>;
}

export interface LiveEnd {
  /** Why the run ended ('finished', 'SIGINT', '10 s elapsed', an error). */
  reason: string;
  /** The summary the command prints with --json. */
  summary: unknown;
}

/** A LiveFrame as it travels (the first data line): its ring image's segments follow, one a line. */
export interface WireFrame extends Omit<LiveFrame, 'snapshot'> {
  image: { version: 1; queues: QueueSource[]; pools: PoolSnapshot[]; segments: number };
}

/** A frame as the command samples it: its image, not yet drawn. */
export type ImageFrame = Omit<LiveFrame, 'snapshot'> & { image: RingImage };

/** One SSE message. */
export function encodeEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A frame event; `base64` encodes a segment's bytes (the server's own encoder: Node's Buffer). */
export function encodeFrame(frame: ImageFrame, base64: (bytes: Uint8Array) => string): string {
  const { image, ...rest } = frame;
  const wire: WireFrame = { ...rest, image: { version: 1, queues: image.queues, pools: image.pools, segments: image.segments.length } };
  let out = `event: ${LIVE_EVENTS.frame}\ndata: ${JSON.stringify(wire)}\n`;
  for (const s of image.segments) out += `data: ${s.addr} ${base64(s.bytes)}\n`;
  return `${out}\n`;
}

function fromBase64(text: string, what: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(text);
  } catch {
    throw new TypeError(`live frame: ${what} is not base64`);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** An address or size the image may name: a whole number below 2^32 (Wasm32). */
const isWord = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32;

const isQueueSource = (q: unknown): q is QueueSource => {
  const s = q as Partial<QueueSource> | null;
  return typeof s === 'object' && s !== null && typeof s.name === 'string' && (s.layout === 'split' || s.layout === 'packed') &&
    typeof s.areas === 'object' && s.areas !== null && ['queueSize', 'desc', 'driver', 'device'].every((k) => isWord((s.areas as unknown as Record<string, unknown>)[k])) &&
    (s.driverCb === undefined || isWord(s.driverCb)) && (s.deviceCb === undefined || isWord(s.deviceCb));
};

/**
 * What one frame may ask the viewer to draw (a hostile frame must not hang the page): queues,
 * their entries in all, and segments (a queue's image has at most 8: 3 areas, 2 control blocks,
 * 3 private arrays).
 */
export const LIVE_FRAME_LIMITS = { queues: 64, entries: 1 << 20, segmentsPerQueue: 8 } as const;

/**
 * A LiveFrame from a frame event's data (its data lines joined by newlines, as EventSource gives
 * them), its snapshot drawn from the image (LIVE_MAX_ENTRIES entries a queue); throws a TypeError
 * naming what is wrong.
 */
export function decodeFrame(data: string): LiveFrame {
  const lines = data.split('\n');
  let f: Partial<WireFrame> & { snapshot?: unknown };
  try {
    f = JSON.parse(lines[0]) as Partial<WireFrame> & { snapshot?: unknown };
  } catch (e) {
    throw new TypeError(`live frame: its first line is not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof f !== 'object' || f === null || typeof f.seq !== 'number') throw new TypeError('live frame: not an object with seq');
  const img = f.image;
  if (typeof img !== 'object' || img === null) throw new TypeError(`live frame: no ring image${f.snapshot !== undefined ? ' (a plain snapshot: this page reads ring images)' : ''}`);
  if (img.version !== 1) throw new TypeError(`live frame: image version ${String(img.version)}, this page reads 1`);
  if (!Array.isArray(img.queues) || !img.queues.every(isQueueSource)) throw new TypeError('live frame: image queues are not queue sources (name, layout, areas and control blocks: whole numbers below 2^32)');
  const L = LIVE_FRAME_LIMITS;
  const entries = img.queues.reduce((n, q) => n + q.areas.queueSize, 0);
  if (img.queues.length > L.queues || entries > L.entries) {
    throw new TypeError(`live frame: ${img.queues.length} queues of ${entries} entries in all, more than this page draws (${L.queues} queues, ${L.entries} entries)`);
  }
  if (lines.length - 1 > L.segmentsPerQueue * Math.max(1, img.queues.length)) {
    throw new TypeError(`live frame: ${lines.length - 1} image segments for ${img.queues.length} queues, more than ${L.segmentsPerQueue} a queue`);
  }
  if (!Array.isArray(img.pools)) throw new TypeError('live frame: image pools are not a list');
  if (img.segments !== lines.length - 1) throw new TypeError(`live frame: image of ${String(img.segments)} segments, ${lines.length - 1} sent`);
  const segments = lines.slice(1).map((line, i) => {
    const m = /^(\d+) ([A-Za-z0-9+/=]*)$/.exec(line);
    if (!m) throw new TypeError(`live frame: image segment ${i} is not an address and base64`);
    return { addr: Number(m[1]), bytes: fromBase64(m[2], `image segment ${i}`) };
  });
  const { image: _, ...rest } = f as WireFrame;
  return { ...rest, snapshot: snapshotImage({ queues: img.queues, pools: img.pools, segments }, { maxEntries: LIVE_MAX_ENTRIES }) };
}
