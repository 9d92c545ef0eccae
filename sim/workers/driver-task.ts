// Task module: the simulator's net driver (NetDriver) on a worker. Kicks go out as Signals to
// the NIC task(s); interrupts come in on this worker's Signal. It finishes the run (ctx.finish)
// once every frame was sent, every transmit chain came back and every receive chain arrived.
// At stop it returns its stashed buffers to the shared pool and reports what is still in flight,
// so that pool free + in flight = pool size.
import { Mempool } from '../../src/dataplane/mempool.js';
import type { Task, TaskContext } from '../../src/dataplane/task.js';
import { NetDriver } from '../netdriver.js';
import { Receiver } from '../receiver.js';
import { RX_BIT, TX_BIT } from '../queues.js';
import { MempoolBuffers } from './mempool-buffers.js';
import { Signal } from './signal.js';
import { arenaPlan, driverOf } from './handles.js';
import type { DriverTaskConfig } from './config.js';

export interface DriverTaskResult {
  sent: number;
  delivered: number;
  corrupt: number;
  duplicate: number;
  reordered: number;
  orderChecksum: number;
  kicks: number;
  /** performance.timeOrigin + performance.now() when the last frame arrived (0: not finished). */
  finishedAt: number;
  txInFlight: number;
  rxInFlight: number;
}

export function createTask(c: DriverTaskConfig, ctx: TaskContext): Task {
  const engine = ctx.engine;
  const plan = arenaPlan(engine, c.arena);
  const tx = driverOf(engine, plan, c.tx);
  const rx = driverOf(engine, plan, c.rx);
  const buffers = new MempoolBuffers(Mempool.attach(engine, c.pool), 0, plan.alloc(c.poolBurst * 4, 64, 'pool burst'), c.poolBurst);
  const receiver = new Receiver(engine.u8, engine.u32, c.packets, c.frameSize, c.key);
  const driver = new NetDriver(engine, plan, tx, rx, buffers, receiver, {
    queueSize: c.queueSize, batch: c.batch, frameSize: c.frameSize, segments: c.segments, descsPerChain: c.descsPerChain,
    packets: c.packets, key: c.key, receive: true,
  });
  const kickTx = new Signal(ctx.memory, c.kickTx.addr, ctx, c.kickTx.worker);
  const kickRx = new Signal(ctx.memory, c.kickRx.addr, ctx, c.kickRx.worker);
  const irq = new Signal(ctx.memory, c.irq.addr, ctx, c.irq.worker);
  let kicks = 0;
  let finishedAt = 0;

  return {
    poll(): number {
      const before = driver.moved;
      const k = driver.step(irq.take());
      if (k & TX_BIT) { kickTx.send(TX_BIT); kicks++; }
      if (k & RX_BIT) { kickRx.send(RX_BIT); kicks++; }
      if (finishedAt === 0 && driver.rxCollected === c.packets && driver.transmitDone) {
        finishedAt = performance.timeOrigin + performance.now();
        ctx.finish();
      }
      return driver.moved - before;
    },
    // NetDriver re-enables interrupts on a queue as soon as a collect finds it empty (NAPI), so
    // arming is checking that both queues are in that state and no interrupt is pending.
    arm: () => driver.quiescent && !irq.pending,
    stop(): DriverTaskResult {
      buffers.release();
      return {
        sent: driver.sent, delivered: receiver.delivered, corrupt: receiver.corrupt, duplicate: receiver.duplicate,
        reordered: receiver.reordered, orderChecksum: receiver.orderChecksum, kicks, finishedAt,
        txInFlight: tx.inFlight, rxInFlight: rx.inFlight,
      };
    },
  };
}
