// A port's queue pairs on Dataplane workers (Node), the control plane staying on the main
// thread: pair k goes to worker k mod N, which runs a forwarding mode over it (worker-task.ts)
// with its own mempool cache slot (w + 1), and kicks by signalling the ring's kick eventfd. The
// port (VirtioUserPort: vhost-user's kick eventfds; VfioNetPort: eventfds the kernel turns into
// doorbell writes) keeps setting up and reclaiming; it tells the workers when a pair may run
// through the pair's block.
//
//   const port = VirtioUserPort.create({ socket, queues: 2, workers: 2 });
//   const w = await VirtioUserWorkers.start(port, { workers: 2, mode: 'io' });
//   await port.connect();  ...  await w.stop(); await port.shutdown();
import { Dataplane } from '../dataplane/dataplane.js';
import { DataplaneControl, type WorkerStats } from '../dataplane/control.js';
import { builtModule } from '../dataplane/built.js';
import { txonlyFrame, TXONLY_FRAME_SIZE } from '../virtio-net/frames.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';
import type { Mempool } from '../dataplane/mempool.js';
import type { PortQueue } from './queue.js';
import type { FwdMode } from './forward.js';
import type { VirtioUserWorkerConfig, PairBlockRef } from './worker-task.js';

export interface VirtioUserWorkersOptions {
  workers: number;
  mode: FwdMode;
  /** Frames per burst (default 32). */
  burst?: number;
  /** txonly frames' length (default 64). */
  frameSize?: number;
  /** io, macswap: a burst of txonly frames each time a pair starts (testpmd --tx-first). */
  txFirst?: boolean;
}

/** What the workers need of a port (VirtioUserPort, VfioNetPort). */
export interface WorkerPort {
  readonly engine: Engine;
  readonly pool: Mempool;
  readonly priv: MemoryPlan;
  readonly queues: readonly PortQueue[];
  /** From now on the workers run the queue pairs: the port sets each block's state, and stops polling them itself. */
  handOver(): void;
}

export class VirtioUserWorkers {
  private constructor(readonly port: WorkerPort, readonly dataplane: Dataplane) {}

  static async start(port: WorkerPort, o: VirtioUserWorkersOptions): Promise<VirtioUserWorkers> {
    const burst = o.burst ?? 32;
    const frameSize = o.frameSize ?? TXONLY_FRAME_SIZE;
    if (!Number.isInteger(o.workers) || o.workers < 1 || o.workers > port.queues.length) {
      throw new RangeError(`workers must be 1 to the ${port.queues.length} queue pairs, got ${o.workers}`);
    }
    if (port.pool.numCaches < o.workers + 1) throw new RangeError(`the port's pool has ${port.pool.numCaches} cache slots; ${o.workers} workers need ${o.workers + 1} (the port's option workers)`);
    if (frameSize < TXONLY_FRAME_SIZE || frameSize > port.pool.dataRoom) throw new RangeError(`frame size ${frameSize}: ${TXONLY_FRAME_SIZE} to ${port.pool.dataRoom}`);
    const plan = port.priv;
    const frame = plan.alloc(frameSize, 64, 'txonly frame');
    port.engine.u8.fill(0, frame, frame + frameSize);
    port.engine.u8.set(txonlyFrame(), frame);
    const refs: PairBlockRef[] = port.queues.map((q) => ({
      block: q.block, rx: plan.alloc(burst * 4, 64, 'worker rx burst'), tx: plan.alloc(burst * 4, 64, 'worker tx burst'), frame,
    }));
    port.queues.forEach((q, k) => q.useCache(port.pool.cache((k % o.workers) + 1).addr));
    const control = DataplaneControl.create(plan, o.workers);
    const module = builtModule('src/virtio-user/worker-task.js');
    const tasks = Array.from({ length: o.workers }, (_, w) => {
      const config: VirtioUserWorkerConfig = { mode: o.mode, burst, frameSize, txFirst: o.txFirst, pairs: refs.filter((_, k) => k % o.workers === w) };
      return { name: `virtio-user worker ${w}`, worker: w, module, config };
    });
    port.handOver();
    const dp = await Dataplane.start({ memory: port.engine.memory, control, workers: o.workers, tasks, burst, idle: 'poll' });
    return new VirtioUserWorkers(port, dp);
  }

  stats(): WorkerStats[] {
    return this.dataplane.stats();
  }

  /** Stops the workers (each lets go of its pairs); then the port may be shut down or closed. */
  async stop(): Promise<void> {
    await this.dataplane.stop();
  }
}
