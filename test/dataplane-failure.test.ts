// A task that throws: the main thread gets a DataplaneError naming the worker, the task and the
// message; the other worker stops cleanly (its task's stop() runs); nothing hangs.
import { beforeAll, describe, expect, it } from 'vitest';
import { Dataplane, DataplaneError } from '../src/dataplane/dataplane.js';
import { dataplaneWorld, helper, requireDist } from './helpers/dataplane-world.js';

beforeAll(requireDist);

describe('a failing task', () => {
  it('reaches the main thread as an Error; the other worker stops', async () => {
    const w = dataplaneWorld(2);
    const dp = await Dataplane.start({
      memory: w.memory, control: w.control, workers: 2, idle: 'adaptive',
      tasks: [w.consumer(0, 1), { name: 'thrower', worker: 1, module: helper('dataplane-throw-task.mjs'), config: { after: 50, message: 'boom at poll 50' } }],
    });
    const err = await dp.finished().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DataplaneError);
    expect(err).toMatchObject({ worker: 1, task: 'thrower', detail: 'boom at poll 50' });
    expect((err as Error).message).toBe('dataplane worker 1, task thrower: boom at poll 50');
    await expect(dp.stop()).rejects.toBe(err);
    const stats = dp.stats();
    expect(stats.map((s) => s.state)).toEqual(['stopped', 'failed']);
    expect(dp.results[0][0]).toMatchObject({ consumed: 0 });
    expect(w.pool.freeCount).toBe(w.pool.size);
  });

  it('a task module that fails to build rejects start()', async () => {
    const w = dataplaneWorld(2);
    const start = Dataplane.start({
      memory: w.memory, control: w.control, workers: 2,
      tasks: [w.consumer(0, 1), { name: 'missing', worker: 1, module: helper('no-such-task.mjs'), config: {} }],
    });
    await expect(start).rejects.toMatchObject({ name: 'DataplaneError', worker: 1, task: 'missing' });
  });
});
