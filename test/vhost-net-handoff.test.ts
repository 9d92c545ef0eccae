// Handing vrings between the control plane and the Dataplane workers (src/vhost-user/handoff.ts):
// once GET_VRING_BASE is answered no worker touches the ring again (a canary: the ring is
// poisoned right after the reply and nothing reads or writes it); a worker that throws ends the
// session with its error and the next front-end is served; two queue pairs on two workers.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import * as P from '../src/vhost-user/protocol.js';
import { readState, statePayload } from '../src/vhost-user/message.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { nextEvent, until } from './helpers/within.js';
import { removeSocketDir } from './helpers/vhost-user-rig.js';
import { netWorld } from './helpers/vhost-net-rig.js';
import { testFrame, type GuestPair } from './helpers/vhost-net-frontend.js';

checkFdLeaks();
afterAll(removeSocketDir);

/** Keeps transmitting while `on`: a frame per free transmit slot, every millisecond. */
function traffic(p: GuestPair): { stop(): void; sent: () => number } {
  let sent = 0;
  let on = true;
  const tick = (): void => {
    if (!on) return;
    p.collect();
    const room = 32 - (sent - p.txDone);
    if (room > 0) {
      p.send(Array.from({ length: room }, (_, i) => testFrame(64, sent + i)));
      sent += room;
    }
    setTimeout(tick, 1);
  };
  tick();
  return { stop: () => { on = false; }, sent: () => sent };
}

describe('vring handoff to the workers', () => {
  it('after GET_VRING_BASE is answered the worker never touches that ring again (poisoned canary)', async () => {
    const w = await netWorld({ mode: 'io', num: 64 });
    const p = w.pairs[0];
    p.postRx(64);
    const t = traffic(p);
    try {
      await until(() => w.device.totals().rxPackets > 200, 'traffic');
      const u8 = w.g.engine.u8;
      const u16 = w.g.engine.u16;
      for (const [index, q] of [[1, p.txq], [0, p.rxq]] as const) {
        const reply = await w.fe.call(P.Request.GET_VRING_BASE, statePayload(index, 0));
        // Right after the reply: poison the whole descriptor table and announce five more chains.
        const { desc } = q.ring;
        const avail = q.ring.avail!;
        const used = q.ring.used!;
        u8.fill(0xff, desc, desc + 16 * 64);
        u16[(avail + 2) >>> 1] += 5;
        const usedBefore = u8.slice(used, used + 4 + 8 * 64);
        const before = w.device.totals();
        await new Promise((r) => setTimeout(r, 50));
        // Nothing read the poison (no error, no frame counted) and nothing was written back.
        expect(w.device.runningVrings()).not.toContain(index);
        expect(u8.slice(used, used + 4 + 8 * 64)).toEqual(usedBefore);
        const after = w.device.totals();
        expect([after.rxPackets, after.txPackets, after.txErrors, after.rxErrors]).toEqual([before.rxPackets, before.txPackets, 0, 0]);
        // The base is where the device got to: every chain it took from the ring was used
        // (nothing held, nothing lost).
        expect(readState(reply).num).toBe(u16[(used + 2) >>> 1]);
      }
      expect(w.r.log.filter((l) => /engine|failure/.test(l))).toEqual([]);
    } finally {
      t.stop();
      await w.close();
    }
  });

  it('two queue pairs on two workers: each pair is served by its own worker, counts exact per pair', async () => {
    const w = await netWorld({ mode: 'io', pairs: 2, devicePairs: 2, workers: 2 });
    try {
      const [a, b] = w.pairs;
      a.postRx(32);
      b.postRx(32);
      const fa = Array.from({ length: 20 }, (_, i) => testFrame(90 + i, i));
      const fb = Array.from({ length: 30 }, (_, i) => testFrame(300 + i, 50 + i));
      a.send(fa);
      b.send(fb);
      expect((await a.receive(20)).map((f) => f.frame)).toEqual(fa);
      expect((await b.receive(30)).map((f) => f.frame)).toEqual(fb);
      await until(() => w.device.totals().txPackets === 50, 'the counters');
      expect(w.device.perPair().map((c) => [c.rxPackets, c.txPackets, c.dropped])).toEqual([[20, 20, 0], [30, 30, 0]]);
      const workers = w.device.stats().workers;
      expect(workers).toHaveLength(2);
    } finally {
      await w.close();
    }
  });
});

describe('a worker that throws', () => {
  const real = new URL('../dist/src/vhost-user/net/worker-task.js', import.meta.url).href;
  // Wraps the real task: throws once frames flowed, while VQ_TEST_WORKER_FAULT is '1' in the
  // environment the worker started with (a restarted worker sees the value of its start).
  const source = `import { createTask as real } from ${JSON.stringify(real)};
    export function createTask(c, ctx) {
      const t = real(c, ctx);
      const armed = process.env.VQ_TEST_WORKER_FAULT === '1';
      let frames = 0;
      return {
        poll(b) { const n = t.poll(b); frames += n; if (armed && frames >= 5) throw new Error('injected worker fault'); return n; },
        arm: () => t.arm(), disarm: () => t.disarm(), stop: () => t.stop(),
      };
    }`;
  const workerModule = `data:text/javascript,${encodeURIComponent(source)}`;
  afterEach(() => { delete process.env.VQ_TEST_WORKER_FAULT; });

  it('ends the session with the worker\'s error, restarts the workers and serves the next front-end', async () => {
    process.env.VQ_TEST_WORKER_FAULT = '1';
    const w = await netWorld({ mode: 'io', workerModule });
    try {
      process.env.VQ_TEST_WORKER_FAULT = '0'; // the restarted workers will not throw
      const ended = nextEvent<[string]>(w.r.server, 'sessionEnd', 10_000);
      w.pairs[0].postRx(16);
      w.pairs[0].send(Array.from({ length: 8 }, (_, i) => testFrame(64, i)));
      const [reason] = await ended;
      expect(reason).toMatch(/dataplane failure: .*injected worker fault/);
      expect(w.r.log.some((l) => l.includes('injected worker fault') && l.includes('restarting the dataplane'))).toBe(true);
      await w.device.settled();
      expect(w.device.failures).toBe(1);
      expect(w.device.runningVrings()).toEqual([]);
      for (const p of w.pairs) p.close();
      await w.reconnect();
      const p = w.pairs[0];
      p.postRx(8);
      p.send([testFrame(100, 1)]);
      expect((await p.receive(1))[0].frame).toEqual(testFrame(100, 1));
    } finally {
      await w.close();
    }
  });
});
