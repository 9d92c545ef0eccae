// The testpmd harness against DPDK's own pair: a virtio-user front-end (txonly) feeding a net_vhost
// back-end (rxonly) over a unix socket, split and packed rings. This proves the harness (start-up,
// readiness, statistics parsing, clean stop) before it is pointed at our own back-end.
//
// Needs dpdk-testpmd (Debian: dpdk-dev). Skipped without it unless VIRTQUEUE_REQUIRE_PEERS=1, which
// CI sets: then a missing testpmd fails these tests.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dpdkRuntimeDir, parseVhostCliResult, pidAlive, requirePeers, runPair, skipWithoutPeers, startTestpmd,
  stripAnsi, TestpmdOutputParser, type TestpmdResult,
} from './helpers/testpmd.js';

describe('testpmd output parsing', () => {
  it('reads periodic samples through the escape codes and the final statistics per port and in total', () => {
    const text = [
      '\x1b[2J\x1b[1;1H',
      'Port statistics ====================================',
      '  ######################## NIC statistics for port 0  ########################',
      '  RX-packets: 3625600    RX-missed: 0          RX-bytes:  232038400',
      '  TX-packets: 0          TX-errors: 0          TX-bytes:  0',
      '  Throughput (since last show)',
      '  Rx-pps:      1812624          Rx-bps:    928063800',
      '  Tx-pps:            7          Tx-bps:            0',
      '  ---------------------- Forward statistics for port 0  ----------------------',
      '  RX-packets: 11935712       RX-dropped: 3             RX-total: 11935715',
      '  TX-packets: 12             TX-dropped: 5             TX-total: 17',
      '  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++',
      '  RX-packets: 11935712       RX-dropped: 3             RX-total: 11935715',
      '  TX-packets: 12             TX-dropped: 5             TX-total: 17',
    ];
    const p = new TestpmdOutputParser();
    text.forEach((l, i) => p.line(l, i));
    expect(p.samples).toEqual([{ port: 0, atMs: 7, rxPps: 1812624, txPps: 7, rxPackets: 3625600, txPackets: 0 }]);
    expect(p.ports).toEqual([{ port: 0, rxPackets: 11935712, rxDropped: 3, txPackets: 12, txDropped: 5 }]);
    expect(p.totals).toEqual({ rxPackets: 11935712, rxDropped: 3, txPackets: 12, txDropped: 5 });
    expect(stripAnsi('\x1b[2J\x1b[1;1HPort')).toBe('Port');
  });

  it('takes the last stdout line of virtqueue vhost --json as its result and rejects anything else', () => {
    const line = '{"rx_packets":5,"tx_packets":0,"rx_mpps":1.5,"tx_mpps":0,"seconds":2,"errors":0}';
    expect(parseVhostCliResult(`connected\n${line}\n`).rx_packets).toBe(5);
    expect(() => parseVhostCliResult('no json here\n')).toThrow(/not JSON/);
    expect(() => parseVhostCliResult('{"rx_packets":5}\n')).toThrow(/tx_packets/);
  });
});

describe.skipIf(skipWithoutPeers())('DPDK pair through the harness: virtio-user txonly -> net_vhost rxonly', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vq-dpdk-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const packed of [false, true]) {
    it(`${packed ? 'packed' : 'split'} ring: the back-end receives what the front-end sent, and stop() leaves nothing behind`, async () => {
      requirePeers(); // fails (not skips) when VIRTQUEUE_REQUIRE_PEERS=1 and testpmd is missing
      const socket = path.join(dir, `${packed ? 'packed' : 'split'}.sock`);
      const r = await runPair({ backend: 'dpdk', name: 'vq-pair', socket, seconds: 3, packed, timeoutMs: 60_000 });
      const front = r.front;
      const back = r.back as TestpmdResult;
      const context = `front-end tail:\n${front.output.split('\n').slice(-25).join('\n')}\n` +
        `back-end tail:\n${back.output.split('\n').slice(-25).join('\n')}`;

      // Both ended on SIGINT by themselves, printing their final statistics.
      expect(front.killed, context).toBe(false);
      expect(back.killed, context).toBe(false);
      expect(front.totals, context).toBeDefined();
      expect(back.totals, context).toBeDefined();

      // Traffic flowed, and what the back-end counted is what the front-end put on the ring, less
      // what was still in flight when the front-end stopped.
      expect(r.frontendTx, context).toBeGreaterThan(0);
      expect(r.backendRx, context).toBeGreaterThan(0);
      expect(r.backendRx, context).toBeGreaterThanOrEqual(0.9 * r.frontendTx);
      expect(r.backendRx, context).toBeLessThanOrEqual(r.frontendTx);
      expect(back.ports.map((p) => p.port)).toEqual([0]);
      expect(back.totals!.rxPackets).toBe(back.ports[0].rxPackets);

      // The back-end printed periodic samples, some with traffic.
      expect(back.samples.some((s) => s.port === 0 && s.rxPps > 0), context).toBe(true);

      // Nothing left: no process, no socket, no runtime directory.
      expect(existsSync(socket)).toBe(false);
      for (const side of [front, back]) {
        expect(side.code).toBe(0);
        expect(pidAlive(side.pid)).toBe(false);
        expect(existsSync(dpdkRuntimeDir(side.prefix))).toBe(false);
      }
    });
  }

  it('a front-end with no back-end to connect to fails with testpmd\'s own output, and is not left running', async () => {
    requirePeers();
    const nobody = path.join(dir, 'nobody.sock');
    const err = await startTestpmd({
      name: 'vq-nobody', vdev: `net_virtio_user0,path=${nobody}`, forwardMode: 'txonly', lcores: '0@1,1@1', timeoutMs: 60_000,
    }).then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/failed to start|exited during start-up/);
    expect(err!.message).toContain('nobody.sock'); // testpmd's own words about the socket are in it
    const pids = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
      .split('\n').filter((l) => l.includes(`--file-prefix=vq-nobody-${process.pid}-`));
    expect(pids).toEqual([]);
  });
});
