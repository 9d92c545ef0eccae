// --pcap: the frames the device receives from the front-end, in a classic libpcap file, bounded.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter } from '../src/vhost-user/net/pcap.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { removeSocketDir } from './helpers/vhost-user-rig.js';
import { netWorld } from './helpers/vhost-net-rig.js';
import { testFrame } from './helpers/vhost-net-frontend.js';
import { readPcap } from './helpers/pcap-read.js';

checkFdLeaks();
const dir = mkdtempSync(join(tmpdir(), 'vq-pcap-'));
afterAll(() => {
  removeSocketDir();
  rmSync(dir, { recursive: true, force: true });
});

describe('pcap capture of received frames', () => {
  it('writes the transmitted frames (without the virtio_net_hdr), up to the limit', async () => {
    const path = join(dir, 'rx.pcap');
    const w = await netWorld({ mode: 'rxonly', pcap: { path, maxFrames: 4 } });
    const frames = [60, 1514, 100, 3000, 77, 64].map((n, i) => testFrame(n, i));
    let written = -1;
    try {
      w.pairs[0].send(frames);
      await w.pairs[0].transmitted(frames.length);
    } finally {
      written = await w.close();
    }
    expect(written).toBe(4);
    const p = readPcap(path);
    expect([p.magic, p.version, p.snaplen, p.linktype]).toEqual([0xa1b2c3d4, [2, 4], 65535, 1]);
    expect(p.records.map((r) => r.data)).toEqual(frames.slice(0, 4));
    expect(p.records.map((r) => [r.inclLen, r.origLen])).toEqual(frames.slice(0, 4).map((f) => [f.length, f.length]));
    for (const r of p.records) {
      expect(r.tsUsec).toBeLessThan(1_000_000);
      expect(r.tsSec).toBeGreaterThan(1_600_000_000);
    }
  });

  it('cuts frames longer than the snaplen, keeping the original length', () => {
    const path = join(dir, 'long.pcap');
    const pcap = new PcapWriter(path);
    const big = new Uint8Array(70000).fill(7);
    pcap.frame(big, 0, big.length);
    pcap.close();
    const p = readPcap(path);
    expect(p.records.map((r) => [r.inclLen, r.origLen])).toEqual([[65535, 70000]]);
  });
});
