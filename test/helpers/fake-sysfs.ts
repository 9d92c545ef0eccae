// A fake sysfs tree for VFIO's sysfs checks (src/native/vfio-pci-device.ts): one PCI device with
// the driver and IOMMU group links given, and other devices of its group.
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';

/** fakeSysfs(name, a, o) builds the tree in `tmp`/`name` and returns its root. */
export const fakeSysfsIn = (tmp: string) => (name: string, a: string, o: { driver?: string; group?: number; others?: Record<string, string> }): string => {
  const root = path.join(tmp, name);
  const devices = path.join(root, 'bus/pci/devices');
  mkdirSync(devices, { recursive: true });
  const device = (addr: string, driver?: string): void => {
    mkdirSync(path.join(root, 'devices/pci0000:00', addr), { recursive: true });
    symlinkSync(path.join(root, 'devices/pci0000:00', addr), path.join(devices, addr));
    if (driver) symlinkSync(path.join(root, 'bus/pci/drivers', driver), path.join(root, 'devices/pci0000:00', addr, 'driver'));
  };
  device(a, o.driver);
  if (o.group !== undefined) {
    const g = path.join(root, 'kernel/iommu_groups', String(o.group));
    mkdirSync(path.join(g, 'devices'), { recursive: true });
    symlinkSync(g, path.join(root, 'devices/pci0000:00', a, 'iommu_group'));
    for (const [addr, driver] of Object.entries({ [a]: o.driver ?? '', ...o.others })) {
      if (addr !== a) device(addr, driver);
      symlinkSync(path.join(devices, addr), path.join(g, 'devices', addr));
    }
  }
  return root;
}
;
