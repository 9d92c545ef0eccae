// Live attach: `virtqueue sim --viz 0` and `virtqueue vhost --viz 0` (bin/virtqueue.js, compiled
// CLI) serve the visualizer and stream snapshots of their running queues (src/viz/stream.ts); an
// SSE client checks that the frames are the running queues' (indices and counters advance, the
// stages add up) and that the end of the stream carries the summary the command prints.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FEATURES } from '../src/index.js';
import { LIVE_FRAME_PATH, LIVE_PATH, LIVE_RATE_HZ, type LiveFrame } from '../src/viz/stream.js';
import { parseSim } from '../cli/sim/args.js';
import { parseVhost, type VhostCommand } from '../cli/vhost/args.js';
import type { QueueSnapshot } from '../src/viz/snapshot.js';
import { LiveClient } from './helpers/sse-client.js';
import { until } from './helpers/within.js';
import { startVizCli, lastLine } from './helpers/viz-cli.js';
import { isListening } from './helpers/unix-listening.js';
import { RawFrontEnd } from './helpers/vhost-user-frontend.js';
import { guest, socketDir, removeSocketDir, MiB } from './helpers/vhost-user-rig.js';
import { negotiate, setMemTable, F_PROTOCOL } from './helpers/vhost-user-setup.js';
import { setupPair, testFrame } from './helpers/vhost-net-frontend.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';

checkFdLeaks();
afterAll(removeSocketDir);

const compiled = fileURLToPath(new URL('../dist/cli/live/serve.js', import.meta.url));

beforeAll(() => {
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npm run build\` first (npm test does it in pretest)`);
});

const queue = (f: LiveFrame | undefined, name: string): QueueSnapshot | undefined => f?.snapshot.queues.find((q) => q.name === name);
const moved = (f: LiveFrame): number => f.workers.reduce((s, w) => s + w.packets, 0);

describe('virtqueue sim --viz', () => {
  for (const ring of ['split', 'packed'] as const) {
    it(`${ring}: streams both queues and the pool while the run goes; SIGINT ends the stream with the summary`, async () => {
      const run = startVizCli(['sim', '--viz', '0', '--ring', ring, '--queue-size', '64', '--packets', '1000000000', '--json']);
      const client = new LiveClient(`${await run.url}${LIVE_PATH.slice(1)}`);
      try {
        await client.until(() => client.hello !== undefined, 'hello');
        expect(client.hello).toMatchObject({ version: 1, source: 'sim', rateHz: LIVE_RATE_HZ, options: { ring, queueSize: 64, workers: 2, idle: 'adaptive' } });
        // Both sides of both queues found (the workers published their control blocks), and traffic moving.
        const ready = (f: LiveFrame): boolean => ['transmitq1', 'receiveq1'].every((n) => queue(f, n)?.driver && queue(f, n)?.device);
        // The ring's state (positions, indices, stages) differs between frames, and the workers' counters grow.
        const state = (f: LiveFrame): string => JSON.stringify([queue(f, 'transmitq1')!.driver, queue(f, 'transmitq1')!.device, queue(f, 'transmitq1')!.counters]);
        await client.until(() => {
          const fs = client.frames.filter(ready);
          return fs.length >= 4 && new Set(fs.map(state)).size > 1 && moved(fs.at(-1)!) > moved(fs[0]);
        }, 'frames with both sides of both queues, the ring moving');
        const frames = client.frames.filter(ready);
        for (let i = 1; i < frames.length; i++) {
          expect(frames[i].seq).toBeGreaterThan(frames[i - 1].seq);
          expect(moved(frames[i])).toBeGreaterThanOrEqual(moved(frames[i - 1]));
        }
        for (const f of frames) {
          for (const name of ['transmitq1', 'receiveq1']) {
            const q = queue(f, name)!;
            expect(q).toMatchObject({ layout: ring, queueSize: 64, features: expect.stringMatching(/^0x/) });
            expect(q.descriptors).toHaveLength(64);
            expect(q.driver!.status).toBe(0);
            expect(q.device!.status).toBe(0);
            const c = q.counters;
            expect(c.available + c.device + c.used + c.inFlight).toBeLessThanOrEqual(64);
            if (ring === 'split') expect(q.split!.avail.ring).toHaveLength(64);
            else {
              expect([0, 1]).toContain((q.driver as { availWrap: number }).availWrap);
              expect([0, 1]).toContain((q.device as { usedWrap: number }).usedWrap);
              expect(q.packed!.deviceEvent.mode).toMatch(/enable|disable|desc/);
            }
          }
          const pool = f.snapshot.pools[0];
          expect(pool).toMatchObject({ name: 'packet pool', size: 128, error: null });
          expect(pool.free + pool.inUse).toBe(pool.size);
        }
        // One frame on request too.
        const one = await (await fetch(`${await run.url}${LIVE_FRAME_PATH.slice(1)}`)).json() as LiveFrame;
        expect(one.snapshot.queues.map((q) => q.name)).toEqual(['transmitq1', 'receiveq1']);

        const last = frames.at(-1)!;
        run.child.kill('SIGINT');
        const r = await run.done;
        expect(r.status, r.stderr).toBe(0);
        await client.until(() => client.end !== undefined, 'the end event');
        expect(client.end!.reason).toBe('SIGINT');
        const summary = JSON.parse(lastLine(r.stdout)) as { finished: boolean; corrupt: number; workerStats: { packets: number }[]; buffers: { size: number }; sent: number; delivered: number };
        expect(client.end!.summary).toEqual(summary);
        // Stopped, not lost: the frames never sent (or on their way) are not counted lost.
        expect(summary).toMatchObject({ finished: false, stopped: 'SIGINT', lost: 0, corrupt: 0, duplicate: 0, buffers: { size: 128 } });
        expect(summary.delivered).toBeGreaterThan(0);
        expect(summary.sent).toBeGreaterThanOrEqual(summary.delivered);
        expect(summary.sent - summary.delivered).toBeLessThanOrEqual(2 * 64); // at most both rings' worth on their way
        expect(summary.sent).toBeLessThan(1_000_000_000);
        expect(summary.workerStats.reduce((s, w) => s + w.packets, 0)).toBeGreaterThanOrEqual(moved(last));
      } finally {
        client.close();
        run.child.kill('SIGKILL');
      }
    }, 60_000);
  }

  it('a run that finishes ends the stream with reason finished and exits 0', async () => {
    const run = startVizCli(['sim', '--viz', '0', '--packets', '20000', '--json']);
    const url = await run.url;
    const r = await run.done;
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(lastLine(r.stdout)) as { delivered: number; finished: boolean };
    expect(summary).toMatchObject({ delivered: 20000, sent: 20000, lost: 0, finished: true, stopped: null });
    await expect(fetch(`${url}${LIVE_PATH.slice(1)}`)).rejects.toThrow(); // the server closed with the run
  }, 60_000);

  it('a run stopped by SIGINT says so on a terminal: frames sent and delivered, none lost; a small ring keeps moving', async () => {
    // The reported case: --queue-size 16 --batch 8 (with busy-polling workers it moved a few
    // thousand frames in 6 s on a loaded 2-core machine).
    const run = startVizCli(['sim', '--viz', '0', '--queue-size', '16', '--batch', '8', '--packets', '2000000000']);
    const client = new LiveClient(`${await run.url}${LIVE_PATH.slice(1)}`);
    try {
      await client.until(() => client.frames.length > 0 && moved(client.frames.at(-1)!) > 0, 'frames moving');
      run.child.kill('SIGINT');
      const r = await run.done;
      expect(r.status, r.stderr).toBe(0);
      const row = (label: string): number => Number(new RegExp(`^  ${label}\\s+([\\d,]+)`, 'm').exec(r.stdout)?.[1].replaceAll(',', '') ?? NaN);
      expect(r.stdout).toContain('stopped by SIGINT before its end');
      expect(row('packets')).toBe(2_000_000_000);
      expect(row('lost')).toBe(0);
      expect(row('delivered')).toBeGreaterThan(0);
      expect(row('sent')).toBe(row('delivered') + row('in flight'));
      expect(row('in flight')).toBeLessThanOrEqual(2 * 16);
      expect(r.stdout).toMatch(/adaptive idle/);
    } finally {
      client.close();
      run.child.kill('SIGKILL');
    }
  }, 60_000);

  it('--viz with --workers 1, or a bad port, is refused', async () => {
    for (const args of [['--workers', '1'], ['--mode', 'sink']]) {
      const r = await startVizCli(['sim', '--viz', '0', ...args]).done;
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/--viz runs the simulation on worker threads|needs --mode loopback/);
    }
    const r = await startVizCli(['sim', '--viz', '70000']).done;
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--viz must be 0 to 65535');
  }, 30_000);

  it('--viz-rate: 10 to 30 frames a second, only with --viz; the stream runs at the rate asked for', async () => {
    expect(parseSim(['--viz', '0'])).toMatchObject({ viz: 0, vizRate: LIVE_RATE_HZ });
    expect(parseSim(['--viz', '0', '--viz-rate', '30'])).toMatchObject({ viz: 0, vizRate: 30 });
    expect((parseVhost(['--socket', '/tmp/x.sock', '--viz', '0', '--viz-rate', '25']) as VhostCommand).options).toMatchObject({ viz: 0, vizRate: 25 });
    expect(() => parseSim(['--viz', '0', '--viz-rate', '5'])).toThrow('--viz-rate must be 10 to 30, got 5');
    expect(() => parseSim(['--viz', '0', '--viz-rate', '31'])).toThrow('--viz-rate must be 10 to 30, got 31');
    expect(() => parseSim(['--viz-rate', '20'])).toThrow(/--viz-rate .* needs --viz PORT/);
    expect(() => parseVhost(['--socket', '/tmp/x.sock', '--viz-rate', '20'])).toThrow(/needs --viz PORT/);
    const run = startVizCli(['sim', '--viz', '0', '--viz-rate', '30', '--packets', '1000000000']);
    const client = new LiveClient(`${await run.url}${LIVE_PATH.slice(1)}`);
    try {
      await client.until(() => client.count >= 6, 'six frames');
      expect(client.hello).toMatchObject({ source: 'sim', rateHz: 30 });
      // Frames are stamped when read: at 30 a second, 33 ms apart (a tick may run late, never early).
      const gaps = client.frames.slice(1).map((f, i) => (f.at - client.frames[i].at) / (f.seq - client.frames[i].seq));
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(30);
      expect(Math.min(...gaps)).toBeLessThan(1000 / LIVE_RATE_HZ);
    } finally {
      client.close();
      run.child.kill('SIGKILL');
      await run.done;
    }
  }, 30_000);
});

/** Where a device is in its ring after `n` entries from the start: split, the index; packed, slot and wrap counter. */
const at = (layout: 'split' | 'packed', n: number): Record<string, number> =>
  (layout === 'split' ? { lastAvail: n & 0xffff } : { nextAvail: n % 64, availWrap: 1 ^ (Math.floor(n / 64) & 1) });

describe('virtqueue vhost --viz', () => {
  for (const layout of ['split', 'packed'] as const) it(`${layout}: streams the started vrings as a front-end moves frames; the counters reach the summary`, async () => {
    const path = join(socketDir(), `viz-${layout}.sock`);
    const run = startVizCli(['vhost', '--socket', path, '--viz', '0', '--json', '--guest-mem', '64']);
    const client = new LiveClient(`${await run.url}${LIVE_PATH.slice(1)}`);
    const g = guest(8 * MiB);
    let fe: RawFrontEnd | undefined;
    let pair;
    try {
      await client.until(() => client.frames.length > 0, 'a first frame');
      expect(client.hello).toMatchObject({ source: 'vhost' });
      expect(client.frames[0].snapshot.queues).toEqual([]); // nobody connected yet
      await until(() => isListening(path), `${path} listening`, 20_000);
      fe = RawFrontEnd.connect(path);
      await negotiate(fe, FEATURES.VERSION_1 | F_PROTOCOL | (layout === 'packed' ? FEATURES.RING_PACKED : 0n));
      expect(await setMemTable(fe, g)).toBe(0n);
      pair = await setupPair(fe, g, 0, 64, 2048, layout);
      pair.postRx(64);
      const latest = (): LiveFrame | undefined => client.frames.at(-1);
      for (let round = 1; round <= 3; round++) {
        const frames = Array.from({ length: 32 }, (_, i) => testFrame(64 + i, round * 100 + i));
        pair.send(frames);
        const got = await pair.receive(32);
        expect(got.map((f) => f.frame)).toEqual(frames);
        pair.postRx(32, 0);
        const sent = 32 * round;
        // A frame read after this round: the device took `sent` frames from transmitq1 and used
        // `sent` receive buffers; 64 receive buffers are posted again; it holds none between bursts.
        await client.until(() => {
          const tx = queue(latest(), 'transmitq1');
          const rx = queue(latest(), 'receiveq1');
          return Object.entries(at(layout, sent)).every(([k, v]) => (tx?.device as Record<string, unknown> | null)?.[k] === v)
            && rx?.counters.available === 64 && (latest()!.counters.pair0 as Record<string, number>).rxPackets === sent;
        }, `a frame after round ${round}`);
        const f = latest()!;
        const tx = queue(f, 'transmitq1')!;
        const rx = queue(f, 'receiveq1')!;
        expect(tx).toMatchObject({ layout, queueSize: 64, driver: null, anomalies: [] });
        expect(tx.device).toMatchObject({ status: 0, inFlight: 0 });
        expect(rx.device).toMatchObject(at(layout, sent));
        expect(tx.counters).toEqual({ available: 0, device: 0, used: 0, inFlight: 0, free: null });
        if (layout === 'split') {
          expect(tx.device).toMatchObject({ usedIdx: sent });
          expect(tx.split!.avail.idx).toBe(sent);
          expect(tx.split!.used.idx).toBe(sent);
          expect(rx.device).toMatchObject({ usedIdx: sent });
          expect(rx.split!.avail.idx).toBe(64 + sent);
        } else {
          expect(tx.device).toMatchObject({ nextUsed: sent % 64, usedWrap: 1 ^ (Math.floor(sent / 64) & 1) });
          // Every receive slot holds an available buffer (the ring is full of them).
          expect(rx.chains.every((c) => c.stage === 'available' && c.descriptors === 1)).toBe(true);
        }
        expect(rx.descriptors.filter((d) => d.owner === 'device')).toHaveLength(64);
        expect(f.counters.pair0).toMatchObject({ rxPackets: sent, txPackets: sent });
        expect(f.workers).toHaveLength(1);
      }
      fe.close();
      fe = undefined;
      await client.until(() => latest()!.snapshot.queues.length === 0, 'the vrings gone with the front-end');
      run.child.kill('SIGINT');
      const r = await run.done;
      expect(r.status, r.stderr).toBe(0);
      await client.until(() => client.end !== undefined, 'the end event');
      const summary = JSON.parse(lastLine(r.stdout)) as { rx_packets: number; tx_packets: number };
      expect(client.end).toEqual({ reason: 'SIGINT', summary });
      expect(summary).toMatchObject({ rx_packets: 96, tx_packets: 96 });
      expect(latest()!.counters.pair0).toMatchObject({ rxPackets: 96, txPackets: 96 });
    } finally {
      fe?.close();
      pair?.close();
      g.close();
      client.close();
      run.child.kill('SIGKILL');
    }
  }, 60_000);
});
