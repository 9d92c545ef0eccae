// The reference model's burst round trip (sim/reference), the baseline the engine is compared
// with. Same shape as engineRoundTrip: `batch` one-segment device-readable chains per burst.
import { RefSplitDriver, RefSplitDevice, type RefChain, type RefUsed } from '../sim/reference/index.js';
import { createSharedMemory, MemoryPlan, allocSplitRing, identityRegion } from '../src/index.js';
import type { RoundTrip } from './roundtrip.js';
import type { RingLayout } from '../src/ring.js';

export function referenceRoundTrip(layout: RingLayout, queueSize: number, batch: number): RoundTrip | undefined {
  if (layout !== 'split') return undefined; // the reference model covers the split ring
  const memory = createSharedMemory(16 << 20);
  const plan = new MemoryPlan(memory);
  const ring = allocSplitRing(plan, queueSize);
  const buffers = plan.alloc(batch * 2048, 4096, 'bench buffers');
  const view = new DataView(memory.buffer);
  const driver = new RefSplitDriver(view, { ring, features: 0n });
  const device = new RefSplitDevice(view, { ring, features: 0n, regions: [identityRegion(memory)] });
  const chains: RefChain[] = Array.from({ length: batch }, (_, i) => ({
    id: i, segments: [{ offset: buffers + i * 2048, len: 64, writable: false }],
  }));
  return {
    run(rounds: number): number {
      let moved = 0;
      for (let r = 0; r < rounds; r++) {
        driver.add(chains);
        driver.kickNeeded();
        const popped = device.pop(batch, batch);
        const used: RefUsed[] = popped.items.map((c) => ({ id: c.id, len: 0 }));
        device.push(used);
        device.interruptNeeded();
        moved += driver.collect(queueSize).items.length;
      }
      return moved;
    },
  };
}
