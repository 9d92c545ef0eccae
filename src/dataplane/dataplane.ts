// Dataplane (Node-only): N worker threads over one shared memory, each instantiating the engine
// and polling the tasks assigned to it (worker-loop.ts), with a shared control area
// (control.ts) for stop, doorbells and per-worker statistics.
//
//   const dp = await Dataplane.start({ memory, control, workers: 2, tasks, idle: 'adaptive' });
//   ... dp.stats() at any time; await dp.finished() for a task's ctx.finish() ...
//   const results = await dp.stop();   // results[worker][task]: each task's stop() result
//
// A task that throws stops the run: its worker posts the failure and sets the stop flag, the
// other workers finish their current poll, stop their tasks and exit, and stop() (or
// finished()) rejects with a DataplaneError naming the worker, the task and the message.
import { Worker } from 'node:worker_threads';
import { engineModule } from '../node.js';
import { builtModule } from './built.js';
import { DataplaneControl, type WorkerStats } from './control.js';
import { IDLE_MODES, type IdleMode, type IdleOptions } from './idle.js';
import type { TaskSpec } from './task.js';
import type { WorkerMessage } from './messages.js';
import type { WorkerData } from './worker-entry.js';

export interface DataplaneOptions {
  memory: WebAssembly.Memory;
  /** Planned with DataplaneControl.create(plan, workers). */
  control: DataplaneControl;
  workers: number;
  tasks: TaskSpec[];
  /** Passed to every poll (default 32). */
  burst?: number;
  /** Default 'poll'. */
  idle?: IdleMode | IdleOptions;
  /** The engine (default: build/virtqueue.wasm). */
  module?: WebAssembly.Module;
}

/** A worker's failure, as the main thread sees it. */
export class DataplaneError extends Error {
  constructor(readonly worker: number, readonly task: string, readonly detail: string, readonly workerStack = '') {
    super(`dataplane worker ${worker}, task ${task}: ${detail}`);
    this.name = 'DataplaneError';
  }
}

interface WorkerRecord {
  thread: Worker;
  results?: unknown[];
  exited: Promise<number>;
}

export class Dataplane {
  readonly control: DataplaneControl;
  readonly workers: number;
  private readonly records: WorkerRecord[];
  private failure: DataplaneError | undefined;
  private readonly failed: Promise<DataplaneError>;

  private constructor(control: DataplaneControl, records: WorkerRecord[], failed: Promise<DataplaneError>) {
    this.control = control;
    this.workers = records.length;
    this.records = records;
    this.failed = failed;
    void failed.then((e) => { this.failure = e; });
  }

  /** Starts the workers, waits until every one has built its tasks, and lets them go. */
  static async start(o: DataplaneOptions): Promise<Dataplane> {
    const workers = o.workers;
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a whole number from 1, got ${workers}`);
    if (o.control.workers !== workers) throw new RangeError(`control area is for ${o.control.workers} workers, not ${workers}`);
    for (const t of o.tasks) {
      if (!Number.isInteger(t.worker) || t.worker < 0 || t.worker >= workers) throw new RangeError(`task ${t.name}: no worker ${t.worker}`);
    }
    const idle: IdleOptions = typeof o.idle === 'string' || o.idle === undefined ? { mode: o.idle ?? 'poll' } : o.idle;
    if (!IDLE_MODES.includes(idle.mode)) throw new RangeError(`idle must be one of ${IDLE_MODES.join(', ')}, got ${String(idle.mode)}`);
    const burst = o.burst ?? 32;
    const entry = new URL(builtModule('src/dataplane/worker-entry.js'));
    const module = o.module ?? engineModule();

    let reportFailure!: (e: DataplaneError) => void;
    const failed = new Promise<DataplaneError>((r) => { reportFailure = r; });
    let first: DataplaneError | undefined;
    const onFailure = (e: DataplaneError): void => {
      if (first) return;
      first = e;
      o.control.requestStop();
      reportFailure(e);
    };
    const ready: Promise<void>[] = [];
    const records: WorkerRecord[] = [];
    for (let i = 0; i < workers; i++) {
      const data: WorkerData = {
        index: i, workers, module, memory: o.memory, control: o.control.addr, burst, idle,
        tasks: o.tasks.filter((t) => t.worker === i),
      };
      const thread = new Worker(entry, { workerData: data });
      const rec: WorkerRecord = { thread, exited: new Promise((r) => thread.once('exit', r)) };
      ready.push(new Promise<void>((resolve) => {
        thread.on('message', (m: WorkerMessage) => {
          if (m.type === 'ready') resolve();
          else if (m.type === 'stopped') rec.results = m.results;
          else if (m.type === 'failed') { rec.results = m.results; onFailure(new DataplaneError(m.worker, m.task, m.message, m.stack)); }
        });
        thread.on('error', (e) => onFailure(new DataplaneError(i, '(thread)', e.message, e.stack)));
        void rec.exited.then((code) => {
          if (rec.results === undefined) onFailure(new DataplaneError(i, '(thread)', `exited with code ${code} before reporting`));
          resolve(); // a worker that died is not waited for
        });
      }));
      records.push(rec);
    }
    const dp = new Dataplane(o.control, records, failed);
    await Promise.race([Promise.all(ready), failed]);
    if (first) {
      for (const r of records) r.thread.postMessage({ type: 'cancel' });
      await Promise.all(records.map((r) => r.exited));
      throw first;
    }
    for (const r of records) r.thread.postMessage({ type: 'go' });
    return dp;
  }

  /** Every worker's state and counters, read from shared memory while they run. */
  stats(): WorkerStats[] {
    return Array.from({ length: this.workers }, (_, i) => this.control.stats(i));
  }

  /** Whether a task called ctx.finish(). */
  get done(): boolean {
    return this.control.done;
  }

  /** The first worker failure so far, if any. */
  get error(): DataplaneError | undefined {
    return this.failure;
  }

  /** Rings worker i's doorbell (for a producer on the main thread). */
  ringDoorbell(worker: number): void {
    this.control.ringDoorbell(worker);
  }

  /**
   * Resolves with the first worker failure, if one ever happens (a pending promise keeps
   * nothing alive: a long-running owner can wait on it for the life of the Dataplane).
   */
  whenFailed(): Promise<DataplaneError> {
    return this.failed;
  }

  /** Resolves when a task calls ctx.finish(); rejects with the DataplaneError if a worker fails first. */
  async finished(checkEveryMs = 5): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.control.done) return;
      const e = await Promise.race([this.failed, new Promise<undefined>((r) => setTimeout(r, checkEveryMs))]);
      if (e) throw e;
    }
  }

  /**
   * Stops every worker (each finishes its current poll and calls its tasks' stop()), waits for
   * them to exit, and returns results[worker][task]. Rejects with the DataplaneError if a worker
   * failed (after the others stopped); the stop results stay readable in `results`.
   */
  async stop(): Promise<unknown[][]> {
    this.control.requestStop();
    await Promise.all(this.records.map((r) => r.exited));
    // An exit may be reported before the failure's message event: give events a turn.
    await new Promise((r) => setImmediate(r));
    if (this.failure) throw this.failure;
    return this.results;
  }

  /** Each worker's task results (stop() results; for a failed worker, its other tasks'). */
  get results(): unknown[][] {
    return this.records.map((r) => r.results ?? []);
  }
}
