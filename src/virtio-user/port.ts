// VirtioUserPort: a virtio-net device reached over vhost-user, driven from Node (what DPDK's
// virtio-user gives containers). The port owns one shared memory: private state below, then a
// memfd mapped over the rest, which holds the rings and the mempool's buffers and is what the
// back-end gets with SET_MEM_TABLE. rxBurst/txBurst move mempool handles (rte_eth_rx_burst /
// rte_eth_tx_burst); frames()/send() (QueuePairPort's) are the convenience layer for scripts.
//
// The connection (client: connect to the back-end's socket; server: listen and take one back-end
// at a time) is set up by VhostUserFrontend. When it ends (the back-end died, misbehaved, a ring
// it wrote was rejected) every buffer in flight goes back to the pool, the rings are reset, and
// with `reconnect` (the default) the port waits for the back-end again and sets everything up anew.
import type { MemoryPlan } from '../memory.js';
import { close, UnixSocket, UnixServer } from '../native/index.js';
import type { Mempool } from '../dataplane/mempool.js';
import { HandleBurst } from '../dataplane/handle-ring.js';
import * as V from '../../assembly/layout/virtio-user.js';
import type { Engine } from '../engine.js';
import type { RingLayout } from '../virtqueue/factory.js';
import { FEATURES, featureNames, type FeatureSet } from '../features.js';
import { FrontendChannel, DEFAULT_REPLY_TIMEOUT_MS } from '../vhost-user/frontend-channel.js';
import type { VhostUserFrontend } from '../vhost-user/frontend.js';
import type { VirtioUserPortOptions } from './options.js';
import { createPortMemory, buildPortRings } from './port-memory.js';
import { QueuePairPort } from './queue-pair-port.js';
import { setUpBackend } from './setup.js';
import { drainTx } from './waits.js';
import { PortQueue, NET_HDR_SIZE, type QueueStats } from './queue.js';

type PortEvents = { up: []; down: [string] };

export class VirtioUserPort extends QueuePairPort<PortEvents> {
  readonly queues: PortQueue[] = [];
  readonly pool: Mempool;
  private frontend: VhostUserFrontend | undefined;
  private listener: UnixServer | undefined;
  private shut = false;
  private retry: NodeJS.Timeout | undefined;
  private connecting = false;
  /** connect()'s rejection while it waits (used when the port does not reconnect). */
  private pendingFail: ((e: Error) => void) | undefined;
  protected readonly rxScratch: HandleBurst;
  protected readonly txScratch: HandleBurst;
  readonly portName = 'virtio-user';
  readonly awayReason = 'the back-end is away';
  /** The port's private memory (control blocks, bursts): what VirtioUserWorkers plans in. */
  readonly priv: MemoryPlan;
  /** Workers run the queue pairs (handOver()): the blocks' state says when they may. */
  private workerOwned = false;
  private quiescing = false;
  private watch: NodeJS.Timeout | undefined;
  /** Connections set up so far. */
  connections = 0;
  /** Why the last connection ended. */
  lastError: string | undefined;

  private constructor(readonly engine: Engine, readonly memfd: number, private readonly offset: number, private readonly size: number,
                      readonly layout: RingLayout, readonly opts: VirtioUserPortOptions) {
    super();
    // The rings are built with every ring feature the port may ask for; each session narrows them to what was negotiated.
    const features = FEATURES.VERSION_1 | (layout === 'packed' ? FEATURES.RING_PACKED : 0n)
      | ((opts.inOrder ?? true) ? FEATURES.IN_ORDER : 0n) | ((opts.eventIdx ?? true) ? FEATURES.EVENT_IDX : 0n);
    const { priv, pool, queues } = buildPortRings({ engine, memfd, offset, size }, opts, layout, features);
    this.pool = pool;
    this.queues.push(...queues);
    this.priv = priv;
    this.rxScratch = HandleBurst.alloc(engine, priv, 64);
    this.txScratch = HandleBurst.alloc(engine, priv, 64);
  }

  /** Builds the memory, then connects (or listens); resolves once the first back-end is set up. */
  static async open(opts: VirtioUserPortOptions): Promise<VirtioUserPort> {
    const port = VirtioUserPort.create(opts);
    try {
      await port.connect();
    } catch (e) {
      port.close();
      throw e;
    }
    return port;
  }

  /** Builds the memory, rings and mempool; nothing connected yet (connect()). */
  static create(opts: VirtioUserPortOptions): VirtioUserPort {
    const m = createPortMemory(opts, 'virtio-user');
    return new VirtioUserPort(m.engine, m.memfd, m.offset, m.size, opts.layout ?? 'split', opts);
  }

  /**
   * Connects (client) or listens (server); resolves once a back-end is set up. Without
   * `reconnect`, rejects with the first failure (every buffer back in the pool).
   */
  connect(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const up = (): void => { this.pendingFail = undefined; resolve(); };
      this.once('up', up);
      // A failed attempt takes its 'up' listener away (else every failed connect() left one behind).
      this.pendingFail = (e) => { this.pendingFail = undefined; this.off('up', up); reject(e); };
      this.start(this.pendingFail);
    });
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  get up(): boolean {
    return this.frontend !== undefined;
  }

  /** The device features of the current back-end's session (undefined while none is set up). */
  get features(): FeatureSet | undefined {
    return this.frontend?.negotiated.features;
  }

  private start(fail: (e: Error) => void): void {
    if (this.opts.server) {
      try {
        this.listener = UnixServer.listen(this.opts.socket);
      } catch (e) { fail(e as Error); return; }
      this.listener.on('connection', (s) => {
        if (this.frontend || this.connecting || this.quiescing || this.shut) { s.close(); return; }
        void this.attach(s);
      });
    } else {
      this.tryConnect(fail);
    }
  }

  private tryConnect(fail?: (e: Error) => void): void {
    if (this.shut) return;
    let s: UnixSocket;
    try {
      s = UnixSocket.connect(this.opts.socket);
    } catch (e) {
      if (fail && !(this.opts.reconnect ?? true)) { fail(e as Error); return; }
      this.retry = setTimeout(() => this.tryConnect(fail), this.opts.retryMs ?? 200);
      return;
    }
    void this.attach(s);
  }

  /** Sets up a back-end on `socket`; false if that failed (then it was closed and, maybe, retried). */
  private async attach(socket: UnixSocket): Promise<boolean> {
    this.connecting = true;
    const channel = new FrontendChannel(socket, this.opts.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS);
    try {
      const fe = await setUpBackend(channel, {
        memory: { fd: this.memfd, offset: this.offset, size: this.size }, layout: this.layout, queues: this.queues,
        mergeable: this.opts.mergeable ?? true, inOrder: this.opts.inOrder ?? true, eventIdx: this.opts.eventIdx ?? true,
      });
      if (this.shut) { fe.close('the port closed'); return false; }
      this.frontend = fe;
      this.connecting = false;
      this.connections++;
      channel.onEnd((reason) => this.down(reason));
      for (const q of this.queues) q.refill();
      if (this.workerOwned) for (const q of this.queues) q.setState(V.VUQ_STATE_RUNNING);
      this.log(`back-end set up (${this.layout}, ${this.queues.length} queue pair(s); features ${featureNames(fe.negotiated.features).join(' ')})`);
      this.emit('up');
      return true;
    } catch (e) {
      this.connecting = false;
      this.lastError = (e as Error).message;
      this.log(this.lastError);
      channel.close(this.lastError);
      this.reclaim();
      if (!(this.opts.reconnect ?? true)) this.pendingFail?.(e as Error);
      else if (!this.opts.server && !this.shut) this.retry = setTimeout(() => this.tryConnect(), this.opts.retryMs ?? 200);
      return false;
    }
  }

  /** The connection ended: every buffer back to the pool, rings reset, the back-end awaited again. */
  private down(reason: string): void {
    if (!this.frontend) return;
    this.frontend = undefined;
    this.lastError = reason;
    this.quiescing = true;
    void this.quiesce().then(() => {
      this.quiescing = false;
      this.reclaim();
      this.log(`back-end gone: ${reason}`);
      this.emit('down', reason);
      if (!this.opts.server && (this.opts.reconnect ?? true) && !this.shut) {
        this.retry = setTimeout(() => this.tryConnect(), this.opts.retryMs ?? 200);
      }
    });
  }

  /** With workers: stops them touching the pairs, and waits (at most 2 s) until each says so. */
  private async quiesce(): Promise<void> {
    if (!this.workerOwned) return;
    for (const q of this.queues) q.setState(V.VUQ_STATE_STOPPED);
    const deadline = performance.now() + 2_000;
    while (this.queues.some((q) => q.ack !== V.VUQ_STATE_STOPPED)) {
      if (performance.now() > deadline) {
        this.log('a worker did not let go of its queue pairs within 2 s (is the dataplane stopped?); reclaiming the buffers anyway');
        return;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /**
   * From now on Dataplane workers run the queue pairs (VirtioUserWorkers): rxBurst/txBurst on
   * this thread are refused, set-up and reclaim wait for the workers through the blocks' state,
   * and a pair whose worker met an engine error ends the connection (the error named).
   */
  handOver(): void {
    this.workerOwned = true;
    for (const q of this.queues) q.setState(this.up ? V.VUQ_STATE_RUNNING : V.VUQ_STATE_STOPPED);
    this.watch = setInterval(() => {
      const q = this.queues.find((x) => x.ack === V.VUQ_STATE_FAILED);
      if (q && this.frontend) this.frontend.close(`queue pair ${q.index}: ${q.workerError().message}`);
    }, 10);
    this.watch.unref();
  }

  private reclaim(): void {
    for (const q of this.queues) q.reclaim();
  }

  /** A ring the back-end wrote was rejected (the engine's error names it): the connection ends. */
  protected broke(q: PortQueue, e: unknown): never {
    const reason = `queue pair ${q.index}: ${(e as Error).message}`;
    this.frontend?.close(reason);
    throw e;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.shut;
  }

  /**
   * Queue pair `k` while a back-end is set up (undefined while it is away); a RangeError for a
   * `k` the port lacks, an Error once Dataplane workers run the pairs (handOver()).
   */
  pair(k: number): PortQueue | undefined {
    const q = this.queues[k];
    if (!q) throw new RangeError(`queue ${k}: the port has ${this.queues.length}`);
    if (this.workerOwned) throw new Error(`queue ${k}: its queue pairs run on Dataplane workers`);
    return this.frontend ? q : undefined;
  }

  protected override checkFree(): void {
    if (this.workerOwned) throw new Error('free: the queue pairs run on Dataplane workers');
  }

  /**
   * Waits, at most `timeoutMs`, until the back-end has used every frame on the transmit rings;
   * true when none is left. For when nothing sends any more, before shutdown() (waits.ts).
   */
  drain(timeoutMs = 500): Promise<boolean> {
    return drainTx(this, timeoutMs);
  }

  /**
   * Stops every vring in the back-end with GET_VRING_BASE (vring order: receiveq1, transmitq1,
   * ...) and closes the port; returns the states (vring.ts vringBase: split last_avail_idx,
   * packed both halves). A bad reply rejects with a FrontendError; the port is closed either way.
   */
  async shutdown(): Promise<number[]> {
    const fe = this.frontend;
    const bases: number[] = [];
    try {
      if (fe) for (let v = 0; v < 2 * this.queues.length; v++) bases.push(await fe.getVringBase(v));
    } finally {
      this.close();
    }
    return bases;
  }

  /** Disconnects, takes every buffer back and releases the memory's file. */
  close(): void {
    if (this.shut) return;
    this.shut = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.watch) clearInterval(this.watch);
    this.listener?.close();
    const fe = this.frontend;
    this.frontend = undefined;
    fe?.close('the port closed');
    this.reclaim();
    for (const q of this.queues) q.close();
    close(this.memfd);
  }
}

export { NET_HDR_SIZE, type QueueStats, type VirtioUserPortOptions };
