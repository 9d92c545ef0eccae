// A Dataplane worker thread (Node-only; runs as dist/src/dataplane/worker-entry.js). It
// instantiates the engine over the shared memory, imports each task's factory module and builds
// its tasks, reports ready, waits for the go, polls until stopped, and posts its tasks' results.
// A failure (while building or polling) is posted with the worker index and the task's name,
// and sets the shared stop flag so the other workers stop too.
import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../engine.js';
import { DataplaneControl, WorkerState } from './control.js';
import { runWorkerLoop, TaskFailure, type LoopTask } from './worker-loop.js';
import type { IdleOptions } from './idle.js';
import type { TaskContext, TaskModule, TaskSpec } from './task.js';
import type { WorkerMessage } from './messages.js';

export interface WorkerData {
  index: number;
  workers: number;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: number;
  burst: number;
  idle: IdleOptions;
  tasks: TaskSpec[];
}

const d = workerData as WorkerData;
const ctl = new DataplaneControl(d.memory, d.control, d.workers);
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);

function fail(task: string, e: unknown, results: unknown[] = []): void {
  ctl.markFailed(d.index);
  ctl.setState(d.index, WorkerState.Failed);
  ctl.requestStop();
  const err = e instanceof Error ? e : new Error(String(e));
  post({ type: 'failed', worker: d.index, task, message: err.message, stack: err.stack ?? '', results });
}

let building = '(engine)';
try {
  const engine = Engine.instantiateSync(d.module, d.memory);
  const ctx: TaskContext = {
    engine, memory: d.memory, worker: d.index, workers: d.workers, burst: d.burst,
    ringDoorbell: (w) => ctl.ringDoorbell(w),
    finish: () => ctl.finish(),
  };
  const tasks: LoopTask[] = [];
  for (const spec of d.tasks) {
    building = spec.name;
    const mod = (await import(spec.module)) as TaskModule;
    if (typeof mod.createTask !== 'function') throw new Error(`${spec.module} has no createTask export`);
    tasks.push({ name: spec.name, task: await mod.createTask(spec.config, ctx) });
  }
  post({ type: 'ready', worker: d.index });
  // Wait for the go (a message, so the main thread needs no shared word for it).
  const go = await new Promise<boolean>((resolve) => parentPort!.once('message', (m: { type: string }) => resolve(m.type === 'go')));
  if (go) {
    try {
      const results = runWorkerLoop(ctl, d.index, tasks, d.burst, d.idle);
      ctl.setState(d.index, WorkerState.Stopped);
      post({ type: 'stopped', worker: d.index, results });
    } catch (e) {
      if (e instanceof TaskFailure) fail(e.task, e.cause, e.results); else fail('(loop)', e);
    }
  } else {
    const results = tasks.map((t) => t.task.stop?.());
    ctl.setState(d.index, WorkerState.Stopped);
    post({ type: 'stopped', worker: d.index, results });
  }
} catch (e) {
  fail(building, e);
}
