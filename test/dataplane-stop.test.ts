// Stopping a simulation on workers mid-run, with traffic in flight: the workers stop cleanly,
// the run reports it did not finish, and every pool buffer is accounted for exactly: free in the
// pool, or in flight on a queue (made available by the driver and not collected).
import { beforeAll, describe, expect, it } from 'vitest';
import { startSimulationOnWorkers } from '../sim/workers/run.js';
import { loadEngine } from '../src/node.js';
import { requireDist } from './helpers/dataplane-world.js';
import { until } from './helpers/within.js';

beforeAll(requireDist);

describe('stop with traffic in flight', () => {
  for (const [topology, idle] of [['rtc', 'poll'], ['pipeline', 'adaptive']] as const) {
    it(`${topology}, ${idle}: every buffer accounted for`, async () => {
      const run = await startSimulationOnWorkers({ loadEngine, topology, idle, workers: 2, packets: 1e9, ring: 'packed' });
      await until(() => run.dataplane.stats()[0].packets > 50_000, 'traffic', 30_000);
      const r = await run.stop();
      expect(r.finished).toBe(false);
      expect(r.delivered).toBeGreaterThan(0);
      expect(r.delivered).toBeLessThan(1e9);
      expect(r.corrupt + r.duplicate).toBe(0);
      expect(r.buffers.inFlight).toBeGreaterThan(0);
      expect(r.buffers.free + r.buffers.inFlight).toBe(r.buffers.size);
      expect(r.workerStats.map((s) => s.state)).toEqual(['stopped', 'stopped']);
    });
  }
});
