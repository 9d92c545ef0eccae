// The virtio-user port's waits (src/virtio-user/waits.ts). `parked` on its own, over a real
// eventfd and a driver that only counts: every waiter on one ring wakes on the ring's one signal,
// notifications stay on until the last waiter leaves, and a wait ends at its own time limit.
// Then send() against `virtqueue vhost` in another process, stopped with SIGSTOP so the transmit
// ring fills: concurrent senders park on the transmit ring's call eventfd and are woken by the
// back-end's signal once it runs again; a send with no room rejects at its deadline.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { EventFd } from '../src/native/eventfd.js';
import { VirtioUserPort } from '../src/virtio-user/port.js';
import { PARK_MS, parked, parkCounts } from '../src/virtio-user/waits.js';
import type { DriverQueue } from '../src/virtqueue/queue-side.js';
import { startVirtqueueVhost } from './helpers/testpmd.js';
import { socketDir, removeSocketDir } from './helpers/vhost-user-rig.js';
import { until } from './helpers/within.js';
import { stamped } from './helpers/stamped-frame.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';

checkFdLeaks();
afterAll(removeSocketDir);

/** A ring whose driver only counts: enableInterrupts() answers `ready()` (a used buffer came in while arming). */
function countingRing(ready: () => boolean = () => false) {
  const calls = { enable: 0, disable: 0 };
  const driver = {
    enableInterrupts: () => { calls.enable++; return ready(); },
    disableInterrupts: () => { calls.disable++; },
  } as unknown as DriverQueue;
  return { ring: { call: EventFd.create(), driver }, calls };
}

const snapshot = () => ({ ...parkCounts });

describe('parked: waiting on a ring\'s call eventfd', () => {
  it('three waiters on one ring: one signal wakes them all; notifications are turned off once, by the last to leave', async () => {
    const { ring, calls } = countingRing();
    try {
      const before = snapshot();
      let woke = 0;
      // Limits far beyond the test's: only the signal can end these waits in time.
      const waits = [0, 1, 2].map(() => parked(ring, 60_000).then(() => { woke++; }));
      await new Promise((r) => setTimeout(r, 20));
      expect(woke).toBe(0);
      expect(calls).toEqual({ enable: 3, disable: 0 });
      ring.call.signal();
      await Promise.all(waits);
      expect(woke).toBe(3);
      expect(parkCounts.signalled - before.signalled).toBe(3);
      expect(parkCounts.timedOut - before.timedOut).toBe(0);
      expect(calls.disable).toBe(1);
      // Nothing watches the eventfd any more: a later signal stays in its counter, unread.
      ring.call.signal();
      await new Promise((r) => setTimeout(r, 20));
      expect(ring.call.take()).toBe(1n);
    } finally {
      ring.call.close();
    }
  });

  it('a waiter that finds a used buffer while arming returns at once and leaves notifications on for one still parked', async () => {
    let pending = false;
    const { ring, calls } = countingRing(() => pending);
    try {
      const before = snapshot();
      const first = parked(ring, 60_000);
      await new Promise((r) => setTimeout(r, 10));
      pending = true;
      await parked(ring, 60_000);
      expect(parkCounts.ready - before.ready).toBe(1);
      expect(calls.disable).toBe(0); // the first still waits
      ring.call.signal();
      await first;
      expect(calls.disable).toBe(1);
    } finally {
      ring.call.close();
    }
  });

  it('without a signal a wait ends at its own limit, not at PARK_MS', async () => {
    const { ring, calls } = countingRing();
    try {
      const before = snapshot();
      const t0 = performance.now();
      await parked(ring, 30);
      const ms = performance.now() - t0;
      expect(ms).toBeGreaterThanOrEqual(29);
      expect(ms).toBeLessThan(PARK_MS + 30 - 1 + 1000); // bounded; PARK_MS itself would also pass here
      expect(parkCounts.timedOut - before.timedOut).toBe(1);
      expect(calls).toEqual({ enable: 1, disable: 1 });
    } finally {
      ring.call.close();
    }
  });
});

describe('send() against a back-end that stops and goes on (virtqueue vhost --fwd rxonly, SIGSTOP/SIGCONT)', () => {
  for (const layout of ['split', 'packed'] as const) {
    it(`${layout}: senders parked on a full transmit ring are woken by the back-end's signal when it runs again; a send with no room rejects at its deadline`, async () => {
      const socket = join(socketDir(), `waits-${layout}.sock`);
      const be = await startVirtqueueVhost({ socket, fwd: 'rxonly', duration: 60, extraArgs: ['--guest-mem', '64'] });
      const port = await VirtioUserPort.open({ socket, layout, queueSize: 64, poolSize: 512 });
      let stopped = false;
      let finished = false;
      try {
        await port.send(stamped(0, 0, 100));
        process.kill(be.pid, 'SIGSTOP');
        stopped = true;
        // Fill the transmit ring: the stopped back-end uses nothing.
        let sent = 1;
        const q = port.pair(0)!;
        await until(() => {
          if (q.txRoom() === 0) return true;
          void port.send(stamped(0, sent++, 100), 0, 1_000);
          return false;
        }, 'the transmit ring full', 5_000);
        // No room: a send rejects at its deadline (within a parked wait of it), naming the queue.
        const t0 = performance.now();
        await expect(port.send(stamped(0, 9_999, 100), 0, 150)).rejects.toThrow(/no room to send on queue 0 within 150 ms/);
        expect(performance.now() - t0).toBeGreaterThanOrEqual(149);
        // Five senders park on the transmit ring.
        const before = snapshot();
        const waiting = [0, 1, 2, 3, 4].map((i) => port.send(stamped(0, 10_000 + i, 100), 0, 10_000));
        // Half a park off the senders' timers (they all started together): the back-end runs again
        // while they are parked, not while they are between a timer and arming again.
        await new Promise((r) => setTimeout(r, 3.5 * PARK_MS));
        const parkedWhileStopped = snapshot();
        expect(parkedWhileStopped.signalled - before.signalled).toBe(0);
        process.kill(be.pid, 'SIGCONT');
        stopped = false;
        await Promise.all(waiting);
        // Woken by the back-end's using the ring: its signal, or a used buffer found when arming.
        const after = snapshot();
        expect(after.signalled + after.ready - parkedWhileStopped.signalled - parkedWhileStopped.ready).toBeGreaterThanOrEqual(1);
        await until(() => { q.reapTx(); return q.tx.driver.inFlight === 0; }, 'every frame used', 5_000);
        expect(port.stats(0).txPackets).toBe(sent + 5);
        // The back-end signalled the transmit ring's call eventfd (the notifications a parked sender asks for).
        port.close();
        finished = true;
        await be.stop();
        const summary = await be.result as unknown as { per_queue: { tx_calls: number }[] };
        expect(summary.per_queue[0].tx_calls).toBeGreaterThanOrEqual(1);
      } finally {
        if (stopped) process.kill(be.pid, 'SIGCONT');
        port.close();
        if (!finished) await be.stop();
      }
      expect(port.pool.freeCount).toBe(port.pool.size);
    }, 30_000);
  }
});
