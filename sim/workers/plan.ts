// The main thread's half of a simulation on workers: one shared memory with the two rings, the
// packet pool (a shared Mempool), the Dataplane control area, the signal words, the pipeline's
// rings and chain table, and one private arena per task; and the task specs that point at them.
import { createSharedMemory, MemoryPlan, WASM_PAGE } from '../../src/memory.js';
import { allocRing } from '../../src/virtqueue/factory.js';
import { RING_FEATURES, type FeatureSet } from '../../src/features.js';
import { Mempool, eltSize } from '../../src/dataplane/mempool.js';
import { HandleRing, ringBytes } from '../../src/dataplane/handle-ring.js';
import { DataplaneControl, controlBytes } from '../../src/dataplane/control.js';
import { builtModule } from '../../src/dataplane/built.js';
import type { TaskSpec } from '../../src/dataplane/task.js';
import type { Engine } from '../../src/engine.js';
import { NET_HDR_SIZE, MAX_FRAME_SIZE } from '../frame.js';
import { queueBytes, type QueueConfig } from '../queues.js';
import { ChainStore } from '../sglist.js';
import { MAX_SEGMENTS } from '../options.js';
import { deriveSeed } from '../prng.js';
import { VIZDIR_ENTRY_SIZE } from '../../assembly/layout/viz.js';
import { place } from './topology.js';
import type { Arena, DriverTaskConfig, NicTaskConfig, QueueRef, SignalRef, StageConfig } from './config.js';
import type { ResolvedWorkerSimOptions } from './options.js';

const NIC_MAX_SEGS = 8;

export interface WorkerSimPlan {
  memory: WebAssembly.Memory;
  control: DataplaneControl;
  pool: Mempool;
  tasks: TaskSpec[];
  /** The two queues, by their virtio-net names (each ref's directory entry names its sides' control blocks once the workers built them). */
  queues: { name: string; ref: QueueRef }[];
}

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

export function planWorkerSim(o: ResolvedWorkerSimOptions, loadEngine: (m: WebAssembly.Memory) => Engine): WorkerSimPlan {
  const q = o.queueSize;
  const descsPerChain = o.indirect && o.segments > 1 ? 1 : o.segments;
  const maxChains = Math.floor(q / descsPerChain);
  const qc: QueueConfig = { queueSize: q, eventIdx: o.eventIdx, indirect: o.indirect, indirectMax: MAX_SEGMENTS, inOrder: o.inOrder };
  const poolCount = 2 * maxChains;
  const bufferSize = NET_HDR_SIZE + o.frameSize;
  const poolBurst = Math.max(o.batch, 32);
  // Each task's arena: its queue handles' private state, its burst arrays, slack.
  const arenaBytes = 2 * queueBytes(o.ring, qc) + 4 * (maxChains * 24 + maxChains * Math.max(o.segments, NIC_MAX_SEGS) * 8 + q * 8 + 256)
    + 4 * q + NET_HDR_SIZE + MAX_FRAME_SIZE + WASM_PAGE;
  // The NIC's own ChainStores, in the arena of the task that holds them: two for the NIC task,
  // one for the rx stage (the tx stage's transmit chains are in the shared chain table).
  const storeBytes = ChainStore.planBytes(q, NIC_MAX_SEGS);
  const bytes = WASM_PAGE + 2 * queueBytes(o.ring, qc) + poolCount * eltSize(bufferSize) + ringBytes(nextPow2(poolCount)) + 4096
    + controlBytes(o.workers) + 9 * 64 + 2 * ringBytes(nextPow2(q)) + ChainStore.bytes(q, NIC_MAX_SEGS) + 4 * arenaBytes + 2 * storeBytes
    + WASM_PAGE;
  const memory = createSharedMemory(bytes);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const arena = (extra = 0): Arena => {
    const size = arenaBytes + extra;
    const start = plan.alloc(size, 64, 'task arena');
    return { start, end: start + size };
  };
  const word = (label: string): number => plan.alloc(64, 64, label); // one word per cache line

  const features: FeatureSet = RING_FEATURES.VERSION_1 | (o.eventIdx ? RING_FEATURES.EVENT_IDX : 0n)
    | (o.indirect ? RING_FEATURES.INDIRECT_DESC : 0n) | (o.inOrder ? RING_FEATURES.IN_ORDER : 0n);
  const directory = plan.alloc(2 * VIZDIR_ENTRY_SIZE, 64, 'control block directory');
  const ref = (entry: number): QueueRef => ({
    layout: o.ring, areas: allocRing(plan, { layout: o.ring, queueSize: q }), features: features.toString(), indirectMax: o.indirect ? MAX_SEGMENTS : 0,
    directory: directory + entry * VIZDIR_ENTRY_SIZE,
  });
  const tx = ref(0);
  const rx = ref(1);
  const queues = [{ name: 'transmitq1', ref: tx }, { name: 'receiveq1', ref: rx }];
  const pool = Mempool.create(engine, plan, { size: poolCount, dataRoom: bufferSize });
  const control = DataplaneControl.create(plan, o.workers);
  const at = place(o.topology, o.workers);
  const key = deriveSeed(o.seed, 0);
  const irq: SignalRef = { addr: word('irq'), worker: at.driver };
  const tasks: TaskSpec[] = [];

  if (o.topology === 'rtc') {
    const kicks: SignalRef = { addr: word('kicks'), worker: at.nic };
    tasks.push(driverSpec(at.driver, kicks, kicks));
    const nic: NicTaskConfig = {
      arena: arena(2 * storeBytes), tx, rx, queueSize: q, batch: o.batch, frameSize: o.frameSize, packets: o.packets, key, maxSegs: NIC_MAX_SEGS,
      latency: o.latency, jitter: o.jitter, outOfOrder: o.outOfOrder, seed: deriveSeed(o.seed, 1), kicks, irq,
    };
    tasks.push({ name: 'nic', worker: at.nic, module: builtModule('sim/workers/nic-task.js'), config: nic });
  } else {
    const kickTx: SignalRef = { addr: word('tx kicks'), worker: at.txStage };
    const kickRx: SignalRef = { addr: word('rx kicks'), worker: at.rxStage };
    tasks.push(driverSpec(at.driver, kickTx, kickRx));
    const ring = (): number => HandleRing.create(engine, plan, { capacity: nextPow2(q), producer: 'sp', consumer: 'sc' }).addr;
    const shared = {
      queueSize: q, maxSegs: NIC_MAX_SEGS, table: plan.alloc(ChainStore.bytes(q, NIC_MAX_SEGS), 64, 'chain table'),
      toRx: ring(), toRxWake: { addr: word('toRx wake'), worker: at.rxStage },
      txDone: ring(), txDoneWake: { addr: word('txDone wake'), worker: at.txStage },
      irq,
    };
    const txStage: StageConfig = { ...shared, arena: arena(), queue: tx, kicks: kickTx };
    const rxStage: StageConfig = { ...shared, arena: arena(storeBytes), queue: rx, kicks: kickRx };
    tasks.push({ name: 'nic tx stage', worker: at.txStage, module: builtModule('sim/workers/nic-tx-stage.js'), config: txStage });
    tasks.push({ name: 'nic rx stage', worker: at.rxStage, module: builtModule('sim/workers/nic-rx-stage.js'), config: rxStage });
  }
  return { memory, control, pool, tasks, queues };

  function driverSpec(worker: number, kickTx: SignalRef, kickRx: SignalRef): TaskSpec {
    const config: DriverTaskConfig = {
      arena: arena(), tx, rx, pool: pool.addr, poolBurst, packets: o.packets, frameSize: o.frameSize, segments: o.segments,
      descsPerChain, batch: o.batch, queueSize: q, key, kickTx, kickRx, irq,
    };
    return { name: 'driver', worker, module: builtModule('sim/workers/driver-task.js'), config };
  }
}
