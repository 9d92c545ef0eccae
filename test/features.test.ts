import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  FEATURES, SUPPORTED, negotiate, featureNames, featuresFromNames, featureProblems, featureWords,
  FeatureError, has,
} from '../src/features.js';

describe('feature negotiation', () => {
  it('takes the intersection of offer and acceptance', () => {
    const offer = FEATURES.VERSION_1 | FEATURES.RING_PACKED | FEATURES.EVENT_IDX | FEATURES.NET_MAC;
    const accept = FEATURES.VERSION_1 | FEATURES.RING_PACKED | FEATURES.INDIRECT_DESC;
    expect(negotiate(offer, accept)).toBe(FEATURES.VERSION_1 | FEATURES.RING_PACKED);
  });

  it('refuses RING_PACKED and IN_ORDER without VERSION_1, naming both', () => {
    const set = FEATURES.RING_PACKED | FEATURES.IN_ORDER;
    try {
      negotiate(set, set);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(FeatureError);
      expect((e as FeatureError).problems).toEqual(['RING_PACKED requires VERSION_1', 'IN_ORDER requires VERSION_1']);
    }
  });

  it('knows the virtio-net dependencies (5.1.3.1)', () => {
    expect(featureProblems(FEATURES.NET_MQ)).toEqual(['NET_MQ requires NET_CTRL_VQ']);
    expect(featureProblems(FEATURES.NET_GUEST_ECN | FEATURES.NET_GUEST_CSUM))
      .toEqual(['NET_GUEST_ECN requires NET_GUEST_TSO4 or NET_GUEST_TSO6']);
    expect(featureProblems(FEATURES.NET_GUEST_ECN | FEATURES.NET_GUEST_TSO6 | FEATURES.NET_GUEST_CSUM)).toEqual([]);
    expect(featureProblems(FEATURES.NET_HOST_TSO4)).toEqual(['NET_HOST_TSO4 requires NET_CSUM']);
  });

  it('what we support by default is self-consistent', () => {
    expect(featureProblems(SUPPORTED)).toEqual([]);
    expect(has(SUPPORTED, FEATURES.RING_PACKED | FEATURES.VERSION_1)).toBe(true);
  });

  it('names round-trip, unknown bits included', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (set) => {
      const bounded = set & ((1n << 64n) - 1n);
      expect(featuresFromNames(featureNames(bounded))).toBe(bounded);
    }), { numRuns: 300 });
    expect(featureNames(FEATURES.EVENT_IDX | (1n << 50n))).toEqual(['EVENT_IDX', 'BIT_50']);
    expect(() => featuresFromNames(['EVENT_IDXX'])).toThrow(/unknown feature name 'EVENT_IDXX'/);
  });

  it('splits sets into control block words and rejects non-64-bit values', () => {
    expect(featureWords(FEATURES.EVENT_IDX | FEATURES.RING_PACKED)).toEqual([1 << 29, 1 << 2]);
    expect(() => featureWords(1n << 64n)).toThrow(/64-bit/);
    expect(() => featureWords(-1n)).toThrow(/64-bit/);
  });

  it('negotiation never grants an unoffered bit (property)', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (offer, accept) => {
      let result: bigint;
      try {
        result = negotiate(offer, accept);
      } catch (e) {
        expect(e).toBeInstanceOf(FeatureError);
        expect(featureProblems(offer & accept).length).toBeGreaterThan(0);
        return;
      }
      expect(result & ~offer).toBe(0n);
      expect(result & ~accept).toBe(0n);
    }), { numRuns: 300 });
  });
});
