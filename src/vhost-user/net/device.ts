// The virtio-net device model behind a vhost-user back-end (VIRTIO 1.2 5.1): up to 16 queue
// pairs (5.1.2: vring 2k is receiveq(k+1), 2k+1 is transmitq(k+1); more than one pair needs
// NET_MQ, 5.1.5), its configuration space (MAC, status, max_virtqueue_pairs, MTU), NET_SET_MTU and
// SEND_RARP. The control plane stays here, on the thread that reads vhost-user messages; every
// queue pair is served by a Dataplane worker (worker-task.ts), pair k by worker k mod workers.
// A vring is handed over through its handoff record (../handoff.ts) and taken back before the
// back-end answers the message that stopped it. Kicks are watched here and ring the serving
// worker's doorbell. A worker that fails ends the session with its error and the Dataplane is
// started again, so the next front-end is served. Counters add up over sessions.
import { FEATURES, SUPPORTED, type FeatureSet } from '../../features.js';
import type { Engine } from '../../engine.js';
import { MemoryPlan } from '../../memory.js';
import { Dataplane, type DataplaneError } from '../../dataplane/dataplane.js';
import { DataplaneControl, type WorkerStats } from '../../dataplane/control.js';
import { builtModule } from '../../dataplane/built.js';
import type { IdleMode } from '../../dataplane/idle.js';
import { NetQueuePair, zeroNetCounters, addNetCounters, type NetCounters, type NetMode } from '../../virtio-net/queue-pair.js';
import { netHdrSize, mergeable } from '../../virtio-net/header.js';
import * as P from '../protocol.js';
import { VirtqueueError } from '../../errors.js';
import type { RingLayout } from '../../virtqueue/factory.js';
import type { StartedVring, VhostUserDevice } from '../device-model.js';
import { HandoffWriter, HANDOFF_SIZE, STOPPED } from '../handoff.js';
import { readNetConfig, NET_S_LINK_UP } from './config.js';
import { PAIR_SCRATCH_BYTES, type NetWorkerConfig, type PairRef } from './worker-task.js';

export interface NetDeviceOptions {
  engine: Engine;
  /** Private memory for the queue pair blocks, burst arrays and handoff records (about 600 KiB per pair). */
  plan: MemoryPlan;
  pairs: number;
  mode: NetMode;
  /** Dataplane workers (default 1); pairs are spread over them. */
  workers?: number;
  /** Chains per burst (default 32). */
  burst?: number;
  /** Worker idle mode (default adaptive: sleep on the doorbell when the rings are idle). */
  idle?: IdleMode;
  /** Capture what the front-end transmits (needs one worker). */
  pcap?: { path: string; maxFrames: number };
  /** href of the task module the workers run (default: worker-task.js; tests wrap it to inject faults). */
  workerModule?: string;
  mac?: readonly number[];
  mtu?: number;
  /** Virtio features offered (default: SUPPORTED). */
  features?: FeatureSet;
  log?: (line: string) => void;
}

const PF = P.ProtocolFeature;
// No CONFIG: a virtio-net front-end keeps the config space itself (QEMU warns when a net
// back-end offers it); GET_CONFIG is still answered for a front-end that asks.
const NET_PROTOCOL_FEATURES = [PF.NET_MTU, PF.RARP].reduce((s, b) => s | (1n << BigInt(b)), 0n);
export const MAX_QUEUE_PAIRS = 16;

export interface NetDeviceStats {
  workers: WorkerStats[];
  pairs: NetCounters[];
}

export class NetDevice implements VhostUserDevice {
  readonly features: FeatureSet;
  readonly protocolFeatures = NET_PROTOCOL_FEATURES;
  readonly vrings: number;
  readonly workers: number;
  private readonly pairs: NetQueuePair[];
  private readonly handoffs: HandoffWriter[];
  /** Each vring's layout while it runs (for naming the spec section of an engine error). */
  private readonly layouts: (RingLayout | undefined)[] = [];
  /** Each vring as handed over while it runs. */
  private readonly started: (StartedVring | undefined)[] = [];
  private readonly control: DataplaneControl;
  private readonly refs: PairRef[];
  private dataplane: Dataplane | undefined;
  /** No worker runs (starting, restarting after a failure, or closed): handoffs need no ack. */
  private down = true;
  private closed = false;
  private restarting: Promise<void> | undefined;
  private endSession: ((reason: string) => void) | undefined;
  private onMiss: ((vring: number, iova: bigint) => void) | undefined;
  private mtu: number;
  private readonly log: (line: string) => void;
  /** Dataplane failures so far (each ended a session and restarted the workers). */
  failures = 0;

  private constructor(private readonly opts: NetDeviceOptions) {
    const pairs = opts.pairs;
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > MAX_QUEUE_PAIRS) throw new RangeError(`pairs must be 1 to ${MAX_QUEUE_PAIRS}, got ${pairs}`);
    const workers = opts.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1 || workers > pairs) {
      throw new RangeError(`workers must be 1 to the number of queue pairs (${pairs}), got ${workers}`);
    }
    if (opts.pcap && workers !== 1) throw new RangeError('a capture (pcap) needs a single worker');
    this.workers = workers;
    this.vrings = 2 * pairs;
    this.features = opts.features ?? SUPPORTED;
    this.mtu = opts.mtu ?? 1500;
    this.log = opts.log ?? ((l) => console.warn(`virtio-net: ${l}`));
    const { engine, plan } = opts;
    this.control = DataplaneControl.create(plan, workers);
    this.pairs = Array.from({ length: pairs }, () => NetQueuePair.create(engine, plan, { hdrSize: 12, mergeable: false, mode: opts.mode, burst: opts.burst }));
    this.handoffs = Array.from({ length: this.vrings }, (_, i) => new HandoffWriter(
      engine.memory, plan.alloc(HANDOFF_SIZE, 64, `vring ${i} handoff`), i,
      () => this.control.ringDoorbell(this.workerOf(i)), () => !this.down,
    ));
    for (const h of this.handoffs) h.clear();
    this.refs = this.pairs.map((q, k) => ({
      index: k, netq: q.addr, rx: this.handoffs[2 * k].addr, tx: this.handoffs[2 * k + 1].addr,
      scratch: plan.alloc(PAIR_SCRATCH_BYTES, 64, `pair ${k} scratch`),
    }));
  }

  /** Plans the device and starts its workers. */
  static async start(opts: NetDeviceOptions): Promise<NetDevice> {
    const d = new NetDevice(opts);
    await d.startDataplane();
    return d;
  }

  private workerOf(vring: number): number {
    return (vring >> 1) % this.workers;
  }

  private async startDataplane(): Promise<void> {
    const module = this.opts.workerModule ?? builtModule('src/vhost-user/net/worker-task.js');
    const tasks = Array.from({ length: this.workers }, (_, w) => {
      const config: NetWorkerConfig = { mode: this.opts.mode, pairs: this.refs.filter((r) => r.index % this.workers === w), pcap: this.opts.pcap };
      return { name: `virtio-net worker ${w}`, worker: w, module, config };
    });
    this.control.reset();
    this.dataplane = await Dataplane.start({
      memory: this.opts.engine.memory, control: this.control, workers: this.workers, tasks,
      burst: this.opts.burst ?? 32, idle: this.opts.idle ?? 'adaptive',
    });
    this.down = false;
    const dp = this.dataplane;
    void dp.whenFailed().then((e: DataplaneError) => { if (this.dataplane === dp && !this.closed) this.failed(e); });
  }

  /** A worker failed: end the session (its rings are unusable) and start the workers again. */
  private failed(e: DataplaneError): void {
    this.down = true;
    this.failures++;
    this.log(`${e.message}; ending the session and restarting the dataplane`);
    this.endSession?.(`dataplane failure: ${e.message}`);
    const old = this.dataplane;
    this.dataplane = undefined;
    this.restarting = (async () => {
      await old?.stop().catch(() => undefined);
      if (this.closed) return;
      // The rings of the ended session were taken back (without acks: nobody ran them).
      for (const h of this.handoffs) h.clear();
      await this.startDataplane();
    })().catch((err: Error) => this.log(`cannot restart the dataplane: ${err.message}`))
      .finally(() => { this.restarting = undefined; });
  }

  /** Resolves once a restart after a failure (if any) is over. */
  async settled(): Promise<void> {
    await this.restarting;
  }

  // -- VhostUserDevice ---------------------------------------------------------------------------

  /** virtio-net answers GET_QUEUE_NUM in queue pairs, as DPDK's vhost library and QEMU expect. */
  get queueNum(): number {
    return this.pairs.length;
  }

  readConfig(offset: number, size: number): Uint8Array | undefined {
    return readNetConfig({
      mac: this.opts.mac ?? [0x52, 0x54, 0x00, 0x12, 0x34, 0x56], status: NET_S_LINK_UP,
      maxVirtqueuePairs: this.pairs.length, mtu: this.mtu,
    }, offset, size);
  }

  get netMtu(): number {
    return this.mtu;
  }

  setMtu(mtu: number): void {
    this.mtu = mtu;
  }

  vringStarted(v: StartedVring): void {
    this.layouts[v.index] = v.layout;
    this.started[v.index] = v;
    this.handoffs[v.index].set({
      cb: v.device.cb, callFd: v.callFd, hdrSize: netHdrSize(v.features), mergeable: mergeable(v.features),
    });
  }

  vringStopped(index: number): void {
    this.started[index] = undefined;
    this.handoffs[index].set(STOPPED);
  }

  callChanged(index: number, fd: number | undefined): void {
    const h = this.handoffs[index];
    h.set({ ...h.state, callFd: fd });
  }

  kicked(index: number, count: number): void {
    // A front-end kicking a ring the engine stopped learns why in the log without waiting for stats.
    this.reportFaults();
    this.pairs[index >> 1].addKicks((index & 1) === 0, count);
    this.control.ringDoorbell(this.workerOf(index));
  }

  /** SEND_RARP: broadcast a RARP for `mac` on the first receive queue (5.1.2: receiveq1). */
  announce(mac: Uint8Array): void {
    this.handoffs[0].announce(mac);
  }

  bindSession(end: ((reason: string) => void) | undefined): void {
    this.endSession = end;
  }

  /** While bound, each vring's record is watched for the workers' IOTLB misses. */
  bindIotlbMiss(miss: ((vring: number, iova: bigint) => void) | undefined): void {
    const was = this.onMiss;
    this.onMiss = miss;
    // Watchers serve one function: those of an earlier one stop within their wait.
    if (miss && miss !== was) for (const h of this.handoffs) void this.watchMisses(h, miss);
  }

  private async watchMisses(h: HandoffWriter, miss: (vring: number, iova: bigint) => void): Promise<void> {
    let seen = h.missSeq;
    // A bounded wait, so an unbound or closed device stops watching within it.
    while (this.onMiss === miss && !this.closed) {
      const got = await h.nextMiss(seen, 200);
      if (got === undefined || this.onMiss !== miss) continue;
      seen = got.seq;
      try {
        miss(h.index, got.iova);
      } catch (e) {
        this.log(`vring ${h.index}: IOTLB miss at 0x${got.iova.toString(16)}: ${(e as Error).message}`);
      }
    }
  }

  /** The vrings started and not stopped since, as the back-end handed them over (for the live visualizer). */
  startedVrings(): StartedVring[] {
    return this.started.filter((v): v is StartedVring => v !== undefined);
  }

  /** Vrings a worker is running now (handed over and not taken back). */
  runningVrings(): number[] {
    return this.handoffs.flatMap((h, i) => (h.state.cb !== 0 ? [i] : []));
  }

  // -- Counters and teardown ----------------------------------------------------------------------

  /** Per-pair counters, read while the workers run; engine errors the workers met are logged. */
  perPair(): NetCounters[] {
    this.reportFaults();
    return this.pairs.map((q) => q.counters());
  }

  totals(): NetCounters {
    return this.perPair().reduce(addNetCounters, zeroNetCounters());
  }

  stats(): NetDeviceStats {
    return { workers: this.dataplane?.stats() ?? [], pairs: this.perPair() };
  }

  private reportFaults(): void {
    for (const h of this.handoffs) {
      const code = h.takeFault();
      if (code === 0) continue;
      const why = new VirtqueueError(code, 0, `${this.layouts[h.index] ?? 'split'} vring ${h.index}`).message.replace(/ \[(\w+), detail 0\]/, ' [$1]');
      this.log(`${why}; not polled until the front-end restarts it`);
    }
  }

  /**
   * Stops the workers (the back-end must have stopped the rings, or be closed, first); returns
   * the frames written to the capture, if any, and the workers' final counters.
   */
  async close(): Promise<{ pcapFrames: number; workers: WorkerStats[] }> {
    this.closed = true;
    this.down = true;
    await this.restarting;
    const dp = this.dataplane;
    this.dataplane = undefined;
    let results: unknown[][] = [];
    try {
      results = (await dp?.stop()) ?? [];
    } catch (e) {
      this.log(`stopping the dataplane: ${(e as Error).message}`);
      results = dp?.results ?? [];
    }
    const pcapFrames = results.flat().reduce<number>((n, r) => n + ((r as { written?: number } | undefined)?.written ?? 0), 0);
    return { pcapFrames, workers: dp?.stats() ?? [] };
  }
}

export { FEATURES };
