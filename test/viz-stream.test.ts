// The live stream's frames (src/viz/stream.ts: ring images the viewer draws), and its server
// side (cli/live/live-stream.ts) in this process, with a sampler the test controls: nothing is sampled while no viewer is connected, every viewer gets the same
// frames at the stream's rate, a frame that cannot be read is skipped without ending the stream,
// and the end reaches connected and later viewers.
import { afterEach, describe, expect, it } from 'vitest';
import { startVizServer, type VizServer } from '../cli/viz/server.js';
import { LiveStream, type FrameSample } from '../cli/live/live-stream.js';
import { LIVE_FRAME_PATH, LIVE_MAX_ENTRIES, LIVE_PATH, decodeFrame, encodeFrame, type ImageFrame, type LiveHello, type WireFrame } from '../src/viz/stream.js';
import { takeSnapshot, type QueueSource } from '../src/viz/snapshot.js';
import { captureImage, type RingImage } from '../src/viz/ring-image.js';
import { snapshotPool } from '../src/viz/pool-snapshot.js';
import { createSharedMemory, MemoryPlan, ChainBatch, RING_FEATURES, Mempool } from '../src/index.js';
import { loadEngine } from '../src/node.js';
import { allocRing, createDevice, createDriver } from '../src/virtqueue/factory.js';
import { LiveClient } from './helpers/sse-client.js';
import { sleep } from './helpers/within.js';

const EMPTY: RingImage = { queues: [], pools: [], segments: [] };
/** An event's data as EventSource gives it: its data lines, joined by newlines. */
const dataOf = (event: string): string => event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
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
  it('frames travel as ring images: the viewer draws the same snapshot the server would, and a bad image is refused by name', () => {
    const memory = createSharedMemory(2 << 20);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory);
    const sources: QueueSource[] = (['split', 'packed'] as const).map((layout, i) => {
      const areas = allocRing(plan, { layout, queueSize: 256 });
      const driver = createDriver(engine, plan, layout, areas, { features: RING_FEATURES.VERSION_1 });
      const device = createDevice(engine, plan, layout, areas, { features: RING_FEATURES.VERSION_1 });
      const add = new ChainBatch(engine, plan, 64);
      const buf = plan.alloc(64 * 2048, 64, 'buffers');
      for (let k = 0; k < 40; k++) add.single(k, buf + k * 2048, 1518, k % 2 === 0);
      driver.add(add);
      const popped = new ChainBatch(engine, plan, 64);
      device.pop(popped, 10 + i);
      return { name: `q${i}`, layout, areas, driverCb: driver.cb, deviceCb: device.cb };
    });
    const pool = Mempool.create(engine, plan, { size: 64, dataRoom: 128, cacheSize: 4 });
    const pools = [snapshotPool(engine, { name: 'pool', addr: pool.addr })];
    const frame: ImageFrame = { seq: 3, at: 1, source: 'sim', image: captureImage(engine, sources, pools), workers: [], counters: { moved: 9 } };
    const data = dataOf(encodeFrame(frame, b64));
    const direct = takeSnapshot(engine, sources, [{ name: 'pool', addr: pool.addr }], { maxEntries: LIVE_MAX_ENTRIES });
    const got = decodeFrame(data);
    expect(got).toEqual({ seq: 3, at: 1, source: 'sim', workers: [], counters: { moved: 9 }, snapshot: direct });
    expect(got.snapshot.queues.map((q) => q.counters.device)).toEqual([10, 11]);
    // The rings, the control blocks and their shadows (about 25 KiB for these two queues of 256
    // with both sides' blocks), in base64: not the whole 2 MiB memory.
    const raw = frame.image.segments.reduce((n, sg) => n + sg.bytes.length, 0);
    expect(raw).toBeLessThan(28 * 1024);
    expect(data.length).toBeLessThan((raw * 4) / 3 + 2048);

    const [head, ...segs] = data.split('\n');
    const wire = JSON.parse(head) as WireFrame;
    const bad = (f: (w: WireFrame, lines: string[]) => void): string => { const w = structuredClone(wire); const l = [...segs]; f(w, l); return [JSON.stringify(w), ...l].join('\n'); };
    expect(() => decodeFrame(JSON.stringify({ seq: 1, snapshot: direct }))).toThrow(/no ring image \(a plain snapshot/);
    expect(() => decodeFrame(bad((_, l) => { l[0] = l[0].replace(/ .*/, ' %%%'); }))).toThrow(/image segment 0 is not an address and base64/);
    expect(() => decodeFrame(bad((_, l) => { l[0] = l[0].replace(/ .{4}/, ' Z'); }))).toThrow(/image segment 0 is not base64/);
    expect(() => decodeFrame(bad((_, l) => { l.reverse(); }))).toThrow(/overlaps or precedes/);
    expect(() => decodeFrame(bad((_, l) => { l.pop(); }))).toThrow(/image of \d+ segments, \d+ sent/);
    expect(() => decodeFrame(bad((w) => { w.image.version = 2 as 1; }))).toThrow(/image version 2/);
    expect(() => decodeFrame(bad((w) => { (w.image.queues[0] as { layout: string }).layout = 'ring'; }))).toThrow(/not queue sources/);
    expect(() => decodeFrame(bad((w) => { w.image.queues[0].areas.queueSize = 1.5; }))).toThrow(/not queue sources/);
    expect(() => decodeFrame(bad((w) => { w.image.queues[0].deviceCb = 2 ** 40; }))).toThrow(/not queue sources/);
    expect(() => decodeFrame(bad((_, l) => { l[l.length - 1] = l[l.length - 1].replace(/^\d+/, String(2 ** 32 - 8)); }))).toThrow(/ends past 4 GiB/);
    expect(() => decodeFrame(bad((w) => { w.image.queues = Array.from({ length: 65 }, () => w.image.queues[0]); }))).toThrow(/65 queues .* more than this page draws/);
    expect(() => decodeFrame(bad((w, l) => { w.image.segments = 40; l.push(...Array.from({ length: 40 - l.length }, (_, k) => `${(2 ** 31) + k * 8} AAAA`)); }))).toThrow(/40 image segments for 2 queues/);
    expect(() => decodeFrame(`{"seq":1,${data}`)).toThrow(/first line is not JSON/);
    // A segment missing is drawn as memory the reader cannot see: anomalies, no exception.
    const partial = decodeFrame(bad((w, l) => { w.image.segments--; l.shift(); }));
    expect(partial.snapshot.queues.flatMap((q) => q.anomalies).join('\n')).toMatch(/not inside the memory|outside the memory/);
  });

  it('samples only while a viewer is connected, the same frames for every viewer', async () => {
    let calls = 0;
    const { stream, url } = await serve(() => ({ image: EMPTY, workers: [], counters: { calls: ++calls } }));
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
      return { image: EMPTY, workers: [], counters: { n } };
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
    const { stream, url } = await serve(() => ({ image: EMPTY, workers: [], counters: {} }));
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
