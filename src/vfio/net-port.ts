// VfioNetPort: a virtio-net PCI function driven from Node through VFIO, with the engine's drivers
// on its rings (what DPDK's virtio PMD does with a virtio VF). The same port API as VirtioUserPort
// (rxBurst/txBurst/stats over mempool handles), on the same queue pairs (virtio-user/queue.ts,
// whose Wasm burst code is assembly/virtio-user/): only the link to the device differs.
//   - Addresses: the memory's shared part (rings and buffers; port-memory.ts) is DMA-mapped once
//     at `iova`; its private part (control blocks, shadows) never is. Descriptors carry Wasm
//     offset + addressBase (the drivers' DRV_ADDR_BASE), and the queue's areas are given to the
//     device through the common configuration at the same offset + addressBase: one base, from
//     the mapping (VIRTIO 1.2 2.7.5, 2.8.4: descriptors hold physical addresses; with
//     VIRTIO_F_ACCESS_PLATFORM, 6, those are IOVAs the IOMMU translates).
//   - Kicks: writes of the queue's index to its doorbell in the notify structure (4.1.5.2).
//   - Interrupts: MSI-X vector 0 for configuration changes (watched from the event loop:
//     DEVICE_NEEDS_RESET stops the port), 1 and 2 for the pair's rings, on the rings' call
//     eventfds, when the device has 3 vectors; the rings run polled (their used buffer
//     notifications off), as the virtio-user port's do.
// One queue pair (receiveq1, transmitq1: queues 0 and 1, 5.1.2); the control queue is left off.
// Runs on the thread that opened it (no Dataplane workers: their kicks are eventfds).
import * as L from '../../assembly/layout/virtio-pci.js';
import * as DS from '../../assembly/layout/device-status.js';
import { FEATURES, type FeatureSet } from '../features.js';
import { close as closeFd, EventFd } from '../native/index.js';
import { HandleBurst } from '../dataplane/handle-ring.js';
import type { Mempool } from '../dataplane/mempool.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';
import type { RingLayout } from '../virtqueue/factory.js';
import type { VfioPciOptions } from '../native/vfio-pci-device.js';
import { VFIO_PCI_MSIX_IRQ_INDEX } from '../native/vfio.js';
import { portSizes, type PortSizing } from '../virtio-user/options.js';
import { createPortMemory, buildPortRings, type PortMemory } from '../virtio-user/port-memory.js';
import type { PortQueue } from '../virtio-user/queue.js';
import { QueuePairPort } from '../virtio-user/queue-pair-port.js';
import { openVirtioNetPci, closeVirtioNetPci, type VirtioNetPci } from './virtio-net-pci.js';

export interface VfioNetPortOptions extends PortSizing, VfioPciOptions {
  /** The PCI function, bound to vfio-pci (e.g. 0000:00:01.0). */
  device: string;
  /** Ring layout (default split); packed needs the device to offer VIRTIO_F_RING_PACKED. */
  layout?: RingLayout;
  /** Where the shared memory is DMA-mapped (page-aligned, at least 16 MiB; default 2^32). */
  iova?: bigint;
  /** Ask for VIRTIO_NET_F_MRG_RXBUF, VIRTIO_F_IN_ORDER, VIRTIO_F_EVENT_IDX (each default true; taken when offered). */
  mergeable?: boolean;
  inOrder?: boolean;
  eventIdx?: boolean;
}

/** Where the shared memory goes in the IOMMU's address space when the caller does not say. */
export const DEFAULT_IOVA = 2n ** 32n;

/** The address base of a memory whose bytes [offset, ...) are DMA-mapped at `iova`: what Wasm offset 0 would be. */
export const addressBaseOf = (iova: bigint, offset: number): bigint => iova - BigInt(offset);

/**
 * Alignment of each ring area: a page, as Linux's and DPDK's virtio drivers place their rings, so
 * an area of a ring of up to 256 entries never crosses a page. QEMU 7.2's device model behind its
 * intel-iommu gets the part of a ring past a page boundary wrong: a used element there was written
 * to IOVA = its offset within the ring (a DMAR fault at 0x1c0, used element 55's length, for a
 * used ring at page offset 0xe40), and the driver read a length of 0.
 */
export const RING_AREA_ALIGN = 4096;

/** MSI-X vectors: configuration changes, then receiveq1 and transmitq1. */
const VECTORS = 3;

type PortEvents = {
  /** The port stopped (the device set DEVICE_NEEDS_RESET): why. Bursts throw from then on. */
  down: [string];
  /** The device's configuration changed (e.g. its link status; read it again). */
  config: [];
};

export class VfioNetPort extends QueuePairPort<PortEvents> {
  readonly queues: PortQueue[];
  readonly pool: Mempool;
  readonly engine: Engine;
  readonly priv: MemoryPlan;
  readonly layout: RingLayout;
  /** The features both sides took. */
  readonly features: FeatureSet;
  /** Descriptor address of Wasm offset 0 (the DMA mapping's IOVA minus the shared part's offset). */
  readonly addressBase: bigint;
  /** Whether MSI-X vectors were set up (else the device has no vectors and the port only polls). */
  readonly msix: boolean;
  private readonly configChange = EventFd.create();
  protected readonly txScratch: HandleBurst;
  protected readonly portName = 'vfio';
  /** Each queue's kick: a write to its doorbell (set up in bringUp). */
  private readonly doorbells: (() => void)[] = [];
  private shut = false;
  /** Why the port stopped (a ring the device wrote was rejected, or DEVICE_NEEDS_RESET); undefined while it runs. */
  failed: string | undefined;

  private constructor(private readonly mem: PortMemory, private readonly dev: VirtioNetPci, readonly iova: bigint, opts: VfioNetPortOptions) {
    super();
    this.engine = mem.engine;
    this.layout = opts.layout ?? 'split';
    this.features = dev.handshake.negotiated;
    this.addressBase = addressBaseOf(iova, mem.offset);
    this.msix = (dev.layout.msix?.tableSize ?? 0) >= VECTORS;
    // QEMU's device model leaves VIRTQ_DESC_F_WRITE out of packed used descriptors; Linux's and
    // DPDK's drivers read the length regardless, and so does this port on its receive queues
    // (still within each buffer). Not on transmit queues, where the device writes nothing and a
    // length without WRITE is ignored (2.8.4): DPDK's net_vhost leaves the driver's own length there.
    // Each ring area starts a page (RING_AREA_ALIGN).
    const bell = (queue: number) => ({
      addressBase: this.addressBase, doorbell: () => this.doorbells[queue](), usedLenWithoutWrite: queue % 2 === 0, areaAlign: RING_AREA_ALIGN,
    });
    const rings = buildPortRings(mem, opts, this.layout, this.features, (k) => ({ rx: bell(2 * k), tx: bell(2 * k + 1), portName: this.portName }));
    this.queues = rings.queues;
    this.pool = rings.pool;
    this.priv = rings.priv;
    this.txScratch = HandleBurst.alloc(this.engine, this.priv, 64);
    try {
      this.bringUp(dev);
    } catch (e) {
      for (const q of this.queues) q.close();
      this.configChange.close();
      throw e;
    }
  }

  /** MSI-X vectors, each queue's size, vector and area IOVAs (4.1.5.1.3), queue_enable, DRIVER_OK, the receive buffers posted. */
  private bringUp(dev: VirtioNetPci): void {
    const t = dev.transport;
    const mergeable = (this.features & FEATURES.NET_MRG_RXBUF) !== 0n;
    const { device } = dev.pci;
    if (this.msix) {
      device.setIrqEventfds(VFIO_PCI_MSIX_IRQ_INDEX, 0, [this.configChange.fd, this.queues[0].rx.call.fd, this.queues[0].tx.call.fd]);
      t.setConfigMsixVector(0);
      // A configuration change interrupt (4.1.5.3): from the event loop, never from a burst.
      this.configChange.watch(() => this.configChanged(), () => {});
      this.configChange.unref();
    }
    for (const q of this.queues) {
      q.setMergeable(mergeable);
      for (const [index, r, vector] of [[2 * q.index, q.rx, 1], [2 * q.index + 1, q.tx, 2]] as const) {
        const a = r.areas;
        const at = t.setupQueue(index, {
          size: a.queueSize, desc: this.iovaOf(a.desc), driver: this.iovaOf(a.driver), device: this.iovaOf(a.device),
          msixVector: this.msix ? vector : L.VIRTIO_MSI_NO_VECTOR,
        });
        this.doorbells[index] = () => t.notify(index, at);
      }
    }
    for (const q of this.queues) {
      t.enableQueue(2 * q.index);
      t.enableQueue(2 * q.index + 1);
    }
    t.driverOk();
    for (const q of this.queues) q.refill();
  }

  /**
   * Opens the device, negotiates, maps the shared memory for its DMA, sets the queue pair up and
   * posts the receive buffers. Whatever was opened is closed again when a step fails.
   */
  static open(opts: VfioNetPortOptions): VfioNetPort {
    const layout = opts.layout ?? 'split';
    const { pairs } = portSizes(opts);
    if (pairs !== 1) throw new RangeError(`vfio: one queue pair for now (VIRTIO_NET_F_MQ and the control queue are not driven), got ${pairs}`);
    if ((opts.workers ?? 0) !== 0) throw new RangeError('vfio: the port runs on the thread that opened it (no Dataplane workers)');
    const iova = opts.iova ?? DEFAULT_IOVA;
    const mem = createPortMemory(opts, 'vfio-net');
    if (iova < BigInt(mem.offset) || iova % 4096n !== 0n) {
      closeFd(mem.memfd);
      throw new RangeError(`vfio: iova 0x${iova.toString(16)} must be page-aligned and at least 0x${mem.offset.toString(16)} (the private part below the shared memory is never mapped)`);
    }
    const accept = FEATURES.NET_MAC | (layout === 'packed' ? FEATURES.RING_PACKED : 0n)
      | ((opts.mergeable ?? true) ? FEATURES.NET_MRG_RXBUF : 0n) | ((opts.inOrder ?? true) ? FEATURES.IN_ORDER : 0n)
      | ((opts.eventIdx ?? true) ? FEATURES.EVENT_IDX : 0n);
    let dev: VirtioNetPci | undefined;
    try {
      dev = openVirtioNetPci(opts.device, accept, opts);
      if (layout === 'packed' && (dev.handshake.negotiated & FEATURES.RING_PACKED) === 0n) {
        throw new Error(`vfio: PCI device ${dev.pci.address} does not offer VIRTIO_F_RING_PACKED (QEMU: virtio-net-pci packed=on); run it split`);
      }
      dev.pci.container.dmaMap(mem.engine.memory, mem.offset, mem.size, iova);
      return new VfioNetPort(mem, dev, iova, opts);
    } catch (e) {
      if (dev) closeVirtioNetPci(dev);
      closeFd(mem.memfd);
      throw e;
    }
  }

  /** The device address (IOVA) of Wasm offset `offset`: what the descriptors and the common configuration carry. */
  iovaOf(offset: number): bigint {
    return this.addressBase + BigInt(offset);
  }

  /** The device's MAC address (VIRTIO_NET_F_MAC), as aa:bb:cc:dd:ee:ff. */
  get mac(): string {
    return [...this.dev.transport.readDeviceConfig(L.NET_CONFIG_MAC, L.NET_CONFIG_MAC_SIZE)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  }

  /** device_status (2.1): DRIVER_OK and the rest while it runs, 0 after the port reset it. */
  deviceStatus(): number {
    return this.dev.transport.status();
  }

  /** Whether the device asks to be reset (DEVICE_NEEDS_RESET, 2.1.1). */
  needsReset(): boolean {
    return this.dev.transport.needsReset();
  }

  get closed(): boolean {
    return this.shut;
  }

  /** Queue pair `k`; an Error once the port stopped or closed. */
  pair(k: number): PortQueue {
    const q = this.queues[k];
    if (!q) throw new RangeError(`queue ${k}: the port has ${this.queues.length}`);
    if (this.shut) throw new Error('vfio: the port is closed');
    if (this.failed) throw new Error(`vfio: the port stopped: ${this.failed}`);
    return q;
  }

  /**
   * The device signalled a configuration change: with DEVICE_NEEDS_RESET set (2.1.1: it met an
   * error it cannot recover from, e.g. a descriptor it could not reach) the port stops, resets
   * the device (it no longer touches the rings) and emits 'down'; otherwise 'config'.
   */
  private configChanged(): void {
    if (this.shut || this.failed !== undefined) return;
    let status: number;
    try { status = this.dev.transport.status(); } catch { return; }
    if ((status & DS.STATUS_DEVICE_NEEDS_RESET) === 0) { this.emit('config'); return; }
    this.failed = `the device set DEVICE_NEEDS_RESET (device_status 0x${status.toString(16)}, VIRTIO 1.2 2.1.1)`;
    try { this.dev.transport.reset(); } catch { /* the reason reported is the device's */ }
    this.emit('down', this.failed);
  }

  /** A ring the device wrote was rejected (the engine's error names it): the device is reset, the port stops. */
  protected broke(q: PortQueue, e: unknown): never {
    this.failed = `queue pair ${q.index}: ${(e as Error).message}`;
    try { this.dev.transport.reset(); } catch { /* the error reported is the ring's */ }
    throw e;
  }

  /** Chains the device has not used yet on queue pair `k`'s transmit ring (after reaping the used ones). */
  txPending(k = 0): number {
    const q = this.pair(k);
    try { q.reapTx(); } catch (e) { return this.broke(q, e); }
    return q.tx.driver.inFlight;
  }

  /**
   * Resets the device (it stops touching the rings), takes every buffer in flight back into the
   * pool, and closes the device, its group and container (the DMA mapping goes with it) and the memfd.
   */
  close(): void {
    if (this.shut) return;
    this.shut = true;
    try {
      closeVirtioNetPci(this.dev);
    } finally {
      for (const q of this.queues) {
        q.reclaim();
        q.close();
      }
      this.configChange.close();
      closeFd(this.mem.memfd);
    }
  }
}
