// The live stream between a running `virtqueue sim --viz PORT` / `virtqueue vhost --viz PORT` and
// the page's live mode: the endpoint paths and the message format. Browser-safe (the page
// imports it); the Node side that serves it is cli/live/.
//
// Protocol: server-sent events (text/event-stream) on GET LIVE_PATH, localhost only.
//   - `event: hello` once, data: LiveHello (what is running);
//   - `event: frame` LIVE_RATE_HZ times a second while a viewer is connected, data: LiveFrame
//     (a Snapshot of the running queues read from the dataplane's shared memory by the main
//     thread, plus the workers' statistics and the source's counters), its snapshot in the
//     columnar form of wire.ts (encodeFrame; decodeFrame gives the Snapshot back);
//   - `event: end` when the run ends, data: LiveEnd (the command's summary), then the stream closes.
// Every data line is one JSON object (JSON.stringify: no newline inside). A viewer that reads too
// slowly misses frames (they are dropped for it, never queued); `seq` shows the gaps.
// GET LIVE_FRAME_PATH answers one LiveFrame as application/json (for scripts and curl), its
// snapshot a plain Snapshot.
import type { WorkerStats } from '../dataplane/control.js';
import type { Snapshot } from './snapshot.js';
import { packSnapshot, unpackSnapshot, type WireSnapshot } from './wire.js';

export const LIVE_PATH = '/viz/live';
export const LIVE_FRAME_PATH = '/viz/live/frame';
/** Frames a second sent to each viewer (the issue asks for 10 to 30). */
export const LIVE_RATE_HZ = 20;
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

/** One SSE message. */
export function encodeEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A frame event, its snapshot in columns. */
export function encodeFrame(frame: LiveFrame): string {
  return encodeEvent(LIVE_EVENTS.frame, { ...frame, snapshot: packSnapshot(frame.snapshot) });
}

/** A LiveFrame from a frame event's data, checked enough to render (throws a TypeError naming what is wrong). */
export function decodeFrame(data: string): LiveFrame {
  const f = JSON.parse(data) as Partial<Omit<LiveFrame, 'snapshot'> & { snapshot: WireSnapshot }>;
  if (typeof f !== 'object' || f === null || typeof f.seq !== 'number' || typeof f.snapshot !== 'object' || f.snapshot === null) {
    throw new TypeError('live frame: not an object with seq and snapshot');
  }
  if (f.snapshot.version !== 1) throw new TypeError(`live frame: snapshot version ${String(f.snapshot.version)}, this page reads 1`);
  return { ...(f as Omit<LiveFrame, 'snapshot'>), snapshot: unpackSnapshot(f.snapshot) };
}
