// The live stream's server side (cli/live/live-stream.ts) in this process, with a sampler the
// test controls: nothing is sampled while no viewer is connected, every viewer gets the same
// frames at the stream's rate, a frame that cannot be read is skipped without ending the stream,
// and the end reaches connected and later viewers.
import { afterEach, describe, expect, it } from 'vitest';
import { startVizServer, type VizServer } from '../cli/viz/server.js';
import { LiveStream, type FrameSample } from '../cli/live/live-stream.js';
import { LIVE_FRAME_PATH, LIVE_PATH, type LiveHello } from '../src/viz/stream.js';
import { LiveClient } from './helpers/sse-client.js';
import { sleep } from './helpers/within.js';

const hello: LiveHello = { version: 1, source: 'sim', rateHz: 50, options: { ring: 'split' } };
let server: VizServer | undefined;
const clients: LiveClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

async function serve(sample: () => FrameSample): Promise<{ stream: LiveStream; url: string }> {
  const stream = new LiveStream(hello, sample, 50);
  server = await startVizServer({ port: 0, routes: stream.route });
  return { stream, url: `${server.url}${LIVE_PATH.slice(1)}` };
}

const connect = (url: string): LiveClient => {
  const c = new LiveClient(url);
  clients.push(c);
  return c;
};

describe('live stream', () => {
  it('samples only while a viewer is connected, the same frames for every viewer', async () => {
    let calls = 0;
    const { stream, url } = await serve(() => ({ snapshot: { version: 1, queues: [], pools: [] }, workers: [], counters: { calls: ++calls } }));
    await sleep(200);
    expect(calls).toBe(0); // no viewer: no per-frame work
    const a = connect(url);
    const b = connect(url);
    await a.until(() => a.count >= 5 && b.count >= 5, 'five frames each');
    expect(a.hello).toEqual(hello);
    expect(stream.viewerCount).toBe(2);
    // One sample per tick, shared: the frames both got carry the same seq and counters.
    const common = a.frames.filter((f) => b.frames.some((g) => g.seq === f.seq));
    expect(common.length).toBeGreaterThan(2);
    for (const f of common) expect(b.frames.find((g) => g.seq === f.seq)!.counters).toEqual(f.counters);
    expect(calls).toBeLessThanOrEqual(Math.max(...a.frames.map((f) => f.seq)) + 1);
    a.close();
    b.close();
    await sleep(150);
    expect(stream.viewerCount).toBe(0);
    const after = calls;
    await sleep(200);
    expect(calls).toBe(after); // sampling stopped with the last viewer
  });

  it('a frame that cannot be read is skipped; the stream goes on and /frame answers 500 with why', async () => {
    let n = 0;
    const { stream, url } = await serve(() => {
      if (++n % 2 === 0) throw new Error('memory gone');
      return { snapshot: { version: 1, queues: [], pools: [] }, workers: [], counters: { n } };
    });
    const a = connect(url);
    await a.until(() => a.count >= 3, 'three frames');
    expect(stream.failed).toBeGreaterThan(0);
    expect(stream.lastError).toBe('memory gone');
    expect(a.frames.every((f) => (f.counters.n as number) % 2 === 1)).toBe(true);
    a.close();
    await sleep(100); // no viewer: only the two requests below sample, one after the other
    const frame = async (): Promise<number> => (await fetch(`${server!.url}${LIVE_FRAME_PATH.slice(1)}`)).status;
    const statuses = [await frame(), await frame()];
    expect(statuses.sort()).toEqual([200, 500]);
  });

  it('the end reaches the viewers, closes their streams, and is all a later viewer gets', async () => {
    const { stream, url } = await serve(() => ({ snapshot: { version: 1, queues: [], pools: [] }, workers: [], counters: {} }));
    const a = connect(url);
    await a.until(() => a.count >= 1, 'a frame');
    stream.end({ reason: 'finished', summary: { delivered: 7 } });
    await a.until(() => a.closed, 'the stream closed');
    expect(a.end).toEqual({ reason: 'finished', summary: { delivered: 7 } });
    const b = connect(url);
    await b.until(() => b.closed, 'the later stream closed');
    expect(b.hello).toEqual(hello);
    expect(b.end?.reason).toBe('finished');
    expect(b.count).toBe(0);
  });
});
