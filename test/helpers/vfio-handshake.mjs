// Run by the host's Node inside the VFIO guest (test/vfio-guest.test.ts): the virtio PCI modern
// transport (src/virtio-pci/) on the real virtio-net device through VFIO: the capability walk,
// the status handshake up to FEATURES_OK over the mmapped BAR, the device configuration (MAC,
// link status), queue doorbell addresses, ISR, reset; and what the device does when a driver
// sets FEATURES_OK without ACCESS_PLATFORM. Prints one JSON line.
const dist = new URL('../../dist/', import.meta.url);
const N = await import(new URL('src/native/index.js', dist).href);
const { findVirtioStructures } = await import(new URL('src/virtio-pci/capabilities.js', dist).href);
const { VirtioPciTransport } = await import(new URL('src/virtio-pci/transport.js', dist).href);
const { FEATURES } = await import(new URL('src/features.js', dist).href);
const L = await import(new URL('assembly/layout/virtio-pci.js', dist).href);

const address = process.env.VQ_VFIO_DEVICE;
if (!address) throw new Error('VQ_VFIO_DEVICE is not set');
const out = {};
const d = N.openVfioPciDevice(address);
try {
  const { device } = d;
  const barSizes = [0, 1, 2, 3, 4, 5].map((i) => device.region(i).size);
  const layout = findVirtioStructures({ read: (o, w) => device.configRead(o, w) }, barSizes);
  const bars = new Map();
  const bar = (i) => {
    if (!bars.has(i)) bars.set(i, device.mmap(i));
    return bars.get(i);
  };
  const t = new VirtioPciTransport(layout, bar);
  const r = t.handshake(FEATURES.NET_MAC | FEATURES.NET_STATUS | FEATURES.NET_MQ);
  out.handshake = { offered: `0x${r.offered.toString(16)}`, negotiated: `0x${r.negotiated.toString(16)}`, status: r.status };
  out.mac = [...t.readDeviceConfig(L.NET_CONFIG_MAC, L.NET_CONFIG_MAC_SIZE)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  const st = t.readDeviceConfig(L.NET_CONFIG_STATUS, 2);
  out.netStatus = st[0] | (st[1] << 8);
  out.numQueues = t.numQueues();
  out.doorbells = [0, 1, 2].map((q) => t.queueNotifyAddress(q));
  out.isr = t.isr();
  t.reset();
  out.statusAfterReset = t.status();

  // FEATURES_OK without ACCESS_PLATFORM, by hand: does the device take it?
  t.addStatus(L.STATUS_ACKNOWLEDGE | L.STATUS_DRIVER);
  t.setDriverFeatures(FEATURES.VERSION_1 | FEATURES.NET_MAC);
  t.addStatus(L.STATUS_FEATURES_OK);
  out.withoutAccessPlatform = t.status();
  t.reset();
  out.barsMapped = bars.size;
} finally {
  d.close();
}
out.resourcesAfterClose = N.vfioResources();
process.stdout.write(`${JSON.stringify(out)}\n`);
