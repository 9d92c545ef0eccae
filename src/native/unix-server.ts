// A listening Unix stream socket: 'connection' with a UnixSocket for each peer that connects.
// It never replaces a live server's socket (EADDRINUSE) or a file that is not a socket; a stale
// socket (nobody accepting) is removed first. close() removes the path if it is still ours.
import { EventEmitter } from 'node:events';
import { lstatSync, statSync, unlinkSync } from 'node:fs';
import { native } from './binding.js';
import { watchFd, POLL, type FdWatcher } from './poll.js';
import { UnixSocket, type UnixSocketOptions } from './unix-socket.js';

export interface UnixServerOptions {
  /** listen() backlog (default 16). */
  backlog?: number;
  /** Permissions of the socket file (default 0o600: only this user may connect). */
  mode?: number;
  /** Options for each accepted socket. */
  socket?: UnixSocketOptions;
}

type ServerEvents = { connection: [UnixSocket]; error: [Error]; close: [] };

/** Accept calls per readable wakeup. */
const ACCEPTS_PER_WAKEUP = 16;

export class UnixServer extends EventEmitter<ServerEvents> {
  private readonly watcher: FdWatcher;
  private readonly identity: { dev: bigint; ino: bigint };
  private isClosed = false;

  private constructor(readonly path: string, readonly fd: number, private readonly opts: UnixServerOptions) {
    super();
    const st = statSync(path, { bigint: true });
    this.identity = { dev: st.dev, ino: st.ino };
    this.watcher = watchFd(fd, (error) => this.onReadable(error));
    this.watcher.start(POLL.READABLE);
  }

  /** Listens at `path` (ENAMETOOLONG past 107 bytes; EADDRINUSE if a server is there). */
  static listen(path: string, opts: UnixServerOptions = {}): UnixServer {
    const fd = native.unixListen(path, opts.backlog ?? 16, opts.mode ?? 0o600);
    try {
      return new UnixServer(path, fd, opts);
    } catch (e) {
      native.close(fd);
      throw e;
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  ref(): void {
    if (!this.isClosed) this.watcher.ref();
  }

  unref(): void {
    if (!this.isClosed) this.watcher.unref();
  }

  /** Stops listening and removes the socket file, unless something else has replaced it. */
  close(): void {
    if (this.teardown()) this.emit('close');
  }

  private teardown(): boolean {
    if (this.isClosed) return false;
    this.isClosed = true;
    this.watcher.close();
    native.close(this.fd);
    try {
      const st = lstatSync(this.path, { bigint: true });
      if (st.dev === this.identity.dev && st.ino === this.identity.ino) unlinkSync(this.path);
    } catch {
      // already gone
    }
    return true;
  }

  private onReadable(error: string | null): void {
    if (error !== null) {
      if (!this.teardown()) return;
      try {
        this.emit('error', new Error(`accept ${this.path}: ${error}`));
      } finally {
        this.emit('close');
      }
      return;
    }
    for (let i = 0; i < ACCEPTS_PER_WAKEUP && !this.isClosed; i++) {
      let fd: number | null;
      try {
        fd = native.unixAccept(this.fd);
      } catch (e) {
        this.emit('error', e as Error);
        return;
      }
      if (fd === null) return;
      const socket = UnixSocket.adopt(fd, this.opts.socket);
      // Nobody to hand it to: close it rather than leak it.
      if (this.listenerCount('connection') === 0) socket.close();
      else this.emit('connection', socket);
    }
  }
}
