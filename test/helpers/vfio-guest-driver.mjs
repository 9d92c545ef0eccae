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

/**
 * The i-th device the guest's init bound to vfio-pci (VQ_VFIO_DEVICES; 0 is VQ_VFIO_DEVICE, 1 the
 * multiqueue one when the guest has it).
 */
export function vfioDeviceAddressAt(i) {
  const all = (process.env.VQ_VFIO_DEVICES ?? '').split(' ').filter(Boolean);
  if (!all[i]) throw new Error(`VQ_VFIO_DEVICES has no device ${i}: '${process.env.VQ_VFIO_DEVICES ?? ''}' (the guest has ${all.length})`);
  return all[i];
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

/** Opens the device again and reads how the last driver left it (PCI command, device_status); closes it. */
export function deviceLeftState(address = vfioDeviceAddress()) {
  const { d, t } = openTransport(address);
  try {
    return { commandAfter: configSpace(d.device).read(L.PCI_COMMAND, 2), statusAfter: t.status() };
  } finally {
    d.close();
  }
}

/** What a VfioNetPort that stopped says: why, device_status, what a burst now throws, the pool's buffers still out. */
export function stoppedPortState(port) {
  const rx = port.burst(8);
  let afterStop = null;
  try { port.free(rx, port.rxBurst(0, rx)); } catch (e) { afterStop = e.message; }
  return { failed: port.failed ?? null, statusAfter: port.deviceStatus(), afterStop, poolInUseBeforeClose: port.pool.inUse };
}

/** After the port's close: the pool's buffers still out, nothing of VFIO left; prints `out` as one JSON line. */
export function reportAfterClose(port, out) {
  out.poolInUseAfterClose = port.pool.inUse;
  out.poolSize = port.pool.size;
  out.resourcesAfterClose = N.vfioResources();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
