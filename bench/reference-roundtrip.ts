// The reference model's burst round trip (sim/reference), the baseline the engine is compared
// with. Same shape as engineRoundTrip: `batch` one-segment device-readable chains per burst.
import {
  RefSplitDriver, RefSplitDevice, RefPackedDriver, RefPackedDevice, type RefBurst, type RefChain,
  type RefPoppedChain, type RefUsed,
} from '../sim/reference/index.js';
import { createSharedMemory, MemoryPlan, identityRegion } from '../src/index.js';
import { allocRing, type RingLayout } from '../src/virtqueue/factory.js';
import type { RoundTrip } from './roundtrip.js';

interface RefDriver { add(c: readonly RefChain[]): number; kickNeeded(): number; collect(max: number): RefBurst<RefUsed> }
interface RefDevice { pop(maxChains: number, maxSegs: number): RefBurst<RefPoppedChain>; push(u: readonly RefUsed[]): number; interruptNeeded(): number }

export function referenceRoundTrip(layout: RingLayout, queueSize: number, batch: number): RoundTrip {
  const memory = createSharedMemory(16 << 20);
  const plan = new MemoryPlan(memory);
  const areas = allocRing(plan, { layout, queueSize });
  const buffers = plan.alloc(batch * 2048, 4096, 'bench buffers');
  const view = new DataView(memory.buffer);
  const regions = [identityRegion(memory)];
  const split = { ...areas, avail: areas.driver, used: areas.device };
  const driver: RefDriver = layout === 'split'
    ? new RefSplitDriver(view, { ring: split, features: 0n })
    : new RefPackedDriver(view, { ring: areas, features: 0n });
  const device: RefDevice = layout === 'split'
    ? new RefSplitDevice(view, { ring: split, features: 0n, regions })
    : new RefPackedDevice(view, { ring: areas, features: 0n, regions });
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
        device.push(popped.items.map((c) => ({ id: c.id, len: 0 })));
        device.interruptNeeded();
        moved += driver.collect(queueSize).items.length;
      }
      return moved;
    },
  };
}
