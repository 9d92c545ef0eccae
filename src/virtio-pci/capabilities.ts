// Where a modern virtio PCI device keeps its structures: the walk of its PCI capability list to
// the common, notify, ISR and device-specific configuration (VIRTIO 1.2 §4.1.4), and its MSI-X
// capability. Config space is untrusted (a device, or whatever emulates one): the walk is
// bounded (at most as many capabilities as fit in the 192 bytes after the header, each visited
// once, offsets inside config space), ignores what the spec says to ignore (reserved BAR
// numbers, unknown types, later duplicates of a type), and names the rule a missing or
// malformed structure breaks. Reads go through a ConfigSpace, so the same walk runs over VFIO
// (vfio-pci config region) and over a byte array in tests.
import * as L from '../../assembly/layout/virtio-pci.js';

/** PCI config space reads of 1, 2 or 4 bytes, little-endian. */
export interface ConfigSpace {
  read(offset: number, width: 1 | 2 | 4): number;
}

/** One virtio structure: in BAR `bar`, [offset, offset + length). */
export interface VirtioPciStructure {
  bar: number;
  offset: number;
  length: number;
  /** Config space offset of the capability that described it. */
  capOffset: number;
}

export interface VirtioPciLayout {
  common: VirtioPciStructure;
  /** The notify structure; a queue's doorbell is at offset + queue_notify_off * multiplier (4.1.4.4). */
  notify: VirtioPciStructure & { multiplier: number };
  isr: VirtioPciStructure;
  /** The device-specific configuration (a virtio-net's MAC, status, max queue pairs...), when it has one. */
  device?: VirtioPciStructure;
  /** The MSI-X capability: its config offset and table size (vectors). */
  msix?: { capOffset: number; tableSize: number };
}

export class VirtioPciError extends Error {
  constructor(readonly section: string, message: string) {
    super(`${message} (VIRTIO 1.2 ${section})`);
    this.name = 'VirtioPciError';
  }
}

/** Capabilities that fit after the 64-byte header, 4 bytes each at least: the walk's bound. */
const MAX_CAPS = (L.PCI_CONFIG_SIZE - 0x40) / 4;

/**
 * Walks the capability list. `barSizes` (bytes per BAR index, 0 or missing: none) bounds each
 * structure inside its BAR when given.
 */
export function findVirtioStructures(config: ConfigSpace, barSizes?: readonly number[]): VirtioPciLayout {
  if ((config.read(L.PCI_STATUS, 2) & L.PCI_STATUS_CAP_LIST) === 0) {
    throw new VirtioPciError('4.1.4', 'the device has no PCI capability list, so no virtio structures: not a modern virtio PCI device');
  }
  const found = new Map<number, VirtioPciStructure & { multiplier?: number }>();
  let msix: VirtioPciLayout['msix'];
  const seen = new Set<number>();
  let at = config.read(L.PCI_CAPABILITY_LIST, 1) & ~3;
  for (let n = 0; at !== 0; n++) {
    if (n === MAX_CAPS || seen.has(at)) throw new VirtioPciError('4.1.4', `the PCI capability list loops (capability at 0x${at.toString(16)} again)`);
    if (at < 0x40 || at > L.PCI_CONFIG_SIZE - 4) {
      throw new VirtioPciError('4.1.4', `a PCI capability pointer 0x${at.toString(16)} is outside [0x40, 0x${(L.PCI_CONFIG_SIZE - 4).toString(16)}]`);
    }
    seen.add(at);
    const id = config.read(at + L.PCI_CAP_ID, 1);
    if (id === L.PCI_CAP_ID_MSIX && !msix) {
      msix = { capOffset: at, tableSize: (config.read(at + L.PCI_MSIX_FLAGS, 2) & L.PCI_MSIX_FLAGS_QSIZE) + 1 };
    } else if (id === L.PCI_CAP_ID_VNDR && at + L.VIRTIO_PCI_CAP_SIZE <= L.PCI_CONFIG_SIZE) {
      const type = config.read(at + L.VIRTIO_PCI_CAP_CFG_TYPE, 1);
      const bar = config.read(at + L.VIRTIO_PCI_CAP_BAR, 1);
      // 4.1.4.1: reserved BAR values are ignored; the first capability of a type is the one to use.
      if (bar <= L.VIRTIO_PCI_BAR_MAX && !found.has(type)) {
        const s = {
          bar, capOffset: at,
          offset: config.read(at + L.VIRTIO_PCI_CAP_OFFSET, 4) >>> 0,
          length: config.read(at + L.VIRTIO_PCI_CAP_LENGTH, 4) >>> 0,
        };
        if (type === L.VIRTIO_PCI_CAP_NOTIFY_CFG) {
          if (config.read(at + L.VIRTIO_PCI_CAP_LEN, 1) < L.VIRTIO_PCI_NOTIFY_CAP_SIZE || at + L.VIRTIO_PCI_NOTIFY_CAP_SIZE > L.PCI_CONFIG_SIZE) {
            throw new VirtioPciError('4.1.4.4', `the notify capability at 0x${at.toString(16)} is shorter than struct virtio_pci_notify_cap`);
          }
          found.set(type, { ...s, multiplier: config.read(at + L.VIRTIO_PCI_NOTIFY_CAP_MULT, 4) >>> 0 });
        } else {
          found.set(type, s);
        }
      }
    }
    at = config.read(at + L.PCI_CAP_NEXT, 1) & ~3;
  }

  const need = (type: number, name: string, section: string, min: number): VirtioPciStructure => {
    const s = found.get(type);
    if (!s) throw new VirtioPciError(section, `no ${name} capability: not a modern virtio PCI device`);
    if (s.length < min) throw new VirtioPciError(section, `the ${name} structure is ${s.length} bytes, at least ${min} needed`);
    const size = barSizes?.[s.bar];
    if (barSizes && !size) throw new VirtioPciError(section, `the ${name} structure is in BAR ${s.bar}, which the device does not have`);
    if (size !== undefined && s.offset + s.length > size) {
      throw new VirtioPciError(section, `the ${name} structure [0x${s.offset.toString(16)}, +0x${s.length.toString(16)}) runs past BAR ${s.bar} (${size} bytes)`);
    }
    return { bar: s.bar, offset: s.offset, length: s.length, capOffset: s.capOffset };
  };
  const common = need(L.VIRTIO_PCI_CAP_COMMON_CFG, 'common configuration', '4.1.4.3', L.COMMON_CFG_SIZE);
  const notify = need(L.VIRTIO_PCI_CAP_NOTIFY_CFG, 'notification', '4.1.4.4', 2);
  const isr = need(L.VIRTIO_PCI_CAP_ISR_CFG, 'ISR status', '4.1.4.5', 1);
  const device = found.has(L.VIRTIO_PCI_CAP_DEVICE_CFG) ? need(L.VIRTIO_PCI_CAP_DEVICE_CFG, 'device-specific configuration', '4.1.4.6', 1) : undefined;
  const multiplier = found.get(L.VIRTIO_PCI_CAP_NOTIFY_CFG)!.multiplier!;
  if (multiplier !== 0 && (multiplier & (multiplier - 1)) !== 0) {
    // 4.1.4.4: notify_off_multiplier is a power of 2 (an even one), or 0.
    throw new VirtioPciError('4.1.4.4', `notify_off_multiplier ${multiplier} is not a power of 2 (nor 0)`);
  }
  return { common, notify: { ...notify, multiplier }, isr, ...(device ? { device } : {}), ...(msix ? { msix } : {}) };
}
