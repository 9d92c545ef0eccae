// Task module: the pipeline NIC's receive stage. Owns the device side of receiveq1: takes
// transmit heads from the tx stage (toRx), copies each frame (segments from the shared chain
// table) into a receive buffer it pops, returns the receive chain used, and hands the transmit
// head back (txDone) for the tx stage to complete. A frame waits for a receive buffer (no drop).
import { ChainBatch, UsedBatch } from '../../src/virtqueue/batch.js';
import { HandleBurst, HandleRing } from '../../src/dataplane/handle-ring.js';
import { RingWake } from '../../src/dataplane/handle-ring-wake.js';
import type { Task, TaskContext } from '../../src/dataplane/task.js';
import { ChainStore, copyBetween } from '../sglist.js';
import { U32Fifo } from '../fifo.js';
import { RX_BIT } from '../queues.js';
import { Signal } from './signal.js';
import { arenaPlan, deviceOf } from './handles.js';
import type { StageConfig } from './config.js';
import type { StageResult } from './nic-tx-stage.js';

export function createTask(c: StageConfig, ctx: TaskContext): Task {
  const engine = ctx.engine;
  const plan = arenaPlan(engine, c.arena);
  const q = c.queueSize;
  const rx = deviceOf(engine, plan, c.queue);
  const table = new ChainStore(engine, plan, q, c.maxSegs, c.table);
  const store = new ChainStore(engine, plan, q, c.maxSegs);
  const fromTx = HandleRing.attach(engine, c.toRx);
  const done = HandleRing.attach(engine, c.txDone);
  const fromTxWake = new RingWake(ctx.memory, c.toRxWake.addr, c.toRxWake.worker, ctx.ringDoorbell);
  const doneWake = new RingWake(ctx.memory, c.txDoneWake.addr, c.txDoneWake.worker, ctx.ringDoorbell);
  const popped = new ChainBatch(engine, plan, ctx.burst, ctx.burst * c.maxSegs);
  const used = new UsedBatch(engine, plan, q);
  const incoming = HandleBurst.alloc(engine, plan, ctx.burst);
  const back = HandleBurst.alloc(engine, plan, q);
  const ready = new U32Fifo(q);
  const held = new U32Fifo(q);
  const kicks = new Signal(ctx.memory, c.kicks.addr, ctx, c.kicks.worker);
  const irq = new Signal(ctx.memory, c.irq.addr, ctx, c.irq.worker);
  let awake = false;
  let malformed = 0;
  let interrupts = 0;

  const sleepOrPoll = (): void => {
    awake = rx.enableNotify();
    if (awake) rx.disableNotify();
  };
  sleepOrPoll();

  /** Pops receive buffers; returns how many usable ones it got. */
  const takeBuffers = (max: number): number => {
    const n = rx.pop(popped, max);
    if (n === 0) { sleepOrPoll(); return 0; }
    let usable = 0;
    for (let i = 0; i < n; i++) {
      const head = popped.id(i);
      if (popped.nRead(i) !== 0 || !store.hold(popped, i)) { malformed++; used.push(head, 0); continue; }
      held.push(head);
      usable++;
    }
    return usable;
  };

  return {
    poll(burst: number): number {
      if ((kicks.take() & RX_BIT) !== 0 && !awake) { awake = true; rx.disableNotify(); }
      const n = fromTx.dequeueBurst(incoming);
      for (let i = 0; i < n; i++) ready.push(incoming.handles[i]);
      let work = n;
      back.count = 0;
      while (ready.count > 0) {
        if (held.count === 0 && (!awake || takeBuffers(Math.min(burst, ready.count)) === 0)) break;
        const txHead = ready.shift();
        const rxHead = held.shift();
        const bytes = table.bytes[txHead];
        if (bytes > store.bytes[rxHead]) {
          malformed++;
          used.push(rxHead, 0);
        } else {
          copyBetween(table, txHead, store, rxHead, bytes);
          used.push(rxHead, bytes);
        }
        back.handles[back.count++] = txHead;
      }
      if (used.count > 0) {
        rx.push(used);
        work += used.count;
        used.clear();
        if (rx.interruptNeeded()) { irq.send(RX_BIT); interrupts++; }
      }
      if (back.count > 0) {
        if (done.enqueueBulk(back) !== back.count) throw new Error('pipeline: the txDone ring is full');
        doneWake.notify();
      }
      return work;
    },
    arm(): boolean {
      // Frames waiting for buffers only wait on a receiveq1 kick (the queue asked for kicks
      // when a pop found it empty); the toRx ring gets its wake flag here.
      return fromTxWake.arm(fromTx) && (ready.count === 0 || !awake) && !kicks.pending;
    },
    disarm: () => fromTxWake.disarm(),
    stop: (): StageResult => ({ malformed, interrupts, held: ready.count + held.count }),
  };
}
