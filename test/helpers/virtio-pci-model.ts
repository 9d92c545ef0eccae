// A model of a modern virtio-net PCI device for host tests of src/virtio-pci/: its config space
// (a capability list laid out as QEMU's virtio-net-pci lays it: MSI-X, then common, ISR, device
// and notify structures, all in BAR 4) and BAR 4 with the common configuration's behaviour
// (feature select windows, device_status with reset and FEATURES_OK, queue_select and each
// queue's fields, MSI-X vectors, config_generation). Options make it misbehave the ways a device can.
import * as L from '../../assembly/layout/virtio-pci.js';
import * as DS from '../../assembly/layout/device-status.js';
import type { ConfigSpace } from '../../src/virtio-pci/capabilities.js';
import type { BarAccess } from '../../src/virtio-pci/transport.js';

export const MODEL_BAR = 4;
export const MODEL_BAR_SIZE = 0x4000;
/** Where the model's structures are in BAR 4 (QEMU's offsets). */
export const AT = { common: 0x0000, isr: 0x1000, device: 0x2000, notify: 0x3000 } as const;

export interface VirtioCap {
  /** Config space offset of the capability. */
  at: number;
  /** Offset of the next capability (0: the last). */
  next: number;
  cfgType: number;
  bar: number;
  offset: number;
  length: number;
  /** A notify capability's notify_off_multiplier (the capability is then 20 bytes long). */
  multiplier?: number;
}

const le = (b: Uint8Array, at: number, width: number, v: number): void => {
  for (let i = 0; i < width; i++) b[at + i] = (v >>> (8 * i)) & 0xff;
};
const rd = (b: Uint8Array, at: number, width: number): number => {
  let v = 0;
  for (let i = width - 1; i >= 0; i--) v = v * 256 + b[at + i];
  return v;
};

/** Config space bytes: the header (virtio-net ids, capability list) and these capabilities, first at `first`. */
export function configBytes(first: number, caps: VirtioCap[], msix?: { at: number; next: number; tableSize: number }): Uint8Array {
  const c = new Uint8Array(L.PCI_CONFIG_SIZE);
  le(c, L.PCI_VENDOR_ID, 2, L.PCI_VENDOR_ID_VIRTIO);
  le(c, L.PCI_DEVICE_ID, 2, L.PCI_DEVICE_ID_VIRTIO_MODERN_BASE + L.VIRTIO_ID_NET);
  le(c, L.PCI_STATUS, 2, L.PCI_STATUS_CAP_LIST);
  c[L.PCI_CAPABILITY_LIST] = first;
  if (msix) {
    c[msix.at + L.PCI_CAP_ID] = L.PCI_CAP_ID_MSIX;
    c[msix.at + L.PCI_CAP_NEXT] = msix.next;
    le(c, msix.at + L.PCI_MSIX_FLAGS, 2, msix.tableSize - 1);
  }
  for (const k of caps) {
    c[k.at + L.PCI_CAP_ID] = L.PCI_CAP_ID_VNDR;
    c[k.at + L.PCI_CAP_NEXT] = k.next;
    c[k.at + L.VIRTIO_PCI_CAP_LEN] = k.multiplier !== undefined ? L.VIRTIO_PCI_NOTIFY_CAP_SIZE : L.VIRTIO_PCI_CAP_SIZE;
    c[k.at + L.VIRTIO_PCI_CAP_CFG_TYPE] = k.cfgType;
    c[k.at + L.VIRTIO_PCI_CAP_BAR] = k.bar;
    le(c, k.at + L.VIRTIO_PCI_CAP_OFFSET, 4, k.offset);
    le(c, k.at + L.VIRTIO_PCI_CAP_LENGTH, 4, k.length);
    if (k.multiplier !== undefined) le(c, k.at + L.VIRTIO_PCI_NOTIFY_CAP_MULT, 4, k.multiplier);
  }
  return c;
}

/** The virtio capabilities where QEMU 7.2's virtio-net-pci has them (common 0x84, ISR 0x94, device 0xa4, notify 0xb4); its MSI-X one is at 0xdc. */
export const qemuCaps = (): VirtioCap[] => [
  { at: 0x84, next: 0x94, cfgType: L.VIRTIO_PCI_CAP_COMMON_CFG, bar: MODEL_BAR, offset: AT.common, length: 0x1000 },
  { at: 0x94, next: 0xa4, cfgType: L.VIRTIO_PCI_CAP_ISR_CFG, bar: MODEL_BAR, offset: AT.isr, length: 0x1000 },
  { at: 0xa4, next: 0xb4, cfgType: L.VIRTIO_PCI_CAP_DEVICE_CFG, bar: MODEL_BAR, offset: AT.device, length: 0x1000 },
  { at: 0xb4, next: 0, cfgType: L.VIRTIO_PCI_CAP_NOTIFY_CFG, bar: MODEL_BAR, offset: AT.notify, length: 0x1000, multiplier: 4 },
];

export const configSpace = (bytes: Uint8Array): ConfigSpace => ({ read: (o, w) => rd(bytes, o, w) });

export interface ModelOptions {
  /** device_feature's 64 bits. */
  offered: bigint;
  /** FEATURES_OK never reads back (the device refuses the driver's features). */
  refuseFeatures?: boolean;
  /** device_status never returns to 0 after a reset. */
  stuckStatus?: boolean;
  /** config_generation changes on this many device-config reads before it settles. */
  generationChanges?: number;
  /** queue_notify_off of each queue; the queue index when omitted. */
  notifyOff?: (queue: number) => number;
  mac?: number[];
  /** Each queue's maximum size (queue_size before the driver writes it); 256 when omitted; 0: no such queue. */
  queueMax?: number;
  /** MSI-X vectors are refused (they read back VIRTIO_MSI_NO_VECTOR). */
  refuseVectors?: boolean;
}

/** The per-queue fields of the common configuration, queue_size up to queue_reset. */
const QUEUE_FIELDS = [L.COMMON_QUEUE_SIZE, L.COMMON_QUEUE_RESET + 2] as const;

/** BAR 4 of the model: the common configuration's registers behave; the rest is plain memory. */
export class VirtioPciModel implements BarAccess {
  readonly bytes = new Uint8Array(MODEL_BAR_SIZE);
  driverFeatures = 0n;
  private deviceSelect = 0;
  private driverSelect = 0;
  private changes: number;
  readonly writes: { offset: number; width: number; value: number }[] = [];
  /** Each selected queue's copy of the per-queue fields (offsets as in the common configuration). */
  readonly queues = new Map<number, Uint8Array>();

  constructor(readonly o: ModelOptions) {
    this.changes = o.generationChanges ?? 0;
    le(this.bytes, AT.common + L.COMMON_NUM_QUEUES, 2, 3);
    (o.mac ?? [0x52, 0x54, 0, 0x12, 0x34, 0x56]).forEach((b, i) => { this.bytes[AT.device + L.NET_CONFIG_MAC + i] = b; });
  }

  /** The selected queue's fields, created on first use. */
  private queue(): Uint8Array {
    const q = rd(this.bytes, AT.common + L.COMMON_QUEUE_SELECT, 2);
    let f = this.queues.get(q);
    if (!f) {
      f = new Uint8Array(QUEUE_FIELDS[1]);
      le(f, L.COMMON_QUEUE_SIZE, 2, this.o.queueMax ?? 256);
      le(f, L.COMMON_QUEUE_MSIX_VECTOR, 2, L.VIRTIO_MSI_NO_VECTOR);
      this.queues.set(q, f);
    }
    return f;
  }

  /** A queue field's value as the device holds it. */
  queueField(queue: number, field: number, width: 1 | 2 | 4): number {
    return rd(this.queues.get(queue)!, field, width);
  }

  read(offset: number, width: 1 | 2 | 4): number {
    const c = offset - AT.common;
    if (c >= QUEUE_FIELDS[0] && c < QUEUE_FIELDS[1] && c !== L.COMMON_QUEUE_NOTIFY_OFF) return rd(this.queue(), c, width);
    if (c === L.COMMON_DEVICE_FEATURE) return Number((this.o.offered >> BigInt(32 * this.deviceSelect)) & 0xffffffffn);
    if (c === L.COMMON_QUEUE_NOTIFY_OFF) {
      const q = rd(this.bytes, AT.common + L.COMMON_QUEUE_SELECT, 2);
      return this.o.notifyOff ? this.o.notifyOff(q) : q;
    }
    if (offset >= AT.device && offset < AT.device + 0x1000 && this.changes > 0) {
      this.changes--;
      this.bytes[AT.common + L.COMMON_CONFIG_GENERATION]++;
    }
    return rd(this.bytes, offset, width);
  }

  write(offset: number, width: 1 | 2 | 4, value: number): void {
    this.writes.push({ offset, width, value });
    const c = offset - AT.common;
    if (c === L.COMMON_DEVICE_FEATURE_SELECT) this.deviceSelect = value;
    else if (c === L.COMMON_DRIVER_FEATURE_SELECT) this.driverSelect = value;
    else if (c === L.COMMON_DRIVER_FEATURE && this.driverSelect < 2) {
      const shift = BigInt(32 * this.driverSelect);
      this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(value >>> 0) << shift);
    } else if (c >= QUEUE_FIELDS[0] && c < QUEUE_FIELDS[1]) {
      const v = c === L.COMMON_QUEUE_MSIX_VECTOR && this.o.refuseVectors ? L.VIRTIO_MSI_NO_VECTOR : value;
      le(this.queue(), c, width, v);
      return;
    } else if (c === L.COMMON_CONFIG_MSIX_VECTOR && this.o.refuseVectors) {
      le(this.bytes, offset, 2, L.VIRTIO_MSI_NO_VECTOR);
      return;
    } else if (c === L.COMMON_DEVICE_STATUS) {
      if (value === 0) {
        this.driverFeatures = 0n;
        this.queues.clear();
        if (!this.o.stuckStatus) this.bytes[offset] = 0;
        return;
      }
      this.bytes[offset] = this.o.refuseFeatures ? value & ~DS.STATUS_FEATURES_OK : value;
      return;
    }
    le(this.bytes, offset, width, value);
  }
}
