// The virtio-user port against our own back-end in another process (`virtqueue vhost --fwd io`,
// which sends every frame back on the queue pair it came from): two Node processes exchanging
// frames through the port's memfd, each frame stamped and checked byte for byte; split and
// packed, one and two queue pairs; the back-end killed and started again (the port reclaims its
// buffers, sets the rings up anew and traffic resumes).
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { VirtioUserPort } from '../src/virtio-user/port.js';
import { PARK_MS } from '../src/virtio-user/waits.js';
import { VirtioUserWorkers } from '../src/virtio-user/workers.js';
import { Forwarder } from '../src/virtio-user/forward.js';
import { txonlyFrame } from '../src/virtio-net/frames.js';
import { vringBase } from '../src/vhost-user/vring.js';
import { startVirtqueueVhost, virtqueueBin, type VirtqueueVhost } from './helpers/testpmd.js';
import { socketDir, removeSocketDir } from './helpers/vhost-user-rig.js';
import { until } from './helpers/within.js';
import { stamped, echoStamped, mergedBuffers } from './helpers/stamped-frame.js';
import { featureNames } from '../src/features.js';
import * as Q from '../assembly/layout/queue.js';
import * as F from '../assembly/layout/features.js';

afterAll(removeSocketDir);

let n = 0;
const path = (): string => join(socketDir(), `vu-${n++}.sock`);

/** Sends `count` stamped frames on each queue pair and checks each one coming back, byte for byte. */
async function exchange(port: VirtioUserPort, count: number, from = 0): Promise<void> {
  const out = port.burst(32);
  const b = port.burst(16);
  for (let q = 0; q < port.queues.length; q++) {
    const got: Uint8Array[] = [];
    const len = (seq: number): number => 60 + ((seq * 97) % 1400);
    let sent = 0;
    await until(() => {
      if (sent < count && port.up) {
        const k = Math.min(16, count - sent);
        for (let i = 0; i < k; i++) b.handles[i] = port.alloc(stamped(q, from + sent + i, len(from + sent + i)))!;
        b.count = k;
        const took = port.txBurst(q, b, k);
        if (took < k) port.free(b.fill(b.handles.slice(took, k)));
        sent += took;
      }
      const m = port.rxBurst(q, out);
      for (let i = 0; i < m; i++) got.push(port.data(out.handles[i]).slice());
      port.free(out, m);
      return got.length >= count;
    }, `${count} frames back on queue pair ${q}`, 10_000);
    expect(got).toHaveLength(count);
    for (let i = 0; i < count; i++) expect(Buffer.from(got[i]).equals(Buffer.from(stamped(q, from + i, len(from + i))))).toBe(true);
    const s = port.stats(q);
    expect(s.rxPackets).toBeGreaterThanOrEqual(count);
    expect(s.txPackets).toBeGreaterThanOrEqual(count);
  }
}

/** `virtqueue vhost --fwd io`, with its inflight state file (a restarted one resumes split rings from it). */
async function backend(socket: string, queues = 1): Promise<VirtqueueVhost> {
  return startVirtqueueVhost({ socket, fwd: 'io', duration: 60, queues, extraArgs: ['--guest-mem', '64'] });
}

describe('virtio-user port <-> virtqueue vhost (another process)', () => {
  for (const layout of ['split', 'packed'] as const) {
    for (const queues of [1, 2]) {
      it(`${layout}, ${queues} queue pair(s): stamped frames come back byte for byte`, async () => {
        const socket = path();
        const be = await backend(socket, queues);
        const port = await VirtioUserPort.open({ socket, layout, queues, queueSize: 128, poolSize: 1024 });
        try {
          // The rings run with the session's ring features (our back-end offers IN_ORDER and EVENT_IDX).
          expect(featureNames(port.features!)).toEqual(expect.arrayContaining(['IN_ORDER', 'EVENT_IDX']));
          for (const q of port.queues) {
            for (const r of [q.rx, q.tx]) {
              expect((port.engine.u32[(r.driver.cb + Q.CB_FEATURES_HI) >>> 2] >>> (F.F_IN_ORDER - 32)) & 1).toBe(1);
              expect((port.engine.u32[(r.driver.cb + Q.CB_FEATURES_LO) >>> 2] >>> F.F_EVENT_IDX) & 1).toBe(1);
            }
          }
          await exchange(port, 300);
          const frames = port.frames(0);
          await port.send(stamped(0, 424242, 200));
          const echo = await frames.next();
          expect(Buffer.from(echo.value as Uint8Array).equals(Buffer.from(stamped(0, 424242, 200)))).toBe(true);
          // GET_VRING_BASE stops each ring where the back-end is: on transmitq1 after every frame sent.
          const sent = port.stats(0).txPackets;
          const at = { nextAvail: layout === 'split' ? sent : sent % 128, availWrap: (Math.floor(sent / 128) + 1) & 1 };
          const bases = await port.shutdown();
          expect(bases).toHaveLength(2 * queues);
          expect(bases[1]).toBe(vringBase(layout, { ...at, nextUsed: at.nextAvail, usedWrap: at.availWrap }));
        } finally {
          port.close();
          await be.stop();
        }
        expect(port.pool.freeCount).toBe(port.pool.size);
      }, 30_000);
    }
  }

  for (const layout of ['split', 'packed'] as const) {
    it(`${layout}: frames() sleeps on the receive ring's call eventfd: an idle iterator checks its ring a few times a second, not every millisecond, and each echo wakes it`, async () => {
      const socket = path();
      const be = await backend(socket);
      const port = await VirtioUserPort.open({ socket, layout, queueSize: 64, poolSize: 256 });
      try {
        let polls = 0;
        const rxBurst = port.rxBurst.bind(port);
        port.rxBurst = (...a: Parameters<typeof rxBurst>): number => { polls++; return rxBurst(...a); };
        const frames = port.frames(0);
        const next = frames.next();
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, 600));
        const idle = polls;
        const ms = performance.now() - t0;
        // Parked: one check per PARK_MS at most (plus the first); a 1 ms poll would be ~600.
        expect(idle).toBeGreaterThanOrEqual(1);
        expect(idle).toBeLessThanOrEqual(Math.ceil(ms / PARK_MS) + 2);
        // The echo wakes the iterator (the back-end signals the receive ring's call eventfd);
        // then request and answer, one at a time, the iterator parking between them.
        await port.send(stamped(0, 99, 150));
        const echo = await next;
        expect(Buffer.from(echo.value as Uint8Array).equals(Buffer.from(stamped(0, 99, 150)))).toBe(true);
        for (let i = 0; i < 20; i++) {
          await port.send(stamped(0, 1000 + i, 100 + i));
          const r = await frames.next();
          expect(Buffer.from(r.value as Uint8Array).equals(Buffer.from(stamped(0, 1000 + i, 100 + i))), `echo ${i}`).toBe(true);
        }
      } finally {
        port.close();
        await be.stop();
      }
      expect(port.pool.freeCount).toBe(port.pool.size);
    }, 30_000);
  }

  for (const layout of ['split', 'packed'] as const) it(`${layout}: the back-end killed and started again: buffers reclaimed, rings set up anew, traffic resumes`, async () => {
    const socket = path();
    let be = await backend(socket);
    const port = await VirtioUserPort.open({ socket, layout, queueSize: 128, poolSize: 1024, retryMs: 50 });
    try {
      await exchange(port, 100);
      // Frames in flight when it dies.
      const one = port.burst(1);
      for (let i = 0; i < 10; i++) expect(port.txBurst(0, one.fill([port.alloc(stamped(0, i, 64))!]), 1)).toBe(1);
      process.kill(be.pid, 'SIGKILL');
      await until(() => !port.up, 'the port seeing the back-end die', 5_000);
      expect(port.pool.freeCount).toBe(port.pool.size);
      be = await backend(socket);
      await until(() => port.up, 'the port setting up the new back-end', 10_000);
      expect(port.connections).toBe(2);
      await exchange(port, 100, 1000);
    } finally {
      port.close();
      await be.stop();
    }
    expect(port.pool.freeCount).toBe(port.pool.size);
  }, 40_000);

  it('examples/virtio-user-echo.mjs: five greetings sent and echoed', async () => {
    const socket = path();
    const be = await backend(socket);
    try {
      const example = fileURLToPath(new URL('../examples/virtio-user-echo.mjs', import.meta.url));
      const out = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, [example, socket], { timeout: 15_000 }, (e, stdout, stderr) => (e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout)));
      });
      expect(out.match(/got 64 bytes: hello #\d/g)).toEqual([0, 1, 2, 3, 4].map((i) => `got 64 bytes: hello #${i}`));
      expect(out).toMatch(/txPackets: 5/);
    } finally {
      await be.stop();
    }
  }, 30_000);

  it('on Dataplane workers (2 pairs, 2 workers, io --tx-first): frames circulate; the back-end killed and restarted; the pool whole', async () => {
    const socket = path();
    let be = await backend(socket, 2);
    const port = VirtioUserPort.create({ socket, layout: 'packed', queues: 2, queueSize: 128, poolSize: 2048, workers: 2, retryMs: 50 });
    const workers = await VirtioUserWorkers.start(port, { workers: 2, mode: 'io', txFirst: true });
    const moved = (): number[] => port.queues.map((q) => q.stats.rxPackets);
    try {
      await port.connect();
      await until(() => moved().every((n) => n > 1000), 'frames circulating on both pairs', 10_000);
      expect(() => port.rxBurst(0, port.burst(1))).toThrow(/run on Dataplane workers/);
      process.kill(be.pid, 'SIGKILL');
      await until(() => !port.up, 'the port seeing the back-end die', 5_000);
      await until(() => port.pool.freeCount === port.pool.size, 'every buffer back in the pool', 5_000);
      const before = moved();
      be = await backend(socket, 2);
      await until(() => port.up, 'the port setting up the new back-end', 10_000);
      await until(() => moved().every((n, k) => n > before[k] + 1000), 'frames circulating again', 10_000);
      expect(port.connections).toBe(2);
      await workers.stop();
      await port.shutdown();
    } finally {
      await workers.stop().catch(() => undefined);
      port.close();
      await be.stop();
    }
    expect(port.pool.freeCount).toBe(port.pool.size);
  }, 40_000);

  it('Forwarder: txonly frames filled by the engine (--frame-size 300) and macswap, checked byte for byte after the echo', async () => {
    const socket = path();
    const be = await backend(socket);
    const port = await VirtioUserPort.open({ socket, queueSize: 64, poolSize: 512 });
    try {
      const want = new Uint8Array(300);
      want.set(txonlyFrame());
      const tx = new Forwarder(port, 'txonly', 8, 300);
      expect(tx.txBurst(0)).toBe(8);
      const out = port.burst(32);
      const got: Uint8Array[] = [];
      await until(() => {
        const n = port.rxBurst(0, out);
        for (let i = 0; i < n; i++) got.push(port.data(out.handles[i]).slice());
        port.free(out, n);
        return got.length >= 8;
      }, '8 txonly frames echoed');
      for (const f of got) expect(Buffer.from(f).equals(Buffer.from(want))).toBe(true);
      // macswap: what comes back has its MACs swapped once by us.
      await port.send(stamped(0, 7, 100));
      const swap = new Forwarder(port, 'macswap', 8);
      let n = 0;
      await until(() => { n = port.rxBurst(0, out); return n > 0; }, 'the frame echoed');
      port.engine.exports.vuqMacSwap(out.ptr, n);
      const f = port.data(out.handles[0]).slice();
      const orig = stamped(0, 7, 100);
      expect([...f.subarray(0, 6)]).toEqual([...orig.subarray(6, 12)]);
      expect([...f.subarray(6, 12)]).toEqual([...orig.subarray(0, 6)]);
      expect(Buffer.from(f.subarray(12)).equals(Buffer.from(orig.subarray(12)))).toBe(true);
      port.free(out, n);
      expect(swap.dropped).toBe(0);
    } finally {
      await port.shutdown();
      await be.stop();
    }
    expect(port.pool.freeCount).toBe(port.pool.size);
  }, 30_000);

  for (const layout of ['split', 'packed'] as const) {
    it(`${layout}: mergeable receive buffers: frames longer than a buffer go out as chains and come back merged, byte for byte`, async () => {
      const socket = path();
      const be = await backend(socket);
      // 512-byte buffers: a 1500-byte frame takes 3 of them each way.
      const port = await VirtioUserPort.open({ socket, layout, queueSize: 64, poolSize: 512, dataRoom: 512 });
      try {
        const lens = [100, 511, 512, 513, 1024, 1500, 1500, 2000, 60, 1499];
        const { got, segs } = await echoStamped(port, lens, 'echoed');
        for (let i = 0; i < lens.length; i++) expect(Buffer.from(got[i]).equals(Buffer.from(stamped(0, i, lens[i]))), `frame ${i} (${lens[i]} bytes)`).toBe(true);
        // A receive buffer is posted with the header's 12 bytes before its data room R (512, or a
        // little more once the pool rounds buffers to 64 bytes): the first takes R bytes of the
        // frame after the header, each next one R + 12 (no header there).
        const room = port.pool.dataRoom;
        expect(room).toBeGreaterThanOrEqual(512);
        expect(segs).toEqual(lens.map((l) => mergedBuffers(l, room)));
        expect(segs.filter((n) => n > 1).length).toBeGreaterThanOrEqual(5);
        expect(port.stats(0).rxBytes).toBe(lens.reduce((a, b) => a + b, 0));
        expect(port.stats(0).rxDropped).toBe(0);
      } finally {
        await port.shutdown();
        await be.stop();
      }
      expect(port.pool.freeCount).toBe(port.pool.size);
    }, 30_000);
  }

  it('server mode: virtqueue vhost --client connects to the port; killed and started again, it connects anew and traffic resumes', async () => {
    const socket = path();
    const port = VirtioUserPort.create({ socket, server: true, layout: 'packed', queueSize: 128, poolSize: 1024 });
    // Not startVirtqueueVhost: it removes the socket path first and waits for a server's socket there.
    const client = (): ChildProcess => spawn(process.execPath, [virtqueueBin(), 'vhost', '--client', '--socket', socket, '--fwd', 'io', '--guest-mem', '64', '--duration', '60'], { stdio: 'ignore' });
    const up = port.connect();
    let be = client();
    try {
      await up;
      await exchange(port, 100);
      be.kill('SIGKILL');
      await until(() => !port.up, 'the port seeing the back-end die', 5_000);
      await until(() => port.pool.freeCount === port.pool.size, 'every buffer back', 5_000);
      be = client();
      await until(() => port.up, 'the back-end connecting again', 15_000);
      expect(port.connections).toBe(2);
      await exchange(port, 100, 5000);
    } finally {
      port.close();
      be.kill('SIGKILL');
    }
    expect(port.pool.freeCount).toBe(port.pool.size);
  }, 40_000);
});
