// The shared control area of a Dataplane (browser-safe): global words the main thread and every
// worker read, and one block per worker with its doorbell and its statistics. Everything is in
// the one shared memory, so the main thread reads any worker's state and counters at any time
// without stopping it (each value is read whole; together they are a snapshot).
//
//   global line (64 bytes)
//     +0  stop      0 run, 1 stop: the main thread (or a failing worker) sets it, every worker
//                   checks it between polls
//     +4  done      set by a task through ctx.finish() (e.g. "every packet arrived")
//     +8  failed    index + 1 of the first worker that failed (0: none)
//   per worker i, at WORKERS + i * WORKER_STRIDE (two cache lines, so the doorbell that peers
//   write does not share a line with the counters the worker writes)
//     +0  doorbell  Int32 sequence word: producers add 1 and notify; the worker waits on it
//     +64 state     WorkerState
//     +72 polls, busyPolls, packets, sleeps, wakeups, armAborts   u64 each
import type { MemoryPlan } from '../memory.js';

export const CTL_STOP = 0;
export const CTL_DONE = 4;
export const CTL_FAILED = 8;
export const CTL_WORKERS = 64;
export const WORKER_STRIDE = 128;
export const W_DOORBELL = 0;
export const W_STATE = 64;
export const W_COUNTERS = 72;
export const COUNTER_NAMES = ['polls', 'busyPolls', 'packets', 'sleeps', 'wakeups', 'armAborts'] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export enum WorkerState { Starting = 0, Running = 1, Sleeping = 2, Stopped = 3, Failed = 4 }
const STATE_NAMES = ['starting', 'running', 'sleeping', 'stopped', 'failed'] as const;
export type WorkerStateName = (typeof STATE_NAMES)[number];

export interface WorkerStats {
  worker: number;
  state: WorkerStateName;
  /** Passes over the worker's tasks. */
  polls: number;
  /** Passes in which some task did work. */
  busyPolls: number;
  /** Work the tasks reported (for packet tasks: packets moved). */
  packets: number;
  /** Times the worker went to sleep on its doorbell (adaptive idle). */
  sleeps: number;
  /** Sleeps ended by a producer's notify (not by a doorbell rung before the wait began). */
  wakeups: number;
  /** Sleeps called off because a task found work while arming its notifications. */
  armAborts: number;
}

export const controlBytes = (workers: number): number => CTL_WORKERS + workers * WORKER_STRIDE;

/** Typed access to a control area (one per thread; all views over the same memory). */
export class DataplaneControl {
  readonly addr: number;
  readonly workers: number;
  readonly i32: Int32Array;
  private readonly u64: BigUint64Array;

  constructor(memory: WebAssembly.Memory, addr: number, workers: number) {
    if (addr % 64 !== 0) throw new RangeError(`control area must be 64-byte aligned, got ${addr}`);
    this.addr = addr;
    this.workers = workers;
    this.i32 = new Int32Array(memory.buffer);
    this.u64 = new BigUint64Array(memory.buffer);
  }

  /** Plans a zeroed control area for `workers` workers. */
  static create(plan: MemoryPlan, workers: number): DataplaneControl {
    return new DataplaneControl(plan.memory, plan.alloc(controlBytes(workers), 64, 'dataplane control'), workers);
  }

  /** Zeroes the area (before a new Dataplane starts on it: no worker may be running). */
  reset(): void {
    this.i32.fill(0, this.addr >>> 2, (this.addr + controlBytes(this.workers)) >>> 2);
  }

  /** Int32 index of a global word. */
  word(field: number): number { return (this.addr + field) >>> 2; }
  /** Int32 index of worker i's doorbell. */
  doorbell(i: number): number { return (this.addr + CTL_WORKERS + i * WORKER_STRIDE + W_DOORBELL) >>> 2; }
  private stateIdx(i: number): number { return (this.addr + CTL_WORKERS + i * WORKER_STRIDE + W_STATE) >>> 2; }
  private counterIdx(i: number, c: number): number { return (this.addr + CTL_WORKERS + i * WORKER_STRIDE + W_COUNTERS + 8 * c) >>> 3; }

  get stopping(): boolean {
    // [A17] consume the stop flag; pairs with [R17] in requestStop: once seen, the worker stops
    // after this poll.
    return Atomics.load(this.i32, this.word(CTL_STOP)) !== 0;
  }

  /** Asks every worker to stop and wakes the sleeping ones. */
  requestStop(): void {
    // [R17] publish the stop flag; pairs with [A17] in `stopping`. It comes before the [R18]
    // doorbell adds: a worker that read its doorbell before the add does not sleep (the wait
    // sees a new value); one that read it after sees stop = 1.
    Atomics.store(this.i32, this.word(CTL_STOP), 1);
    for (let i = 0; i < this.workers; i++) this.ringDoorbell(i);
  }

  /** Rings worker i's doorbell. */
  ringDoorbell(i: number): void {
    const at = this.doorbell(i);
    // [R18] publish a doorbell ring (the work, or the stop flag, stored before it goes with it);
    // pairs with [A18], the worker's Atomics.load of the doorbell before arming and its Atomics.wait.
    Atomics.add(this.i32, at, 1);
    Atomics.notify(this.i32, at);
  }

  /** Records that the run's goal was reached (ctx.finish()); the main thread polls `done`. */
  finish(): void {
    Atomics.store(this.i32, this.word(CTL_DONE), 1); // [R19] publish done; pairs with [A19] in `done`
  }

  get done(): boolean {
    return Atomics.load(this.i32, this.word(CTL_DONE)) !== 0; // [A19] consume done; pairs with [R19] in finish
  }

  /** Records worker i as the first failure (later ones keep the first). */
  markFailed(i: number): void {
    // [R20] publish the failed worker; pairs with [A20] in `failedWorker`. compareExchange: only
    // the first failing worker is recorded.
    Atomics.compareExchange(this.i32, this.word(CTL_FAILED), 0, i + 1);
  }

  get failedWorker(): number {
    return Atomics.load(this.i32, this.word(CTL_FAILED)) - 1; // [A20] consume; pairs with [R20] in markFailed
  }

  setState(i: number, s: WorkerState): void {
    Atomics.store(this.i32, this.stateIdx(i), s); // [R21] publish the state; pairs with [A21] in stats()
  }

  /** Publishes worker i's counters (the worker keeps them in locals and calls this now and then). */
  publish(i: number, counters: readonly number[]): void {
    // [R22] publish the counters; pairs with [A22] in stats(). Each store is atomic, so a reader
    // never sees a torn 64-bit value.
    for (let c = 0; c < COUNTER_NAMES.length; c++) Atomics.store(this.u64, this.counterIdx(i, c), BigInt(counters[c]));
  }

  /** Worker i's state and last published counters, read without stopping it. */
  stats(i: number): WorkerStats {
    // [A21] consume the state (pairs with [R21] in setState), [A22] the counters (pairs with
    // [R22] in publish): a snapshot, each word whole.
    const s: Record<string, number | string> = { worker: i, state: STATE_NAMES[Atomics.load(this.i32, this.stateIdx(i))] ?? 'failed' };
    COUNTER_NAMES.forEach((name, c) => { s[name] = Number(Atomics.load(this.u64, this.counterIdx(i, c))); });
    return s as unknown as WorkerStats;
  }
}
