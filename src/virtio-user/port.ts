// VirtioUserPort: a virtio-net device reached over vhost-user, driven from Node (what DPDK's
// virtio-user gives containers). The port owns one shared memory: private state below, then a
// memfd mapped over the rest, which holds the rings and the mempool's buffers and is what the
// back-end gets with SET_MEM_TABLE. rxBurst/txBurst move mempool handles (rte_eth_rx_burst /
// rte_eth_tx_burst); frames()/send() are the convenience layer for scripts.
//
// The connection (client: connect to the back-end's socket; server: listen and take one back-end
// at a time) is set up by VhostUserFrontend. When it ends (the back-end died, misbehaved, a ring
// it wrote was rejected) every buffer in flight goes back to the pool, the rings are reset, and
// with `reconnect` (the default) the port waits for the back-end again and sets everything up anew.
import { EventEmitter } from 'node:events';
import { createSharedMemory, MemoryPlan } from '../memory.js';
import { loadEngine } from '../node.js';
import { memfdCreate, mapIntoMemory, close, UnixSocket, UnixServer } from '../native/index.js';
import { Mempool } from '../dataplane/mempool.js';
import { HandleBurst } from '../dataplane/handle-ring.js';
import * as M from '../../assembly/layout/mempool.js';
import * as V from '../../assembly/layout/virtio-user.js';
import type { Engine } from '../engine.js';
import type { RingLayout } from '../virtqueue/factory.js';
import { FEATURES, type FeatureSet } from '../features.js';
import { FrontendChannel, DEFAULT_REPLY_TIMEOUT_MS } from '../vhost-user/frontend-channel.js';
import { VhostUserFrontend } from '../vhost-user/frontend.js';
import { PortQueue, NET_HDR_SIZE, type QueueStats } from './queue.js';

const MiB = 1 << 20;
const PRIVATE_BYTES = 16 * MiB;

export interface VirtioUserPortOptions {
  /** The back-end's socket (client), or where to listen for it (server). */
  socket: string;
  server?: boolean;
  /** Queue pairs (default 1). */
  queues?: number;
  layout?: RingLayout;
  /** Entries per ring (default 256). */
  queueSize?: number;
  /** Mempool buffers (default: 4 rings' worth per pair, at least 1024). */
  poolSize?: number;
  /** Data bytes per buffer (default 2048). */
  dataRoom?: number;
  /** Bound on each vhost-user reply (ms, default 5000). */
  replyTimeoutMs?: number;
  /**
   * Ask for VIRTIO_NET_F_MRG_RXBUF (default true): a received frame may then span several
   * buffers, delivered as one chain (5.1.6.4). Without it a frame must fit one buffer.
   */
  mergeable?: boolean;
  /** Set everything up again when the back-end comes back (default true). */
  reconnect?: boolean;
  /** Client mode: time between connection attempts (ms, default 200). */
  retryMs?: number;
  /**
   * Dataplane workers that will run the queue pairs (VirtioUserWorkers): the pool gets a cache
   * slot for each (slot w + 1; slot 0 is the main thread's). Default 0: the caller's thread polls.
   */
  workers?: number;
  log?: (line: string) => void;
}

type PortEvents = { up: []; down: [string] };

export class VirtioUserPort extends EventEmitter<PortEvents> {
  readonly queues: PortQueue[] = [];
  readonly pool: Mempool;
  private frontend: VhostUserFrontend | undefined;
  private listener: UnixServer | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private connecting = false;
  /** connect()'s rejection while it waits (used when the port does not reconnect). */
  private pendingFail: ((e: Error) => void) | undefined;
  private readonly rxScratch: HandleBurst;
  private readonly txScratch: HandleBurst;
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
    const pairs = opts.queues ?? 1;
    const num = opts.queueSize ?? 256;
    const shared = new MemoryPlan(engine.memory, { start: offset, end: offset + size });
    const priv = new MemoryPlan(engine.memory, { start: 64 * 1024, end: PRIVATE_BYTES });
    const workers = opts.workers ?? 0;
    this.pool = Mempool.create(engine, shared, {
      size: opts.poolSize ?? Math.max(1024, 4 * num * pairs), dataRoom: opts.dataRoom ?? 2048, headroom: 64,
      caches: workers + 1, cacheSize: workers > 0 ? 32 : 0, ringWait: workers > 0 ? 'sleep' : undefined,
    });
    const cache = this.pool.cache(0);
    const features = FEATURES.VERSION_1 | (layout === 'packed' ? FEATURES.RING_PACKED : 0n);
    for (let k = 0; k < pairs; k++) this.queues.push(new PortQueue(k, engine, shared, priv, layout, num, features, this.pool, cache));
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
    const pairs = opts.queues ?? 1;
    const num = opts.queueSize ?? 256;
    const dataRoom = opts.dataRoom ?? 2048;
    const poolSize = opts.poolSize ?? Math.max(1024, 4 * num * pairs);
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > 128) throw new RangeError(`queues must be 1 to 128, got ${pairs}`);
    const shared = Math.ceil((poolSize * (dataRoom + 256) + pairs * 2 * (num * 24 + 8192) + MiB) / MiB) * MiB;
    const memory = createSharedMemory(PRIVATE_BYTES + shared);
    const engine = loadEngine(memory);
    const fd = memfdCreate('virtio-user', shared);
    try {
      mapIntoMemory(memory, PRIVATE_BYTES, fd, 0, shared);
    } catch (e) {
      close(fd);
      throw e;
    }
    return new VirtioUserPort(engine, fd, PRIVATE_BYTES, shared, opts.layout ?? 'split', opts);
  }

  /**
   * Connects (client) or listens (server); resolves once a back-end is set up. Without
   * `reconnect`, rejects with the first failure (every buffer back in the pool).
   */
  connect(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.once('up', () => { this.pendingFail = undefined; resolve(); });
      this.pendingFail = (e) => { this.pendingFail = undefined; reject(e); };
      this.start(this.pendingFail);
    });
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  get up(): boolean {
    return this.frontend !== undefined;
  }

  private start(fail: (e: Error) => void): void {
    if (this.opts.server) {
      try {
        this.listener = UnixServer.listen(this.opts.socket);
      } catch (e) { fail(e as Error); return; }
      this.listener.on('connection', (s) => {
        if (this.frontend || this.connecting || this.quiescing || this.closed) { s.close(); return; }
        void this.attach(s);
      });
    } else {
      this.tryConnect(fail);
    }
  }

  private tryConnect(fail?: (e: Error) => void): void {
    if (this.closed) return;
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
      const fe = await VhostUserFrontend.start(channel, {
        memory: { fd: this.memfd, offset: this.offset, size: this.size }, layout: this.layout, pairs: this.queues.length,
        features: (this.opts.mergeable ?? true) ? FEATURES.NET_MRG_RXBUF : 0n,
      });
      for (const q of this.queues) q.setMergeable((fe.negotiated.features & FEATURES.NET_MRG_RXBUF) !== 0n);
      // A fresh ring: split 0; packed slot 0 with wrap counter 1, the available half only, as
      // DPDK's virtio-user sends it (vring.ts: no used half means used = available). A back-end
      // with its own state of the ring (ours, its state file) then knows the ring starts afresh.
      const base = this.layout === 'packed' ? 0x8000 : 0;
      for (const q of this.queues) {
        q.resetRings();
        for (const [index, r] of [[2 * q.index, q.rx], [2 * q.index + 1, q.tx]] as const) {
          r.driver.disableInterrupts();
          await fe.setupVring({ index, areas: r.areas, base, kickFd: r.kick.fd, callFd: r.call.fd });
        }
      }
      if (this.closed) { fe.close('the port closed'); return false; }
      this.frontend = fe;
      this.connecting = false;
      this.connections++;
      channel.onEnd((reason) => this.down(reason));
      for (const q of this.queues) q.refill();
      if (this.workerOwned) for (const q of this.queues) q.setState(V.VUQ_STATE_RUNNING);
      this.log(`back-end set up (${this.layout}, ${this.queues.length} queue pair(s))`);
      this.emit('up');
      return true;
    } catch (e) {
      this.connecting = false;
      this.lastError = (e as Error).message;
      this.log(this.lastError);
      channel.close(this.lastError);
      this.reclaim();
      if (!(this.opts.reconnect ?? true)) this.pendingFail?.(e as Error);
      else if (!this.opts.server && !this.closed) this.retry = setTimeout(() => this.tryConnect(), this.opts.retryMs ?? 200);
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
      if (!this.opts.server && (this.opts.reconnect ?? true) && !this.closed) {
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
  private broke(q: PortQueue, e: unknown): never {
    const reason = `queue pair ${q.index}: ${(e as Error).message}`;
    this.frontend?.close(reason);
    throw e;
  }

  private queue(k: number): PortQueue | undefined {
    const q = this.queues[k];
    if (!q) throw new RangeError(`queue ${k}: the port has ${this.queues.length}`);
    if (this.workerOwned) throw new Error(`queue ${k}: its queue pairs run on Dataplane workers`);
    return this.frontend ? q : undefined;
  }

  /** Received frames of queue pair `k` into `out` (0 while the back-end is away). */
  rxBurst(k: number, out: HandleBurst, max?: number): number {
    const q = this.queue(k);
    if (!q) { out.count = 0; return 0; }
    try { return q.rxBurst(out, max); } catch (e) { return this.broke(q, e); }
  }

  /** Sends handles [0, n) on queue pair `k`: returns how many were taken (the rest stay the caller's). */
  txBurst(k: number, burst: HandleBurst, n?: number): number {
    const q = this.queue(k);
    if (!q) return 0;
    try { return q.txBurst(burst, n); } catch (e) { return this.broke(q, e); }
  }

  stats(k: number): QueueStats {
    return { ...this.queues[k].stats };
  }

  /** A view of one buffer's data (a frame's first buffer: its first segment). */
  data(handle: number, len = this.engine.u32[(handle + M.BUF_DATA_LEN) >>> 2]): Uint8Array {
    const at = this.pool.dataOf(handle);
    return this.engine.u8.subarray(at, at + len);
  }

  /** The buffers of the frame that starts at `handle` (one unless it spans several, MRG_RXBUF). */
  segments(handle: number): number[] {
    const out: number[] = [];
    const u32 = this.engine.u32;
    for (let h = handle; h !== 0 && out.length < this.pool.size; h = u32[(h + M.BUF_HDR_SIZE + V.VUB_NEXT) >>> 2]) {
      if (this.pool.indexOf(h) < 0) throw new RangeError(`buffer ${handle}: its chain links to ${h}, not a buffer of the pool`);
      out.push(h);
    }
    return out;
  }

  /** A copy of the whole frame that starts at `handle` (every segment). */
  frame(handle: number): Uint8Array {
    const parts = this.segments(handle).map((h) => this.data(h));
    if (parts.length === 1) return parts[0].slice();
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  /**
   * Copies `frame` into fresh buffers (a chain when it is longer than one buffer's data room):
   * the first buffer's handle, or undefined when the pool is short.
   */
  alloc(frame: Uint8Array): number | undefined {
    const room = this.pool.dataRoom;
    const n = Math.max(1, Math.ceil(frame.length / room));
    if (n > 64 || n > this.queues[0].num) throw new RangeError(`a frame of ${frame.length} bytes needs ${n} buffers of ${room}`);
    const b = this.txScratch;
    if (this.pool.cache(0).get(b, n) === 0) return undefined;
    const u32 = this.engine.u32;
    const off = M.BUF_HDR_SIZE + this.pool.headroom;
    for (let i = 0; i < n; i++) {
      const h = b.handles[i];
      const part = frame.subarray(i * room, Math.min(frame.length, (i + 1) * room));
      u32[(h + M.BUF_DATA_OFF) >>> 2] = off;
      u32[(h + M.BUF_DATA_LEN) >>> 2] = part.length;
      u32[(h + M.BUF_HDR_SIZE + V.VUB_NEXT) >>> 2] = i + 1 < n ? b.handles[i + 1] : 0;
      u32[(h + M.BUF_HDR_SIZE + V.VUB_NB_SEGS) >>> 2] = n;
      u32[(h + M.BUF_HDR_SIZE + V.VUB_PKT_LEN) >>> 2] = frame.length;
      this.engine.u8.set(part, h + off);
    }
    return b.handles[0];
  }

  /** A burst of `capacity` handles for rxBurst/txBurst, in the port's private memory. */
  burst(capacity = 32): HandleBurst {
    return HandleBurst.alloc(this.engine, this.priv, capacity);
  }

  /** Frees the frames whose first buffers are handles [0, n), every buffer of each. */
  free(burst: HandleBurst, n = burst.count): void {
    if (this.workerOwned) throw new Error('free: the queue pairs run on Dataplane workers');
    const q = this.queues[0];
    this.engine.check(this.engine.exports.vuqFree(q.block, burst.ptr, burst.size(n, burst.count)), this.pool.addr, 'virtio-user free');
  }

  /**
   * Sends one frame (copied) on queue pair `k`, waiting while the ring or the pool is full
   * (back-pressure); rejects after `timeoutMs` without room or when the port closes.
   */
  async send(frame: Uint8Array, k = 0, timeoutMs = 5_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.closed) throw new Error('virtio-user: the port is closed');
      const q = this.queue(k);
      if (q && q.txRoom() > 0) {
        const h = this.alloc(frame);
        if (h !== undefined) {
          const b = this.txScratch.fill([h]);
          if (this.txBurst(k, b, 1) === 1) return;
          this.free(b, 1);
        }
      }
      if (performance.now() > deadline) throw new Error(`virtio-user: no room to send on queue ${k} within ${timeoutMs} ms${this.up ? '' : ' (the back-end is away)'}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Received frames of queue pair `k`, copied out, until the port closes. */
  async *frames(k = 0): AsyncGenerator<Uint8Array> {
    const b = this.rxScratch;
    while (!this.closed) {
      const n = this.rxBurst(k, b);
      if (n === 0) { await new Promise((r) => setTimeout(r, 1)); continue; }
      const out = Array.from(b.handles.subarray(0, n), (h) => this.frame(h));
      this.free(b, n);
      for (const f of out) yield f;
    }
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
    if (this.closed) return;
    this.closed = true;
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

export { NET_HDR_SIZE, type QueueStats };
