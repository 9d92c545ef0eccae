// VFIO from Node (Linux; native/vfio*.c): a container (one IOMMU address space), the groups set
// to it, their devices, a device's regions (pread/pwrite, or mmapped BARs accessed at exact
// widths), interrupts as eventfds, reset, and DMA mappings of a shared memory's pages at IOVAs
// the caller chooses. Each object owns its fd; close() releases it and what hangs on it (a
// device's BAR mappings, a container's DMA mappings); the bridge releases whatever is left when
// the thread's Node environment ends. vfio-pci-device.ts opens one PCI device the whole way.
import { native, type NativeVfioDeviceInfo, type NativeVfioIommuInfo, type NativeVfioIrqInfo, type NativeVfioRegionInfo } from './binding.js';
import { memoryView, type SharedMemoryLike } from './mapping.js';

export type VfioDeviceInfo = NativeVfioDeviceInfo;
export type VfioRegionInfo = NativeVfioRegionInfo;
export type VfioIrqInfo = NativeVfioIrqInfo;
export type VfioIommuInfo = NativeVfioIommuInfo;

/** vfio-pci's region and IRQ indexes (linux/vfio.h): BARs 0-5 are regions 0-5. */
export const VFIO_PCI_CONFIG_REGION_INDEX: number = native.VFIO_PCI_CONFIG_REGION_INDEX;
export const VFIO_PCI_INTX_IRQ_INDEX: number = native.VFIO_PCI_INTX_IRQ_INDEX;
export const VFIO_PCI_MSI_IRQ_INDEX: number = native.VFIO_PCI_MSI_IRQ_INDEX;
export const VFIO_PCI_MSIX_IRQ_INDEX: number = native.VFIO_PCI_MSIX_IRQ_INDEX;
/** The kernel's request to give the device back (it is being unbound from vfio-pci): close it. */
export const VFIO_PCI_REQ_IRQ_INDEX: number = native.VFIO_PCI_REQ_IRQ_INDEX;

/** Every VFIO fd, DMA mapping and BAR mapping the bridge holds in this process (to check that nothing is left). */
export function vfioResources(): { fds: number; dma: number; bars: number } {
  return { fds: native.vfioFds().length, dma: native.vfioDmaMappings().length, bars: native.vfioBarMappings().length };
}

/** One IOMMU address space: groups are set to it, and memory is mapped into it for their devices' DMA. */
export class VfioContainer {
  private closed = false;
  private constructor(readonly fd: number) {}

  /** Opens a container (checks the API version and the TYPE1v2 IOMMU). */
  static open(path = '/dev/vfio/vfio'): VfioContainer {
    return new VfioContainer(native.vfioOpenContainer(path));
  }

  /** Sets the TYPE1v2 IOMMU: after the first group is set to the container, before DMA mappings. */
  setIommu(): void {
    native.vfioSetIommu(this.fd);
  }

  /** Page sizes, usable IOVA ranges, and how many DMA mappings are left. */
  iommuInfo(): VfioIommuInfo {
    return native.vfioIommuInfo(this.fd);
  }

  /**
   * Lets the container's devices read and write [offset, offset + length) of `memory` at
   * [iova, iova + length) (page-aligned; no overlap with another mapping). The kernel pins the
   * pages: map a memfd over the memory first (mapIntoMemory) and keep that mapping while this
   * one lives; the memory must outlive it. Mapping is slow under an emulated IOMMU: map once.
   */
  dmaMap(memory: SharedMemoryLike, offset: number, length: number, iova: number | bigint): void {
    native.vfioDmaMap(this.fd, memoryView(memory), offset, length, iova);
  }

  /** Undoes exactly one earlier dmaMap. */
  dmaUnmap(iova: number | bigint, length: number): void {
    native.vfioDmaUnmap(this.fd, iova, length);
  }

  /** This container's live DMA mappings. */
  dmaMappings(): { iova: number; size: number; vaddr: number }[] {
    return native.vfioDmaMappings().filter((d) => d.container === this.fd).map(({ iova, size, vaddr }) => ({ iova, size, vaddr }));
  }

  /** Unmaps every DMA mapping and closes the container; refused (EBUSY) while a group is still set to it. */
  close(): void {
    if (this.closed) return;
    native.vfioClose(this.fd);
    this.closed = true;
  }
}

/** An IOMMU group (/dev/vfio/N): the unit of isolation whose devices VFIO hands out. */
export class VfioGroup {
  private closed = false;
  private constructor(readonly fd: number, readonly path: string) {}

  static open(path: string): VfioGroup {
    return new VfioGroup(native.vfioOpenGroup(path), path);
  }

  /** viable: every device in the group is bound to a VFIO driver or to none. */
  status(): { viable: boolean; containerSet: boolean } {
    return native.vfioGroupStatus(this.fd);
  }

  setContainer(container: VfioContainer): void {
    native.vfioGroupSetContainer(this.fd, container.fd);
  }

  /** A device of the group, by name (a PCI address such as 0000:00:01.0); the container's IOMMU must be set. */
  openDevice(name: string): VfioDevice {
    return new VfioDevice(native.vfioGetDeviceFd(this.fd, name), name);
  }

  /** Leaves the container and closes the group; refused (EBUSY) while a device of it is open. */
  close(): void {
    if (this.closed) return;
    native.vfioClose(this.fd);
    this.closed = true;
  }
}

/** A device: its regions (BARs, config space), interrupts and reset. */
export class VfioDevice {
  private closed = false;
  private readonly regions = new Map<number, VfioRegionIo>();
  constructor(readonly fd: number, readonly name: string) {}

  info(): VfioDeviceInfo {
    return native.vfioDeviceInfo(this.fd);
  }

  region(index: number): VfioRegionInfo {
    return native.vfioRegionInfo(this.fd, index);
  }

  /** pread of `length` bytes at `offset` of the device fd (a region's offset plus the offset within it). */
  read(offset: number | bigint, length: number): Buffer {
    return native.vfioRead(this.fd, offset, length);
  }

  /** pwrite of all of `data` at `offset` of the device fd. */
  write(offset: number | bigint, data: Uint8Array): void {
    native.vfioWrite(this.fd, offset, data);
  }

  /** Region `index` read and written with pread/pwrite (any region that allows it; cached per index). */
  io(index: number): VfioRegionIo {
    let r = this.regions.get(index);
    if (!r) {
      r = new VfioRegionIo(this, this.region(index));
      this.regions.set(index, r);
    }
    return r;
  }

  /** PCI config space (region VFIO_PCI_CONFIG_REGION_INDEX), with pread. */
  configRead(offset: number, width: 1 | 2 | 4): number {
    return this.io(VFIO_PCI_CONFIG_REGION_INDEX).read(offset, width);
  }

  configWrite(offset: number, width: 1 | 2 | 4, value: number): void {
    this.io(VFIO_PCI_CONFIG_REGION_INDEX).write(offset, width, value);
  }

  /** A BAR's registers: mmapped (the whole region) where its info allows it, else through pread/pwrite. */
  barAccess(index: number): VfioBar | VfioRegionIo {
    return this.region(index).mmap ? this.mmap(index) : this.io(index);
  }

  /**
   * Maps [offset, offset + size) of region `index` (a BAR whose info has `mmap`; with a sparse
   * mmap capability, only inside one of its areas). `offset` page-aligned; `size` the rest of
   * the region when omitted.
   */
  mmap(index: number, offset = 0, size?: number): VfioBar {
    const r = this.region(index);
    if (!r.mmap) throw new Error(`vfio ${this.name}: region ${index} cannot be mmapped (read and write it with io(index))`);
    const length = size ?? r.size - offset;
    if (offset < 0 || length <= 0 || offset + length > r.size) {
      throw new RangeError(`vfio ${this.name}: [${offset}, ${offset + length}) is outside region ${index} (${r.size} bytes)`);
    }
    const areas = r.caps.sparseMmap;
    if (areas && !areas.some((a) => offset >= a.offset && offset + length <= a.offset + a.size)) {
      throw new RangeError(`vfio ${this.name}: [${offset}, ${offset + length}) of region ${index} is not inside one of its mmappable areas ${JSON.stringify(areas)}`);
    }
    return new VfioBar(native.vfioMmap(this.fd, r.offset + offset, length), length);
  }

  irqInfo(index: number): VfioIrqInfo {
    return native.vfioIrqInfo(this.fd, index);
  }

  /** Interrupts [start, start + fds.length) of IRQ `index` signal these eventfds (-1: none). */
  setIrqEventfds(index: number, start: number, fds: readonly number[]): void {
    if (fds.length === 0) throw new RangeError('setIrqEventfds: no eventfds (disableIrqs turns an index off)');
    native.vfioSetIrqEventfds(this.fd, index, start, fds);
  }

  /** Turns every interrupt of IRQ `index` off (MSI-X: the device's vectors are freed). */
  disableIrqs(index: number): void {
    native.vfioSetIrqEventfds(this.fd, index, 0, []);
  }

  /** Unmasks one interrupt (INTx: the kernel masks it each time it fires). */
  unmaskIrq(index: number, sub = 0): void {
    native.vfioUnmaskIrq(this.fd, index, sub);
  }

  /** Fires interrupt `sub` of IRQ `index` from user space (its eventfd is signalled): checks the wiring. */
  triggerIrq(index: number, sub = 0): void {
    native.vfioTriggerIrq(this.fd, index, sub);
  }

  /**
   * VFIO_DEVICE_IOEVENTFD: each signal of `eventfd` makes the kernel write `data` (`width` bytes)
   * at `offset` of the device fd (a BAR region's offset plus the offset within it), a doorbell
   * any thread rings with an eventfd write; `eventfd` -1 takes that one away. Closing the device
   * drops them all.
   */
  ioeventfd(offset: number | bigint, width: 1 | 2 | 4 | 8, data: number | bigint, eventfd: number): void {
    native.vfioIoeventfd(this.fd, offset, width, data, eventfd);
  }

  /** VFIO_DEVICE_RESET (info().reset says whether the device has one; a virtio device resets through its status too). */
  reset(): void {
    native.vfioReset(this.fd);
  }

  /** Unmaps its BARs and closes it (the kernel turns its interrupts off and drops their eventfds). */
  close(): void {
    if (this.closed) return;
    native.vfioClose(this.fd);
    this.closed = true;
  }
}

/** An mmapped part of a BAR: loads and stores of exactly 1, 2 or 4 bytes, naturally aligned. */
export class VfioBar {
  constructor(readonly id: number, readonly size: number) {}
  read(offset: number, width: 1 | 2 | 4): number { return native.vfioMmioRead(this.id, offset, width); }
  write(offset: number, width: 1 | 2 | 4, value: number): void { native.vfioMmioWrite(this.id, offset, width, value); }
  /** Unmaps it; its device's close() does too. */
  unmap(): void {
    if (native.vfioBarMappings().some((b) => b.id === this.id)) native.vfioMunmap(this.id);
  }
}

/** A region read and written with pread/pwrite, little-endian values of exactly 1, 2 or 4 bytes. */
export class VfioRegionIo {
  constructor(private readonly device: VfioDevice, readonly info: VfioRegionInfo) {}

  private at(offset: number, width: number): number {
    if (!Number.isInteger(offset) || offset < 0 || offset + width > this.info.size) {
      throw new RangeError(`vfio ${this.device.name}: [${offset}, ${offset + width}) is outside region ${this.info.index} (${this.info.size} bytes)`);
    }
    return this.info.offset + offset;
  }

  read(offset: number, width: 1 | 2 | 4): number {
    return this.device.read(this.at(offset, width), width).readUIntLE(0, width);
  }

  write(offset: number, width: 1 | 2 | 4, value: number): void {
    const b = Buffer.alloc(width);
    b.writeUIntLE(value, 0, width);
    this.device.write(this.at(offset, width), b);
  }
}
