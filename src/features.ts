// Feature bits as a 64-bit set. The negotiated set is written into each queue's control block,
// where the engine reads it (CB_FEATURES_LO / CB_FEATURES_HI).
import * as F from '../assembly/layout/features.js';

export type FeatureSet = bigint;

export const bit = (n: number): FeatureSet => 1n << BigInt(n);

/** The ring features the split engine acts on. */
export const RING_FEATURES = {
  INDIRECT_DESC: bit(F.F_INDIRECT_DESC),
  EVENT_IDX: bit(F.F_EVENT_IDX),
  VERSION_1: bit(F.F_VERSION_1),
  RING_PACKED: bit(F.F_RING_PACKED),
  IN_ORDER: bit(F.F_IN_ORDER),
} as const;

export const has = (set: FeatureSet, feature: FeatureSet): boolean => (set & feature) === feature;

/** Splits a set into the two 32-bit words the control block stores. */
export function featureWords(set: FeatureSet): [lo: number, hi: number] {
  if (set < 0n || set >= 1n << 64n) throw new RangeError(`feature set ${set} is not a 64-bit value`);
  return [Number(set & 0xffffffffn), Number(set >> 32n)];
}
