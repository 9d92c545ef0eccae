// The live stream's server side (protocol: src/viz/stream.ts): a route for the visualizer's
// server (cli/viz/server.ts `routes`) that sends each connected viewer a frame rateHz times a
// second (--viz-rate; LIVE_RATE_HZ by default). The frame is sampled, serialised and written
// once per tick for all viewers, and only while at least one is connected: with no viewer the dataplane's process does no
// per-frame work at all. A viewer whose socket is still full from the last frame misses this one.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ISOLATION_HEADERS, type RouteHandler } from '../viz/server.js';
import {
  LIVE_EVENTS, LIVE_FRAME_PATH, LIVE_MAX_ENTRIES, LIVE_PATH, LIVE_RATE_HZ, encodeEvent, encodeFrame,
  type ImageFrame, type LiveEnd, type LiveFrame, type LiveHello,
} from '../../src/viz/stream.js';
import { snapshotImage } from '../../src/viz/ring-image.js';

/** What the command reads for each frame (the rest of the frame the stream fills in). */
export type FrameSample = Pick<ImageFrame, 'image' | 'workers' | 'counters'>;

/** Straight from the shared memory to base64 (the segments are views of it). */
const base64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

export class LiveStream {
  private readonly viewers = new Set<ServerResponse>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private seq = 0;
  private ending: LiveEnd | undefined;
  /** Frames sent (to at least one viewer) and frames a viewer missed because it was still busy. */
  sent = 0;
  skipped = 0;
  /** Frames that could not be read, and why the last one could not. */
  failed = 0;
  lastError: string | undefined;

  constructor(
    private readonly hello: LiveHello,
    private readonly sample: () => FrameSample,
    private readonly rateHz = LIVE_RATE_HZ,
  ) {}

  /** The route to mount on the visualizer's server. */
  readonly route: RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    if (url.pathname === LIVE_PATH && req.method === 'GET') { this.attach(req, res); return true; }
    if (url.pathname === LIVE_FRAME_PATH && req.method === 'GET') {
      let status = 200;
      let body: string;
      try {
        const { image, ...rest } = this.frame();
        const frame: LiveFrame = { ...rest, snapshot: snapshotImage(image, { maxEntries: LIVE_MAX_ENTRIES }) };
        body = JSON.stringify(frame);
      } catch (e) {
        status = 500;
        body = JSON.stringify({ error: e instanceof Error ? e.message : String(e) });
      }
      res.writeHead(status, { ...ISOLATION_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return true;
    }
    return false;
  };

  get viewerCount(): number {
    return this.viewers.size;
  }

  private frame(): ImageFrame {
    return { seq: ++this.seq, at: Date.now(), source: this.hello.source, ...this.sample() };
  }

  private attach(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { ...ISOLATION_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    res.write(`retry: 1000\n${encodeEvent(LIVE_EVENTS.hello, this.hello)}`);
    if (this.ending) { res.end(encodeEvent(LIVE_EVENTS.end, this.ending)); return; }
    this.viewers.add(res);
    const gone = (): void => { this.viewers.delete(res); if (this.viewers.size === 0) this.pause(); };
    req.on('close', gone);
    res.on('error', gone);
    this.timer ??= setInterval(() => this.tick(), 1000 / this.rateHz);
  }

  private tick(): void {
    if (this.viewers.size === 0) return this.pause();
    let msg: string;
    try {
      msg = encodeFrame(this.frame(), base64);
    } catch (e) {
      // A frame that cannot be read (the run is being torn down) is skipped; the dataplane goes on.
      this.failed++;
      this.lastError = e instanceof Error ? e.message : String(e);
      return;
    }
    this.sent++;
    for (const v of this.viewers) {
      if (v.writableNeedDrain) this.skipped++;
      else v.write(msg);
    }
  }

  private pause(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Sends the last frame and the end to every viewer and closes their streams; later viewers get the end at once. */
  end(info: LiveEnd): void {
    if (this.ending) return;
    if (this.viewers.size > 0) this.tick();
    this.ending = info;
    this.pause();
    const msg = encodeEvent(LIVE_EVENTS.end, info);
    for (const v of this.viewers) v.end(msg);
    this.viewers.clear();
  }
}
