// Shared by the scripts the VFIO guest's Node runs (vfio-probe.mjs, vfio-handshake.mjs,
// vfio-traffic.mjs): the compiled modules they use (from dist/: the guest runs no TypeScript),
// the device init bound to vfio-pci, and that device opened with the virtio-pci transport over
// its mmapped BARs.
const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);

export const N = await load('src/native/index.js');
export const { findVirtioStructures } = await load('src/virtio-pci/capabilities.js');
export const { VirtioPciTransport } = await load('src/virtio-pci/transport.js');
export const { FEATURES } = await load('src/features.js');
export const L = await load('assembly/layout/virtio-pci.js');
export const DS = await load('assembly/layout/device-status.js');
export const S = await load('assembly/layout/split.js');
export const NET = await load('assembly/layout/net.js');
export const nativeIndexUrl = new URL('src/native/index.js', dist).href;

/** The PCI address of the device the guest's init bound to vfio-pci. */
export function vfioDeviceAddress() {
  const address = process.env.VQ_VFIO_DEVICE;
  if (!address) throw new Error('VQ_VFIO_DEVICE is not set (the guest\'s init sets it to the device it bound to vfio-pci)');
  return address;
}

/** Sizes of BARs 0-5 (0: none), from the device's region info. */
export const barSizes = (device) => [0, 1, 2, 3, 4, 5].map((i) => device.region(i).size);

/** Config space reads through the device's config region. */
export const configSpace = (device) => ({ read: (o, w) => device.configRead(o, w) });

/**
 * Opens the device and a VirtioPciTransport on it: { d (openVfioPciDevice's), layout, t, bars }
 * (bars: the BARs reached so far, by index: each mmapped on first use where its region allows,
 * else read and written with pread/pwrite).
 */
export function openTransport(address = vfioDeviceAddress()) {
  const d = N.openVfioPciDevice(address);
  try {
    const layout = findVirtioStructures(configSpace(d.device), barSizes(d.device));
    const bars = new Map();
    const t = new VirtioPciTransport(layout, (i) => {
      if (!bars.has(i)) bars.set(i, d.device.barAccess(i));
      return bars.get(i);
    });
    return { d, layout, t, bars };
  } catch (e) {
    d.close();
    throw e;
  }
}
