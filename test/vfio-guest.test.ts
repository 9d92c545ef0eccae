// VFIO for real: a QEMU guest (TCG, intel-iommu) whose virtio-net device is bound to vfio-pci
// runs the host's Node on this repository (test/helpers/vfio-guest.ts), and
// test/helpers/vfio-probe.mjs takes the native bridge through the whole VFIO lifecycle on it.
// One boot for the file; each test checks one part of the probe's report. Without QEMU,
// busybox-static or gcc the tests are skipped, unless VIRTQUEUE_REQUIRE_PEERS=1 (CI), which
// makes them fail. Needs `npm run build` (the guest runs dist/).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as L from '../assembly/layout/virtio-pci.js';
import * as DS from '../assembly/layout/device-status.js';
import { FEATURES } from '../src/features.js';
import { startStreamReflector, type StreamReflector } from './helpers/stream-reflector.js';
import { describeVfioGuest, runVfioGuest, skipWithoutVfioGuest, type VfioGuestResult } from './helpers/vfio-guest.js';

interface Probe {
  address: string;
  groupNumber: number;
  groupStatus: { viable: boolean; containerSet: boolean };
  deviceInfo: { numRegions: number; numIrqs: number; reset: boolean; pci: boolean };
  regions: { index: number; size?: number; mmap?: boolean; read?: boolean; write?: boolean; caps?: { msixMappable: boolean }; error?: string }[];
  config: { vendor: number; device: number; command: number; status: number };
  layout: {
    common: { bar: number; offset: number; length: number };
    notify: { bar: number; offset: number; multiplier: number };
    isr: { bar: number };
    device?: { bar: number };
    msix?: { tableSize: number };
  };
  barMappingsOpen: number;
  numQueues: { mmio: number; pread: number };
  deviceFeaturesHigh: number;
  iommu: { pageSizes: string; iovaRanges: { start: string; end: string }[]; dmaAvail: number | null };
  dmaMapMs: number;
  dmaMappings: { iova: number; size: number }[];
  pinBefore: { pin: number; lck: number };
  pinDuring: { pin: number; lck: number };
  pinAfter: { pin: number; lck: number };
  refused: Record<'overlap' | 'beyondAddressWidth' | 'msiWindow', { code: string; message: string } | null>;
  unmapUnderDma: { code: string; message: string } | null;
  irqs: { msix: { count: number; eventfd: boolean }; intx: { count: number; automasked: boolean } };
  msixBeforeTrigger: string | null;
  msixAfterTrigger: string | null;
  msixEnabledInConfig: boolean;
  msixEnabledAfterDisable: boolean;
  statusBeforeReset: number;
  resetError: unknown;
  statusAfterReset: number;
  barAfterClose: { code: string; message: string } | null;
  resourcesAfterClose: { fds: number; dma: number; bars: number };
  fdsLeft: string[];
  reopenedVendor: number;
  secondOpener: { code: string; message: string } | null;
  resourcesAfterReopen: { fds: number; dma: number; bars: number };
  workerHeld: { fds: number; dma: number; bars: number };
  resourcesAfterWorker: { fds: number; dma: number; bars: number };
  pinAfterWorker: { pin: number; lck: number };
  openAfterWorker: boolean;
}

interface Handshake {
  handshake: { offered: string; negotiated: string; status: number };
  mac: string;
  netStatus: number;
  numQueues: number;
  doorbells: { bar: number; offset: number }[];
  isr: number;
  statusAfterReset: number;
  withoutAccessPlatform: number;
  overPread: { status: number; negotiated: string; numQueues: number };
  overPreadMac: string;
  barsMapped: number;
  resourcesAfterClose: { fds: number; dma: number; bars: number };
}

interface Traffic {
  negotiated: string;
  statusAfterDriverOk: number;
  txUsed: number;
  txUsedId: number;
  rxUsed: number;
  rxUsedElem: { id: number; len: number };
  rxFrame?: { dst: string; src: string; ethertype: number; payload: string; length: number };
  mac: string;
  irqs: number[];
  needsReset: boolean;
  resetError?: string;
  resourcesAfterClose: { fds: number; dma: number; bars: number };
}

interface Kill {
  sentBeforeKill: number | null;
  child: { code: number | null; signal: string | null };
  commandAfter: number;
  statusAfter: number;
  resourcesAfterClose: { fds: number; dma: number; bars: number };
}

interface Unbind {
  reqIrq: { count: number; eventfd: boolean };
  asked: number | null;
  askedAfterMs: number;
  unbindDoneBeforeClose: boolean;
  unbindExit: number | string;
  driverAfter: boolean;
  resourcesAfterClose: { fds: number; dma: number; bars: number };
  reopen: string | { code: string; message: string };
}

const NONE = { fds: 0, dma: 0, bars: 0 };
const MAC = '52:54:00:ab:cd:ef';
const DMA_KB = 16 * 1024; // the probe maps 16 MiB

describe.skipIf(skipWithoutVfioGuest())('VFIO in a QEMU guest: the native bridge on a virtio-net device bound to vfio-pci', () => {
  let r: VfioGuestResult;
  let p: Probe;
  let h: Handshake;
  let x: Traffic;
  let k: Kill;
  let x2: Traffic;
  let u: Unbind;
  let reflector: StreamReflector;
  let tmp = '';
  let why = '';

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'vq-vfio-test-'));
    reflector = await startStreamReflector(path.join(tmp, 'net.sock'));
    r = await runVfioGuest({
      // A driver killed mid-traffic, then traffic from a new one; the unbind goes last: the
      // device is no longer bound to vfio-pci after it.
      node: ['vfio-probe', 'vfio-handshake', 'vfio-traffic', 'vfio-kill', 'vfio-traffic', 'vfio-unbind'].map((n) => [`test/helpers/${n}.mjs`]),
      netdev: reflector.netdev, device: [`mac=${MAC}`], timeoutMs: 90_000,
    });
    why = describeVfioGuest(r);
    if (process.env.VIRTQUEUE_QEMU_VERBOSE === '1') console.log(why);
    const json = (i: number): unknown => {
      const out = r.runs[i]?.stdout.trim().split('\n').at(-1) ?? '';
      return out.startsWith('{') ? JSON.parse(out) : undefined;
    };
    p = json(0) as Probe;
    h = json(1) as Handshake;
    x = json(2) as Traffic;
    k = json(3) as Kill;
    x2 = json(4) as Traffic;
    u = json(5) as Unbind;
  }, 120_000);

  afterAll(async () => {
    await reflector?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('the guest bound the device to vfio-pci and the probe ran to the end', () => {
    expect(r.guest.timedOut, why).toBe(false);
    expect(r.guest.errors, why).toEqual([]);
    expect(r.driver, why).toBe('vfio-pci');
    expect(r.runs.map((n) => n.status), why).toEqual([0, 0, 0, 0, 0, 0]);
    expect(p.address, why).toBe(r.device);
    expect(p.groupNumber, why).toBe(r.group);
  });

  it('container, group and device: viable, set, a PCI device with regions and interrupts', () => {
    expect(p.groupStatus, why).toEqual({ viable: true, containerSet: true });
    expect(p.deviceInfo, why).toMatchObject({ pci: true, numRegions: 9, numIrqs: 5 });
    // Config space (region 7) is read and written with pread/pwrite, never mmapped.
    expect(p.regions[7], why).toMatchObject({ read: true, write: true, mmap: false, size: 4096 });
    expect(p.config, why).toMatchObject({ vendor: L.PCI_VENDOR_ID_VIRTIO, device: L.PCI_DEVICE_ID_VIRTIO_MODERN_BASE + L.VIRTIO_ID_NET });
    expect(p.config.status & L.PCI_STATUS_CAP_LIST, why).not.toBe(0);
    // VFIO leaves bus mastering off until the driver turns it on.
    expect(p.config.command & L.PCI_COMMAND_MASTER, why).toBe(0);
  });

  it('the virtio capabilities lead to BAR structures that the probe reads both mmapped and with pread', () => {
    const { common, notify, isr, device } = p.layout;
    for (const s of [common, notify, isr, device!]) expect(p.regions[s.bar], why).toMatchObject({ mmap: true, read: true, write: true });
    expect(common.length, why).toBeGreaterThanOrEqual(L.COMMON_CFG_SIZE);
    expect(notify.multiplier, why).toBe(4);
    expect(p.layout.msix?.tableSize, why).toBe(4); // QEMU's default vectors=4 on one queue pair
    expect(p.barMappingsOpen, why).toBe(1);
    // num_queues: receive, transmit and control queue.
    expect(p.numQueues, why).toEqual({ mmio: 3, pread: 3 });
    // device_feature bits 32-63: VERSION_1 (32) and ACCESS_PLATFORM (33), iommu_platform=on.
    expect(p.deviceFeaturesHigh & 0b11, why).toBe(0b11);
  });

  it('DMA: the memfd-backed Wasm memory is mapped at the chosen IOVA and pinned, and bad mappings are refused by name', () => {
    expect(p.iommu.iovaRanges.length, why).toBeGreaterThan(0);
    expect(BigInt(p.iommu.iovaRanges.at(-1)!.end), why).toBe(2n ** 39n - 1n); // aw-bits 39: IOVAs stay below 2^39
    expect(p.iommu.dmaAvail, why).toBe(65535);
    expect(p.dmaMappings, why).toEqual([expect.objectContaining({ iova: 2 ** 32, size: DMA_KB * 1024 })]);
    expect(p.pinDuring.lck - p.pinBefore.lck, why).toBe(DMA_KB);
    // The memfd's mapping cannot go while the device may DMA into its pages.
    expect(p.unmapUnderDma, why).toEqual({
      code: 'EBUSY', message: `unmapFromMemory: [0, ${DMA_KB * 1024}) is mapped for a VFIO device's DMA: vfioDmaUnmap it first`,
    });
    expect(p.refused.overlap, why).toMatchObject({ code: 'EEXIST', message: expect.stringMatching(/overlaps the mapping at 0x100000000/) });
    for (const e of [p.refused.beyondAddressWidth, p.refused.msiWindow]) {
      expect(e, why).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^vfioDmaMap: the IOMMU refused to map IOVA \[0x[0-9a-f]+, 0x[0-9a-f]+\) \(memory offset 0\): EINVAL/) });
    }
  });

  it('MSI-X: vector 0 signals its eventfd, and the device shows MSI-X on until disabled', () => {
    expect(p.irqs.msix, why).toMatchObject({ count: 4, eventfd: true });
    expect(p.irqs.intx, why).toMatchObject({ count: 1, automasked: true });
    expect([p.msixBeforeTrigger, p.msixAfterTrigger], why).toEqual([null, '0x1']);
    expect([p.msixEnabledInConfig, p.msixEnabledAfterDisable], why).toEqual([true, false]);
  });

  it('reset: behind a PCIe root port the device has FLR, and VFIO_DEVICE_RESET clears its status', () => {
    expect(p.deviceInfo.reset, why).toBe(true);
    expect(p.resetError, why).toBeNull();
    expect([p.statusBeforeReset, p.statusAfterReset], why).toEqual([DS.STATUS_ACKNOWLEDGE, 0]);
  });

  it('close leaves nothing: no registry entries, no fds, no pinned pages, no BAR mapping', () => {
    expect(p.resourcesAfterClose, why).toEqual(NONE);
    expect(p.fdsLeft, why).toEqual([]);
    expect(p.pinAfter, why).toEqual(p.pinBefore);
    expect(p.barAfterClose, why).toMatchObject({ code: 'ENOENT', message: expect.stringMatching(/no BAR mapping \d+ \(unmapped, or its device closed\)/) });
  });

  it('the device opens again after close, and a second opener of its group gets a one-line VFIO_GROUP_BUSY', () => {
    expect(p.reopenedVendor, why).toBe(L.PCI_VENDOR_ID_VIRTIO);
    expect(p.secondOpener, why).toMatchObject({ code: 'VFIO_GROUP_BUSY', message: expect.stringMatching(/^\/dev\/vfio\/\d+ is open already[^\n]*EBUSY/) });
    expect(p.resourcesAfterReopen, why).toEqual(NONE);
  });

  it('a worker that ends without closing: its environment\'s cleanup releases its fds, DMA and BAR mappings', () => {
    expect(p.workerHeld, why).toEqual({ fds: 3, dma: 1, bars: 1 });
    expect(p.resourcesAfterWorker, why).toEqual(NONE);
    expect(p.pinAfterWorker, why).toEqual(p.pinBefore);
    expect(p.openAfterWorker, why).toBe(true);
  });
  it('virtio-pci transport: the handshake up to FEATURES_OK over the mmapped BAR and over pread/pwrite, the MAC, doorbells, reset', () => {
    const offered = BigInt(h.handshake.offered);
    const negotiated = BigInt(h.handshake.negotiated);
    const want = FEATURES.VERSION_1 | FEATURES.ACCESS_PLATFORM | FEATURES.NET_MAC | FEATURES.NET_STATUS;
    expect(offered & want, why).toBe(want);
    // NET_MQ is offered only with mq=on; what is negotiated is what both sides have.
    expect(negotiated, why).toBe(offered & (want | FEATURES.NET_MQ));
    expect(h.handshake.status, why).toBe(DS.STATUS_ACKNOWLEDGE | DS.STATUS_DRIVER | DS.STATUS_FEATURES_OK);
    expect(h.mac, why).toBe(MAC);
    expect(h.netStatus & L.NET_S_LINK_UP, why).toBe(L.NET_S_LINK_UP);
    expect(h.numQueues, why).toBe(3);
    // QEMU gives queue k notify_off k; the multiplier is 4.
    expect(h.doorbells, why).toEqual([0, 1, 2].map((q) => ({ bar: p.layout.notify.bar, offset: p.layout.notify.offset + 4 * q })));
    expect(h.statusAfterReset, why).toBe(0);
    expect(h.barsMapped, why).toBe(1);
    // Again through pread/pwrite of the region instead of the mapping.
    expect(h.overPread, why).toEqual({
      status: DS.STATUS_ACKNOWLEDGE | DS.STATUS_DRIVER | DS.STATUS_FEATURES_OK,
      negotiated: `0x${(FEATURES.VERSION_1 | FEATURES.ACCESS_PLATFORM | FEATURES.NET_MAC).toString(16)}`, numQueues: 3,
    });
    expect(h.overPreadMac, why).toBe(MAC);
    expect(h.resourcesAfterClose, why).toEqual(NONE);
  });

  it('a real refusal: with iommu_platform=on, QEMU does not let FEATURES_OK read back for a driver that left out ACCESS_PLATFORM', () => {
    // handshake() would then fail with the 3.1.1 error the model test checks; here, written by hand.
    expect(h.withoutAccessPlatform, why).toBe(DS.STATUS_ACKNOWLEDGE | DS.STATUS_DRIVER);
  });
  /**
   * A traffic run's report: one frame out and its reflection back, interrupts, nothing left.
   * `stale`: reflections of an earlier driver's frames may be waiting and fill more receive buffers
   * (they are the same frame).
   */
  const expectTraffic = (t: Traffic, stale = false): void => {
    const NET_MAC = FEATURES.VERSION_1 | FEATURES.ACCESS_PLATFORM | FEATURES.NET_MAC;
    expect(BigInt(t.negotiated), why).toBe(NET_MAC);
    expect(t.statusAfterDriverOk, why).toBe(DS.STATUS_ACKNOWLEDGE | DS.STATUS_DRIVER | DS.STATUS_FEATURES_OK | DS.STATUS_DRIVER_OK);
    expect([t.txUsed, t.txUsedId], why).toEqual([1, 0]);
    // The reflection (MACs swapped) was written by the device into receive buffer 0, header and all.
    if (stale) expect(t.rxUsed, why).toBeGreaterThanOrEqual(1);
    else expect(t.rxUsed, why).toBe(1);
    expect(t.rxUsedElem, why).toEqual({ id: 0, len: 12 + 60 });
    expect(t.rxFrame, why).toEqual({ dst: MAC, src: 'ff:ff:ff:ff:ff:ff', ethertype: 0x88b5, payload: 'vq-vfio-tx-frame', length: 60 });
    // Vector 1 (receive queue) and 2 (transmit queue) interrupted; no configuration change (vector 0).
    expect(t.irqs[0], why).toBe(0);
    expect(t.irqs[1], why).toBeGreaterThanOrEqual(1);
    expect(t.irqs[2], why).toBeGreaterThanOrEqual(1);
    expect(t.needsReset, why).toBe(false);
    expect(t.resetError, why).toBeUndefined();
    expect(t.resourcesAfterClose, why).toEqual(NONE);
  };

  it('traffic through the IOMMU: a frame sent from a hand-written split ring reaches the host, its reflection lands in a receive buffer, MSI-X fires', () => {
    // The host saw exactly the frame the guest's Node built in DMA memory: the device read it through the IOMMU.
    expect(reflector.count(), why).toBeGreaterThanOrEqual(1);
    const f = reflector.frames[0];
    expect(f.length, why).toBe(60);
    expect(f.subarray(0, 6).equals(Buffer.alloc(6, 0xff)), why).toBe(true);
    expect([...f.subarray(6, 12)].map((b) => b.toString(16).padStart(2, '0')).join(':'), why).toBe(MAC);
    expect(f.subarray(14, 30).toString('latin1'), why).toBe('vq-vfio-tx-frame');
    expectTraffic(x);
  });

  it('a driver SIGKILLed mid-traffic: the device comes back quiet (bus mastering off, status 0), and a new driver gets traffic through (the killed one\'s reflections waiting too)', () => {
    expect(k.sentBeforeKill, why).toBeGreaterThanOrEqual(50);
    expect(k.child, why).toEqual({ code: null, signal: 'SIGKILL' });
    expect(k.commandAfter & L.PCI_COMMAND_MASTER, why).toBe(0);
    expect(k.statusAfter, why).toBe(0);
    expect(k.resourcesAfterClose, why).toEqual(NONE);
    // The killed driver's frames reached the host too: its exchange, and all but at most a queue's worth of its loop.
    expect(reflector.count(), why).toBeGreaterThanOrEqual(1 + 1 + (k.sentBeforeKill! - 16) + 1);
    expectTraffic(x2, true);
  });

  it('unbound while open: the kernel asks for the device on the request eventfd, the unbind waits for close, then "not bound to vfio-pci"', () => {
    expect(u.reqIrq, why).toMatchObject({ count: 1, eventfd: true });
    expect(u.asked, why).toBeGreaterThanOrEqual(1);
    expect(u.unbindDoneBeforeClose, why).toBe(false);
    expect(u.unbindExit, why).toBe(0);
    expect(u.driverAfter, why).toBe(false);
    expect(u.resourcesAfterClose, why).toEqual(NONE);
    expect(u.reopen, why).toEqual({
      code: 'VFIO_NOT_BOUND',
      message: expect.stringMatching(new RegExp(`^PCI device ${p.address.replace(/\./g, '\\.')} is bound to no driver, not vfio-pci: echo vfio-pci > `)),
    });
  });
});
