// The VFIO port (Node only): a virtio-net PCI function driven by the engine through VFIO, with
// the virtio-user port's burst API.
export { VfioNetPort, DEFAULT_IOVA, addressBaseOf, vectorMode, type VectorMode, type VfioNetPortOptions } from './net-port.js';
export { ControlQueue } from './control-queue.js';
export { openVirtioNetPci, closeVirtioNetPci, type VirtioNetPci } from './virtio-net-pci.js';
