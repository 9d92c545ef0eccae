// Every combination of the interop matrix: DPDK testpmd's virtio-user front-end against
// `virtqueue vhost`, split and packed rings, traffic into our back-end (testpmd txonly -> our
// rxonly), out of it (our txonly -> testpmd rxonly) and both ways (io <-> io, testpmd sending the
// first burst), mergeable receive buffers on and off, one and two queue pairs (on one worker, and
// on two workers). Counts must agree in each direction, every queue pair must carry traffic, and
// no errors; with io, each queue pair's counts are exact (the device holds no frame between
// bursts, so every frame it took went back or was dropped).
//
// Needs dpdk-testpmd (Debian: dpdk-dev). Skipped without it unless VIRTQUEUE_REQUIRE_PEERS=1, which
// CI sets: then a missing testpmd fails these tests.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requirePeers, skipWithoutPeers, startTestpmd, startVirtqueueVhost } from './helpers/testpmd.js';

type OurFwd = 'rxonly' | 'txonly' | 'io';
const THEIR_MODE = { rxonly: 'txonly', txonly: 'rxonly', io: 'io' } as const;

interface QueueCounts { queue: number; rx_packets: number; tx_packets: number; dropped: number; errors: number }

const dir = mkdtempSync(path.join(os.tmpdir(), 'vq-matrix-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** What a stopped peer can leave in the rings: at most a ring's worth per queue. */
const slack = (queues: number): number => 1024 * queues;

const cases: [string, boolean, OurFwd, boolean, number, number][] = [];
for (const packed of [false, true]) {
  for (const fwd of ['rxonly', 'txonly', 'io'] as OurFwd[]) {
    for (const mrg of [true, false]) {
      for (const queues of [1, 2]) {
        cases.push([`${packed ? 'packed' : 'split'}, our ${fwd}, mrg_rxbuf ${mrg ? 'on' : 'off'}, ${queues} queue pair${queues > 1 ? 's' : ''}`, packed, fwd, mrg, queues, 1]);
      }
    }
    cases.push([`${packed ? 'packed' : 'split'}, our ${fwd}, mrg_rxbuf on, 2 queue pairs on 2 workers`, packed, fwd, true, 2, 2]);
  }
}

describe.skipIf(skipWithoutPeers())('interop matrix: testpmd virtio-user <-> virtqueue vhost', () => {
  it.each(cases)('%s', async (_name, packed, fwd, mrg, queues, workers) => {
    requirePeers();
    const socket = path.join(dir, `m${++n}.sock`);
    const back = await startVirtqueueVhost({ socket, fwd, duration: 60, queues, extraArgs: ['--workers', String(workers)] });
    try {
      const devargs = [`path=${socket}`, ...(packed ? ['packed_vq=1'] : []), ...(queues > 1 ? [`queues=${queues}`] : []),
        ...(mrg ? [] : ['mrg_rxbuf=0'])].join(',');
      const front = await startTestpmd({
        name: `mx${n}`, forwardMode: THEIR_MODE[fwd], queues, timeoutMs: 60_000,
        lcores: ['0@1', ...Array.from({ length: queues }, (_, i) => `${i + 1}@1`)].join(','),
        vdev: `net_virtio_user0,${devargs}`, extraArgs: fwd === 'io' ? ['--tx-first'] : [],
      });
      await new Promise((r) => setTimeout(r, 2500));
      const f = await front.stop();
      await back.stop(); // SIGINT: the CLI prints its summary and exits
      const res = await back.result as Awaited<typeof back.result> & { per_queue: QueueCounts[]; dropped: number };
      const t = f.totals!;
      expect(res.errors).toBe(0);
      if (fwd === 'rxonly') {
        expect(t.txPackets).toBeGreaterThan(10_000);
        expect(res.rx_packets).toBeLessThanOrEqual(t.txPackets);
        expect(res.rx_packets).toBeGreaterThanOrEqual(t.txPackets - slack(queues));
      } else if (fwd === 'txonly') {
        expect(t.rxPackets).toBeGreaterThan(10_000);
        expect(t.rxPackets).toBeLessThanOrEqual(res.tx_packets);
        expect(t.rxPackets).toBeGreaterThanOrEqual(res.tx_packets - slack(queues));
      } else {
        // testpmd's first burst circulates between the two io forwarders.
        expect(t.rxPackets).toBeGreaterThan(1000);
        expect(t.txPackets).toBeGreaterThan(1000);
        expect(res.tx_packets).toBeLessThanOrEqual(res.rx_packets);
        expect(res.tx_packets + res.dropped).toBeGreaterThanOrEqual(res.rx_packets - slack(queues));
      }
      // Every queue pair carried traffic in the direction(s) under test.
      expect(res.per_queue).toHaveLength(queues);
      for (const q of res.per_queue) {
        if (fwd !== 'txonly') expect(q.rx_packets, `queue ${q.queue} rx`).toBeGreaterThan(0);
        if (fwd !== 'rxonly') expect(q.tx_packets, `queue ${q.queue} tx`).toBeGreaterThan(0);
        if (fwd === 'io') expect(q.tx_packets + q.dropped, `queue ${q.queue}: sent + dropped = taken`).toBe(q.rx_packets);
        expect(q.errors, `queue ${q.queue} errors`).toBe(0);
      }
      const w = (res as unknown as { workers: { frames: number }[] }).workers;
      expect(w, 'one entry per worker').toHaveLength(workers);
      for (const [i, x] of w.entries()) expect(x.frames, `worker ${i} moved frames`).toBeGreaterThan(0);
    } finally {
      await back.stop();
    }
  }, 120_000);
});
