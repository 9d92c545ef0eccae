// The native bridge (Linux, Node only): what vhost-user and VFIO need and Node cannot do. Import it from
// here; the browser-safe core (src/index.ts) never does.
export {
  native, nativeAddonPath, nativeVariant, type NativeVariant, type NativeMapping, type NativeMemoryFault, type NativeReceived, type PollCallback,
} from './binding.js';
export { memfdCreate, close, fdSeals, setNonBlocking, fdKind, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE, type FdKind } from './fd.js';
export {
  mapIntoMemory, unmapFromMemory, mappings, allMappings, memoryBaseAddress, PAGE_SIZE,
  type Mapping, type SharedMemoryLike,
} from './mapping.js';
export {
  eventfdCreate, eventfdWrite, eventfdRead, EventFd, EFD_NONBLOCK, EFD_CLOEXEC, EFD_SEMAPHORE,
} from './eventfd.js';
export { watchFd, POLL, type FdWatcher } from './poll.js';
export { memoryFaultCount, memoryFaults, onMemoryFault, nextMemoryFault, sigbusGuardInstalled, type MemoryFault } from './memory-faults.js';
export { UnixSocket, type UnixSocketOptions, type Received } from './unix-socket.js';
export { UnixServer, type UnixServerOptions } from './unix-server.js';
export {
  VfioContainer, VfioGroup, VfioDevice, VfioBar, VfioRegionIo, vfioResources,
  VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_REQ_IRQ_INDEX,
  type VfioDeviceInfo, type VfioRegionInfo, type VfioIrqInfo, type VfioIommuInfo,
} from './vfio.js';
export {
  openVfioPciDevice, vfioPciStatus, pciAddress, VfioError, type VfioErrorCode, type VfioPciDevice, type VfioPciOptions,
} from './vfio-pci-device.js';
