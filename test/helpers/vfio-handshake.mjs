// Run by the host's Node inside the VFIO guest (test/vfio-guest.test.ts): the virtio PCI modern
// transport (src/virtio-pci/) on the real virtio-net device through VFIO: the capability walk,
// the status handshake up to FEATURES_OK over the mmapped BAR, the device configuration (MAC,
// link status), queue doorbell addresses, ISR, reset; and what the device does when a driver
// sets FEATURES_OK without ACCESS_PLATFORM. Prints one JSON line.
import { DS, FEATURES, L, N, openTransport, VirtioPciTransport } from './vfio-guest-driver.mjs';

const out = {};
const { d, layout, t, bars } = openTransport();
try {
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
  t.addStatus(DS.STATUS_ACKNOWLEDGE | DS.STATUS_DRIVER);
  t.setDriverFeatures(FEATURES.VERSION_1 | FEATURES.NET_MAC);
  t.addStatus(DS.STATUS_FEATURES_OK);
  out.withoutAccessPlatform = t.status();
  t.reset();

  // The same transport over pread/pwrite instead of the mapping (how a BAR that cannot be mmapped is driven).
  const io = new VirtioPciTransport(layout, (i) => d.device.io(i));
  const again = io.handshake(FEATURES.NET_MAC);
  out.overPread = { status: again.status, negotiated: `0x${again.negotiated.toString(16)}`, numQueues: io.numQueues() };
  out.overPreadMac = [...io.readDeviceConfig(L.NET_CONFIG_MAC, L.NET_CONFIG_MAC_SIZE)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  io.reset();
  out.barsMapped = bars.size;
} finally {
  d.close();
}
out.resourcesAfterClose = N.vfioResources();
process.stdout.write(`${JSON.stringify(out)}\n`);
