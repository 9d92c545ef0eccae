// One PCI device through VFIO, opened the whole way: sysfs says whether it is bound to vfio-pci
// and which IOMMU group it is in; then its own container (TYPE1v2 IOMMU), its group, and the
// device. Every failure is one line that says what to do, with a code:
//   VFIO_NO_DEVICE        no such PCI device (or a malformed address)
//   VFIO_NOT_BOUND        bound to another driver, or to none
//   VFIO_NO_IOMMU_GROUP   the device has no IOMMU group (no IOMMU, or it is off)
//   VFIO_PERMISSION       /dev/vfio/vfio or /dev/vfio/N cannot be opened by this user
//   VFIO_NOT_VIABLE       another device of the group is bound to a host driver
//   VFIO_GROUP_BUSY       the group is open already (a group can be open once)
//   VFIO_UNAVAILABLE      no /dev/vfio (the vfio modules are not loaded)
// and whatever is opened before a failure is closed again.
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { VfioContainer, VfioDevice, VfioGroup } from './vfio.js';

export type VfioErrorCode =
  | 'VFIO_NO_DEVICE' | 'VFIO_NOT_BOUND' | 'VFIO_NO_IOMMU_GROUP' | 'VFIO_PERMISSION' | 'VFIO_NOT_VIABLE' | 'VFIO_GROUP_BUSY'
  | 'VFIO_UNAVAILABLE';

export class VfioError extends Error {
  constructor(readonly code: VfioErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VfioError';
  }
}

export interface VfioPciOptions {
  /** Where sysfs is; /sys when omitted (tests give a fake tree). */
  sysfs?: string;
  /** Where the VFIO device nodes are; /dev/vfio when omitted. */
  devVfio?: string;
}

/** A PCI device opened through VFIO, with the container and group it came through. */
export interface VfioPciDevice {
  /** Its PCI address, e.g. 0000:00:01.0. */
  readonly address: string;
  /** Its IOMMU group's number. */
  readonly groupNumber: number;
  readonly container: VfioContainer;
  readonly group: VfioGroup;
  readonly device: VfioDevice;
  /** Closes the device, the group and the container (unmapping BARs and DMA on the way). */
  close(): void;
}

/** A PCI address with its domain: 0000:00:01.0 (00:01.0 gets domain 0000). */
export function pciAddress(address: string): string {
  const a = /^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i.test(address) ? `0000:${address}` : address;
  if (!/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i.test(a)) {
    throw new VfioError('VFIO_NO_DEVICE', `${address} is not a PCI address (domain:bus:device.function, e.g. 0000:00:01.0)`);
  }
  return a.toLowerCase();
}

const link = (p: string): string | undefined => {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
};

/** Where a device stands (from sysfs): its driver (undefined: none) and IOMMU group (undefined: none). */
export function vfioPciStatus(address: string, sysfs = '/sys'): { driver?: string; group?: number } {
  const a = pciAddress(address);
  const dev = path.join(sysfs, 'bus/pci/devices', a);
  if (!existsSync(dev)) throw new VfioError('VFIO_NO_DEVICE', `no PCI device ${a} (nothing at ${dev})`);
  const driver = link(path.join(dev, 'driver'));
  const group = link(path.join(dev, 'iommu_group'));
  return { driver: driver && path.basename(driver), group: group === undefined ? undefined : Number(path.basename(group)) };
}

/** The shell commands that bind it to vfio-pci (unbinding its driver first when it has one). */
const bindHint = (a: string, sysfs: string, bound: boolean): string => [
  `echo vfio-pci > ${sysfs}/bus/pci/devices/${a}/driver_override`,
  ...(bound ? [`echo ${a} > ${sysfs}/bus/pci/devices/${a}/driver/unbind`] : []),
  `echo ${a} > ${sysfs}/bus/pci/drivers_probe`,
].join('; ');

/** The other devices of a group and their drivers, for the not-viable message. */
function groupMembers(group: number, sysfs: string): string {
  try {
    return readdirSync(path.join(sysfs, 'kernel/iommu_groups', String(group), 'devices'))
      .map((d) => `${d} (${path.basename(link(path.join(sysfs, 'bus/pci/devices', d, 'driver')) ?? 'no driver')})`).join(', ');
  } catch {
    return 'unknown';
  }
}

/** An errno error from the bridge turned into the VfioError it means, for opening `what`. */
function openError(e: unknown, what: string, group?: number): Error {
  const code = (e as { code?: string }).code;
  const why = (e as Error).message;
  if (code === 'EACCES' || code === 'EPERM') {
    return new VfioError('VFIO_PERMISSION', `no permission to open ${what}: run as root, or give this user the device node (${why})`, { cause: e });
  }
  if (code === 'ENOENT' && group === undefined) {
    return new VfioError('VFIO_UNAVAILABLE', `no ${what}: the vfio and vfio_iommu_type1 modules are not loaded (${why})`, { cause: e });
  }
  if (code === 'EBUSY') {
    return new VfioError('VFIO_GROUP_BUSY', `${what} is open already, in this process or another (a group can be open once) (${why})`, { cause: e });
  }
  return e as Error;
}

/**
 * Opens the PCI device at `address` through VFIO: checks its driver and IOMMU group in sysfs,
 * opens a container and the group, checks the group is viable, sets the container and its
 * TYPE1v2 IOMMU, and opens the device.
 */
export function openVfioPciDevice(address: string, opts: VfioPciOptions = {}): VfioPciDevice {
  const sysfs = opts.sysfs ?? '/sys';
  const devVfio = opts.devVfio ?? '/dev/vfio';
  const a = pciAddress(address);
  const { driver, group } = vfioPciStatus(a, sysfs);
  if (driver !== 'vfio-pci') {
    throw new VfioError('VFIO_NOT_BOUND', `PCI device ${a} is ${driver ? `bound to ${driver}` : 'bound to no driver'}, not vfio-pci: ${bindHint(a, sysfs, driver !== undefined)}`);
  }
  if (group === undefined || !Number.isInteger(group)) {
    throw new VfioError('VFIO_NO_IOMMU_GROUP', `PCI device ${a} has no IOMMU group: the kernel runs without an IOMMU (boot with intel_iommu=on or amd_iommu=on; in a VM, give it a virtual IOMMU)`);
  }
  const undo: (() => void)[] = [];
  const unwind = (): void => {
    for (const f of undo.reverse()) {
      try { f(); } catch { /* best effort: the first error is the one reported */ }
    }
  };
  try {
    let container: VfioContainer;
    try {
      container = VfioContainer.open(path.join(devVfio, 'vfio'));
    } catch (e) {
      throw openError(e, path.join(devVfio, 'vfio'));
    }
    undo.push(() => container.close());
    const groupPath = path.join(devVfio, String(group));
    let g: VfioGroup;
    try {
      g = VfioGroup.open(groupPath);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT') throw new VfioError('VFIO_UNAVAILABLE', `no ${groupPath} although ${a} is bound to vfio-pci (is /dev mounted, devtmpfs?)`, { cause: e });
      throw openError(e, groupPath, group);
    }
    undo.push(() => g.close());
    if (!g.status().viable) {
      throw new VfioError('VFIO_NOT_VIABLE', `IOMMU group ${group} is not viable: every device in it must be bound to vfio-pci or to no driver; it has ${groupMembers(group, sysfs)}`);
    }
    g.setContainer(container);
    container.setIommu();
    const device = g.openDevice(a);
    undo.push(() => device.close());
    return {
      address: a, groupNumber: group, container, group: g, device,
      close: () => {
        device.close();
        g.close();
        container.close();
      },
    };
  } catch (e) {
    unwind();
    throw e;
  }
}
