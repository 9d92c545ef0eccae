// Task module: the software NIC (SoftNic, loopback) on a worker, for the run-to-completion
// topology. Kicks come in on its Signal; interrupts go out to the driver's worker.
import type { Task, TaskContext } from '../../src/dataplane/task.js';
import { SoftNic } from '../nic.js';
import { CompletionScheduler } from '../scheduler.js';
import { RX_BIT, TX_BIT } from '../queues.js';
import { Signal } from './signal.js';
import { arenaPlan, deviceOf } from './handles.js';
import type { NicTaskConfig } from './config.js';

export interface NicTaskResult {
  malformed: number;
  dropped: number;
  ticks: number;
  interrupts: number;
  /** Chains the NIC still held at stop (scheduled, waiting for a buffer, or buffers popped). */
  held: number;
}

export function createTask(c: NicTaskConfig, ctx: TaskContext): Task {
  const engine = ctx.engine;
  const plan = arenaPlan(engine, c.arena);
  const tx = deviceOf(engine, plan, c.tx);
  const rx = deviceOf(engine, plan, c.rx);
  const sched = new CompletionScheduler({
    capacity: c.queueSize, latency: c.latency, jitter: c.jitter, outOfOrder: c.outOfOrder, dropProbability: 0, seed: c.seed,
  });
  const nic = new SoftNic(engine, plan, tx, rx, sched, null, {
    mode: 'loopback', queueSize: c.queueSize, burst: c.batch, frameSize: c.frameSize, packets: c.packets, key: c.key, maxSegs: c.maxSegs,
  });
  const kicks = new Signal(ctx.memory, c.kicks.addr, ctx, c.kicks.worker);
  const irq = new Signal(ctx.memory, c.irq.addr, ctx, c.irq.worker);
  let interrupts = 0;

  return {
    poll(): number {
      const before = nic.activity;
      const bits = nic.step(kicks.take());
      if (bits !== 0) { irq.send(bits); interrupts += (bits & TX_BIT ? 1 : 0) + (bits & RX_BIT ? 1 : 0); }
      return nic.activity - before;
    },
    // SoftNic enables notifications (enableNotify, re-checking) on a queue as soon as a pop finds
    // it empty, so arming is checking that it waits on kicks only and none is pending.
    arm: () => nic.quiescent && !kicks.pending,
    stop: (): NicTaskResult => ({ malformed: nic.malformed, dropped: nic.dropped, ticks: nic.ticks, interrupts, held: nic.held }),
  };
}
