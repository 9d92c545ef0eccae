// The simulator on worker threads (runSimulationOnWorkers): rtc and pipeline, split and packed,
// both idle modes, deliver every frame intact with nothing lost, and at the end every pool
// buffer is free or in flight. Small packet counts; no timing assertions.
import { beforeAll, describe, expect, it } from 'vitest';
import { framesMoved, runSimulationOnWorkers, type WorkerSimResult } from '../sim/workers/run.js';
import type { WorkerStats } from '../src/dataplane/control.js';
import type { WorkerSimOptions } from '../sim/workers/options.js';
import { SimOptionError } from '../sim/options.js';
import { orderChecksumOf } from '../sim/receiver.js';
import { loadEngine } from '../src/node.js';
import { requireDist } from './helpers/dataplane-world.js';

beforeAll(requireDist);

const run = (o: WorkerSimOptions): Promise<WorkerSimResult> => runSimulationOnWorkers({ loadEngine, stallMs: 20_000, ...o });
const inOrder = (n: number): string => orderChecksumOf(Array.from({ length: n }, (_, i) => i)).toString(16).padStart(8, '0');

function expectAllDelivered(r: WorkerSimResult, packets: number): void {
  expect(r).toMatchObject({ packets, delivered: packets, lost: 0, corrupt: 0, duplicate: 0, malformed: 0, finished: true });
  expect(r.buffers.free + r.buffers.inFlight).toBe(r.buffers.size);
  expect(r.mpps).toBeGreaterThan(0);
}

describe('runSimulationOnWorkers', () => {
  it('the stall watch counts frames moved, not polls: busy-polling workers that move nothing make no progress', () => {
    const stats = (polls: number, packets: number): WorkerStats[] => [0, 1].map((worker) => ({
      worker, state: 'running', polls, busyPolls: 0, packets, sleeps: 0, wakeups: 0, armAborts: 0,
    }));
    expect(framesMoved(stats(1_000, 40))).toBe(framesMoved(stats(9_000_000, 40)));
    expect(framesMoved(stats(1_000, 41))).toBeGreaterThan(framesMoved(stats(1_000, 40)));
  });

  for (const ring of ['split', 'packed'] as const) {
    for (const topology of ['rtc', 'pipeline'] as const) {
      it(`${topology}, ${ring}, 2 workers, poll: nothing lost, in order`, async () => {
        const r = await run({ ring, topology, workers: 2, idle: 'poll', packets: 30_000 });
        expectAllDelivered(r, 30_000);
        expect(r.orderChecksum).toBe(inOrder(30_000));
        expect(r).toMatchObject({ ring, topology, workers: 2, idle: 'poll' });
        expect(r.workerStats).toHaveLength(2);
        expect(r.workerStats.every((s) => s.state === 'stopped' && s.polls > 0)).toBe(true);
      });
    }
  }

  it('adaptive idle delivers everything (rtc, event-idx, latency, out of order)', async () => {
    const r = await run({ ring: 'packed', workers: 2, idle: 'adaptive', packets: 20_000, eventIdx: true, latency: 3, outOfOrder: true, spinPolls: 16 });
    expectAllDelivered(r, 20_000);
    expect(r.reordered).toBeGreaterThan(0);
  });

  it('pipeline on 3 workers, adaptive, indirect: nothing lost', async () => {
    const r = await run({ ring: 'split', topology: 'pipeline', workers: 3, idle: 'adaptive', packets: 20_000, indirect: true });
    expectAllDelivered(r, 20_000);
    expect(r.workerStats).toHaveLength(3);
  });

  it('one worker runs every task of either topology', async () => {
    for (const topology of ['rtc', 'pipeline'] as const) {
      const r = await run({ topology, workers: 1, packets: 10_000 });
      expectAllDelivered(r, 10_000);
    }
  });

  it('refuses combinations it does not support', async () => {
    await expect(run({ workers: 3, topology: 'rtc' })).rejects.toBeInstanceOf(SimOptionError);
    await expect(run({ workers: 2, mode: 'sink' })).rejects.toThrow(/mode must be loopback/);
    await expect(run({ workers: 2, topology: 'pipeline', latency: 2 })).rejects.toThrow(/pipeline/);
  });
});
