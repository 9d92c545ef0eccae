// The virtio PCI modern transport's driver side on the host, over a model device
// (test/helpers/virtio-pci-model.ts): the capability walk (VIRTIO 1.2 4.1.4) on QEMU's layout
// and on hostile config spaces, and the status handshake up to FEATURES_OK (3.1.1) with devices
// that refuse, never reset, or change their configuration while it is read. The same code runs
// on a real device in test/vfio-guest.test.ts.
import { describe, expect, it } from 'vitest';
import * as L from '../assembly/layout/virtio-pci.js';
import * as DS from '../assembly/layout/device-status.js';
import { FEATURES } from '../src/features.js';
import { findVirtioStructures, VirtioPciError } from '../src/virtio-pci/capabilities.js';
import { REQUIRED_FEATURES, VirtioPciTransport } from '../src/virtio-pci/transport.js';
import {
  AT, configBytes, configSpace, MODEL_BAR, MODEL_BAR_SIZE, qemuCaps, VirtioPciModel, type ModelOptions, type VirtioCap,
} from './helpers/virtio-pci-model.js';

const MSIX = { at: 0xdc, next: 0x84, tableSize: 4 };
const BARS = [0, 4096, 0, 0, MODEL_BAR_SIZE, 0];
const walk = (caps: VirtioCap[], first = 0x84, msix?: typeof MSIX, bars: number[] | undefined = BARS) =>
  findVirtioStructures(configSpace(configBytes(first, caps, msix)), bars);
const fails = (f: () => unknown, section: string, re: RegExp): void => {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(VirtioPciError);
  expect((err as VirtioPciError).section).toBe(section);
  expect((err as Error).message).toMatch(re);
  expect((err as Error).message).toContain(`(VIRTIO 1.2 ${section})`);
};

describe('capability walk (4.1.4)', () => {
  it('QEMU\'s layout: the four structures in BAR 4, the notify multiplier, MSI-X table size', () => {
    const l = walk(qemuCaps(), MSIX.at, MSIX);
    expect(l).toEqual({
      common: { bar: 4, offset: AT.common, length: 0x1000, capOffset: 0x84 },
      isr: { bar: 4, offset: AT.isr, length: 0x1000, capOffset: 0x94 },
      device: { bar: 4, offset: AT.device, length: 0x1000, capOffset: 0xa4 },
      notify: { bar: 4, offset: AT.notify, length: 0x1000, capOffset: 0xb4, multiplier: 4 },
      msix: { capOffset: MSIX.at, tableSize: 4 },
    });
  });

  it('a reserved BAR number is ignored, and the first capability of a type is the one used', () => {
    const caps = qemuCaps();
    const extra: VirtioCap[] = [
      { at: 0x40, next: 0x54, cfgType: L.VIRTIO_PCI_CAP_COMMON_CFG, bar: 6, offset: 0x3000, length: 0x1000 },
      { at: 0x54, next: 0x84, cfgType: L.VIRTIO_PCI_CAP_ISR_CFG, bar: MODEL_BAR, offset: 0x800, length: 4 },
      { at: 0xc8, next: 0, cfgType: L.VIRTIO_PCI_CAP_ISR_CFG, bar: MODEL_BAR, offset: 0x900, length: 4 },
      { at: 0xe0, next: 0, cfgType: 0x77, bar: 0, offset: 0, length: 0 }, // unknown type, unreachable anyway
    ];
    caps[3].next = 0xc8;
    const l = walk([...extra, ...caps], 0x40);
    expect(l.common.offset).toBe(AT.common); // not the one in "BAR 6"
    expect(l.isr).toMatchObject({ offset: 0x800, capOffset: 0x54 });
  });

  it('a loop, a pointer into the header or past the end, or no list at all: named errors', () => {
    const loop = qemuCaps();
    loop[3].next = 0x94;
    fails(() => walk(loop), '4.1.4', /the PCI capability list loops \(capability at 0x94 again\)/);
    const low = qemuCaps();
    low[1].next = 0x20;
    fails(() => walk(low), '4.1.4', /a PCI capability pointer 0x20 is outside \[0x40, 0xfc\]/);
    const bytes = configBytes(0x84, qemuCaps());
    bytes[L.PCI_STATUS] = 0;
    fails(() => findVirtioStructures(configSpace(bytes)), '4.1.4', /no PCI capability list/);
  });

  it('a missing or short structure, or one outside its BAR, names the structure', () => {
    fails(() => walk(qemuCaps().slice(1), 0x94), '4.1.4.3', /^no common configuration capability: not a modern virtio PCI device/);
    const short = qemuCaps();
    short[0].length = 0x20;
    fails(() => walk(short), '4.1.4.3', /the common configuration structure is 32 bytes, at least 56 needed/);
    const past = qemuCaps();
    past[3].offset = MODEL_BAR_SIZE - 0x800;
    fails(() => walk(past), '4.1.4.4', /the notification structure \[0x3800, \+0x1000\) runs past BAR 4 \(16384 bytes\)/);
    const noBar = qemuCaps();
    noBar[1].bar = 2;
    fails(() => walk(noBar), '4.1.4.5', /the ISR status structure is in BAR 2, which the device does not have/);
  });

  it('the notify capability: too short for its multiplier, or a multiplier that is not a power of 2', () => {
    const short = qemuCaps();
    delete short[3].multiplier;
    fails(() => walk(short), '4.1.4.4', /the notify capability at 0xb4 is shorter than struct virtio_pci_notify_cap/);
    const odd = qemuCaps();
    odd[3].multiplier = 12;
    fails(() => walk(odd), '4.1.4.4', /notify_off_multiplier 12 is not a power of 2/);
  });
});

const OFFERED = FEATURES.VERSION_1 | FEATURES.ACCESS_PLATFORM | FEATURES.NET_MAC | FEATURES.NET_STATUS | FEATURES.RING_PACKED;
const transport = (o: Partial<ModelOptions> = {}, opts = {}) => {
  const model = new VirtioPciModel({ offered: OFFERED, ...o });
  const layout = walk(qemuCaps(), MSIX.at, MSIX);
  return { model, t: new VirtioPciTransport(layout, (bar) => { expect(bar).toBe(MODEL_BAR); return model; }, opts) };
};
const statusWrites = (m: VirtioPciModel): number[] => m.writes.filter((w) => w.offset === AT.common + L.COMMON_DEVICE_STATUS).map((w) => w.value);

describe('status handshake up to FEATURES_OK (3.1.1)', () => {
  it('reset, ACKNOWLEDGE, DRIVER, features written, FEATURES_OK read back: offered & accepted', () => {
    const { model, t } = transport();
    const r = t.handshake(FEATURES.NET_MAC | FEATURES.NET_MQ);
    expect(r.offered).toBe(OFFERED);
    expect(r.negotiated).toBe(REQUIRED_FEATURES | FEATURES.NET_MAC);
    expect(model.driverFeatures).toBe(r.negotiated);
    expect(statusWrites(model)).toEqual([0, 1, 3, 11]);
    expect(r.status).toBe(DS.STATUS_ACKNOWLEDGE | DS.STATUS_DRIVER | DS.STATUS_FEATURES_OK);
    expect(t.numQueues()).toBe(3);
    expect([...t.readDeviceConfig(L.NET_CONFIG_MAC, L.NET_CONFIG_MAC_SIZE)]).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  });

  it('a device that refuses the features: FAILED set, the error names them', () => {
    const { model, t } = transport({ refuseFeatures: true });
    fails(() => t.handshake(FEATURES.NET_MAC), '3.1.1', /the device did not accept the features NET_MAC, VERSION_1, ACCESS_PLATFORM \(FEATURES_OK did not read back\)/);
    expect(t.status() & DS.STATUS_FAILED).toBe(DS.STATUS_FAILED);
    expect(statusWrites(model).at(-1)! & DS.STATUS_FAILED).toBe(DS.STATUS_FAILED);
  });

  it('a device without ACCESS_PLATFORM or VERSION_1 is refused before any feature is written', () => {
    const { model, t } = transport({ offered: FEATURES.VERSION_1 | FEATURES.NET_MAC });
    fails(() => t.handshake(FEATURES.NET_MAC), '6.1', /the device does not offer ACCESS_PLATFORM, which this driver needs/);
    expect(model.writes.some((w) => w.offset === AT.common + L.COMMON_DRIVER_FEATURE)).toBe(false);
    expect(t.status() & DS.STATUS_FAILED).toBe(DS.STATUS_FAILED);
  });

  it('a device whose status never returns to 0 after reset: a bounded wait, then an error', () => {
    const { model, t } = transport({ stuckStatus: true }, { resetTimeoutMs: 30 });
    model.bytes[AT.common + L.COMMON_DEVICE_STATUS] = DS.STATUS_DRIVER_OK;
    const t0 = Date.now();
    fails(() => t.reset(), '4.1.4.3.2', /device_status still reads 0x4 30 ms after the driver wrote 0/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('device configuration read again while config_generation changes, and refused when it never settles', () => {
    const settles = transport({ generationChanges: 5, mac: [2, 0, 0, 0, 0, 9] }).t;
    expect([...settles.readDeviceConfig(L.NET_CONFIG_MAC, 6)]).toEqual([2, 0, 0, 0, 0, 9]);
    const never = transport({ generationChanges: 1000 }).t;
    fails(() => never.readDeviceConfig(L.NET_CONFIG_MAC, 6), '2.5.1', /config_generation changed on each of 16 reads/);
    fails(() => never.readDeviceConfig(0xffe, 4), '4.1.4.6', /\[4094, 4098\) is outside the device-specific configuration structure \(4096 bytes\)/);
  });

  it('queue doorbells: notify.offset + queue_notify_off * multiplier, inside the notify structure', () => {
    const { t } = transport({ notifyOff: (q) => (q === 2 ? 0x800 : q) });
    expect(t.queueNotifyAddress(0)).toEqual({ bar: MODEL_BAR, offset: AT.notify });
    expect(t.queueNotifyAddress(1)).toEqual({ bar: MODEL_BAR, offset: AT.notify + 4 });
    fails(() => t.queueNotifyAddress(2), '4.1.4.4', /\[8192, 8194\) is outside the notification \(queue 2, queue_notify_off 2048\) structure/);
  });

  it('ISR reads and DEVICE_NEEDS_RESET', () => {
    const { model, t } = transport();
    model.bytes[AT.isr] = L.ISR_CONFIG;
    expect(t.isr()).toBe(L.ISR_CONFIG);
    expect(t.needsReset()).toBe(false);
    model.bytes[AT.common + L.COMMON_DEVICE_STATUS] = DS.STATUS_DRIVER_OK | DS.STATUS_DEVICE_NEEDS_RESET;
    expect(t.needsReset()).toBe(true);
  });

  it('queue setup: size, vector and the three IOVAs written as 32-bit halves, then enabled; DRIVER_OK; the doorbell written', () => {
    const { model, t } = transport();
    t.handshake(0n);
    t.setConfigMsixVector(0);
    const at = t.setupQueue(1, { size: 64, desc: 0x1_0000_3000n, driver: 0x1_0000_4000n, device: 0x2_0000_5000n, msixVector: 2 });
    expect(at).toEqual({ bar: MODEL_BAR, offset: AT.notify + 4 });
    t.enableQueue(1);
    t.driverOk();
    t.notify(1, at);
    const f = (field: number, width: 2 | 4 = 4): number => model.queueField(1, field, width);
    expect([f(L.COMMON_QUEUE_SIZE, 2), f(L.COMMON_QUEUE_MSIX_VECTOR, 2), f(L.COMMON_QUEUE_ENABLE, 2)]).toEqual([64, 2, 1]);
    expect([f(L.COMMON_QUEUE_DESC), f(L.COMMON_QUEUE_DESC + 4)]).toEqual([0x3000, 1]);
    expect([f(L.COMMON_QUEUE_DRIVER), f(L.COMMON_QUEUE_DRIVER + 4)]).toEqual([0x4000, 1]);
    expect([f(L.COMMON_QUEUE_DEVICE), f(L.COMMON_QUEUE_DEVICE + 4)]).toEqual([0x5000, 2]);
    expect(t.status()).toBe(DS.STATUS_ACKNOWLEDGE | DS.STATUS_DRIVER | DS.STATUS_FEATURES_OK | DS.STATUS_DRIVER_OK);
    expect(model.writes.at(-1)).toEqual({ offset: AT.notify + 4, width: 2, value: 1 });
  });

  it('queue setup refused: no such queue, a size the device does not allow, an enabled queue, a vector the device has not', () => {
    const q = { desc: 0n, driver: 0x1000n, device: 0x2000n };
    const { t } = transport();
    fails(() => t.setupQueue(3, { size: 16, ...q }), '4.1.4.3', /queue 3 does not exist \(num_queues 3\)/);
    fails(() => t.setupQueue(0, { size: 512, ...q }), '2.7', /queue 0: size 512 is not a power of 2 in \[1, 256\]/);
    fails(() => t.setupQueue(0, { size: 24, ...q }), '2.7', /size 24 is not a power of 2/);
    t.setupQueue(0, { size: 16, ...q });
    t.enableQueue(0);
    fails(() => t.setupQueue(0, { size: 16, ...q }), '4.1.4.3.2', /queue 0 is enabled already/);
    fails(() => transport({ queueMax: 0 }).t.setupQueue(0, { size: 16, ...q }), '4.1.5.1.3', /queue 0 is not available \(queue_size 0\)/);
    const refusing = transport({ refuseVectors: true }).t;
    fails(() => refusing.setupQueue(0, { size: 16, ...q, msixVector: 1 }), '4.1.5.1.2', /queue 0: the device did not take MSI-X vector 1 \(reads 65535\)/);
    fails(() => refusing.setConfigMsixVector(0), '4.1.5.1.2', /did not take MSI-X vector 0 for configuration changes/);
  });
  it('notifications with VIRTIO_F_NOTIFICATION_DATA: 32 bits, the queue index and next_off / next_wrap (2.9)', () => {
    const { model, t } = transport();
    const at = t.queueNotifyAddress(1);
    t.notify(1, at, 0x8003); // a packed ring: next descriptor 3, wrap counter 1
    expect(model.writes.at(-1)).toEqual({ offset: AT.notify + 4, width: 4, value: 0x8003_0001 });
    t.notify(1, at, 0x1234); // a split ring: available index 0x1234
    expect(model.writes.at(-1)).toEqual({ offset: AT.notify + 4, width: 4, value: 0x1234_0001 });
    expect(() => t.notify(1, at, 0x10000)).toThrow(/next 65536 is not 16 bits/);
  });
});
