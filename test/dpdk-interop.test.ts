// DPDK's testpmd as the vhost-user front-end (virtio-user) of our back-end, `virtqueue vhost`, in
// the cases the matrix (dpdk-matrix.test.ts) does not cover: io forwarding with a pcap of what
// arrived, a front-end that comes back, and client mode (testpmd listening).
//
// Needs dpdk-testpmd (Debian: dpdk-dev). Skipped without it unless VIRTQUEUE_REQUIRE_PEERS=1, which
// CI sets: then a missing testpmd fails these tests.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  requirePeers, skipWithoutPeers, startTestpmd, startVirtqueueVhost, virtqueueBin,
} from './helpers/testpmd.js';
import { readPcap } from './helpers/pcap-read.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vq-interop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const sock = (): string => path.join(dir, `s${++n}.sock`);
/** Chains a stopped front-end can leave in the rings: at most a ring's worth per queue. */
const slack = (queues: number): number => 1024 * queues;

describe.skipIf(skipWithoutPeers())('testpmd virtio-user <-> virtqueue vhost', () => {
  it('io both ways: testpmd io --tx-first and our io echo frames back, and the pcap holds them', async () => {
    requirePeers();
    const socket = sock();
    const pcap = path.join(dir, 'io.pcap');
    const back = await startVirtqueueVhost({ socket, fwd: 'io', duration: 14, extraArgs: ['--pcap', pcap, '--pcap-max', '1000'] });
    try {
      const front = await startTestpmd({
        name: `vqio${++n}`, forwardMode: 'io', lcores: '0@1,1@1', timeoutMs: 60_000,
        vdev: `net_virtio_user0,path=${socket}`, extraArgs: ['--tx-first'],
      });
      await new Promise((r) => setTimeout(r, 3000));
      const f = await front.stop();
      const res = await back.finish(30_000);
      // The burst testpmd sends first circulates: both sides see traffic in both directions.
      expect(f.totals!.rxPackets).toBeGreaterThan(1000);
      expect(f.totals!.txPackets).toBeGreaterThan(1000);
      expect(res.rx_packets).toBeGreaterThan(1000);
      expect(res.tx_packets).toBeLessThanOrEqual(res.rx_packets);
      expect(res.tx_packets).toBeGreaterThanOrEqual(res.rx_packets - slack(1));
      const p = readPcap(pcap);
      expect([p.magic, p.linktype]).toEqual([0xa1b2c3d4, 1]);
      expect(p.records.length).toBe(1000);
      for (const r of p.records.slice(0, 50)) {
        // testpmd's generated frames: 64 bytes, IPv4 (ethertype 0x0800) carrying UDP (protocol 17).
        expect(r.origLen).toBe(64);
        expect((r.data[12] << 8) | r.data[13]).toBe(0x0800);
        expect(r.data[23]).toBe(17);
      }
    } finally {
      await back.stop();
    }
  }, 120_000);

  it('a front-end that disconnects and comes back is served again', async () => {
    requirePeers();
    const socket = sock();
    const back = await startVirtqueueVhost({ socket, fwd: 'rxonly', duration: 30 });
    try {
      let sent = 0;
      for (let round = 0; round < 2; round++) {
        const front = await startTestpmd({
          name: `vqre${++n}`, forwardMode: 'txonly', lcores: '0@1,1@1', timeoutMs: 60_000,
          vdev: `net_virtio_user0,path=${socket}`,
        });
        await new Promise((r) => setTimeout(r, 2000));
        const f = await front.stop();
        expect(f.totals!.txPackets).toBeGreaterThan(10_000);
        sent += f.totals!.txPackets;
      }
      await back.stop(); // SIGINT: the CLI prints its summary and exits
      const res = await back.result;
      expect(res.connections).toBe(2);
      expect(res.rx_packets).toBeLessThanOrEqual(sent);
      expect(res.rx_packets).toBeGreaterThanOrEqual(sent - 2 * slack(1));
    } finally {
      await back.stop();
    }
  }, 120_000);

  it('client mode: testpmd listens (server=1) and virtqueue vhost --client connects', async () => {
    requirePeers();
    const socket = sock();
    const front = await startTestpmd({
      name: `vqcl${++n}`, forwardMode: 'txonly', lcores: '0@1,1@1', timeoutMs: 60_000,
      vdev: `net_virtio_user0,path=${socket},server=1`,
    });
    const child = spawn(process.execPath, [virtqueueBin(), 'vhost', '--client', '--socket', socket, '--fwd', 'rxonly', '--duration', '6', '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await new Promise((r) => setTimeout(r, 3000));
      const f = await front.stop();
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
      expect(code, err).toBe(0);
      const res = JSON.parse(out.trim().split('\n').pop()!) as { rx_packets: number; errors: number; role: string };
      expect(res.role).toBe('client');
      expect(res.rx_packets).toBeGreaterThan(10_000);
      expect(res.rx_packets).toBeLessThanOrEqual(f.totals!.txPackets);
      expect(res.rx_packets).toBeGreaterThanOrEqual(f.totals!.txPackets - slack(1));
      expect(res.errors).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await front.stop();
    }
  }, 120_000);
});
