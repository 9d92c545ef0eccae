// A simulation on worker threads: the same loopback run as runSimulation (sim/run.ts), with the
// driver and the NIC as Dataplane tasks (topology.ts), and the same result shape plus the
// thread layout, per-worker statistics and the buffer accounting at stop.
import { Dataplane } from '../../src/dataplane/dataplane.js';
import type { WorkerStats } from '../../src/dataplane/control.js';
import type { IdleMode } from '../../src/dataplane/idle.js';
import { SimulationStalledError, type SimResult } from '../run.js';
import { planWorkerSim, type WorkerSimPlan } from './plan.js';
import { resolveWorkerSimOptions, type WorkerSimOptions } from './options.js';
import type { Topology } from './topology.js';
import type { DriverTaskResult } from './driver-task.js';
import type { NicTaskResult } from './nic-task.js';
import type { StageResult } from './nic-tx-stage.js';

export interface BufferAccount {
  /** Buffers in the pool. */
  size: number;
  /** Free in the pool after the stop. */
  free: number;
  /** Chains the driver had made available and not collected, both queues. */
  inFlight: number;
}

export interface WorkerSimResult extends SimResult {
  workers: number;
  topology: Topology;
  idle: IdleMode;
  workerStats: WorkerStats[];
  /** Whether the run reached its end (false: stopped early). */
  finished: boolean;
  /**
   * What stopped the run before its end ('SIGINT', 'SIGTERM', 'error: ...'), null when it reached
   * it. A stopped run's `lost` is 0: the frames it did not deliver were never sent (packets - sent)
   * or were on their way (sent - delivered), not lost.
   */
  stopped: string | null;
  /** Frames the driver transmitted (packets once the run reached its end). */
  sent: number;
  buffers: BufferAccount;
}

/** A running simulation: stop it (early or after `finished`) to get the result. */
export interface WorkerSimRun {
  readonly dataplane: Dataplane;
  /** The shared memory, the packet pool and the queues (for a viewer on the main thread: src/viz/). */
  readonly plan: WorkerSimPlan;
  /** Resolves when every frame has arrived (or once stop() is called); rejects on a worker failure or a stall. */
  finished(): Promise<void>;
  /** Stops the workers; `why` names what stopped a run that had not reached its end (default 'stopped'). */
  stop(why?: string): Promise<WorkerSimResult>;
}

/**
 * What the stall watch counts as progress: the frames the workers' tasks moved. Not their polls:
 * a busy-polling worker (idle 'poll') polls on whether or not anything moves, and counting polls
 * left a stalled run in poll mode running forever.
 */
export function framesMoved(stats: readonly WorkerStats[]): number {
  return stats.reduce((s, w) => s + w.packets, 0);
}

export async function startSimulationOnWorkers(options: WorkerSimOptions): Promise<WorkerSimRun> {
  const o = resolveWorkerSimOptions(options);
  const loadEngine = options.loadEngine;
  if (!loadEngine) throw new TypeError('runSimulationOnWorkers needs options.loadEngine (in Node: loadEngine from src/node.ts)');
  const p = planWorkerSim(o, loadEngine);
  const dp = await Dataplane.start({
    memory: p.memory, control: p.control, workers: o.workers, tasks: p.tasks, burst: o.batch,
    idle: { mode: o.idle, spinPolls: o.spinPolls },
  });
  const started = performance.timeOrigin + performance.now();

  let stopping = false;
  const finished = async (): Promise<void> => {
    let last = -1;
    let since = performance.now();
    const progress = (): number => framesMoved(dp.stats());
    for (;;) {
      if (dp.error) throw dp.error;
      if (dp.done || stopping) return;
      await new Promise((r) => setTimeout(r, 5));
      const now = performance.now();
      const moved = progress();
      if (moved !== last) { last = moved; since = now; }
      else if (now - since > o.stallMs) throw new SimulationStalledError(`simulation on workers stalled: no worker moved for ${o.stallMs} ms`);
    }
  };

  const stop = async (why = 'stopped'): Promise<WorkerSimResult> => {
    stopping = true;
    const results = await dp.stop();
    const byName = new Map<string, unknown>();
    p.tasks.forEach((t) => {
      const k = p.tasks.filter((u) => u.worker === t.worker).indexOf(t);
      byName.set(t.name, results[t.worker][k]);
    });
    const drv = byName.get('driver') as DriverTaskResult;
    const nic = byName.get('nic') as NicTaskResult | undefined;
    const stages = [byName.get('nic tx stage'), byName.get('nic rx stage')].filter(Boolean) as StageResult[];
    const done = drv.finishedAt > 0;
    const seconds = ((done ? drv.finishedAt : performance.timeOrigin + performance.now()) - started) / 1000;
    const moved = done ? o.packets : drv.delivered;
    return {
      ring: o.ring, mode: o.mode, queueSize: o.queueSize, batch: o.batch, seed: o.seed, packets: o.packets,
      delivered: drv.delivered,
      lost: done ? o.packets - drv.delivered : 0,
      dropped: 0,
      corrupt: drv.corrupt,
      duplicate: drv.duplicate,
      reordered: drv.reordered,
      malformed: (nic?.malformed ?? 0) + stages.reduce((s, r) => s + r.malformed, 0),
      orderChecksum: drv.orderChecksum.toString(16).padStart(8, '0'),
      kicks: drv.kicks,
      interrupts: (nic?.interrupts ?? 0) + stages.reduce((s, r) => s + r.interrupts, 0),
      ticks: nic?.ticks ?? 0,
      seconds: Math.round(seconds * 1e4) / 1e4,
      mpps: Math.round((moved / seconds / 1e6) * 1e3) / 1e3,
      frameSize: o.frameSize, segments: o.segments, latency: o.latency, jitter: o.jitter, drop: o.drop,
      outOfOrder: o.outOfOrder, eventIdx: o.eventIdx, indirect: o.indirect, inOrder: o.inOrder,
      workers: o.workers, topology: o.topology, idle: o.idle,
      workerStats: dp.stats(),
      finished: done,
      stopped: done ? null : why,
      sent: drv.sent,
      buffers: { size: p.pool.size, free: p.pool.freeCount, inFlight: drv.txInFlight + drv.rxInFlight },
    };
  };
  return { dataplane: dp, plan: p, finished, stop };
}

/** Runs the simulation to the end on worker threads. */
export async function runSimulationOnWorkers(options: WorkerSimOptions): Promise<WorkerSimResult> {
  const run = await startSimulationOnWorkers(options);
  try {
    await run.finished();
  } catch (e) {
    await run.stop().catch(() => undefined);
    throw e;
  }
  return run.stop();
}
