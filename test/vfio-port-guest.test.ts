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
import type { VfioSummary } from '../cli/vfio/format.js';

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

interface UnbindRun {
  down: string | null;
  downAfterMs: number;
  sentBeforeDown: number;
  failed: string | null;
  unbindDoneBeforeClose: boolean;
  unbindExit: number | string | null;
  driverAfter: boolean;
  reopen: string | { code: string; message: string };
  poolInUseAfterClose: number;
  error?: string;
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

type Stats = PortRun['stats'];

/** vfio-port-mq.mjs traffic: two queue pairs on the multiqueue device. */
interface MqRun {
  run: string;
  features: string[];
  vectors: string;
  maxQueuePairs: number;
  pairs: number;
  controlCommands: number;
  poolInUseAfterOpen: number;
  sent: number[];
  /** Sending pair -> receiving queue -> frames back unchanged. */
  got: Record<string, Record<string, number>>;
  parks: { signalled: number; timedOut: number; ready: number };
  /** When the one-frame park after the exchange ended, ms (5000: its timer, not the shared vector's fan-out). */
  fanOutWakeMs: number;
  other: number;
  changed: number;
  dups: number;
  stats: Stats[];
  txPending: number[];
  failed: string | null;
  error?: string;
  poolInUseAfterClose: number;
  resourcesAfterClose: { fds: number; dma: number; bars: number };
}

/** vfio-port-mq.mjs recover: DEVICE_NEEDS_RESET mid-traffic, the device set up again. */
interface RecoverRun extends Omit<MqRun, 'sent' | 'got' | 'txPending' | 'parks'> {
  sentBefore: number;
  poolInUseAtTrigger: number;
  inFlight: number;
  added: number;
  reset: { reason: string; reclaimed: number } | null;
  down: string | null;
  resets: number;
  poolInUseAfterReset: number;
  statusAfterReset: number;
  controlCommandsAfterReset: number;
  sentAfter: number[];
  gotAfter: Record<string, Record<string, number>>;
  lateInFlight: number;
  logs: string[];
}

/** `virtqueue vfio --json`'s summary, the fields checked here. */
/** `virtqueue vfio --json`'s summary. */
type CliRun = VfioSummary;

const MAC = '52:54:00:12:34:56';
const MQ_MAC = '52:54:00:12:34:57';
const FRAMES = 45;
const SIZES = [60, 64, 128, 511, 1000, 1514, 2048, 3000, 9000];
const BYTES = Array.from({ length: FRAMES }, (_, i) => SIZES[i % SIZES.length]).reduce((a, b) => a + b, 0);
const PRIVATE_BYTES = 16 << 20; // src/virtio-user/port-memory.ts
/** The multiqueue device's frames per queue pair and per phase (vfio-port-mq.mjs). */
const MQ_FRAMES = 24;
const MQ_BYTES = [60, 128, 1000, 1514, 3000];
const mqBytes = (n: number): number => Array.from({ length: n }, (_, i) => MQ_BYTES[i % MQ_BYTES.length]).reduce((a, b) => a + b, 0);

describe.skipIf(skipWithoutVfioGuest())('VfioNetPort in a QEMU guest: the engine drives a virtio-net PCI device through VFIO', () => {
  let r: VfioGuestResult;
  const runs: Record<string, PortRun> = {};
  let cli: (CliRun | undefined)[] = [];
  let kill: KillRun | undefined;
  let after: PortRun | undefined;
  let needsReset: NeedsResetRun | undefined;
  const mq: Record<string, MqRun> = {};
  let recovered: RecoverRun | undefined;
  let mqCli: (CliRun | undefined)[] = [];
  let unbound: UnbindRun | undefined;
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
        // The multiqueue device: two queue pairs, split then packed; DEVICE_NEEDS_RESET with
        // `recover`; `virtqueue vfio` with Dataplane workers (two for two pairs, one for two).
        ['test/helpers/vfio-port-mq.mjs', 'traffic'], ['test/helpers/vfio-port-mq.mjs', 'recover'],
        ['test/helpers/vfio-cli.mjs', '--mq', 'vfio', '--queues', '2', '--workers', '2', '--fwd', 'macswap', '--tx-first', '--duration', '2', '--json'],
        ['test/helpers/vfio-cli.mjs', '--mq', 'vfio', '--packed', '--queues', '2', '--workers', '1', '--fwd', 'macswap', '--tx-first', '--duration', '2', '--json'],
        // Last: the first device unbound from vfio-pci while a port sends on it.
        ['test/helpers/vfio-port-unbind.mjs'],
      ],
      netdev: reflector.netdev, device: [`mac=${MAC}`, 'packed=on'], timeoutMs: 240_000,
      mq: { queues: 2, device: [`mac=${MQ_MAC}`, 'packed=on', 'vectors=4'] },
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
    for (const line of r.runs[8]?.stdout.trim().split('\n') ?? []) {
      if (line.startsWith('{')) {
        const m = JSON.parse(line) as MqRun;
        mq[m.run] = m;
      }
    }
    recovered = last(9).startsWith('{') ? JSON.parse(last(9)) as RecoverRun : undefined;
    mqCli = [10, 11].map((i) => (last(i).startsWith('{') ? JSON.parse(last(i)) as CliRun : undefined));
    unbound = last(12).startsWith('{') ? JSON.parse(last(12)) as UnbindRun : undefined;
    cli = r.runs.slice(3, 5).map((n) => {
      const line = n.stdout.trim().split('\n').at(-1) ?? '';
      return line.startsWith('{') ? JSON.parse(line) as CliRun : undefined;
    });
  }, 280_000);

  afterAll(async () => {
    await reflector?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('every run ended cleanly, with no DMA fault', () => {
    expect(r.guest.timedOut, why).toBe(false);
    expect(r.guest.console, why).not.toMatch(/DMAR: \[DMA (Read|Write)/);
    expect(r.guest.stderr, why).not.toMatch(/translation failure/);
    expect(r.driver, why).toBe('vfio-pci');
    expect(r.runs.map((n) => n.status), why).toEqual(Array(13).fill(0));
    expect(r.more, why).toHaveLength(1);
    expect(Object.keys(runs).sort(), why).toEqual(['packed', 'split', 'split-hostile']);
  });

  it('the device unbound from vfio-pci while the port sends: the kernel\'s request stops the port (\'down\' says why), the unbind waits for close, then nothing is left', () => {
    const u = unbound!;
    expect(u, why).toBeDefined();
    expect(u.error, why).toBeUndefined();
    expect(u.sentBeforeDown, why).toBeGreaterThan(0);
    expect(u.down, why).toBe('the kernel asks for the device back (it is being unbound from vfio-pci): close the port');
    expect(u.failed, why).toBe(u.down);
    expect(u.unbindDoneBeforeClose, why).toBe(false);
    expect(u.unbindExit, why).toBe(0);
    expect(u.driverAfter, why).toBe(false);
    expect(u.poolInUseAfterClose, why).toBe(0);
    expect(u.resourcesAfterClose, why).toEqual({ fds: 0, dma: 0, bars: 0 });
    expect(u.reopen, why).toMatchObject({ code: 'VFIO_NOT_BOUND' });
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
    expect(r.runs[3].stderr, why).toMatch(new RegExp(`^virtqueue vfio: ${MAC}, split rings, 1 queue pair, MSI-X per-ring, features [^\\n]*ACCESS_PLATFORM`));
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

  for (const layout of ['split', 'packed'] as const) {
    it(`multiqueue (${layout}): VIRTIO_NET_F_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 2 on the control queue, a shared MSI-X vector; each pair's frames come back unchanged on that pair, pair 1's through send() and frames()`, () => {
      const m = mq[`traffic-${layout}`];
      expect(m, why).toBeDefined();
      expect(m.error, why).toBeUndefined();
      expect(m.features, why).toEqual(expect.arrayContaining(['NET_MQ', 'NET_CTRL_VQ', 'ACCESS_PLATFORM']));
      if (layout === 'packed') expect(m.features, why).toContain('RING_PACKED');
      else expect(m.features, why).not.toContain('RING_PACKED');
      // QEMU's tap with queues=2: max_virtqueue_pairs 2; vectors=4 is less than 1 + 2 * 2.
      expect([m.maxQueuePairs, m.pairs, m.vectors, m.controlCommands], why).toEqual([2, 2, 'shared', 1]);
      expect(m.poolInUseAfterOpen, why).toBe(2 * 64);
      expect(m.sent, why).toEqual([MQ_FRAMES, MQ_FRAMES]);
      // Sending pair -> receiving queue: every frame came back; each flow on the tap queue, so the
      // pair, it left from, but maybe its first frame (tun learns a flow's queue after delivering it).
      for (const k of [0, 1]) {
        expect(Object.values(m.got[k] ?? {}).reduce((a, b) => a + b, 0), `${k}: ${why}`).toBe(MQ_FRAMES);
        expect(m.got[k][k], `${k}: ${why}`).toBeGreaterThanOrEqual(MQ_FRAMES - 1);
      }
      expect([m.changed, m.dups], why).toEqual([0, 0]);
      for (const k of [0, 1]) {
        expect(m.stats[k], `${k}: ${why}`).toMatchObject({ txPackets: MQ_FRAMES, txBytes: mqBytes(MQ_FRAMES), rxDropped: 0, txFull: 0 });
        expect(m.stats[k].kicks, `${k}: ${why}`).toBeGreaterThan(0);
      }
      // Frames the host kernel sent on its own (if any) are the only others received.
      // The port counted every frame the tally saw; frames()'s last pending read may take one
      // more (a stray frame of the tap's, after the exchange ended), counted but never tallied.
      const received = m.stats[0].rxPackets + m.stats[1].rxPackets;
      expect(received, why).toBeGreaterThanOrEqual(2 * MQ_FRAMES + m.other);
      expect(received, why).toBeLessThanOrEqual(2 * MQ_FRAMES + m.other + 1);
      expect(m.stats[0].rxBytes + m.stats[1].rxBytes, why).toBeGreaterThanOrEqual(2 * mqBytes(MQ_FRAMES));
      // frames(1) parked before pair 1 sent (parks says how its waits ended: under a loaded TCG
      // host the echoes may come after its 100 ms park, and it finds them polling). Then a
      // park of up to 5 s on pair 1's receive ring and one frame: its echo woke the ring through
      // the shared vector (whose eventfd fans out to each ring's call eventfd).
      expect(m.parks.signalled + m.parks.timedOut + m.parks.ready, why).toBeGreaterThanOrEqual(1);
      // The one-frame park: woken through the shared vector well before its 5 s.
      console.log(`vfio multiqueue (${layout}): one-frame park on pair 1 ended after ${m.fanOutWakeMs} ms; the exchange's parks ${JSON.stringify(m.parks)}`);
      expect(m.fanOutWakeMs, why).toBeLessThan(4_000);
      expect(m.txPending, why).toEqual([0, 0]);
      expect(m.failed, why).toBeNull();
      expect(m.poolInUseAfterClose, why).toBe(0);
      expect(m.resourcesAfterClose, why).toEqual({ fds: 0, dma: 0, bars: 0 });
    });
  }

  it('DEVICE_NEEDS_RESET mid-traffic with `recover`: the port resets the device, takes every buffer back, sets it up again (MQ command and all), and traffic resumes on both pairs', () => {
    const n = recovered!;
    expect(n, why).toBeDefined();
    expect(n.error, why).toBeUndefined();
    expect(n.sentBefore, why).toBe(MQ_FRAMES);
    expect(n.added, why).toBe(1);
    expect(n.down, why).toBeNull();
    expect(n.reset?.reason, why).toMatch(/^the device set DEVICE_NEEDS_RESET \(device_status 0x[0-9a-f]+, VIRTIO 1\.2 2\.1\.1\)$/);
    // Every buffer the device had went back to the pool: the receive buffers (2 rings of 64), the
    // bad chain, the frames in flight and the transmitted ones not reaped yet.
    expect(n.reset!.reclaimed, why).toBe(n.poolInUseAtTrigger);
    expect(n.reset!.reclaimed, why).toBeGreaterThanOrEqual(2 * 64 + 1);
    expect(n.resets, why).toBe(1);
    expect(n.poolInUseAfterReset, why).toBe(n.poolInUseAfterOpen);
    expect(n.statusAfterReset & DS.STATUS_DRIVER_OK, why).toBe(DS.STATUS_DRIVER_OK);
    expect(n.statusAfterReset & DS.STATUS_DEVICE_NEEDS_RESET, why).toBe(0);
    expect([n.controlCommands, n.controlCommandsAfterReset], why).toEqual([1, 2]);
    expect(n.logs.join('\n'), why).toMatch(/DEVICE_NEEDS_RESET .*: resetting the device and setting it up again\n.*set up again \(reset 1; \d+ buffers taken back into the pool\)/);
    expect(n.sentAfter, why).toEqual([MQ_FRAMES, MQ_FRAMES]);
    for (const k of [0, 1]) {
      expect(Object.values(n.gotAfter[k] ?? {}).reduce((a, b) => a + b, 0), `${k}: ${why}`).toBe(MQ_FRAMES);
      expect(n.gotAfter[k][k], `${k}: ${why}`).toBeGreaterThanOrEqual(MQ_FRAMES - 1);
    }
    expect([n.changed, n.dups], why).toEqual([0, 0]);
    // Counters run on across the reset: pair 0 sent its frames before and after; pair 1 the ones in flight too.
    expect(n.stats[0].txPackets, why).toBe(2 * MQ_FRAMES);
    expect(n.stats[1].txPackets, why).toBe(n.inFlight + MQ_FRAMES);
    expect(n.stats[0].rxPackets + n.stats[1].rxPackets, why).toBe(3 * MQ_FRAMES + n.lateInFlight + n.other);
    expect(n.failed, why).toBeNull();
    expect(n.poolInUseAfterClose, why).toBe(0);
    expect(n.resourcesAfterClose, why).toEqual({ fds: 0, dma: 0, bars: 0 });
  });

  it('virtqueue vfio --queues 2 with Dataplane workers (2 for split, 1 for packed): every pair ran, every frame received went out again', () => {
    for (const [i, layout, workers] of [[0, 'split', 2], [1, 'packed', 1]] as const) {
      const c = mqCli[i]!;
      expect(c, `${layout}: ${why}`).toBeDefined();
      expect(c, `${layout}: ${why}`).toMatchObject({ layout, fwd: 'macswap', queues: 2, needs_reset: false });
      expect(r.runs[10 + i].stderr, why).toMatch(new RegExp(`^virtqueue vfio: ${MQ_MAC}, ${layout} rings, 2 queue pairs, MSI-X shared, features [^\\n]*NET_MQ`));
      expect(c.features, why).not.toContain('NOTIFICATION_DATA');
      expect(c.workers.map((w) => w.worker), why).toEqual(Array.from({ length: workers }, (_, w) => w));
      expect(c.workers.every((w) => w.frames > 0), why).toBe(true);
      // Each pair sent its first burst (32, from its worker); the flows (all txonly's one) came back and were sent again.
      for (const q of c.per_queue) {
        expect(q.tx_packets + q.tx_full, `${layout}: ${why}`).toBeGreaterThanOrEqual(32);
        expect(q.rx_dropped, `${layout}: ${why}`).toBe(0);
      }
      const sum = (f: (q: CliRun['per_queue'][number]) => number): number => c.per_queue.reduce((a, q) => a + f(q), 0);
      expect(sum((q) => q.tx_packets + q.tx_full), `${layout}: ${why}`).toBe(2 * 32 + c.rx_packets);
      expect(c.rx_packets, `${layout}: ${why}`).toBeGreaterThan(2 * 32);
    }
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
