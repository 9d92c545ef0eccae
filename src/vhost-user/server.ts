// The vhost-user back-end's socket: listens at a path (never replacing a live socket), serves one
// front-end at a time (a second connection is closed with a log line), and after a session ends
// (hang-up or protocol error) is ready for the next. Client mode (the front-end listens, e.g.
// QEMU's `server=on`) connects instead, with backoff, and reconnects after each session. A
// front-end that sends part of a message and stalls loses its session after `messageTimeoutMs`
// (connection.ts), so it cannot keep the server from the next one; one that floods is read at
// `messageRate` messages a second.
import { EventEmitter } from 'node:events';
import { UnixServer, UnixSocket } from '../native/index.js';
import type { MemoryPlan } from '../memory.js';
import { VhostUserBackend, type BackendOptions } from './backend.js';
import { VhostUserConnection, messageTimeoutProblem, messageRateProblem } from './connection.js';
import { RingSlots } from './ring-slots.js';

export interface VhostUserServerOptions extends Omit<BackendOptions, 'slots' | 'endSession'> {
  /** Where the per-vring device state is reserved (one slot per vring of the device, once). */
  plan: MemoryPlan;
  /** Permissions of the listening socket file (default 0o600). */
  socketMode?: number;
  /**
   * Most time a message may take from its first byte to its last, in ms (default 5000; 0: no
   * limit). A session idle between messages never times out.
   */
  messageTimeoutMs?: number;
  /**
   * Most messages read per second from a front-end, with a burst of as many (default 1000; 0: no
   * limit): a flood of control messages takes at most that much of the main thread.
   */
  messageRate?: number;
}

export interface ClientModeOptions {
  /** First retry delay (default 50 ms), doubled up to `maxDelayMs` (default 2000 ms). */
  minDelayMs?: number;
  maxDelayMs?: number;
}

type ServerEvents = { session: [VhostUserBackend]; sessionEnd: [string]; close: [] };

export class VhostUserServer extends EventEmitter<ServerEvents> {
  private readonly slots: RingSlots;
  private readonly log: (line: string) => void;
  private listener: UnixServer | undefined;
  private current: VhostUserConnection | undefined;
  private retry: NodeJS.Timeout | undefined;
  private isClosed = false;

  private constructor(private readonly opts: VhostUserServerOptions) {
    super();
    const problem = messageTimeoutProblem(opts.messageTimeoutMs ?? 0) ?? messageRateProblem(opts.messageRate ?? 0);
    if (problem !== null) throw new RangeError(problem);
    this.slots = new RingSlots(opts.plan, opts.device.vrings);
    this.log = opts.log ?? ((line) => console.warn(`vhost-user: ${line}`));
  }

  /** Listens at `path` for front-ends (EADDRINUSE if a live server is there). */
  static listen(path: string, opts: VhostUserServerOptions): VhostUserServer {
    const s = new VhostUserServer(opts);
    s.listener = UnixServer.listen(path, { mode: opts.socketMode });
    s.listener.on('connection', (socket) => s.accept(socket));
    s.listener.on('error', (e) => s.log(`listening socket: ${e.message}`));
    return s;
  }

  /** Connects to a front-end listening at `path`, retrying with backoff, and again after each session. */
  static connect(path: string, opts: VhostUserServerOptions, client: ClientModeOptions = {}): VhostUserServer {
    const s = new VhostUserServer(opts);
    const min = client.minDelayMs ?? 50;
    const max = client.maxDelayMs ?? 2000;
    let delay = min;
    const attempt = (): void => {
      s.retry = undefined;
      if (s.isClosed || s.current) return;
      let socket: UnixSocket;
      try {
        socket = UnixSocket.connect(path);
      } catch (e) {
        s.log(`connecting to ${path}: ${(e as Error).message}; retrying in ${delay} ms`);
        s.retry = setTimeout(attempt, delay);
        delay = Math.min(delay * 2, max);
        return;
      }
      delay = min;
      s.accept(socket);
    };
    s.on('sessionEnd', () => {
      if (!s.isClosed) s.retry = setTimeout(attempt, min);
    });
    attempt();
    return s;
  }

  /** The session being served, if any. */
  get session(): VhostUserBackend | undefined {
    return this.current?.backend;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Replies of the current session not yet taken by the front-end's socket (0 when none). */
  get replyBacklog(): number {
    return this.current?.socket.pendingSends ?? 0;
  }

  /** Stops listening (or reconnecting) and ends the current session. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.retry) clearTimeout(this.retry);
    this.listener?.close();
    this.current?.close('the back-end is closing');
    this.emit('close');
  }

  private accept(socket: UnixSocket): void {
    if (this.isClosed) {
      socket.close();
      return;
    }
    if (this.current) {
      this.log(`refusing connection fd ${socket.fd}: a session is already being served`);
      socket.close();
      return;
    }
    let backend: VhostUserBackend;
    let endSession = (_reason: string): void => undefined;
    try {
      backend = new VhostUserBackend({ ...this.opts, slots: this.slots, log: this.log, endSession: (reason) => endSession(reason) });
    } catch (e) {
      this.log(`cannot start a session: ${(e as Error).message}`);
      socket.close();
      return;
    }
    const conn = new VhostUserConnection(socket, backend, this.log, (reason) => {
      if (this.current === conn) this.current = undefined;
      this.opts.device.bindSession?.(undefined);
      this.emit('sessionEnd', reason);
    }, { messageTimeoutMs: this.opts.messageTimeoutMs, messageRate: this.opts.messageRate });
    this.current = conn;
    endSession = (reason) => conn.close(reason);
    this.opts.device.bindSession?.((reason) => conn.close(reason));
    this.emit('session', backend);
  }
}
