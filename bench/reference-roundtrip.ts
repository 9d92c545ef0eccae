// The reference model's round trip, for comparison (filled in with sim/reference).
import type { RoundTrip } from './roundtrip.js';
import type { RingLayout } from '../src/ring.js';

export function referenceRoundTrip(_layout: RingLayout, _queueSize: number, _batch: number): RoundTrip | undefined {
  return undefined;
}
