// Options of a simulation on worker threads: the single-thread SimOptions plus the thread
// layout, with the combinations the worker path supports checked here.
import { SimOptionError, resolveSimOptions, type ResolvedSimOptions, type SimOptions } from '../options.js';
import { IDLE_MODES, type IdleMode } from '../../src/dataplane/idle.js';
import { MAX_WORKERS, TOPOLOGIES, type Topology } from './topology.js';

export interface WorkerSimOptions extends SimOptions {
  /** Worker threads (default 2). */
  workers?: number;
  /** Default 'rtc'. */
  topology?: Topology;
  /** Default 'poll'. */
  idle?: IdleMode;
  /** Adaptive idle: empty polls before a worker sleeps (default 256). */
  spinPolls?: number;
  /** Stall bound: no progress for this long fails the run (default 10000 ms). */
  stallMs?: number;
}

export interface ResolvedWorkerSimOptions extends ResolvedSimOptions {
  workers: number;
  topology: Topology;
  idle: IdleMode;
  spinPolls: number;
  stallMs: number;
}

/** An option combination the worker path does not support (reported like a bad option value). */
export function resolveWorkerSimOptions(o: WorkerSimOptions): ResolvedWorkerSimOptions {
  const r = resolveSimOptions(o);
  const topology = o.topology ?? 'rtc';
  const idle = o.idle ?? 'poll';
  const workers = o.workers ?? 2;
  if (!TOPOLOGIES.includes(topology)) throw new SimOptionError('topology' as keyof SimOptions, `must be one of ${TOPOLOGIES.join(', ')}, got ${String(topology)}`);
  if (!IDLE_MODES.includes(idle)) throw new SimOptionError('idle' as keyof SimOptions, `must be one of ${IDLE_MODES.join(', ')}, got ${String(idle)}`);
  const max = MAX_WORKERS[topology];
  if (!Number.isInteger(workers) || workers < 1 || workers > max) {
    throw new SimOptionError('workers' as keyof SimOptions, `must be 1 to ${max} for the ${topology} topology, got ${workers}`);
  }
  if (r.mode !== 'loopback') throw new SimOptionError('mode', `must be loopback on worker threads, got ${r.mode}`);
  if (r.drop !== 0) throw new SimOptionError('drop', 'is not supported on worker threads');
  if (topology === 'pipeline' && (r.latency !== 0 || r.jitter !== 0 || r.outOfOrder)) {
    throw new SimOptionError(r.latency !== 0 ? 'latency' : r.jitter !== 0 ? 'jitter' : 'outOfOrder', 'is not supported by the pipeline topology');
  }
  const spinPolls = o.spinPolls ?? 256;
  if (!Number.isInteger(spinPolls) || spinPolls < 1) throw new SimOptionError('spinPolls' as keyof SimOptions, `must be a whole number from 1, got ${spinPolls}`);
  return { ...r, workers, topology, idle, spinPolls, stallMs: o.stallMs ?? 10_000 };
}
