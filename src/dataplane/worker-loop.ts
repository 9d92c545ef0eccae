// The polling loop of one Dataplane worker (browser-safe: no Node imports; it uses Atomics.wait,
// so it runs in a worker, never on a browser's main thread).
import { DataplaneControl, WorkerState } from './control.js';
import { DEFAULT_SPIN_POLLS, UNARMED_SLEEP_MS, type IdleOptions } from './idle.js';
import type { Task } from './task.js';

/** An exception thrown by a task, with the task's name. */
export class TaskFailure extends Error {
  /** stop() results of the worker's other tasks (undefined for the one that failed). */
  results: unknown[] = [];
  constructor(readonly task: string, override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'TaskFailure';
  }
}

/** Polls between two reads of the stop flag (a power of two): a stop is seen within that many. */
const STOP_CHECK_EVERY = 16;

/** Counters are published to shared memory every this many polls (and at every state change). */
const PUBLISH_EVERY = 1024;

export interface LoopTask {
  name: string;
  task: Task;
}

/**
 * Polls `tasks` until the stop flag is set; then calls each task's stop() and returns the
 * results, in order. Throws a TaskFailure if a task throws (its stop() is not called; the other
 * tasks' are, so they release what they hold).
 */
export function runWorkerLoop(ctl: DataplaneControl, index: number, tasks: readonly LoopTask[], burst: number, idle: IdleOptions): unknown[] {
  const c = [0, 0, 0, 0, 0, 0]; // polls, busyPolls, packets, sleeps, wakeups, armAborts
  const spin = idle.spinPolls ?? DEFAULT_SPIN_POLLS;
  const adaptive = idle.mode === 'adaptive';
  const i32 = ctl.i32;
  const doorbell = ctl.doorbell(index);
  const n = tasks.length;
  let current = 0;
  let empty = 0;

  const sleep = (): void => {
    // [A18] consume the doorbell (pairs with [R18] in DataplaneControl.ringDoorbell), before
    // arming: a producer that publishes work after our arm() checked for it rings the doorbell
    // (Atomics.add) afterwards, so the wait below sees a value other than `seq` and returns at
    // once: no wakeup is lost between the check and the wait.
    const seq = Atomics.load(i32, doorbell);
    let armed = 0;
    let wakeable = true;
    for (; armed < n; armed++) {
      current = armed;
      const t = tasks[armed].task;
      if (!t.arm) { wakeable = false; continue; }
      if (!t.arm()) break;
    }
    if (armed === n && !ctl.stopping) {
      c[3]++;
      ctl.setState(index, WorkerState.Sleeping);
      ctl.publish(index, c);
      // [A18] as above: pairs with [R18] in DataplaneControl.ringDoorbell (Atomics.add then
      // Atomics.notify on this word).
      const r = Atomics.wait(i32, doorbell, seq, wakeable ? Infinity : UNARMED_SLEEP_MS);
      if (r === 'ok') c[4]++;
      ctl.setState(index, WorkerState.Running);
    } else if (armed < n) {
      c[5]++;
    }
    for (let k = 0; k < Math.min(armed + 1, n); k++) { current = k; tasks[k].task.disarm?.(); }
  };

  try {
    ctl.setState(index, WorkerState.Running);
    for (;;) {
      // The stop flag is an Atomics load: every STOP_CHECK_EVERY polls, and before a sleep.
      if ((c[0] & (STOP_CHECK_EVERY - 1)) === 0 && ctl.stopping) break;
      let work = 0;
      for (current = 0; current < n; current++) work += tasks[current].task.poll(burst);
      c[0]++;
      if (work > 0) { c[1]++; c[2] += work; empty = 0; }
      else if (adaptive && ++empty >= spin) {
        empty = 0;
        if (ctl.stopping) break;
        sleep();
      }
      if (c[0] % PUBLISH_EVERY === 0) ctl.publish(index, c);
    }
    const results: unknown[] = [];
    for (current = 0; current < n; current++) results.push(tasks[current].task.stop?.());
    return results;
  } catch (e) {
    const failed = Math.min(current, n - 1);
    const f = new TaskFailure(tasks[failed]?.name ?? '?', e);
    // The worker's other tasks still release what they hold (best effort).
    f.results = tasks.map((t, k) => {
      if (k === failed) return undefined;
      try { return t.task.stop?.(); } catch { return undefined; }
    });
    throw f;
  } finally {
    ctl.publish(index, c);
  }
}
