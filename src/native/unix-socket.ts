// A connected Unix stream socket that carries fds (SCM_RIGHTS) both ways, driven by the event
// loop: 'data' for each chunk received (with the fds that came with it), 'end' when the peer hangs
// up, 'close' when closed; send() resolves once every byte is in the kernel.
//
// Where fds land in the byte stream (Linux): they come with the chunk that holds the first byte
// of the send they were attached to. That chunk never reaches past the end of that send, but
// may begin with bytes sent before it; a reader that needs exact framing (vhost-user: a 12-byte
// header, then its payload) reads with maxBytes set to what it expects next.
import { EventEmitter } from 'node:events';
import { native, type NativeReceived } from './binding.js';
import { watchFd, POLL, type FdWatcher } from './poll.js';

export type Received = NativeReceived;

export interface UnixSocketOptions {
  /** Bytes per receive call (default 65536). */
  maxBytes?: number;
  /** Fds kept per receive call (default 32); more are closed and counted in `closedFds`. */
  maxFds?: number;
}

interface PendingSend {
  data: Uint8Array;
  fds: readonly number[];
  sent: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

type SocketEvents = { data: [Received]; end: []; error: [Error]; close: [] };

/** Receive calls per readable wakeup, so one busy peer cannot starve the event loop. */
const READS_PER_WAKEUP = 64;

export class UnixSocket extends EventEmitter<SocketEvents> {
  /** Bytes per receive call; may be changed at any time (e.g. from a 'data' listener, to frame). */
  maxBytes: number;
  /** Fds kept per receive call; more are closed and counted in `closedFds`. */
  maxFds: number;
  private readonly watcher: FdWatcher;
  private readonly queue: PendingSend[] = [];
  private reading = true;
  private isClosed = false;

  /** Adopts a connected, non-blocking socket fd; it is closed with the socket. */
  constructor(readonly fd: number, opts: UnixSocketOptions = {}) {
    super();
    this.maxBytes = opts.maxBytes ?? 65536;
    this.maxFds = opts.maxFds ?? 32;
    this.watcher = watchFd(fd, (error, events) => this.onPoll(error, events));
    // Readiness is reported from the event loop, so 'data' listeners added right after
    // construction (in the same tick) see everything.
    this.update();
  }

  /** Connects to a listening socket at `path` (ENOENT, ECONNREFUSED, EAGAIN when its backlog is full). */
  static connect(path: string, opts: UnixSocketOptions = {}): UnixSocket {
    return UnixSocket.adopt(native.unixConnect(path), opts);
  }

  /** new UnixSocket(fd), closing the fd if that fails (it is nobody else's). */
  static adopt(fd: number, opts: UnixSocketOptions = {}): UnixSocket {
    try {
      return new UnixSocket(fd, opts);
    } catch (e) {
      native.close(fd);
      throw e;
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Sends not yet wholly in the kernel (the peer is not reading, or not fast enough). */
  get pendingSends(): number {
    return this.queue.length;
  }

  /**
   * Sends `data`, with `fds` attached to its first byte (the receiver gets copies; the caller keeps
   * and still owns its own, and may close them once this resolves). Sends are written in order.
   */
  send(data: Uint8Array, fds: readonly number[] = []): Promise<void> {
    if (this.isClosed) return Promise.reject(new Error(`send fd ${this.fd}: the socket is closed`));
    if (fds.length > 0 && data.length === 0) {
      return Promise.reject(new RangeError('send: fds need at least one byte of data to travel with'));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ data, fds: [...fds], sent: 0, resolve, reject });
      if (this.queue.length === 1) this.flush();
    });
  }

  /** Stops reading (the kernel buffers, then the peer waits); resume() starts again. */
  pause(): void {
    this.reading = false;
    this.update();
  }

  resume(): void {
    this.reading = true;
    this.update();
  }

  ref(): void {
    if (!this.isClosed) this.watcher.ref();
  }

  unref(): void {
    if (!this.isClosed) this.watcher.unref();
  }

  /** Closes the socket: pending sends fail, 'close' is emitted once. */
  close(): void {
    if (this.teardown()) this.emit('close');
  }

  /** Releases the watcher and the fd; false if that already happened. */
  private teardown(): boolean {
    if (this.isClosed) return false;
    this.isClosed = true;
    this.watcher.close();
    native.close(this.fd);
    const pending = this.queue.splice(0);
    for (const p of pending) p.reject(new Error(`send fd ${this.fd}: the socket was closed before it was sent`));
    return true;
  }

  private update(): void {
    if (this.isClosed) return;
    const events = (this.reading ? POLL.READABLE | POLL.DISCONNECT : 0) | (this.queue.length > 0 ? POLL.WRITABLE : 0);
    if (events === 0) this.watcher.stop();
    else this.watcher.start(events);
  }

  private onPoll(error: string | null, events: number): void {
    if (error !== null) {
      // libuv reports POLLERR as EBADF. On a socket still open here that is the connection
      // failing (the peer closed with our data unread: ECONNRESET), so read: what is still
      // buffered is delivered, and the kernel names the error itself.
      if (error === 'EBADF' && this.reading) this.read();
      if (!this.isClosed) this.fail(new Error(`poll fd ${this.fd}: ${error}`));
      return;
    }
    if (events & POLL.WRITABLE) this.flush();
    if (events & (POLL.READABLE | POLL.DISCONNECT)) this.read();
  }

  private read(): void {
    for (let i = 0; i < READS_PER_WAKEUP && this.reading && !this.isClosed; i++) {
      let got: Received | null;
      try {
        got = native.unixReceive(this.fd, this.maxBytes, this.maxFds);
      } catch (e) {
        this.fail(e as Error);
        return;
      }
      if (got === null) return;
      if (got.data.length === 0) {
        this.emit('end');
        this.close();
        return;
      }
      this.emit('data', got);
    }
  }

  private flush(): void {
    while (this.queue.length > 0 && !this.isClosed) {
      const head = this.queue[0];
      let n: number | null;
      try {
        n = native.unixSend(this.fd, head.data.subarray(head.sent), head.sent === 0 ? head.fds : []);
      } catch (e) {
        this.queue.shift();
        head.reject(e as Error);
        continue; // the next send reports its own error (the socket stays for reading what is left)
      }
      if (n === null) break; // kernel buffer full: wait for writable
      head.sent += n;
      if (head.sent === head.data.length) {
        this.queue.shift();
        head.resolve();
      }
    }
    this.update();
  }

  private fail(e: Error): void {
    if (!this.teardown()) return;
    // With no 'error' listener, EventEmitter throws: an uncaught exception, as for net.Socket.
    try {
      this.emit('error', e);
    } finally {
      this.emit('close');
    }
  }
}
