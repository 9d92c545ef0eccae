// One front-end connection: reads the socket exactly `reader.wanted` bytes at a time (so each
// message's fds stay with its header), hands each message to the back-end session and sends its
// replies. Replies have back-pressure: while one waits for room in the socket, no more requests
// are read (a front-end that does not read its replies stops being served, it does not grow the
// back-end's memory). On a protocol error that ends the connection, on hang-up or on a socket
// error it logs the reason, closes the session (rings stopped, fds closed, guest memory
// unmapped) and the socket, and reports the end once.
//
// A message must arrive whole within `messageTimeoutMs` of its first byte: a front-end that sends
// part of one and stalls would otherwise hold the session (and the server, which serves one at a
// time) for ever. Between messages there is no limit: QEMU may send nothing for hours.
import { close, type UnixSocket, type Received } from '../native/index.js';
import * as P from './protocol.js';
import type { Message } from './message.js';
import { MessageReader } from './reader.js';
import type { VhostUserBackend } from './backend.js';

/** How long a message may take from its first byte to its last, by default (ms). */
export const DEFAULT_MESSAGE_TIMEOUT_MS = 5_000;

export interface ConnectionOptions {
  /** Most time from a message's first byte to its last (default 5000 ms; 0: no limit). */
  messageTimeoutMs?: number;
}

/** Why `ms` cannot be a message timeout (null when it can). */
export function messageTimeoutProblem(ms: number): string | null {
  return Number.isSafeInteger(ms) && ms >= 0 ? null : `message timeout ${ms} ms: expected a whole number of milliseconds, 0 for none`;
}

export class VhostUserConnection {
  private readonly reader = new MessageReader();
  private ended = false;
  private readonly timeoutMs: number;
  /** Running while a message is incomplete; cleared when it completes. */
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly socket: UnixSocket, readonly backend: VhostUserBackend,
              private readonly log: (line: string) => void, private readonly onEnd: (reason: string) => void,
              opts: ConnectionOptions = {}) {
    this.timeoutMs = opts.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS;
    const problem = messageTimeoutProblem(this.timeoutMs);
    if (problem !== null) throw new RangeError(problem);
    socket.maxFds = P.MEM_TABLE_MAX_REGIONS;
    socket.maxBytes = this.reader.wanted;
    socket.on('data', (got) => this.onData(got));
    socket.on('end', () => this.end('the front-end hung up'));
    socket.on('error', (e) => this.end(`socket error: ${e.message}`));
    socket.on('close', () => this.end('the socket closed'));
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Ends the connection from this side (e.g. the server is closing). */
  close(reason = 'the back-end is closing'): void {
    this.end(reason);
  }

  private onData(got: Received): void {
    if (this.ended) {
      closeAll(got.fds);
      return;
    }
    let messages: Message[] = [];
    try {
      if (got.closedFds > 0 || got.truncated) {
        closeAll(got.fds);
        this.end(`more than ${P.MEM_TABLE_MAX_REGIONS} file descriptors with one message`);
        return;
      }
      messages = this.reader.push(got.data, got.fds, closeAll);
      if (messages.length > 0) this.stopTimer();
      while (messages.length > 0 && !this.ended) {
        const m = messages.shift()!;
        for (const reply of this.backend.handle(m)) this.reply(reply);
      }
    } catch (e) {
      this.end((e as Error).message);
    } finally {
      for (const m of messages) closeAll(m.fds);
      if (!this.ended) {
        this.socket.maxBytes = this.reader.wanted;
        if (this.reader.midMessage) this.startTimer();
      }
    }
  }

  /** Starts the clock of the message whose first bytes just came (if it is not running yet). */
  private startTimer(): void {
    if (this.timer !== undefined || this.timeoutMs === 0) return;
    const timer = setTimeout(() => {
      // Bytes that came while the event loop was busy are read first (the poll phase runs
      // before setImmediate callbacks): only a message still incomplete after that ends it.
      setImmediate(() => {
        if (this.timer === timer && !this.ended && this.reader.midMessage) this.end(this.stalled());
      });
    }, this.timeoutMs);
    timer.unref();
    this.timer = timer;
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The reason a stalled message ends the session: what it is and how much of it came. */
  private stalled(): string {
    const p = this.reader.progress!;
    const what = p.request === undefined ? `${p.have} of the ${p.of} header bytes` : `${P.requestName(p.request)}: ${p.have} of ${p.of} bytes`;
    return `no complete message within ${this.timeoutMs} ms of its first byte (${what} arrived)`;
  }

  private reply(bytes: Uint8Array): void {
    const s = this.socket;
    s.send(bytes).then(() => {
      if (s.pendingSends === 0 && !this.ended) s.resume();
    }, (e: Error) => this.end(`sending a reply: ${e.message}`));
    // The kernel buffer is full: read nothing more until the front-end has taken its replies.
    if (s.pendingSends > 0) s.pause();
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.stopTimer();
    this.log(`connection ended: ${reason}`);
    try {
      this.backend.close();
    } catch (e) {
      this.log(`closing the session: ${(e as Error).message}`);
    }
    closeAll(this.reader.pendingFds);
    this.socket.close();
    this.onEnd(reason);
  }
}

function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      close(fd);
    } catch {
      // not ours any more: nothing left to leak
    }
  }
}
