// VFIO in the native bridge, on the host (no VFIO device here: test/vfio-guest.test.ts drives a
// real one in a QEMU guest): argument checks, files that are not VFIO containers or groups, fds
// the bridge did not open, and openVfioPciDevice's one-line errors over a fake sysfs tree. Every
// test ends with the fds it started with and nothing left in the bridge's VFIO registry.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { native } from '../src/native/binding.js';
import {
  close, memfdCreate, openVfioPciDevice, pciAddress, VfioContainer, VfioError, VfioGroup, vfioPciStatus, vfioResources,
} from '../src/native/index.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { fakeSysfsIn } from './helpers/fake-sysfs.js';

checkFdLeaks();
afterEach(() => expect(vfioResources()).toEqual({ fds: 0, dma: 0, bars: 0 }));

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vq-vfio-host-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fakeSysfs = fakeSysfsIn(tmp);


const vfioError = (f: () => unknown): VfioError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(VfioError);
    expect((e as Error).message).not.toContain('\n');
    return e as VfioError;
  }
  throw new Error('expected a VfioError, nothing was thrown');
};

describe('VFIO native functions, refusing what is not VFIO', () => {
  it('a file that is not a VFIO container or group is named, and its fd closed again', () => {
    expect(() => VfioContainer.open('/dev/null')).toThrow(/^vfioOpenContainer: \/dev\/null is not a VFIO container$/);
    expect(() => VfioGroup.open('/dev/null')).toThrow(/^vfioOpenGroup: \/dev\/null is not a VFIO group$/);
    expect(() => VfioContainer.open(path.join(tmp, 'none'))).toThrow(/^vfioOpenContainer \/.*\/none: ENOENT/);
  });

  it('fds the bridge did not open as VFIO fds are refused, by name', () => {
    const fd = memfdCreate('not-vfio', 4096);
    try {
      expect(() => native.vfioClose(fd)).toThrow(new RegExp(`^vfioClose: fd ${fd} is not a VFIO fd opened by the bridge$`));
      expect(() => native.vfioGroupStatus(fd)).toThrow(`fd ${fd} is not a VFIO group opened by the bridge`);
      expect(() => native.vfioGroupSetContainer(fd, fd)).toThrow('is not a VFIO group opened by the bridge');
      expect(() => native.vfioSetIommu(fd)).toThrow('is not a VFIO container opened by the bridge');
      expect(() => native.vfioGetDeviceFd(fd, '0000:00:01.0')).toThrow('is not a VFIO group opened by the bridge');
      expect(() => native.vfioMmap(fd, 0, 4096)).toThrow('is not a VFIO device opened by the bridge');
      const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
      expect(() => native.vfioDmaMap(fd, new Uint8Array(memory.buffer), 0, 65536, 0x100000))
        .toThrow(`vfioDmaMap: fd ${fd} is not a VFIO container opened by the bridge`);
      expect(() => native.vfioDmaUnmap(fd, 0x100000, 65536)).toThrow(/^vfioDmaUnmap: container fd \d+ has no mapping at exactly IOVA \[0x100000, 0x110000\)$/);
      // Device ioctls on a file that is no device: the errno, named.
      expect(() => native.vfioDeviceInfo(fd)).toThrow(/^vfioDeviceInfo fd \d+: ENOTTY/);
      expect(() => native.vfioRegionInfo(fd, 7)).toThrow(/^vfioRegionInfo fd \d+ region 7: ENOTTY/);
      expect(() => native.vfioIrqInfo(fd, 4)).toThrow(/^vfioIrqInfo fd \d+ irq 4: ENOTTY/);
      expect(() => native.vfioSetIrqEventfds(fd, 4, 0, [fd])).toThrow(/^vfioSetIrqEventfds fd \d+ irq 4 \[0, 1\): ENOTTY/);
      expect(() => native.vfioReset(fd)).toThrow(/^vfioReset fd \d+: ENOTTY/);
      expect(() => native.vfioIoeventfd(fd, 0x3004, 2, 1, fd)).toThrow(/^vfioIoeventfd fd \d+ at 0x3004 \(2 bytes of 0x1, eventfd \d+\): ENOTTY/);
      expect(() => native.vfioIommuInfo(fd)).toThrow(/^vfioIommuInfo: container fd \d+ \(is its IOMMU set\?\): ENOTTY/);
      // pread/pwrite go to any fd: a short read of the empty memfd is an error, not a short buffer.
      expect(() => native.vfioRead(fd, 8192, 4)).toThrow(/^vfioRead fd \d+ at 0x2000: 0 of 4 bytes$/);
      native.vfioWrite(fd, 4, new Uint8Array([1, 2, 3, 4]));
      expect([...native.vfioRead(fd, 4, 4)]).toEqual([1, 2, 3, 4]);
    } finally {
      close(fd);
    }
  });

  it('arguments are checked before anything is touched', () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
    const view = new Uint8Array(memory.buffer);
    expect(() => native.vfioDmaMap(3, view, 100, 65536, 0)).toThrow(/^vfioDmaMap: offset 0x64 is not a multiple of the page size/);
    expect(() => native.vfioDmaMap(3, view, 0, 100, 0)).toThrow(/^vfioDmaMap: length 0x64 is not a multiple of the page size/);
    expect(() => native.vfioDmaMap(3, view, 0, 4096, 0x1001)).toThrow(/^vfioDmaMap: iova 0x1001 is not a multiple/);
    expect(() => native.vfioDmaMap(3, view, 65536, 131072, 0)).toThrow(/^vfioDmaMap: \[65536, 196608\) is outside the memory \(131072 bytes\)$/);
    expect(() => native.vfioDmaMap(3, view, 0, 4096, 2n ** 64n - 4096n)).toThrow(/iova 0xfffffffffffff000 \+ length wraps/);
    expect(() => native.vfioDmaMap(3, new Uint8Array(8), 0, 4096, 0)).toThrow(/memory is not shared/);
    expect(() => native.vfioMmioRead(0, 0, 4)).toThrow(/^vfioMmioRead: id 0 is out of range/);
    expect(() => native.vfioMmioRead(7777, 0, 4)).toThrow(/^vfioMmioRead: no BAR mapping 7777 \(unmapped, or its device closed\)$/);
    expect(() => native.vfioMmioRead(7777, 2, 4)).toThrow(/a 4-byte access at offset 2 \(widths 1, 2, 4, naturally aligned\)/);
    expect(() => native.vfioMmioWrite(7777, 0, 3 as 4, 0)).toThrow(/a 3-byte access/);
    expect(() => native.vfioMmioWrite(7777, 0, 1, 256)).toThrow(/^vfioMmioWrite: no BAR mapping 7777/);
    expect(() => native.vfioMunmap(7777)).toThrow(/^vfioMunmap: no BAR mapping 7777$/);
    expect(() => native.vfioSetIrqEventfds(3, 4, 0, 5 as unknown as number[])).toThrow(/fds must be an array of eventfds/);
    expect(() => native.vfioSetIrqEventfds(3, 4, 0, ['x'] as unknown as number[])).toThrow(/an eventfd must be a number/);
    expect(() => native.vfioSetIrqEventfds(3, 4, 0, new Array(2049).fill(-1))).toThrow(/2049 eventfds, at most 2048/);
    expect(() => native.vfioIoeventfd(3, 0, 3, 0, -1)).toThrow(/^vfioIoeventfd: width 3, 1, 2, 4 or 8 bytes$/);
    expect(() => native.vfioIoeventfd(3, 0, 16, 0, -1)).toThrow(/^vfioIoeventfd: width/);
    expect(() => native.vfioIoeventfd(3, 0, 2, 0x10000, -1)).toThrow(/^vfioIoeventfd: data 0x10000 is wider than 2 bytes$/);
    expect(() => native.vfioIoeventfd(3, 0, 2, 1, -2)).toThrow(/^vfioIoeventfd: eventfd/);
    expect(() => native.vfioRead(3, 0, 0)).toThrow(/length 0 is out of range \[1, 1048576\]/);
    expect(() => native.vfioWrite(3, 0, [1] as unknown as Uint8Array)).toThrow(/data must be a Uint8Array/);
    expect(() => native.vfioOpenContainer('x'.repeat(5000))).toThrow(/path is 5000 bytes long/);
    expect(() => native.vfioGetDeviceFd(3, 'a\0b')).toThrow();
  });

  it('close() refuses nothing it should not: an ordinary fd still closes', () => {
    const fd = memfdCreate('plain', 0);
    close(fd);
    expect(() => close(fd)).toThrow(/EBADF/);
  });
});

describe('openVfioPciDevice: one-line errors over sysfs and /dev/vfio', () => {
  const A = '0000:00:01.0';

  it('addresses: domain added, malformed refused', () => {
    expect(pciAddress('00:01.0')).toBe(A);
    expect(pciAddress('0000:00:1F.7')).toBe('0000:00:1f.7');
    expect(vfioError(() => pciAddress('00:01')).code).toBe('VFIO_NO_DEVICE');
    expect(vfioError(() => pciAddress('0000:00:01.8')).message).toMatch(/is not a PCI address/);
  });

  it('no such device', () => {
    const sysfs = fakeSysfs('nodev', '0000:00:02.0', {});
    const e = vfioError(() => openVfioPciDevice(A, { sysfs }));
    expect(e.code).toBe('VFIO_NO_DEVICE');
    expect(e.message).toMatch(/^no PCI device 0000:00:01\.0 \(nothing at /);
  });

  it('a device bound to another driver, or to none, is not bound to vfio-pci', () => {
    const bound = fakeSysfs('virtio', A, { driver: 'virtio-pci', group: 3 });
    expect(vfioPciStatus(A, bound)).toEqual({ driver: 'virtio-pci', group: 3 });
    const e = vfioError(() => openVfioPciDevice(A, { sysfs: bound }));
    expect(e.code).toBe('VFIO_NOT_BOUND');
    expect(e.message).toMatch(/^PCI device 0000:00:01\.0 is bound to virtio-pci, not vfio-pci: echo vfio-pci > .*driver_override/);
    const none = fakeSysfs('unbound', A, { group: 3 });
    expect(e.message).toMatch(/driver_override; echo 0000:00:01\.0 > .*\/driver\/unbind; echo 0000:00:01\.0 > .*\/drivers_probe$/);
    expect(vfioError(() => openVfioPciDevice(A, { sysfs: none })).message)
      .toMatch(/is bound to no driver, not vfio-pci: echo vfio-pci > .*driver_override; echo 0000:00:01\.0 > .*\/bus\/pci\/drivers_probe$/);
  });

  it('no IOMMU group', () => {
    const sysfs = fakeSysfs('nogroup', A, { driver: 'vfio-pci' });
    const e = vfioError(() => openVfioPciDevice(A, { sysfs }));
    expect(e.code).toBe('VFIO_NO_IOMMU_GROUP');
    expect(e.message).toMatch(/has no IOMMU group: the kernel runs without an IOMMU \(boot with intel_iommu=on/);
  });

  it('no /dev/vfio: the modules are not loaded', () => {
    const sysfs = fakeSysfs('nodev-vfio', A, { driver: 'vfio-pci', group: 3 });
    const e = vfioError(() => openVfioPciDevice(A, { sysfs, devVfio: path.join(tmp, 'no-dev-vfio') }));
    expect(e.code).toBe('VFIO_UNAVAILABLE');
    expect(e.message).toMatch(/^no \/.*\/no-dev-vfio\/vfio: the vfio and vfio_iommu_type1 modules are not loaded/);
  });

  it('a container node that is not one: the bridge\'s error, nothing left open', () => {
    const sysfs = fakeSysfs('notcontainer', A, { driver: 'vfio-pci', group: 3 });
    const devVfio = path.join(tmp, 'dev-vfio-file');
    mkdirSync(devVfio);
    writeFileSync(path.join(devVfio, 'vfio'), '');
    expect(() => openVfioPciDevice(A, { sysfs, devVfio })).toThrow(/is not a VFIO container$/);
  });

  it('no permission to open /dev/vfio/vfio (checked as an unprivileged user)', () => {
    const sysfs = fakeSysfs('perm', A, { driver: 'vfio-pci', group: 3 });
    const devVfio = path.join(tmp, 'dev-vfio-perm');
    mkdirSync(devVfio);
    writeFileSync(path.join(devVfio, 'vfio'), '');
    chmodSync(devVfio, 0o755);
    chmodSync(path.join(devVfio, 'vfio'), 0o600);
    chmodSync(tmp, 0o755);
    if (process.getuid?.() !== 0) {
      const e = vfioError(() => openVfioPciDevice(A, { sysfs, devVfio }));
      expect(e.code).toBe('VFIO_PERMISSION');
      return;
    }
    // Root opens anything: run the same call in a child as nobody, from the compiled code.
    const index = fileURLToPath(new URL('../dist/src/native/index.js', import.meta.url));
    const script = `import(${JSON.stringify(index)}).then((m) => { try { m.openVfioPciDevice(${JSON.stringify(A)}, ${JSON.stringify({ sysfs, devVfio })}); console.log('opened'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); } });`;
    const r = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { code: string; message: string };
    expect(out.code).toBe('VFIO_PERMISSION');
    expect(out.message).toMatch(/^no permission to open \/.*\/dev-vfio-perm\/vfio: run as root, or give this user the device node \(vfioOpenContainer .*: EACCES/);
  });
});
