// Dataplane idle modes on real worker threads, with a slow producer on the main thread: a
// consumer task gets every handle in both modes, and in adaptive mode its worker really sleeps
// on its doorbell and is woken by the producer's notify (the ring's wake flag).
import { beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../src/dataplane/dataplane.js';
import { RingWake } from '../src/dataplane/handle-ring-wake.js';
import { HandleBurst } from '../src/dataplane/handle-ring.js';
import type { IdleMode } from '../src/dataplane/idle.js';
import { dataplaneWorld, requireDist } from './helpers/dataplane-world.js';
import { sleep } from './helpers/within.js';

beforeAll(requireDist);

const ROUNDS = 12;
const PER_ROUND = 4;

async function slowProducer(idle: IdleMode) {
  const w = dataplaneWorld(1);
  const dp = await Dataplane.start({ memory: w.memory, control: w.control, workers: 1, tasks: [w.consumer(0, ROUNDS * PER_ROUND)], idle: { mode: idle, spinPolls: 64 } });
  const wake = new RingWake(w.memory, w.wake, 0, (i) => dp.ringDoorbell(i));
  const cache = w.pool.cache(0);
  const burst = HandleBurst.alloc(w.engine, w.plan, PER_ROUND);
  try {
    for (let r = 0; r < ROUNDS; r++) {
      await sleep(15); // slow: the consumer runs dry between rounds
      expect(cache.get(burst, PER_ROUND)).toBe(PER_ROUND);
      expect(w.ring.enqueueBulk(burst)).toBe(PER_ROUND);
      wake.notify();
    }
    await dp.finished();
  } finally {
    await dp.stop().catch(() => undefined);
  }
  return { w, dp, results: dp.results, stats: dp.stats()[0] };
}

describe('idle modes under a slow producer', () => {
  it('adaptive: delivers everything, sleeps and is woken by the producer', async () => {
    const { w, results, stats } = await slowProducer('adaptive');
    expect(results[0][0]).toMatchObject({ consumed: ROUNDS * PER_ROUND });
    expect(stats.state).toBe('stopped');
    expect(stats.sleeps).toBeGreaterThan(0);
    expect(stats.wakeups).toBeGreaterThan(0);
    expect(stats.packets).toBe(ROUNDS * PER_ROUND);
    expect(w.pool.freeCount).toBe(w.pool.size); // every buffer came back
  });

  it('poll: delivers everything and never sleeps', async () => {
    const { w, results, stats } = await slowProducer('poll');
    expect(results[0][0]).toMatchObject({ consumed: ROUNDS * PER_ROUND });
    expect(stats.sleeps).toBe(0);
    expect(stats.wakeups).toBe(0);
    expect(stats.polls).toBeGreaterThan(stats.busyPolls);
    expect(w.pool.freeCount).toBe(w.pool.size);
  });
});
