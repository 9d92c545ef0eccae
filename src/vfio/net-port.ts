// VfioNetPort: a virtio-net PCI function driven from Node through VFIO, with the engine's drivers
// on its rings (what DPDK's virtio PMD does with a virtio VF). The same port API as VirtioUserPort
// (rxBurst/txBurst/stats over mempool handles, send/frames for scripts), on the same queue pairs
// (virtio-user/port-memory.ts, queue.ts, whose Wasm burst code is assembly/virtio-user/): only
// the link to the device differs.
//   - Addresses: the memory's shared part (rings and buffers; port-memory.ts) is DMA-mapped once
//     at `iova`; its private part (control blocks, shadows) never is. Descriptors carry Wasm
//     offset + addressBase (the drivers' DRV_ADDR_BASE), and the queue's areas are given to the
//     device through the common configuration at the same offset + addressBase: one base, from
//     the mapping (VIRTIO 1.2 2.7.5, 2.8.4: descriptors hold physical addresses; with
//     VIRTIO_F_ACCESS_PLATFORM, 6, those are IOVAs the IOMMU translates).
//   - Queue pairs: receiveqk and transmitqk are queues 2k and 2k+1 (5.1.2). More than one pair
//     takes VIRTIO_NET_F_MQ and the control queue (number 2 * max_virtqueue_pairs), on which
//     VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET tells the device how many run (5.1.6.5.5; control-queue.ts).
//   - Kicks: writes of the queue's index to its doorbell in the notify structure (4.1.5.2); with
//     VIRTIO_F_NOTIFICATION_DATA (taken when offered, unless workers run the pairs) 32 bits that
//     also carry the ring's next available position (2.9). Dataplane workers (handOver) kick an
//     eventfd the kernel turns into the same 16-bit doorbell write (VFIO_DEVICE_IOEVENTFD).
//   - Interrupts: MSI-X vector 0 for configuration changes (watched from the event loop), then one
//     vector per ring when the device has 1 + 2N of them, else one vector all rings share (its
//     eventfd fans out to every ring's call eventfd), else none (the port only polls). The rings
//     run polled (their used buffer notifications off) except while send()/frames() wait.
//   - DEVICE_NEEDS_RESET (2.1.1), seen on the configuration interrupt: the port stops (bursts
//     throw, 'down'), or with `recover` resets the device, takes every buffer in flight back into
//     the pool, and sets it up again (2.1.2: the status handshake, the queues, DRIVER_OK, the
//     receive buffers posted; 'reset' once it runs again).
//   - The kernel asking for the device back (an unbind from vfio-pci, which waits until the
//     device is closed; VFIO_PCI_REQ_IRQ_INDEX): the port stops ('down' says why) so that its
//     owner closes it and the unbind completes.
import * as L from '../../assembly/layout/virtio-pci.js';
import * as DS from '../../assembly/layout/device-status.js';
import * as V from '../../assembly/layout/virtio-user.js';
import { FEATURES, featureNames, type FeatureSet } from '../features.js';
import { close as closeFd, EventFd } from '../native/index.js';
import { HandleBurst } from '../dataplane/handle-ring.js';
import type { Mempool } from '../dataplane/mempool.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';
import type { RingLayout } from '../virtqueue/factory.js';
import type { VfioPciOptions } from '../native/vfio-pci-device.js';
import { VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_REQ_IRQ_INDEX } from '../native/vfio.js';
import { notificationNext } from '../virtio-pci/notification-data.js';
import { portSizes, type PortSizing } from '../virtio-user/options.js';
import { createPortMemory, buildPortRings, type PortMemory } from '../virtio-user/port-memory.js';
import type { PortQueue, PortRing, RingLink } from '../virtio-user/queue.js';
import { QueuePairPort } from '../virtio-user/queue-pair-port.js';
import { ControlQueue } from './control-queue.js';
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
  /** Ask for VIRTIO_F_NOTIFICATION_DATA (default true; never with `workers`: their doorbell writes are fixed). */
  notificationData?: boolean;
  /** On DEVICE_NEEDS_RESET, reset the device and set it up again rather than stop (default false). */
  recover?: boolean;
  /** Where the port says what it does about DEVICE_NEEDS_RESET with `recover` (one line each). */
  log?: (line: string) => void;
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

/** How the rings' interrupts are wired: a vector each, one they share, or none (polled only). */
export type VectorMode = 'per-ring' | 'shared' | 'none';

/** The MSI-X vectors of a device with `tableSize` of them for `pairs` queue pairs (vector 0: configuration changes). */
export function vectorMode(tableSize: number, pairs: number): VectorMode {
  if (tableSize >= 1 + 2 * pairs) return 'per-ring';
  return tableSize >= 2 ? 'shared' : 'none';
}

type PortEvents = {
  /** The port stopped (DEVICE_NEEDS_RESET without `recover`, or setting it up again failed, or a worker's ring was rejected): why. Bursts throw from then on. */
  down: [string];
  /** With `recover`: the device needed a reset and runs again, set up anew; `reclaimed` buffers went back to the pool. */
  reset: [{ reason: string; reclaimed: number }];
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
  /** How the rings' MSI-X vectors are wired. */
  readonly vectors: VectorMode;
  /** The device's max_virtqueue_pairs (1 without VIRTIO_NET_F_MQ). */
  readonly maxQueuePairs: number;
  /** The control queue, with more than one queue pair (VIRTIO_NET_F_MQ). */
  readonly control: ControlQueue | undefined;
  /** Times the device was reset and set up again after DEVICE_NEEDS_RESET. */
  resets = 0;
  private readonly configChange = EventFd.create();
  /** With shared vectors: the rings' one vector, fanned out to each ring's call eventfd. */
  private readonly sharedCall: EventFd | undefined;
  /** Signalled by the kernel when it wants the device back (VFIO_PCI_REQ_IRQ_INDEX), if the device has that interrupt. */
  private request: EventFd | undefined;
  protected readonly txScratch: HandleBurst;
  protected readonly rxScratch: HandleBurst;
  readonly portName = 'vfio';
  /** Each queue's doorbell (set up in setUpQueues). */
  private readonly doorbells: (() => void)[] = [];
  private readonly notifyAt: { bar: number; offset: number }[] = [];
  private readonly accept: FeatureSet;
  private readonly recover: boolean;
  private readonly log: (line: string) => void;
  private shut = false;
  private recovering = false;
  /** Workers run the queue pairs (handOver()): the blocks' state says when they may. */
  private workerOwned = false;
  private watch: NodeJS.Timeout | undefined;
  /** Why the port stopped (a ring the device wrote was rejected, or DEVICE_NEEDS_RESET); undefined while it runs. */
  failed: string | undefined;

  private constructor(private readonly mem: PortMemory, private readonly dev: VirtioNetPci, readonly iova: bigint, opts: VfioNetPortOptions,
                      accept: FeatureSet, maxQueuePairs: number) {
    super();
    this.engine = mem.engine;
    this.layout = opts.layout ?? 'split';
    this.features = dev.handshake.negotiated;
    this.accept = accept;
    this.recover = opts.recover ?? false;
    this.log = opts.log ?? (() => {});
    this.maxQueuePairs = maxQueuePairs;
    this.addressBase = addressBaseOf(iova, mem.offset);
    const { pairs } = portSizes(opts);
    this.vectors = vectorMode(dev.layout.msix?.tableSize ?? 0, pairs);
    // QEMU's device model leaves VIRTQ_DESC_F_WRITE out of packed used descriptors; Linux's and
    // DPDK's drivers read the length regardless, and so does this port on its receive queues and
    // its control queue (even numbers; still within each buffer). Not on transmit queues, where the device writes nothing and a
    // length without WRITE is ignored (2.8.4): DPDK's net_vhost leaves the driver's own length there.
    // Each ring area starts a page (RING_AREA_ALIGN).
    const bell = (queue: number): RingLink => ({
      addressBase: this.addressBase, doorbell: () => this.doorbells[queue](), usedLenWithoutWrite: queue % 2 === 0, areaAlign: RING_AREA_ALIGN,
    });
    const rings = buildPortRings(mem, opts, this.layout, this.features, (k) => ({ rx: bell(2 * k), tx: bell(2 * k + 1), portName: this.portName }));
    this.queues = rings.queues;
    this.pool = rings.pool;
    this.priv = rings.priv;
    this.control = (this.features & FEATURES.NET_MQ) !== 0n
      ? new ControlQueue(this.engine, rings.shared, this.priv, this.layout, this.features, bell(2 * maxQueuePairs))
      : undefined;
    this.txScratch = HandleBurst.alloc(this.engine, this.priv, 64);
    this.rxScratch = HandleBurst.alloc(this.engine, this.priv, 64);
    this.sharedCall = this.vectors === 'shared' ? EventFd.create() : undefined;
    try {
      this.wireInterrupts();
      this.watchRequest();
      this.setUpQueues();
    } catch (e) {
      this.releaseRings();
      throw e;
    }
  }

  /** Every ring of the port, in queue order (receiveq1, transmitq1, ...). */
  private rings(): [number, PortRing][] {
    return this.queues.flatMap((q) => [[2 * q.index, q.rx], [2 * q.index + 1, q.tx]] as [number, PortRing][]);
  }

  /** MSI-X: vector 0 to the configuration-change eventfd, the rest to the rings' (once: a virtio reset keeps VFIO's vectors). */
  private wireInterrupts(): void {
    if (this.vectors === 'none') return;
    const fds = this.vectors === 'per-ring' ? this.rings().map(([, r]) => r.call.fd) : [this.sharedCall!.fd];
    this.dev.pci.device.setIrqEventfds(VFIO_PCI_MSIX_IRQ_INDEX, 0, [this.configChange.fd, ...fds]);
    // A configuration change interrupt (4.1.5.3): from the event loop, never from a burst.
    this.configChange.watch(() => this.configChanged(), () => {});
    this.configChange.unref();
    if (this.sharedCall) {
      const calls = this.rings().map(([, r]) => r.call);
      this.sharedCall.watch(() => { for (const c of calls) c.signal(); }, () => {});
      this.sharedCall.unref();
    }
  }

  /**
   * After FEATURES_OK: the configuration vector, each queue's size, vector and area IOVAs
   * (4.1.5.1.3), queue_enable, DRIVER_OK, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET with more than one pair,
   * the receive buffers posted.
   */
  private setUpQueues(): void {
    const t = this.dev.transport;
    const mergeable = (this.features & FEATURES.NET_MRG_RXBUF) !== 0n;
    const withData = (this.features & FEATURES.NOTIFICATION_DATA) !== 0n;
    if (this.vectors !== 'none') t.setConfigMsixVector(0);
    const vectorOf = (index: number): number => (this.vectors === 'per-ring' ? 1 + index : this.vectors === 'shared' ? 1 : L.VIRTIO_MSI_NO_VECTOR);
    const rings: [number, PortRing, number][] = this.rings().map(([index, r]) => [index, r, vectorOf(index)]);
    if (this.control) rings.push([2 * this.maxQueuePairs, this.control.ring, L.VIRTIO_MSI_NO_VECTOR]);
    for (const q of this.queues) q.setMergeable(mergeable);
    for (const [index, r, msixVector] of rings) {
      const a = r.areas;
      const at = t.setupQueue(index, { size: a.queueSize, desc: this.iovaOf(a.desc), driver: this.iovaOf(a.driver), device: this.iovaOf(a.device), msixVector });
      const was = this.notifyAt[index];
      if (this.workerOwned && was && (was.bar !== at.bar || was.offset !== at.offset)) {
        throw new Error(`queue ${index}'s doorbell moved (BAR ${was.bar} 0x${was.offset.toString(16)} to BAR ${at.bar} 0x${at.offset.toString(16)}) while workers kick the old one`);
      }
      this.notifyAt[index] = at;
      this.doorbells[index] = withData ? () => t.notify(index, at, notificationNext(r.driver)) : () => t.notify(index, at);
    }
    for (const [index] of rings) t.enableQueue(index);
    t.driverOk();
    this.control?.setQueuePairs(this.queues.length);
    for (const q of this.queues) q.refill();
  }

  /**
   * Opens the device, negotiates, maps the shared memory for its DMA, sets the queue pairs up and
   * posts the receive buffers. Whatever was opened is closed again when a step fails.
   */
  static open(opts: VfioNetPortOptions): VfioNetPort {
    const layout = opts.layout ?? 'split';
    const { pairs, workers } = portSizes(opts);
    const iova = opts.iova ?? DEFAULT_IOVA;
    const mem = createPortMemory(opts, 'vfio-net');
    if (iova < BigInt(mem.offset) || iova % 4096n !== 0n) {
      closeFd(mem.memfd);
      throw new RangeError(`vfio: iova 0x${iova.toString(16)} must be page-aligned and at least 0x${mem.offset.toString(16)} (the private part below the shared memory is never mapped)`);
    }
    const accept = FEATURES.NET_MAC | (layout === 'packed' ? FEATURES.RING_PACKED : 0n)
      | ((opts.mergeable ?? true) ? FEATURES.NET_MRG_RXBUF : 0n) | ((opts.inOrder ?? true) ? FEATURES.IN_ORDER : 0n)
      | ((opts.eventIdx ?? true) ? FEATURES.EVENT_IDX : 0n)
      | ((opts.notificationData ?? true) && workers === 0 ? FEATURES.NOTIFICATION_DATA : 0n)
      | (pairs > 1 ? FEATURES.NET_CTRL_VQ | FEATURES.NET_MQ : 0n);
    let dev: VirtioNetPci | undefined;
    try {
      dev = openVirtioNetPci(opts.device, accept, opts);
      const { negotiated } = dev.handshake;
      const at = `vfio: PCI device ${dev.pci.address}`;
      if (layout === 'packed' && (negotiated & FEATURES.RING_PACKED) === 0n) {
        throw new Error(`${at} does not offer VIRTIO_F_RING_PACKED (QEMU: virtio-net-pci packed=on); run it split`);
      }
      let maxPairs = 1;
      if (pairs > 1) {
        if ((negotiated & FEATURES.NET_MQ) === 0n) {
          throw new Error(`${at} does not offer VIRTIO_NET_F_MQ with a control queue, so it runs one queue pair, not ${pairs} (QEMU: virtio-net-pci mq=on, a netdev with queues=${pairs})`);
        }
        const b = dev.transport.readDeviceConfig(L.NET_CONFIG_MAX_VIRTQUEUE_PAIRS, 2);
        maxPairs = b[0] | (b[1] << 8);
        if (maxPairs < pairs || maxPairs > L.NET_CTRL_MQ_VQ_PAIRS_MAX) {
          throw new Error(`${at} has max_virtqueue_pairs ${maxPairs}: ${pairs} queue pairs asked for (VIRTIO 1.2 5.1.4)`);
        }
        const needed = 2 * maxPairs + 1;
        if (dev.transport.numQueues() < needed) {
          throw new Error(`${at} has ${dev.transport.numQueues()} queues (num_queues), but max_virtqueue_pairs ${maxPairs} and the control queue need ${needed}`);
        }
      }
      dev.pci.container.dmaMap(mem.engine.memory, mem.offset, mem.size, iova);
      return new VfioNetPort(mem, dev, iova, opts, accept, maxPairs);
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

  /** Whether MSI-X vectors were set up (else the device has too few and the port only polls). */
  get msix(): boolean {
    return this.vectors !== 'none';
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

  /** Whether the queue pairs can run now (not stopped, closed, or being set up again). */
  get up(): boolean {
    return !this.shut && this.failed === undefined && !this.recovering;
  }

  get awayReason(): string {
    return this.failed !== undefined ? `the port stopped: ${this.failed}` : this.shut ? 'the port is closed' : 'the device is being set up again';
  }

  /**
   * Queue pair `k`; undefined while the device is being set up again; an Error once the port
   * stopped or closed, or while Dataplane workers run the pairs (handOver()).
   */
  pair(k: number): PortQueue | undefined {
    const q = this.queues[k];
    if (!q) throw new RangeError(`queue ${k}: the port has ${this.queues.length}`);
    if (this.shut) throw new Error('vfio: the port is closed');
    if (this.failed) throw new Error(`vfio: the port stopped: ${this.failed}`);
    if (this.workerOwned) throw new Error(`queue ${k}: its queue pairs run on Dataplane workers`);
    return this.recovering ? undefined : q;
  }

  protected override checkFree(): void {
    if (this.workerOwned) throw new Error('free: the queue pairs run on Dataplane workers');
  }

  /**
   * From now on Dataplane workers run the queue pairs (VirtioUserWorkers): each ring's kick
   * eventfd becomes its doorbell (VFIO_DEVICE_IOEVENTFD: the kernel writes the queue's index to
   * it on each signal), bursts on this thread are refused, and a pair whose worker met an engine
   * error stops the port (the error named).
   */
  handOver(): void {
    if (this.workerOwned) return;
    if (this.shut || this.failed) throw new Error(`vfio: cannot hand the queue pairs over: ${this.awayReason}`);
    if ((this.features & FEATURES.NOTIFICATION_DATA) !== 0n) {
      throw new Error('vfio: VIRTIO_F_NOTIFICATION_DATA was negotiated, but workers kick through eventfds of a fixed doorbell write: open the port with `workers`');
    }
    const { device } = this.dev.pci;
    for (const [index, r] of this.rings()) {
      const at = this.notifyAt[index];
      device.ioeventfd(device.region(at.bar).offset + at.offset, 2, index, r.kick.fd);
    }
    this.workerOwned = true;
    for (const q of this.queues) q.setState(this.up ? V.VUQ_STATE_RUNNING : V.VUQ_STATE_STOPPED);
    this.watch = setInterval(() => {
      const q = this.queues.find((x) => x.ack === V.VUQ_STATE_FAILED);
      if (q && this.failed === undefined && !this.recovering) this.stop(`queue pair ${q.index}: ${q.workerError().message}`);
    }, 10);
    this.watch.unref();
  }

  /**
   * The kernel's request for the device (vfio-pci's request interrupt: an unbind, which waits
   * until every user has closed it): the port stops, and 'down' tells its owner to close it.
   */
  private watchRequest(): void {
    const { device } = this.dev.pci;
    if (device.irqInfo(VFIO_PCI_REQ_IRQ_INDEX).count < 1) return;
    const ev = EventFd.create();
    this.request = ev;
    device.setIrqEventfds(VFIO_PCI_REQ_IRQ_INDEX, 0, [ev.fd]);
    ev.watch(() => {
      if (!this.shut && this.failed === undefined) this.stop('the kernel asks for the device back (it is being unbound from vfio-pci): close the port');
    }, () => {});
    ev.unref();
  }

  /** The port stops: the workers leave the pairs alone, the device is reset (it no longer touches the rings), 'down'. */
  private stop(why: string): void {
    this.failed = why;
    if (this.workerOwned) for (const q of this.queues) q.setState(V.VUQ_STATE_STOPPED);
    try { this.dev.transport.reset(); } catch { /* the reason reported is the first one */ }
    this.emit('down', why);
  }

  /**
   * The device signalled a configuration change. With DEVICE_NEEDS_RESET set (2.1.1: it met an
   * error it cannot recover from, e.g. a descriptor it could not reach) the port stops, or with
   * `recover` sets the device up again; otherwise 'config'.
   */
  private configChanged(): void {
    if (this.shut || this.failed !== undefined || this.recovering) return;
    let status: number;
    try { status = this.dev.transport.status(); } catch { return; }
    if ((status & DS.STATUS_DEVICE_NEEDS_RESET) === 0) { this.emit('config'); return; }
    const why = `the device set DEVICE_NEEDS_RESET (device_status 0x${status.toString(16)}, VIRTIO 1.2 2.1.1)`;
    if (this.recover) void this.setUpAgain(why);
    else this.stop(why);
  }

  /**
   * 2.1.2: reset the device (it stops using the rings), let the workers go of the pairs, take
   * every buffer in flight back into the pool, fresh rings, then the whole initialization again
   * (the same features, FEATURES_OK, the queues, DRIVER_OK, the receive buffers). Synchronous
   * without workers (from the event loop: no burst runs meanwhile).
   */
  private async setUpAgain(why: string): Promise<void> {
    this.recovering = true;
    this.log(`${why}: resetting the device and setting it up again`);
    try {
      this.dev.transport.reset();
      if (this.workerOwned) await this.quiesce();
      if (this.shut) return;
      let reclaimed = 0;
      for (const q of this.queues) {
        reclaimed += q.reclaim();
        q.resetRings();
      }
      this.control?.reset();
      const { negotiated } = this.dev.transport.handshake(this.accept);
      if (negotiated !== this.features) {
        throw new Error(`after the reset the device negotiated ${featureNames(negotiated).join(' ')}, not the rings' ${featureNames(this.features).join(' ')}`);
      }
      this.setUpQueues();
      this.resets++;
      this.recovering = false;
      if (this.workerOwned) for (const q of this.queues) q.setState(V.VUQ_STATE_RUNNING);
      this.log(`set up again (reset ${this.resets}; ${reclaimed} buffers taken back into the pool)`);
      this.emit('reset', { reason: why, reclaimed });
    } catch (e) {
      this.recovering = false;
      if (!this.shut) this.stop(`${why}; setting it up again failed: ${(e as Error).message}`);
    }
  }

  /** With workers: stops them touching the pairs, and waits (at most 2 s) until each says so. */
  private async quiesce(): Promise<void> {
    for (const q of this.queues) q.setState(V.VUQ_STATE_STOPPED);
    const deadline = performance.now() + 2_000;
    while (this.queues.some((q) => q.ack !== V.VUQ_STATE_STOPPED && q.ack !== V.VUQ_STATE_FAILED)) {
      if (performance.now() > deadline) throw new Error('a worker did not let go of its queue pairs within 2 s');
      await new Promise((r) => setTimeout(r, 1));
    }
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
    if (!q) return 0;
    try { q.reapTx(); } catch (e) { return this.broke(q, e); }
    return q.tx.driver.inFlight;
  }

  private releaseRings(): void {
    for (const q of this.queues) q.close();
    this.control?.close();
    this.configChange.close();
    this.sharedCall?.close();
    this.request?.close();
  }

  /**
   * Resets the device (it stops touching the rings), takes every buffer in flight back into the
   * pool, and closes the device, its group and container (the DMA mapping and ioeventfds go with
   * it) and the memfd. With workers, stop them first (VirtioUserWorkers.stop).
   */
  close(): void {
    if (this.shut) return;
    this.shut = true;
    if (this.watch) clearInterval(this.watch);
    if (this.workerOwned) for (const q of this.queues) q.setState(V.VUQ_STATE_STOPPED);
    try {
      closeVirtioNetPci(this.dev);
    } finally {
      for (const q of this.queues) q.reclaim();
      this.releaseRings();
      closeFd(this.mem.memfd);
    }
  }
}
