// `virtqueue sim --viz PORT`: the simulation on worker threads (the main thread stays free to
// serve), with the live stream reading both queues and the packet pool from the shared memory.
// The workers publish their control blocks in the plan's directory (src/viz/directory.ts) as they
// build their handles; until then a frame shows the rings without them.
import { startSimulationOnWorkers, type WorkerSimRun } from '../../sim/workers/run.js';
import { loadEngine } from '../../src/node.js';
import type { QueueSource } from '../../src/viz/snapshot.js';
import { captureImage } from '../../src/viz/ring-image.js';
import { snapshotPool } from '../../src/viz/pool-snapshot.js';
import { readControlBlocks } from '../../src/viz/directory.js';
import { LIVE_RATE_HZ } from '../../src/viz/stream.js';
import type { CliIO } from '../common.js';
import type { SimCommand, Threads } from '../sim/args.js';
import { runUntilStopped, type WorkerSimOutcome } from '../sim/until-stopped.js';
import { serveLive } from './serve.js';
import type { FrameSample } from './live-stream.js';

/** The frame sampler of a running simulation (also what bench/viz.bench.ts runs). */
export function simSampler(run: WorkerSimRun): () => FrameSample {
  const engine = loadEngine(run.plan.memory);
  const pools = [{ name: 'packet pool', addr: run.plan.pool.addr }];
  const queues = (): QueueSource[] => run.plan.queues.map((q) => ({
    name: q.name, layout: q.ref.layout, areas: q.ref.areas, ...readControlBlocks(engine.u32, q.ref.directory),
  }));
  return () => {
    const workers = run.dataplane.stats();
    return {
      image: captureImage(engine, queues(), pools.map((p) => snapshotPool(engine, p))),
      workers,
      counters: { moved: workers.reduce((s, w) => s + w.packets, 0) },
    };
  };
}

/** Runs the simulation with the page served on `port` until it finishes or a signal stops it. */
export async function runSimLive(cmd: SimCommand, threads: Threads, port: number, io: CliIO): Promise<WorkerSimOutcome> {
  const run = await startSimulationOnWorkers({ ...cmd.options, ...threads, loadEngine });
  let live;
  try {
    live = await serveLive(port, {
      version: 1, source: 'sim', rateHz: cmd.vizRate ?? LIVE_RATE_HZ, options: { ...cmd.options, ...threads },
    }, simSampler(run), io);
  } catch (e) {
    await run.stop().catch(() => undefined);
    throw e;
  }
  const out = await runUntilStopped(run);
  await live.finish({ reason: out.reason, summary: out.result });
  return out;
}
