// A virtio-net PCI function opened through VFIO for a user-space driver (what DPDK's virtio PMD
// does with a virtio VF): the device checked to be a modern virtio-net (VIRTIO 1.2 4.1.2: vendor
// 0x1af4, device 0x1040 + 1), its virtio structures found (4.1.4), the transport over its BARs
// (mmapped where the region allows), bus mastering turned on (VFIO leaves it off, and without it
// the device ignores the rings silently), and the handshake up to FEATURES_OK. Queue setup and
// DRIVER_OK are the port's (net-port.ts): they need the rings.
import * as L from '../../assembly/layout/virtio-pci.js';
import { openVfioPciDevice, type VfioPciDevice, type VfioPciOptions } from '../native/vfio-pci-device.js';
import type { VfioBar, VfioRegionIo } from '../native/vfio.js';
import { findVirtioStructures, VirtioPciError, type VirtioPciLayout } from '../virtio-pci/capabilities.js';
import { VirtioPciTransport, type HandshakeResult } from '../virtio-pci/transport.js';
import type { FeatureSet } from '../features.js';

export interface VirtioNetPci {
  readonly pci: VfioPciDevice;
  readonly layout: VirtioPciLayout;
  readonly transport: VirtioPciTransport;
  /** The handshake's features (offered, negotiated) and status (FEATURES_OK). */
  readonly handshake: HandshakeResult;
}

const MODERN_NET = L.PCI_DEVICE_ID_VIRTIO_MODERN_BASE + L.VIRTIO_ID_NET;
const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0');

/**
 * Opens the PCI function at `address` through VFIO and negotiates `accept` (besides the
 * transport's own VERSION_1 and ACCESS_PLATFORM) up to FEATURES_OK. Everything opened is
 * closed again when a step fails.
 */
export function openVirtioNetPci(address: string, accept: FeatureSet, opts: VfioPciOptions = {}): VirtioNetPci {
  const pci = openVfioPciDevice(address, opts);
  try {
    const { device } = pci;
    const vendor = device.configRead(L.PCI_VENDOR_ID, 2);
    const id = device.configRead(L.PCI_DEVICE_ID, 2);
    if (vendor !== L.PCI_VENDOR_ID_VIRTIO || id !== MODERN_NET) {
      throw new VirtioPciError('4.1.2', `PCI device ${pci.address} is ${hex(vendor, 4)}:${hex(id, 4)}, not a modern virtio-net (${hex(L.PCI_VENDOR_ID_VIRTIO, 4)}:${hex(MODERN_NET, 4)}; a transitional 1af4:1000 needs disable-legacy)`);
    }
    const sizes = [0, 1, 2, 3, 4, 5].map((i) => device.region(i).size);
    const layout = findVirtioStructures({ read: (o, w) => device.configRead(o, w) }, sizes);
    const bars = new Map<number, VfioBar | VfioRegionIo>();
    const transport = new VirtioPciTransport(layout, (i) => {
      let b = bars.get(i);
      if (!b) { b = device.barAccess(i); bars.set(i, b); }
      return b;
    });
    device.configWrite(L.PCI_COMMAND, 2, device.configRead(L.PCI_COMMAND, 2) | L.PCI_COMMAND_MEMORY | L.PCI_COMMAND_MASTER);
    const handshake = transport.handshake(accept);
    return { pci, layout, transport, handshake };
  } catch (e) {
    pci.close();
    throw e;
  }
}

/** Stops the device (status 0: it no longer touches the rings, 4.1.4.3.2), turns bus mastering off and closes it all. */
export function closeVirtioNetPci(d: VirtioNetPci): void {
  try {
    d.transport.reset();
  } finally {
    try {
      const { device } = d.pci;
      device.configWrite(L.PCI_COMMAND, 2, device.configRead(L.PCI_COMMAND, 2) & ~L.PCI_COMMAND_MASTER);
    } finally {
      d.pci.close();
    }
  }
}
