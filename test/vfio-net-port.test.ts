// VfioNetPort on the host (no VFIO device here; test/vfio-port-guest.test.ts drives a real one):
// what it refuses before touching a device, and a device it cannot open: each a clear error, and
// nothing left behind (its memfd closed, no fd, nothing in the bridge's VFIO registry).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { VfioNetPort, addressBaseOf, DEFAULT_IOVA } from '../src/vfio/index.js';
import { PRIVATE_BYTES } from '../src/virtio-user/port-memory.js';
import { vfioResources } from '../src/native/index.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { fakeSysfsIn } from './helpers/fake-sysfs.js';

checkFdLeaks();
afterEach(() => expect(vfioResources()).toEqual({ fds: 0, dma: 0, bars: 0 }));

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vq-vfio-port-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fakeSysfs = fakeSysfsIn(tmp);
const A = '0000:00:03.0';

describe('VfioNetPort.open refusals', () => {
  it('queue pairs out of range, before any memory is made', () => {
    expect(() => VfioNetPort.open({ device: A, queues: 0 })).toThrow(/^queues must be 1 to 128, got 0$/);
    expect(() => VfioNetPort.open({ device: A, queues: 129 })).toThrow(/^queues must be 1 to 128, got 129$/);
  });

  it('an IOVA below the shared part or not page-aligned, naming it (the memfd closed again)', () => {
    expect(() => VfioNetPort.open({ device: A, iova: 4096n })).toThrow(/^vfio: iova 0x1000 must be page-aligned and at least 0x1000000/);
    expect(() => VfioNetPort.open({ device: A, iova: 2n ** 32n + 1n })).toThrow(/^vfio: iova 0x100000001 must be page-aligned/);
  });

  it('a device not bound to vfio-pci: the one-line VfioError, the memory released', () => {
    const sysfs = fakeSysfs('virtio', A, { driver: 'virtio-pci', group: 3 });
    expect(() => VfioNetPort.open({ device: A, sysfs })).toThrow(expect.objectContaining({
      code: 'VFIO_NOT_BOUND', message: expect.stringMatching(/^PCI device 0000:00:03\.0 is bound to virtio-pci, not vfio-pci: echo vfio-pci > /),
    }));
  });

  it('a device with no IOMMU group', () => {
    const sysfs = fakeSysfs('nogroup', A, { driver: 'vfio-pci' });
    expect(() => VfioNetPort.open({ device: A, sysfs })).toThrow(expect.objectContaining({ code: 'VFIO_NO_IOMMU_GROUP' }));
  });
});

describe('the address base', () => {
  it('is the IOVA of the shared part minus its Wasm offset: descriptors and queue addresses come from the one mapping', () => {
    expect(addressBaseOf(DEFAULT_IOVA, PRIVATE_BYTES)).toBe(2n ** 32n - 16n * 2n ** 20n);
    expect(addressBaseOf(DEFAULT_IOVA, PRIVATE_BYTES) + BigInt(PRIVATE_BYTES)).toBe(DEFAULT_IOVA);
  });
});
