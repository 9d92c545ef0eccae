// Feature bits as a 64-bit set (bigint), negotiation between a device's offer and a driver's
// wishes, and the dependencies the spec puts between bits. The negotiated set is written into
// each queue's control block (CB_FEATURES_LO / CB_FEATURES_HI), where the engine reads it.
import * as F from '../assembly/layout/features.js';

export type FeatureSet = bigint;

export const bit = (n: number): FeatureSet => 1n << BigInt(n);

interface FeatureDef {
  bit: number;
  /** Each inner list is a requirement: at least one of its features must be negotiated too. */
  requires?: string[][];
  summary: string;
}

// Reserved (device-independent) feature bits, VIRTIO 1.2 section 6.
const DEVICE_INDEPENDENT: Record<string, FeatureDef> = {
  INDIRECT_DESC: { bit: F.F_INDIRECT_DESC, summary: 'indirect descriptor tables (2.7.5.3, 2.8.7)' },
  EVENT_IDX: { bit: F.F_EVENT_IDX, summary: 'used_event / avail_event notification suppression (2.7.7, 2.7.10, 2.8.10)' },
  VERSION_1: { bit: F.F_VERSION_1, summary: 'compliance with VIRTIO 1.x (not legacy)' },
  ACCESS_PLATFORM: { bit: F.F_ACCESS_PLATFORM, requires: [['VERSION_1']], summary: 'device behind an IOMMU' },
  RING_PACKED: { bit: F.F_RING_PACKED, requires: [['VERSION_1']], summary: 'packed virtqueue layout (2.8)' },
  IN_ORDER: { bit: F.F_IN_ORDER, requires: [['VERSION_1']], summary: 'buffers are used in the order they were made available (2.7.9, 2.8.8)' },
  ORDER_PLATFORM: { bit: F.F_ORDER_PLATFORM, requires: [['VERSION_1']], summary: 'platform memory ordering' },
  SR_IOV: { bit: F.F_SR_IOV, requires: [['VERSION_1']], summary: 'single root I/O virtualization' },
  NOTIFICATION_DATA: { bit: F.F_NOTIFICATION_DATA, requires: [['VERSION_1']], summary: 'extra data in available buffer notifications' },
};

// virtio-net feature bits, VIRTIO 1.2 section 5.1.3, with the dependencies of 5.1.3.1.
const NET: Record<string, FeatureDef> = {
  NET_CSUM: { bit: 0, summary: 'device handles packets with partial checksum' },
  NET_GUEST_CSUM: { bit: 1, summary: 'driver handles packets with partial checksum' },
  NET_CTRL_GUEST_OFFLOADS: { bit: 2, requires: [['NET_CTRL_VQ']], summary: 'control channel offloads reconfiguration' },
  NET_MTU: { bit: 3, summary: 'device reports its maximum MTU' },
  NET_MAC: { bit: 5, summary: 'device has a given MAC address' },
  NET_GUEST_TSO4: { bit: 7, requires: [['NET_GUEST_CSUM']], summary: 'driver can receive TSOv4' },
  NET_GUEST_TSO6: { bit: 8, requires: [['NET_GUEST_CSUM']], summary: 'driver can receive TSOv6' },
  NET_GUEST_ECN: { bit: 9, requires: [['NET_GUEST_TSO4', 'NET_GUEST_TSO6']], summary: 'driver can receive TSO with ECN' },
  NET_GUEST_UFO: { bit: 10, requires: [['NET_GUEST_CSUM']], summary: 'driver can receive UFO' },
  NET_HOST_TSO4: { bit: 11, requires: [['NET_CSUM']], summary: 'device can receive TSOv4' },
  NET_HOST_TSO6: { bit: 12, requires: [['NET_CSUM']], summary: 'device can receive TSOv6' },
  NET_HOST_ECN: { bit: 13, requires: [['NET_HOST_TSO4', 'NET_HOST_TSO6']], summary: 'device can receive TSO with ECN' },
  NET_HOST_UFO: { bit: 14, requires: [['NET_CSUM']], summary: 'device can receive UFO' },
  NET_MRG_RXBUF: { bit: 15, summary: 'driver can merge receive buffers' },
  NET_STATUS: { bit: 16, summary: 'configuration status field is available' },
  NET_CTRL_VQ: { bit: 17, summary: 'control channel is available' },
  NET_CTRL_RX: { bit: 18, requires: [['NET_CTRL_VQ']], summary: 'control channel RX mode support' },
  NET_CTRL_VLAN: { bit: 19, requires: [['NET_CTRL_VQ']], summary: 'control channel VLAN filtering' },
  NET_GUEST_ANNOUNCE: { bit: 21, requires: [['NET_CTRL_VQ']], summary: 'driver can send gratuitous packets' },
  NET_MQ: { bit: 22, requires: [['NET_CTRL_VQ']], summary: 'multiqueue with automatic receive steering' },
  NET_CTRL_MAC_ADDR: { bit: 23, requires: [['NET_CTRL_VQ']], summary: 'set MAC address through the control channel' },
  NET_SPEED_DUPLEX: { bit: 63, summary: 'device reports speed and duplex' },
};

const ALL: Record<string, FeatureDef> = { ...DEVICE_INDEPENDENT, ...NET };
const BY_BIT = new Map<number, string>(Object.entries(ALL).map(([name, d]) => [d.bit, name]));

export type FeatureName = keyof typeof DEVICE_INDEPENDENT | keyof typeof NET;

/** Every known feature as a one-bit set, by name: FEATURES.EVENT_IDX, FEATURES.NET_MRG_RXBUF ... */
export const FEATURES: Readonly<Record<string, FeatureSet>> = Object.freeze(
  Object.fromEntries(Object.entries(ALL).map(([name, d]) => [name, bit(d.bit)])));

/** The ring features the engine itself acts on. */
export const RING_FEATURES = {
  INDIRECT_DESC: bit(F.F_INDIRECT_DESC),
  EVENT_IDX: bit(F.F_EVENT_IDX),
  VERSION_1: bit(F.F_VERSION_1),
  RING_PACKED: bit(F.F_RING_PACKED),
  IN_ORDER: bit(F.F_IN_ORDER),
} as const;

/** The features this project implements and offers by default. */
export const SUPPORTED: FeatureSet = [
  'VERSION_1', 'INDIRECT_DESC', 'EVENT_IDX', 'RING_PACKED', 'IN_ORDER',
  'NET_MAC', 'NET_MTU', 'NET_STATUS', 'NET_MRG_RXBUF', 'NET_MQ', 'NET_CTRL_VQ',
].reduce((s, n) => s | FEATURES[n], 0n);

export const has = (set: FeatureSet, feature: FeatureSet): boolean => (set & feature) === feature;

/** Names of the bits in `set`; unknown bits as BIT_n. */
export function featureNames(set: FeatureSet): string[] {
  const names: string[] = [];
  for (let b = 0; b < 64; b++) {
    if ((set >> BigInt(b)) & 1n) names.push(BY_BIT.get(b) ?? `BIT_${b}`);
  }
  return names;
}

/** A set from names (as featureNames gives them); throws on an unknown name. */
export function featuresFromNames(names: readonly string[]): FeatureSet {
  let set = 0n;
  for (const n of names) {
    const m = /^BIT_(\d+)$/.exec(n);
    if (m && Number(m[1]) < 64) set |= bit(Number(m[1]));
    else if (n in ALL) set |= FEATURES[n];
    else throw new FeatureError(`unknown feature name '${n}'`, []);
  }
  return set;
}

export class FeatureError extends Error {
  readonly problems: string[];
  constructor(message: string, problems: string[]) {
    super(message);
    this.name = 'FeatureError';
    this.problems = problems;
  }
}

/** What is wrong with `set` as a negotiated set: one sentence per missing dependency. */
export function featureProblems(set: FeatureSet): string[] {
  const problems: string[] = [];
  if (set < 0n || set >= 1n << 64n) return [`feature set ${set} is not a 64-bit value`];
  for (const [name, d] of Object.entries(ALL)) {
    if (!has(set, bit(d.bit)) || !d.requires) continue;
    for (const anyOf of d.requires) {
      if (!anyOf.some((r) => has(set, FEATURES[r]))) {
        problems.push(`${name} requires ${anyOf.join(' or ')}`);
      }
    }
  }
  return problems;
}

/**
 * The negotiated set: what the device offers and the driver accepts (3.1.1: the driver accepts
 * only bits the device offered). Throws a FeatureError naming every dependency the result
 * breaks, e.g. RING_PACKED without VERSION_1, or NET_MQ without NET_CTRL_VQ.
 */
export function negotiate(deviceOffer: FeatureSet, driverAccepts: FeatureSet): FeatureSet {
  const result = deviceOffer & driverAccepts;
  const problems = featureProblems(result);
  if (problems.length) {
    throw new FeatureError(`feature negotiation failed: ${problems.join('; ')}`, problems);
  }
  return result;
}

/** Splits a set into the two 32-bit words the control block stores. */
export function featureWords(set: FeatureSet): [lo: number, hi: number] {
  if (set < 0n || set >= 1n << 64n) throw new RangeError(`feature set ${set} is not a 64-bit value`);
  return [Number(set & 0xffffffffn), Number(set >> 32n)];
}
