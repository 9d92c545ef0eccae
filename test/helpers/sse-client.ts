// A server-sent events client over node:http for the live visualizer's stream (src/viz/stream.ts):
// parses `event:` / `data:` messages as they arrive and keeps them for the test (or the bench)
// to wait on. Localhost only; no reconnection (a test wants to see the stream end).
import { request, type ClientRequest } from 'node:http';
import { LIVE_EVENTS, decodeFrame, type LiveEnd, type LiveFrame, type LiveHello } from '../../src/viz/stream.js';

export interface SseMessage { event: string; data: string }

export class LiveClient {
  readonly frames: LiveFrame[] = [];
  hello: LiveHello | undefined;
  end: LiveEnd | undefined;
  /** Bytes of frame data received (what consuming the stream at full rate costs). */
  bytes = 0;
  closed = false;
  error: Error | undefined;
  private readonly req: ClientRequest;
  private waiters: (() => void)[] = [];

  /** `keep`: how many frames to keep (older ones are dropped; the count goes on in `count`). */
  constructor(url: string, private readonly keep = 1000) {
    this.req = request(url, { headers: { Accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) this.fail(new Error(`${url}: HTTP ${res.statusCode}`));
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let cut: number;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          this.message(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
      });
      res.on('end', () => { this.closed = true; this.wake(); });
      res.on('error', (e) => this.fail(e));
    });
    this.req.on('error', (e) => this.fail(e));
    this.req.end();
  }

  /** Frames received so far (including those no longer kept). */
  count = 0;

  private message(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length === 0) return;
    const text = data.join('\n');
    if (event === LIVE_EVENTS.hello) this.hello = JSON.parse(text) as LiveHello;
    else if (event === LIVE_EVENTS.end) this.end = JSON.parse(text) as LiveEnd;
    else if (event === LIVE_EVENTS.frame) {
      this.bytes += text.length;
      this.count++;
      try {
        this.frames.push(decodeFrame(text));
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (this.frames.length > this.keep) this.frames.shift();
    }
    this.wake();
  }

  private fail(e: Error): void {
    this.error ??= e;
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `ok()` holds; rejects when the stream closed first or `ms` passed. */
  until(ok: () => boolean, what: string, ms = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what} (${this.count} frames)`)), ms);
      const check = (): void => {
        if (ok()) { clearTimeout(timer); resolve(); return; }
        if (this.closed) { clearTimeout(timer); reject(this.error ?? new Error(`stream closed before ${what} (${this.count} frames)`)); return; }
        this.waiters.push(check);
      };
      check();
    });
  }

  close(): void {
    this.req.destroy();
  }
}
