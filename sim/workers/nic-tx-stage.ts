// Task module: the pipeline NIC's transmit stage. Owns the device side of transmitq1: pops
// transmit chains, records their segments in the shared chain table and passes the heads to the
// receive stage over a HandleRing (toRx); takes back the heads the receive stage is done with
// (txDone) and returns those chains used. Kicks (TX) wake it; it interrupts the driver.
import { ChainBatch, UsedBatch } from '../../src/virtqueue/batch.js';
import { HandleBurst, HandleRing } from '../../src/dataplane/handle-ring.js';
import { RingWake } from '../../src/dataplane/handle-ring-wake.js';
import type { Task, TaskContext } from '../../src/dataplane/task.js';
import { NET_HDR_SIZE } from '../frame.js';
import { ChainStore } from '../sglist.js';
import { TX_BIT } from '../queues.js';
import { Signal } from './signal.js';
import { arenaPlan, deviceOf } from './handles.js';
import type { StageConfig } from './config.js';

export interface StageResult { malformed: number; interrupts: number; held: number }

export function createTask(c: StageConfig, ctx: TaskContext): Task {
  const engine = ctx.engine;
  const plan = arenaPlan(engine, c.arena);
  const q = c.queueSize;
  const tx = deviceOf(engine, plan, c.queue);
  const table = new ChainStore(engine, plan, q, c.maxSegs, c.table);
  const toRx = HandleRing.attach(engine, c.toRx);
  const done = HandleRing.attach(engine, c.txDone);
  const toRxWake = new RingWake(ctx.memory, c.toRxWake.addr, c.toRxWake.worker, ctx.ringDoorbell);
  const doneWake = new RingWake(ctx.memory, c.txDoneWake.addr, c.txDoneWake.worker, ctx.ringDoorbell);
  const popped = new ChainBatch(engine, plan, ctx.burst, ctx.burst * c.maxSegs);
  const used = new UsedBatch(engine, plan, q);
  const back = HandleBurst.alloc(engine, plan, q);
  const out = HandleBurst.alloc(engine, plan, ctx.burst);
  const kicks = new Signal(ctx.memory, c.kicks.addr, ctx, c.kicks.worker);
  const irq = new Signal(ctx.memory, c.irq.addr, ctx, c.irq.worker);
  let awake = false;
  let inStage = 0; // chains popped and not returned
  let malformed = 0;
  let interrupts = 0;

  /** Asks for kicks on a drained queue; stays awake if chains arrived meanwhile. */
  const sleepOrPoll = (): void => {
    awake = tx.enableNotify();
    if (awake) tx.disableNotify();
  };
  sleepOrPoll();

  const complete = (): void => {
    if (used.count === 0) return;
    tx.push(used);
    inStage -= used.count;
    used.clear();
    if (tx.interruptNeeded()) { irq.send(TX_BIT); interrupts++; }
  };

  return {
    poll(burst: number): number {
      let work = 0;
      if ((kicks.take() & TX_BIT) !== 0 && !awake) { awake = true; tx.disableNotify(); }
      const m = done.dequeueBurst(back);
      for (let i = 0; i < m; i++) used.push(back.handles[i], 0);
      work += m;
      if (awake) {
        const n = tx.pop(popped, burst);
        if (n === 0) sleepOrPoll();
        inStage += n;
        work += n;
        out.count = 0;
        for (let i = 0; i < n; i++) {
          const head = popped.id(i);
          if (popped.nWrite(i) !== 0 || !table.hold(popped, i) || table.bytes[head] < NET_HDR_SIZE) {
            malformed++;
            used.push(head, 0);
          } else {
            out.handles[out.count++] = head;
          }
        }
        // The ring holds a whole queue, and a head is in it at most once: the enqueue fits.
        if (out.count > 0) {
          if (toRx.enqueueBulk(out) !== out.count) throw new Error('pipeline: the toRx ring is full');
          toRxWake.notify();
        }
      }
      complete();
      return work;
    },
    arm(): boolean {
      // The queue asks for kicks once a pop finds it empty (sleepOrPoll); the txDone ring gets
      // its wake flag here.
      return doneWake.arm(done) && !awake && !kicks.pending;
    },
    disarm: () => doneWake.disarm(),
    stop: (): StageResult => ({ malformed, interrupts, held: inStage }),
  };
}
