// The engine as the virtio-net driver of a real PCI device: in the VFIO guest
// (test/helpers/vfio-guest.ts: TCG q35, intel-iommu, virtio-net-pci with iommu_platform=on bound
// to vfio-pci), test/helpers/vfio-port.mjs opens a VfioNetPort (src/vfio/) and sends frames of
// one to five buffers with txBurst through the vIOMMU to the host's stream reflector; each comes
// back through rxBurst, MACs swapped, byte for byte. Once split and once packed, on one boot (the
// device has packed=on: a driver that does not take VIRTIO_F_RING_PACKED runs it split); then
// `virtqueue vfio` on each layout (test/helpers/vfio-cli.mjs). Skipped
// without QEMU, busybox-static or gcc unless VIRTQUEUE_REQUIRE_PEERS=1. Needs `npm run build`.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as DS from '../assembly/layout/device-status.js';
import * as L from '../assembly/layout/virtio-pci.js';
import { startStreamReflector, type StreamReflector } from './helpers/stream-reflector.js';
import { describeVfioGuest, runVfioGuest, skipWithoutVfioGuest, type VfioGuestResult } from './helpers/vfio-guest.js';

interface PortRun {
  layout: string;
  features: string[];
  addressBase: string;
  iova: string;
  msix: boolean;
  mac: string;
  poolInUseAfterOpen: number;
  ringPageOffsets: number[];
  sent: number;
  received: number;
  matched: boolean;
  bad: { seq: number; length: number }[];
  badCount: number;
  stale?: number;
  segmentsBySize: Record<string, number | undefined>;
  txPending: number;
  stats: { rxPackets: number; rxBytes: number; rxDropped: number; rxNoBuffers: number; txPackets: number; txBytes: number; txFull: number; kicks: number };
  needsReset: boolean;
  failed: string | null;
  error?: string;
  hostileError?: { name: string; message: string } | null;
  statusBefore?: number;
  statusAfter?: number;
  afterStop?: string | null;
  poolInUseBeforeClose?: number;
  poolInUseAfterClose: number;
  poolSize: number;
  resourcesAfterClose: { fds: number; dma: number; bars: number };
}

interface KillRun {
  opened: boolean;
  child: { code: number | null; signal: string | null };
  childStderr: string;
  commandAfter: number;
  statusAfter: number;
  resourcesAfterClose: { fds: number; dma: number; bars: number };
}

interface NeedsResetRun {
  msix: boolean;
  added: number;
  down: string | null;
  failed: string | null;
  statusAfter: number;
  afterStop: string | null;
  poolInUseBeforeClose: number;
  poolInUseAfterClose: number;
  error?: string;
  resourcesAfterClose: { fds: number; dma: number; bars: number };
}

/** `virtqueue vfio --json`'s summary, the fields checked here. */
interface CliRun {
  device: string;
  layout: string;
  fwd: string;
  features: string[];
  rx_packets: number;
  tx_packets: number;
  dropped: number;
  needs_reset: boolean;
  per_queue: { rx_dropped: number; tx_full: number; kicks: number }[];
}

const MAC = '52:54:00:12:34:56';
const FRAMES = 45;
const SIZES = [60, 64, 128, 511, 1000, 1514, 2048, 3000, 9000];
const BYTES = Array.from({ length: FRAMES }, (_, i) => SIZES[i % SIZES.length]).reduce((a, b) => a + b, 0);
const PRIVATE_BYTES = 16 << 20; // src/virtio-user/port-memory.ts

describe.skipIf(skipWithoutVfioGuest())('VfioNetPort in a QEMU guest: the engine drives a virtio-net PCI device through VFIO', () => {
  let r: VfioGuestResult;
  const runs: Record<string, PortRun> = {};
  let cli: (CliRun | undefined)[] = [];
  let kill: KillRun | undefined;
  let after: PortRun | undefined;
  let needsReset: NeedsResetRun | undefined;
  let reflector: StreamReflector;
  let tmp = '';
  let why = '';

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'vq-vfio-port-'));
    reflector = await startStreamReflector(path.join(tmp, 'net.sock'), 3 * FRAMES);
    r = await runVfioGuest({
      node: [
        ['test/helpers/vfio-port.mjs', 'split'], ['test/helpers/vfio-port.mjs', 'packed'], ['test/helpers/vfio-port.mjs', 'split', '--hostile'],
        // `virtqueue vfio` itself: txonly on split rings; macswap on packed, frames looping through the reflector.
        ['test/helpers/vfio-cli.mjs', 'vfio', '--fwd', 'txonly', '--duration', '2', '--json'],
        ['test/helpers/vfio-cli.mjs', 'vfio', '--packed', '--fwd', 'macswap', '--tx-first', '--duration', '2', '--json'],
        // A driver SIGKILLed mid-traffic, then a new one on the same device.
        ['test/helpers/vfio-port-kill.mjs'], ['test/helpers/vfio-port.mjs', 'split', '--after-kill'],
        // The device sets DEVICE_NEEDS_RESET (a transmit chain with nothing for it to read).
        ['test/helpers/vfio-port-needs-reset.mjs'],
      ],
      netdev: reflector.netdev, device: [`mac=${MAC}`, 'packed=on'], timeoutMs: 150_000,
    });
    why = describeVfioGuest(r);
    if (process.env.VIRTQUEUE_QEMU_VERBOSE === '1') console.log(why);
    r.runs.slice(0, 3).forEach((n) => {
      const line = n.stdout.trim().split('\n').at(-1) ?? '';
      if (line.startsWith('{')) {
        const p = JSON.parse(line) as PortRun;
        runs[p.layout] = p;
      }
    });
    const last = (i: number): string => r.runs[i]?.stdout.trim().split('\n').at(-1) ?? '';
    kill = last(5).startsWith('{') ? JSON.parse(last(5)) as KillRun : undefined;
    after = last(6).startsWith('{') ? JSON.parse(last(6)) as PortRun : undefined;
    needsReset = last(7).startsWith('{') ? JSON.parse(last(7)) as NeedsResetRun : undefined;
    cli = r.runs.slice(3, 5).map((n) => {
      const line = n.stdout.trim().split('\n').at(-1) ?? '';
      return line.startsWith('{') ? JSON.parse(line) as CliRun : undefined;
    });
  }, 180_000);

  afterAll(async () => {
    await reflector?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('every run ended cleanly, with no DMA fault', () => {
    expect(r.guest.timedOut, why).toBe(false);
    expect(r.guest.console, why).not.toMatch(/DMAR: \[DMA (Read|Write)/);
    expect(r.guest.stderr, why).not.toMatch(/translation failure/);
    expect(r.driver, why).toBe('vfio-pci');
    expect(r.runs.map((n) => n.status), why).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Object.keys(runs).sort(), why).toEqual(['packed', 'split', 'split-hostile']);
  });

  for (const layout of ['split', 'packed'] as const) {
    describe(layout, () => {
      const run = (): PortRun => runs[layout];

      it('negotiates VERSION_1, ACCESS_PLATFORM and MAC, the layout asked for, and maps the shared part at 2^32 (address base = IOVA - its offset)', () => {
        const p = run();
        expect(p.error, why).toBeUndefined();
        expect(p.features, why).toEqual(expect.arrayContaining(['VERSION_1', 'ACCESS_PLATFORM', 'NET_MAC']));
        // QEMU 7.2 offers RING_PACKED with packed=on; the split run does not take it.
        if (layout === 'packed') expect(p.features, why).toContain('RING_PACKED');
        else expect(p.features, why).not.toContain('RING_PACKED');
        expect(BigInt(p.iova), why).toBe(2n ** 32n);
        expect(BigInt(p.addressBase), why).toBe(2n ** 32n - BigInt(PRIVATE_BYTES));
        expect(p.mac, why).toBe(MAC);
        expect(p.msix, why).toBe(true);
        // The receive ring was filled from the pool at open.
        expect(p.poolInUseAfterOpen, why).toBe(64);
        // Every ring area starts a page (QEMU's vIOMMU path gets a ring that crosses one wrong).
        expect(p.ringPageOffsets, why).toEqual(Array(6).fill(0));
      });

      it('every frame went out through the vIOMMU and came back byte for byte (MACs swapped), one to five buffers each', () => {
        const p = run();
        expect(p.failed, why).toBeNull();
        expect([p.sent, p.received, p.badCount, p.matched], why).toEqual([FRAMES, FRAMES, 0, true]);
        // 2048 data bytes a buffer: a frame over several receive buffers comes as one chain (MRG_RXBUF).
        const segs = p.features.includes('NET_MRG_RXBUF') ? { 60: 1, 1514: 1, 3000: 2, 9000: 5 } : {};
        for (const [size, n] of Object.entries(segs)) expect(p.segmentsBySize[size], `${size}: ${why}`).toBe(n);
        expect(p.txPending, why).toBe(0);
        expect(p.stats, why).toMatchObject({ txPackets: FRAMES, txBytes: BYTES, rxPackets: FRAMES, rxBytes: BYTES, rxDropped: 0, txFull: 0 });
        expect(p.stats.kicks, why).toBeGreaterThan(0);
        expect(p.needsReset, why).toBe(false);
      });

      it('close leaves the pool whole and nothing of VFIO behind', () => {
        const p = run();
        expect(p.poolInUseAfterClose, why).toBe(0);
        expect(p.poolSize, why).toBe(512);
        expect(p.resourcesAfterClose, why).toEqual({ fds: 0, dma: 0, bars: 0 });
      });
    });
  }

  it('a used entry the device never wrote (id 65535): the driver\'s check stops the port, the device is reset, close gives every buffer back', () => {
    const p = runs['split-hostile'];
    expect(p.matched, why).toBe(true);
    expect(p.hostileError, why).toMatchObject({ name: 'VirtqueueError', message: expect.stringMatching(/^split vfio queue pair 0 rx burst: .*\(VIRTIO 1\.2 §2\.7\.8\) \[USED_ID_OUT_OF_RANGE, detail 65535\]/) });
    expect(p.failed, why).toMatch(/^queue pair 0: .*USED_ID_OUT_OF_RANGE/);
    expect(p.statusBefore! & DS.STATUS_DRIVER_OK, why).toBe(DS.STATUS_DRIVER_OK);
    expect(p.statusAfter, why).toBe(0);
    expect(p.afterStop, why).toMatch(/^vfio: the port stopped: queue pair 0: /);
    expect(p.poolInUseBeforeClose, why).toBeGreaterThan(0); // the receive ring's buffers, still the device's
    expect(p.poolInUseAfterClose, why).toBe(0);
    expect(p.resourcesAfterClose, why).toEqual({ fds: 0, dma: 0, bars: 0 });
  });

  it('virtqueue vfio --fwd txonly (split): frames out, their reflections counted back in', () => {
    const c = cli[0]!;
    expect(c, why).toBeDefined();
    expect(c, why).toMatchObject({ device: r.device, layout: 'split', fwd: 'txonly', dropped: 0, needs_reset: false });
    expect(r.runs[3].stderr, why).toMatch(new RegExp(`^virtqueue vfio: ${MAC}, split rings, features [^\\n]*ACCESS_PLATFORM`));
    expect(c.tx_packets, why).toBeGreaterThan(100);
    // Every frame received is a reflection of one sent; the last few may still have been on their way.
    expect(c.rx_packets, why).toBeGreaterThan(0);
    expect(c.rx_packets, why).toBeLessThanOrEqual(c.tx_packets);
  });

  it('virtqueue vfio --packed --fwd macswap --tx-first: one burst loops through device and reflector, every frame received sent again', () => {
    const c = cli[1]!;
    expect(c, why).toBeDefined();
    expect(c, why).toMatchObject({ device: r.device, layout: 'packed', fwd: 'macswap', needs_reset: false });
    expect(c.features, why).toContain('RING_PACKED');
    expect(c.per_queue[0].rx_dropped, why).toBe(0);
    // The first burst (32) and each frame received went out, or were freed because the ring was full.
    expect(c.tx_packets + c.per_queue[0].tx_full, why).toBe(32 + c.rx_packets);
    expect(c.rx_packets, why).toBeGreaterThan(32);
  });

  it('virtqueue vfio SIGKILLed mid-traffic: the device comes back quiet, and a new driver gets every frame through (the killed one\'s reflections aside)', () => {
    expect(kill, why).toBeDefined();
    expect(kill!.opened, why).toBe(true);
    expect(kill!.child, why).toEqual({ code: null, signal: 'SIGKILL' });
    expect(kill!.commandAfter & L.PCI_COMMAND_MASTER, why).toBe(0);
    expect(kill!.statusAfter, why).toBe(0);
    expect(kill!.resourcesAfterClose, why).toEqual({ fds: 0, dma: 0, bars: 0 });
    expect(after, why).toBeDefined();
    expect(after!.layout, why).toBe('split-after-kill');
    expect([after!.sent, after!.received, after!.badCount, after!.matched], why).toEqual([FRAMES, FRAMES, 0, true]);
    expect(after!.poolInUseAfterClose, why).toBe(0);
    expect(after!.resourcesAfterClose, why).toEqual({ fds: 0, dma: 0, bars: 0 });
  });

  it('the device sets DEVICE_NEEDS_RESET (a transmit chain with nothing for it to read): the port sees it on its configuration interrupt, stops, resets the device, gives every buffer back', () => {
    const n = needsReset!;
    // QEMU says why on its stderr (virtio_error).
    expect(r.guest.stderr, why).toMatch(/virtio-net header not in first element/);
    expect(n, why).toBeDefined();
    expect(n.error, why).toBeUndefined();
    expect(n.msix, why).toBe(true);
    expect(n.added, why).toBe(1);
    expect(n.down, why).toMatch(/^the device set DEVICE_NEEDS_RESET \(device_status 0x[0-9a-f]+, VIRTIO 1\.2 2\.1\.1\)$/);
    expect(Number.parseInt(/0x([0-9a-f]+)/.exec(n.down!)![1], 16) & DS.STATUS_DEVICE_NEEDS_RESET, why).toBe(DS.STATUS_DEVICE_NEEDS_RESET);
    expect(n.failed, why).toBe(n.down);
    expect(n.statusAfter, why).toBe(0);
    expect(n.afterStop, why).toBe(`vfio: the port stopped: ${n.down}`);
    expect(n.poolInUseBeforeClose, why).toBeGreaterThan(0);
    expect(n.poolInUseAfterClose, why).toBe(0);
    expect(n.resourcesAfterClose, why).toEqual({ fds: 0, dma: 0, bars: 0 });
  });

  it('the host\'s reflector saw each run\'s frames as the guest built them', () => {
    const fromCli = cli.reduce((n, c) => n + (c?.tx_packets ?? 0), 0);
    // Four runs of FRAMES, the CLI runs' frames (every one received was reflected; of those sent,
    // at most a ring's worth per run may not have left the device when it closed), and the
    // killed run's (uncounted).
    expect(reflector.count(), why).toBeGreaterThanOrEqual(4 * FRAMES + cli.reduce((n, c) => n + (c?.rx_packets ?? 0), 0));
    expect(reflector.count(), why).toBeGreaterThanOrEqual(4 * FRAMES + fromCli - 2 * 256);
    const seqs = reflector.frames.slice(0, 3 * FRAMES).map((f) => (f.length >= 18 && f.readUInt16BE(12) === 0x88b5 ? f.readUInt32BE(14) : -1));
    expect(seqs, why).toEqual([0, 1, 2].flatMap(() => Array.from({ length: FRAMES }, (_, i) => i)));
    for (const f of reflector.frames.slice(0, 3 * FRAMES)) expect(f.length, why).toBe(SIZES[f.readUInt32BE(14) % SIZES.length]);
  });
});
