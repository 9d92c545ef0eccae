// What a Dataplane worker runs (browser-safe types). A task is created inside the worker, by a
// task factory module the worker imports, from a serialisable config: the config carries only
// numbers and strings (addresses in the shared memory, sizes, worker indices), so the same
// description works for a virtqueue driver, a device, or a pipeline stage over HandleRings.
import type { Engine } from '../engine.js';

/** Polled by its worker's loop. */
export interface Task {
  /** Does up to one burst of work; returns how much (0: nothing to do). */
  poll(burst: number): number;
  /**
   * Adaptive idle: called before the worker sleeps on its doorbell. Enable whatever notification
   * will ring the doorbell when work arrives (a device: enableNotify; a driver: enableInterrupts;
   * a ring consumer: its wake flag), then check for work that slipped in. Returns true when the
   * worker may sleep, false when there is work (the worker polls again instead).
   * A task without arm() cannot be woken: its worker sleeps with a short timeout instead.
   */
  arm?(): boolean;
  /** After a sleep (or an aborted one): turn notifications off again, if the task wants. */
  disarm?(): void;
  /** At stop, after the last poll: return or release what the task holds; the result (serialisable) goes to the main thread. */
  stop?(): unknown;
}

/** What a task factory gets besides its config. */
export interface TaskContext {
  /** This worker's engine instance over the shared memory. */
  readonly engine: Engine;
  readonly memory: WebAssembly.Memory;
  /** Index of this worker, and how many there are. */
  readonly worker: number;
  readonly workers: number;
  readonly burst: number;
  /** Rings worker i's doorbell (after publishing work that worker's task asked to be notified of). */
  ringDoorbell(worker: number): void;
  /** Reports that the run's goal is reached (the main thread sees it in Dataplane.done). */
  finish(): void;
}

/** The module a worker imports for a task: `createTask(config, ctx)`. */
export interface TaskModule<C = unknown> {
  createTask(config: C, ctx: TaskContext): Task | Promise<Task>;
}

/** One task to run: where its factory lives, its config, and which worker runs it. */
export interface TaskSpec {
  /** For error messages and results. */
  name: string;
  worker: number;
  /** URL (href) of the plain-JS factory module (a worker imports it). */
  module: string;
  config: unknown;
}
