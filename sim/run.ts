// One simulation run: a NetDriver and a SoftNic over a transmit and a receive queue in one shared
// memory, alternating in one thread (driver pass, NIC tick, driver pass, ...), with kicks and
// interrupts passed between them as queue masks. Everything random comes from the seed, so the
// same options give the same counts and the same delivery order every time; only the timing
// (seconds, mpps) varies.
import { createSharedMemory, MemoryPlan, WASM_PAGE } from '../src/memory.js';
import { NET_HDR_SIZE, MAX_FRAME_SIZE } from './frame.js';
import { PacketPool } from './pool.js';
import { Receiver } from './receiver.js';
import { CompletionScheduler } from './scheduler.js';
import { SoftNic } from './nic.js';
import { ChainStore } from './sglist.js';
import { NetDriver } from './netdriver.js';
import { openQueue, queueBytes, type QueueConfig, type RingKind } from './queues.js';
import { resolveSimOptions, MAX_SEGMENTS, type SimOptions, type SimMode } from './options.js';
import { deriveSeed } from './prng.js';

export interface SimResult {
  ring: RingKind;
  mode: SimMode;
  queueSize: number;
  batch: number;
  seed: number;
  /** Frames the run moves (offered by the driver, or produced by the generator). */
  packets: number;
  /** Frames that arrived intact, each exactly once. */
  delivered: number;
  /** Frames neither delivered nor dropped on purpose: packets - delivered - dropped (0 for a run on workers stopped early: WorkerSimResult.stopped). */
  lost: number;
  /** Frames the wire dropped (drop probability). */
  dropped: number;
  /** Arrivals that failed the check (wrong length, header or payload, unknown sequence number). */
  corrupt: number;
  /** Arrivals of a frame already delivered. */
  duplicate: number;
  /** Deliveries that overtook an earlier frame. */
  reordered: number;
  /** Chains the NIC returned unused (bad direction, too many segments, too small). */
  malformed: number;
  /** Hash of the delivered sequence numbers in delivery order (8 hex digits). */
  orderChecksum: string;
  /** Available buffer notifications the driver sent (both queues). */
  kicks: number;
  /** Used buffer notifications the NIC sent (both queues). */
  interrupts: number;
  /** NIC ticks the run took. */
  ticks: number;
  /** Wall-clock seconds of the run (setup excluded). */
  seconds: number;
  /** Millions of frames per second: packets / seconds / 1e6. */
  mpps: number;
  frameSize: number;
  segments: number;
  latency: number;
  jitter: number;
  drop: number;
  outOfOrder: boolean;
  eventIdx: boolean;
  indirect: boolean;
  inOrder: boolean;
}

export interface SimProgress {
  /** Frames accounted for so far (delivered, dropped, corrupt or duplicate). */
  done: number;
  packets: number;
  seconds: number;
  mpps: number;
}

/** Thrown when neither side has moved anything for longer than any completion can take. */
export class SimulationStalledError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulationStalledError';
  }
}

/** Descriptors per indirect table: enough for any packet chain the driver builds. */
const INDIRECT_MAX = MAX_SEGMENTS;
/** Segments per chain the NIC accepts. */
const NIC_MAX_SEGS = 8;
/** Driver passes per progress/clock check. */
const CHECK_EVERY = 1024;

const bits2 = (m: number): number => (m & 1) + ((m >>> 1) & 1);

export function runSimulation(options: SimOptions, onProgress?: (p: SimProgress) => void): SimResult {
  const o = resolveSimOptions(options);
  const loadEngine = options.loadEngine;
  if (!loadEngine) throw new TypeError('runSimulation needs options.loadEngine (in Node: loadEngine from src/node.ts)');

  const transmits = o.mode !== 'generator';
  const receives = o.mode !== 'sink';
  const descsPerChain = o.indirect && o.segments > 1 ? 1 : o.segments;
  const maxChains = Math.floor(o.queueSize / descsPerChain);
  const qc: QueueConfig = { queueSize: o.queueSize, eventIdx: o.eventIdx, indirect: o.indirect, indirectMax: INDIRECT_MAX, inOrder: o.inOrder };
  // A queue holds at most maxChains packets, so one pool buffer per chain slot of each queue
  // in use means neither side ever waits for the pool.
  const poolCount = maxChains * ((transmits ? 1 : 0) + (receives ? 1 : 0));
  const bufferSize = NET_HDR_SIZE + o.frameSize;
  const stride = Math.ceil(bufferSize / 64) * 64;

  const q = o.queueSize;
  const batches = 2 * (maxChains * 24 + maxChains * o.segments * 8 + q * 8 + 256) // driver
    + 2 * (o.batch * 24 + o.batch * NIC_MAX_SEGS * 8 + q * 8 + 256) // NIC
    + 2 * ChainStore.planBytes(q, NIC_MAX_SEGS) // NIC: the chains it holds
    + NET_HDR_SIZE + MAX_FRAME_SIZE + 64;
  const bytes = WASM_PAGE + 2 * queueBytes(o.ring, qc) + poolCount * stride + 4096 + batches + WASM_PAGE;
  const memory = createSharedMemory(bytes);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);

  const txq = openQueue(o.ring, engine, plan, qc);
  const rxq = openQueue(o.ring, engine, plan, qc);
  const pool = new PacketPool(plan, poolCount, bufferSize);
  const key = deriveSeed(o.seed, 0);
  const receiver = new Receiver(engine.u8, engine.u32, o.packets, o.frameSize, key);
  const sched = new CompletionScheduler({
    capacity: q, latency: o.latency, jitter: o.jitter, outOfOrder: o.outOfOrder,
    dropProbability: o.drop, seed: deriveSeed(o.seed, 1),
  });
  const driver = new NetDriver(engine, plan, txq.driver, rxq.driver, pool, receives ? receiver : null, {
    queueSize: q, batch: o.batch, frameSize: o.frameSize, segments: o.segments, descsPerChain,
    packets: transmits ? o.packets : 0, key, receive: receives,
  });
  const nic = new SoftNic(engine, plan, txq.device, rxq.device, sched, receives ? null : receiver, {
    mode: o.mode, queueSize: q, burst: o.batch, frameSize: o.frameSize, packets: o.packets, key,
    maxSegs: NIC_MAX_SEGS,
  });

  const generator = o.mode === 'generator';
  const stallLimit = o.latency + o.jitter + 10_000;
  let kicks = 0;
  let interrupts = 0;
  let irq = 0;
  let idlePasses = 0;
  let lastActivity = -1;
  let passes = 0;
  const start = performance.now();
  let nextReport = start + o.progressIntervalMs;

  for (;;) {
    const k = driver.step(irq);
    kicks += bits2(k);
    irq = nic.step(k);
    interrupts += bits2(irq);

    if (driver.transmitDone && nic.idle && driver.rxCollected === nic.rxPushed && (!generator || nic.nextSeq === o.packets)) break;

    const activity = driver.activity + nic.activity;
    if (activity !== lastActivity) { lastActivity = activity; idlePasses = 0; }
    else if (++idlePasses > stallLimit) {
      throw new SimulationStalledError(
        `simulation stalled at tick ${nic.ticks}: sent ${driver.sent}, delivered ${receiver.delivered}, ` +
        `dropped ${nic.dropped}, transmit in flight ${txq.driver.inFlight}, receive in flight ${rxq.driver.inFlight}, ` +
        `NIC idle ${nic.idle} (a lost kick or interrupt?)`);
    }

    if (onProgress && ++passes % CHECK_EVERY === 0) {
      const now = performance.now();
      if (now >= nextReport) {
        nextReport = now + o.progressIntervalMs;
        const seconds = (now - start) / 1000;
        const done = receiver.delivered + receiver.corrupt + receiver.duplicate + nic.dropped;
        onProgress({ done, packets: o.packets, seconds, mpps: done / seconds / 1e6 });
      }
    }
  }
  const seconds = (performance.now() - start) / 1000;

  return {
    ring: o.ring,
    mode: o.mode,
    queueSize: q,
    batch: o.batch,
    seed: o.seed,
    packets: o.packets,
    delivered: receiver.delivered,
    lost: o.packets - receiver.delivered - nic.dropped,
    dropped: nic.dropped,
    corrupt: receiver.corrupt,
    duplicate: receiver.duplicate,
    reordered: receiver.reordered,
    malformed: nic.malformed,
    orderChecksum: receiver.orderChecksum.toString(16).padStart(8, '0'),
    kicks,
    interrupts,
    ticks: nic.ticks,
    seconds: Math.round(seconds * 1e4) / 1e4,
    mpps: Math.round((o.packets / seconds / 1e6) * 1e3) / 1e3,
    frameSize: o.frameSize,
    segments: o.segments,
    latency: o.latency,
    jitter: o.jitter,
    drop: o.drop,
    outOfOrder: o.outOfOrder,
    eventIdx: o.eventIdx,
    indirect: o.indirect,
    inOrder: o.inOrder,
  };
}
