// Loads the native bridge (build/Release/virtqueue_native.node, built by `npm install` or
// `npm run build:native` from native/*.c) and types what it exports. VIRTQUEUE_NATIVE=asan loads
// the AddressSanitizer + UBSan build instead (build/Release/virtqueue_native_asan.node, from
// `npm run build:native:asan`; the process must have the sanitizer runtime preloaded, as
// .ci/sanitize does). Node-only and Linux-only: nothing on the browser-safe path (src/index.ts)
// imports src/native/.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A libuv poll watcher on one fd (native/poll.c). */
export interface NativePoll {
  /** Watches for `events` (POLL_READABLE | POLL_WRITABLE | POLL_DISCONNECT); replaces the previous set. */
  start(events: number): void;
  stop(): void;
  /** Stops for good and releases the fd (close() refuses an fd that still has a watcher). */
  close(): void;
  /** Whether a started watcher keeps the process running (it does by default). */
  ref(): void;
  unref(): void;
}

/** Called from the event loop: `error` is an errno name (e.g. "EBADF") or null. */
export type PollCallback = (error: string | null, events: number) => void;

export interface NativeMapping {
  /** Address of the memory's backing store. */
  base: number;
  offset: number;
  length: number;
  /** The fd given when mapping (the mapping keeps the file; the fd may since be closed). */
  fd: number;
  fdOffset: number;
  /** Made by this thread (only that thread can unmap it). */
  thisThread: boolean;
}

export interface NativeReceived {
  /** Bytes received; empty when the peer hung up. */
  data: Buffer;
  /** Fds that came with them (close-on-exec; the caller owns them). */
  fds: number[];
  /** Fds that came beyond maxFds: closed by the bridge, never leaked. */
  closedFds: number;
  /** MSG_CTRUNC: the kernel had more control data than fit (and dropped it). */
  truncated: boolean;
}

/** A fault the SIGBUS guard caught in a mapping whose file shrank (native/fault-guard.h). */
export interface NativeMemoryFault {
  /** 1, 2, ...: the fault's number in this process. */
  seq: number;
  /** Id of the mapping: 1, 2, ... in the order mappings were made in this process. */
  mapping: number;
  /** Address of the memory's backing store. */
  base: number;
  /** The mapping: offset in the memory, length, the fd given when mapping and its file offset. */
  offset: number;
  length: number;
  fd: number;
  fdOffset: number;
  /** The faulting byte, from the mapping's start. */
  address: number;
  /** Kernel thread id of the thread that touched it. */
  thread: number;
  /** Zero pages replaced the whole mapping (false only if that failed: the process then died of it). */
  replaced: boolean;
}

/** VFIO fds, regions, IRQs, DMA and BAR mappings as the bridge reports them (native/vfio*.c). */
export interface NativeVfioFd { fd: number; kind: 'container' | 'group' | 'device'; parent: number; thisThread: boolean }
export interface NativeVfioDeviceInfo { flags: number; numRegions: number; numIrqs: number; reset: boolean; pci: boolean }
export interface NativeVfioRegionInfo {
  index: number;
  flags: number;
  size: number;
  /** Offset of the region in the device fd. */
  offset: number;
  read: boolean;
  write: boolean;
  mmap: boolean;
  caps: {
    /** VFIO_REGION_INFO_CAP_SPARSE_MMAP: only these areas (offsets within the region) can be mmapped. */
    sparseMmap?: { offset: number; size: number }[];
    type?: { type: number; subtype: number };
    /** VFIO_REGION_INFO_CAP_MSIX_MAPPABLE: the MSI-X table may be mmapped too. */
    msixMappable: boolean;
    /** Ids of capabilities not decoded. */
    other: number[];
  };
}
export interface NativeVfioIrqInfo {
  index: number; flags: number; count: number; eventfd: boolean; maskable: boolean; automasked: boolean; noresize: boolean;
}
export interface NativeVfioIommuInfo {
  /** Bitmap of the IOMMU's page sizes. */
  pageSizes: bigint;
  /** Usable IOVA ranges, inclusive. */
  iovaRanges: { start: bigint; end: bigint }[];
  /** DMA mappings the container may still make (null when the kernel does not say). */
  dmaAvail: number | null;
}
export interface NativeVfioDma { container: number; iova: number; size: number; vaddr: number; thisThread: boolean }
export interface NativeVfioBar { id: number; device: number; offset: number; size: number; thisThread: boolean }

export interface NativeBinding {
  memfdCreate(name: string, size: number, seals?: number): number;
  close(fd: number): void;
  fdSeals(fd: number): number;
  setNonBlocking(fd: number): void;
  mapIntoMemory(view: Uint8Array, offset: number, fd: number, fdOffset: number, length: number): void;
  unmapFromMemory(view: Uint8Array, offset: number, length: number): void;
  mappings(): NativeMapping[];
  memoryBase(view: Uint8Array): number;
  readonly PAGE_SIZE: number;
  eventfdCreate(initial: number, flags: number): number;
  eventfdWrite(fd: number, value: number | bigint): boolean;
  eventfdRead(fd: number): bigint | null;
  readonly EFD_NONBLOCK: number;
  readonly EFD_CLOEXEC: number;
  readonly EFD_SEMAPHORE: number;
  Poll: new (fd: number, callback: PollCallback) => NativePoll;
  readonly POLL_READABLE: number;
  readonly POLL_WRITABLE: number;
  readonly POLL_DISCONNECT: number;
  unixListen(path: string, backlog: number, mode: number): number;
  unixAccept(fd: number): number | null;
  unixConnect(path: string): number;
  unixSend(fd: number, data: Uint8Array, fds: readonly number[]): number | null;
  unixReceive(fd: number, maxBytes: number, maxFds: number): NativeReceived | null;
  memoryFaultCount(): number;
  memoryFaults(after: number): NativeMemoryFault[];
  memoryFaultWatch(): number;
  memoryFaultUnwatch(fd: number): void;
  sigbusGuardInstalled(): boolean;
  /** Test hook: a real SIGBUS outside every guarded mapping (the process dies of it). */
  faultOutsideMappings(): number;
  vfioOpenContainer(path: string): number;
  vfioOpenGroup(path: string): number;
  vfioGroupStatus(group: number): { viable: boolean; containerSet: boolean };
  vfioGroupSetContainer(group: number, container: number): void;
  vfioSetIommu(container: number): void;
  vfioGetDeviceFd(group: number, name: string): number;
  vfioClose(fd: number): void;
  vfioFds(): NativeVfioFd[];
  vfioDeviceInfo(device: number): NativeVfioDeviceInfo;
  vfioRegionInfo(device: number, index: number): NativeVfioRegionInfo;
  vfioIrqInfo(device: number, index: number): NativeVfioIrqInfo;
  vfioSetIrqEventfds(device: number, index: number, start: number, fds: readonly number[]): void;
  vfioUnmaskIrq(device: number, index: number, sub: number): void;
  vfioTriggerIrq(device: number, index: number, sub: number): void;
  vfioReset(device: number): void;
  vfioIoeventfd(device: number, offset: number | bigint, width: number, data: number | bigint, eventfd: number): void;
  vfioRead(device: number, offset: number | bigint, length: number): Buffer;
  vfioWrite(device: number, offset: number | bigint, data: Uint8Array): void;
  readonly VFIO_PCI_CONFIG_REGION_INDEX: number;
  readonly VFIO_PCI_INTX_IRQ_INDEX: number;
  readonly VFIO_PCI_MSI_IRQ_INDEX: number;
  readonly VFIO_PCI_MSIX_IRQ_INDEX: number;
  readonly VFIO_PCI_REQ_IRQ_INDEX: number;
  vfioIommuInfo(container: number): NativeVfioIommuInfo;
  vfioDmaMap(container: number, view: Uint8Array, offset: number, length: number, iova: number | bigint): void;
  vfioDmaUnmap(container: number, iova: number | bigint, length: number | bigint): void;
  vfioDmaMappings(): NativeVfioDma[];
  vfioMmap(device: number, offset: number | bigint, size: number): number;
  vfioMmioRead(id: number, offset: number, width: 1 | 2 | 4): number;
  vfioMmioWrite(id: number, offset: number, width: 1 | 2 | 4, value: number): void;
  vfioMunmap(id: number): void;
  vfioBarMappings(): NativeVfioBar[];
}

/** Which build of the addon: VIRTQUEUE_NATIVE unset or "release", or "asan" (sanitizers). */
export type NativeVariant = 'release' | 'asan';

/** The variant VIRTQUEUE_NATIVE asks for; throws on anything else. */
export function nativeVariant(env: NodeJS.ProcessEnv = process.env): NativeVariant {
  const v = env.VIRTQUEUE_NATIVE;
  if (v === undefined || v === '' || v === 'release') return 'release';
  if (v === 'asan') return 'asan';
  throw new Error(`VIRTQUEUE_NATIVE=${v}: unknown build of the native bridge (expected "release" or "asan")`);
}

/** Path of the built addon, from src/native/ (vitest) or dist/src/native/ (compiled). */
export function nativeAddonPath(variant: NativeVariant = nativeVariant()): string {
  const here = fileURLToPath(import.meta.url);
  const up = here.includes('/dist/') ? '../../../' : '../../';
  const file = variant === 'asan' ? 'virtqueue_native_asan.node' : 'virtqueue_native.node';
  return fileURLToPath(new URL(`${up}build/Release/${file}`, import.meta.url));
}

/** Whether AddressSanitizer's runtime is loaded in this process (it must come first: LD_PRELOAD). */
function asanRuntimeLoaded(): boolean {
  return /\/libasan\.so/.test(readFileSync('/proc/self/maps', 'utf8'));
}

function load(): NativeBinding {
  const variant = nativeVariant();
  const path = nativeAddonPath(variant);
  if (variant === 'asan') {
    // Checked here: loading it without the runtime preloaded makes ASan abort the process.
    if (!existsSync(path)) throw new Error(`VIRTQUEUE_NATIVE=asan: the sanitizer build is not at ${path}: run \`npm run build:native:asan\``);
    if (!asanRuntimeLoaded()) {
      throw new Error('VIRTQUEUE_NATIVE=asan: the AddressSanitizer runtime is not loaded: run with LD_PRELOAD="$(gcc -print-file-name=libasan.so)" (see .ci/sanitize)');
    }
  }
  try {
    return createRequire(import.meta.url)(path) as NativeBinding;
  } catch (e) {
    const why = (e as Error).message;
    const build = variant === 'asan' ? 'npm run build:native:asan' : 'npm run build:native';
    throw new Error(`cannot load the native bridge at ${path}: run \`${build}\` (${why})`);
  }
}

/** The native bridge, loaded once per thread. */
export const native: NativeBinding = load();
