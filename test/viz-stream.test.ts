// The live stream's server side (cli/live/live-stream.ts) in this process, with a sampler the
// test controls: nothing is sampled while no viewer is connected, every viewer gets the same
// frames at the stream's rate, a frame that cannot be read is skipped without ending the stream,
// and the end reaches connected and later viewers.
import { afterEach, describe, expect, it } from 'vitest';
import { startVizServer, type VizServer } from '../cli/viz/server.js';
import { LiveStream, type FrameSample } from '../cli/live/live-stream.js';
import { LIVE_FRAME_PATH, LIVE_PATH, decodeFrame, encodeFrame, type LiveFrame, type LiveHello } from '../src/viz/stream.js';
import type { QueueSnapshot, Snapshot } from '../src/viz/snapshot.js';
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
  it('frames travel in columns: the snapshot comes back equal (indices not in a run too), in well under half the bytes', () => {
    const entry = (index: number) => ({
      index, addr: `0x${(0x10000 + index * 0x900).toString(16)}`, len: 1530, flags: index % 3 === 0 ? 3 : 2,
      next: index % 3 === 0 ? index + 1 : null, id: null, owner: (['free', 'driver', 'device', 'chain'] as const)[index % 4], chain: index % 4 === 3 ? index - 1 : null,
    });
    const queue = (name: string, indices: number[]): QueueSnapshot => ({
      name, layout: 'split', queueSize: 256, features: '0x130000000', areas: { desc: 4096, driver: 8192, device: 12288, queueSize: 256 },
      driver: null, device: null, descriptors: indices.map(entry), truncated: 0,
      split: { avail: { flags: 0, idx: 300, ring: indices.map((i) => i), usedEvent: 17 }, used: { flags: 1, idx: 290, ring: indices.map((i) => ({ id: i, len: 76 })), availEvent: 300 } },
      packed: null, chains: indices.filter((i) => i % 3 === 0).map((head) => ({ head, stage: 'device' as const, descriptors: 2, indirect: head % 9 === 0, slot: null })),
      counters: { available: 1, device: 2, used: 3, inFlight: 0, free: 100 }, anomalies: ['a torn read'],
    });
    const snapshot: Snapshot = { version: 1, queues: [queue('receiveq0', [...Array(256).keys()]), queue('transmitq0', [5, 9, 200])], pools: [] };
    const frame: LiveFrame = { seq: 3, at: 1, source: 'sim', snapshot, workers: [], counters: { moved: 9 } };
    const event = encodeFrame(frame);
    const data = event.split('\n').find((l) => l.startsWith('data: '))!.slice(6);
    expect(decodeFrame(data)).toEqual(frame);
    expect(data.length).toBeLessThan(0.45 * JSON.stringify(frame).length);
    expect(() => decodeFrame(JSON.stringify(frame))).toThrow(/columnar form/);
  });

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
