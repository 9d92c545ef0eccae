// Run by the host's Node inside the VFIO guest (test/vfio-guest.test.ts, via vfio-guest.ts):
// the native bridge's whole VFIO lifecycle on the guest's virtio-net device, bound to vfio-pci.
// Opens container, group and device; reads config space and region info; walks the virtio
// capabilities; mmaps the BAR with the common configuration and reads it both ways; maps a
// memfd-backed shared Wasm memory for DMA (and has bad mappings refused); wires an MSI-X vector
// to an eventfd and fires it; resets; closes; and checks that nothing is left: the bridge's
// registry, /proc/self/fd, the kernel's count of pinned pages. Then the same device again, a
// second opener refused, and a worker thread that ends without closing anything.
// Prints one JSON line on stdout; anything thrown exits 1 with its stack on stderr.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

import { barSizes, configSpace, DS, findVirtioStructures, L, N, nativeIndexUrl, vfioDeviceAddress } from './vfio-guest-driver.mjs';

const MiB = 1 << 20;
const DMA_BYTES = 16 * MiB;
const IOVA = 2 ** 32;

const openFds = () => {
  const m = {};
  for (const n of readdirSync('/proc/self/fd')) {
    try { m[n] = readlinkSync(`/proc/self/fd/${n}`); } catch { /* the directory's own fd */ }
  }
  return m;
};
/** The kernel's count of this process's pinned (VmPin) and locked (VmLck) memory, kB: type1 DMA mappings pin pages. */
const pinned = () => {
  const s = readFileSync('/proc/self/status', 'utf8');
  return { pin: Number(/VmPin:\s+(\d+)/.exec(s)?.[1] ?? -1), lck: Number(/VmLck:\s+(\d+)/.exec(s)?.[1] ?? -1) };
};
const errorOf = (f) => {
  try {
    f();
    return null;
  } catch (e) {
    return { code: e.code ?? null, message: e.message };
  }
};
const bigints = (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v);

const address = vfioDeviceAddress();
const out = { address };
const fdsBefore = openFds();
const pinBefore = pinned();

// ---- The lifecycle.
const d = N.openVfioPciDevice(address);
const { device, container, group } = d;
out.groupNumber = d.groupNumber;
out.groupStatus = group.status();
out.deviceInfo = device.info();
out.regions = [];
for (let i = 0; i < out.deviceInfo.numRegions; i++) {
  try {
    out.regions.push(device.region(i));
  } catch (e) {
    out.regions.push({ index: i, error: e.code });
  }
}
out.config = {
  vendor: device.configRead(L.PCI_VENDOR_ID, 2),
  device: device.configRead(L.PCI_DEVICE_ID, 2),
  command: device.configRead(L.PCI_COMMAND, 2),
  status: device.configRead(L.PCI_STATUS, 2),
};
const layout = findVirtioStructures(configSpace(device), barSizes(device));
out.layout = layout;
const c = layout.common;
const bar = device.mmap(c.bar);
out.barMappingsOpen = N.vfioResources().bars;
out.numQueues = { mmio: bar.read(c.offset + L.COMMON_NUM_QUEUES, 2), pread: device.io(c.bar).read(c.offset + L.COMMON_NUM_QUEUES, 2) };
bar.write(c.offset + L.COMMON_DEVICE_FEATURE_SELECT, 4, 1);
out.deviceFeaturesHigh = bar.read(c.offset + L.COMMON_DEVICE_FEATURE, 4);

out.iommu = container.iommuInfo();
const memory = new WebAssembly.Memory({ initial: DMA_BYTES / 65536, maximum: DMA_BYTES / 65536, shared: true });
const memfd = N.memfdCreate('vfio-dma', DMA_BYTES);
N.mapIntoMemory(memory, 0, memfd, 0, DMA_BYTES);
let t = Date.now();
container.dmaMap(memory, 0, DMA_BYTES, IOVA);
out.dmaMapMs = Date.now() - t;
out.dmaMappings = container.dmaMappings();
out.pinDuring = pinned();
out.unmapUnderDma = errorOf(() => N.unmapFromMemory(memory, 0, DMA_BYTES));
out.refused = {
  overlap: errorOf(() => container.dmaMap(memory, 0, 65536, IOVA + 65536)),
  beyondAddressWidth: errorOf(() => container.dmaMap(memory, 0, 65536, 2n ** 40n)),
  msiWindow: errorOf(() => container.dmaMap(memory, 0, 65536, 0xfee00000)),
};

out.irqs = { msix: device.irqInfo(N.VFIO_PCI_MSIX_IRQ_INDEX), intx: device.irqInfo(N.VFIO_PCI_INTX_IRQ_INDEX) };
const efd = N.eventfdCreate();
device.setIrqEventfds(N.VFIO_PCI_MSIX_IRQ_INDEX, 0, [efd]);
out.msixBeforeTrigger = N.eventfdRead(efd);
device.triggerIrq(N.VFIO_PCI_MSIX_IRQ_INDEX, 0);
out.msixAfterTrigger = N.eventfdRead(efd);
const msixCap = layout.msix ? device.configRead(layout.msix.capOffset + L.PCI_MSIX_FLAGS, 2) : 0;
out.msixEnabledInConfig = (msixCap & L.PCI_MSIX_FLAGS_ENABLE) !== 0;
device.disableIrqs(N.VFIO_PCI_MSIX_IRQ_INDEX);
out.msixEnabledAfterDisable = layout.msix ? (device.configRead(layout.msix.capOffset + L.PCI_MSIX_FLAGS, 2) & L.PCI_MSIX_FLAGS_ENABLE) !== 0 : false;

// Reset: the device status is set, then VFIO_DEVICE_RESET must clear it.
bar.write(c.offset + L.COMMON_DEVICE_STATUS, 1, DS.STATUS_ACKNOWLEDGE);
out.statusBeforeReset = bar.read(c.offset + L.COMMON_DEVICE_STATUS, 1);
t = Date.now();
out.resetError = errorOf(() => device.reset());
out.resetMs = Date.now() - t;
out.statusAfterReset = bar.read(c.offset + L.COMMON_DEVICE_STATUS, 1);

d.close();
out.barAfterClose = errorOf(() => bar.read(c.offset, 4));
N.close(efd);
N.unmapFromMemory(memory, 0, DMA_BYTES);
N.close(memfd);
out.resourcesAfterClose = N.vfioResources();
out.pinBefore = pinBefore;
out.pinAfter = pinned();
const fdsAfter = openFds();
out.fdsLeft = Object.entries(fdsAfter).filter(([n, p]) => fdsBefore[n] !== p).map(([n, p]) => `${n} -> ${p}`);

// ---- Again: the device opens as before; a second opener of the group is refused.
const again = N.openVfioPciDevice(address);
out.reopenedVendor = again.device.configRead(L.PCI_VENDOR_ID, 2);
out.secondOpener = errorOf(() => N.openVfioPciDevice(address));
again.close();
out.resourcesAfterReopen = N.vfioResources();

// ---- A worker opens everything and ends without closing: its environment's cleanup releases it.
const workerCode = `
  const { parentPort } = require('node:worker_threads');
  (async () => {
    const N = await import(${JSON.stringify(nativeIndexUrl)});
    const d = N.openVfioPciDevice(${JSON.stringify(address)});
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true });
    d.container.dmaMap(memory, 0, 1 << 20, ${IOVA});
    d.device.mmap(${c.bar});
    const efd = N.eventfdCreate();
    d.device.setIrqEventfds(N.VFIO_PCI_MSIX_IRQ_INDEX, 0, [efd]);
    parentPort.postMessage(N.vfioResources());
  })().catch((e) => parentPort.postMessage({ error: e.stack }));
`;
const worker = new Worker(workerCode, { eval: true });
out.workerHeld = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
await worker.terminate();
out.resourcesAfterWorker = N.vfioResources();
out.pinAfterWorker = pinned();
const last = N.openVfioPciDevice(address);
last.close();
out.openAfterWorker = true;

process.stdout.write(`${JSON.stringify(out, bigints)}\n`);
