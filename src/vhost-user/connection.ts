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
//
// Messages are read at most `messageRate` a second, with a burst of as many (a token bucket):
// answering them is the main thread's work, and on a machine with few cores every message
// answered is time taken from the workers that move the frames. A well-behaved front-end sends a
// few hundred messages when it sets up, never near the limit; one that floods is read at that rate
// (the rest waits in the socket, as with unread replies) and told once in the log.
import { close, type UnixSocket, type Received } from '../native/index.js';
import * as P from './protocol.js';
import type { Message } from './message.js';
import { MessageReader } from './reader.js';
import type { VhostUserBackend, Reply } from './backend.js';

/** How long a message may take from its first byte to its last, by default (ms). */
export const DEFAULT_MESSAGE_TIMEOUT_MS = 5_000;

/** Messages read per second (and the burst taken at once), by default. */
export const DEFAULT_MESSAGE_RATE = 1_000;

export interface ConnectionOptions {
  /** Most time from a message's first byte to its last (default 5000 ms; 0: no limit). */
  messageTimeoutMs?: number;
  /** Most messages read per second, with a burst of as many (default 1000; 0: no limit). */
  messageRate?: number;
}

/** Why `ms` cannot be a message timeout (null when it can). */
export function messageTimeoutProblem(ms: number): string | null {
  return Number.isSafeInteger(ms) && ms >= 0 ? null : `message timeout ${ms} ms: expected a whole number of milliseconds, 0 for none`;
}

/** Why `n` cannot be a message rate (null when it can). */
export function messageRateProblem(n: number): string | null {
  return Number.isSafeInteger(n) && n >= 0 ? null : `message rate ${n}: expected a whole number of messages per second, 0 for none`;
}

export class VhostUserConnection {
  private readonly reader = new MessageReader();
  private ended = false;
  private readonly timeoutMs: number;
  /** Running while a message is incomplete; cleared when it completes. */
  private timer: NodeJS.Timeout | undefined;
  private readonly rate: number;
  /** Messages that may be read now (a token bucket of `rate` tokens, refilled at `rate` a second). */
  private tokens: number;
  private refilledAt = performance.now();
  /** Set while reading waits for the bucket to refill. */
  private throttle: NodeJS.Timeout | undefined;
  private throttled = false;

  constructor(readonly socket: UnixSocket, readonly backend: VhostUserBackend,
              private readonly log: (line: string) => void, private readonly onEnd: (reason: string) => void,
              opts: ConnectionOptions = {}) {
    this.timeoutMs = opts.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS;
    this.rate = opts.messageRate ?? DEFAULT_MESSAGE_RATE;
    const problem = messageTimeoutProblem(this.timeoutMs) ?? messageRateProblem(this.rate);
    if (problem !== null) throw new RangeError(problem);
    this.tokens = this.rate;
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
        this.tokens--;
      }
      if (this.rate > 0 && !this.ended) this.pace();
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

  /**
   * Refills the bucket for the time gone by; when it is empty, stops reading until the next
   * message may be read. Reading stops between two messages (each read ends with a message's
   * last byte or earlier), so no message timeout runs meanwhile.
   */
  private pace(): void {
    const now = performance.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
    if (this.tokens >= 1 || this.throttle !== undefined) return;
    if (!this.throttled) {
      this.throttled = true;
      this.log(`the front-end sends more than ${this.rate} messages a second: reading them at that rate`);
    }
    this.socket.pause();
    this.throttle = setTimeout(() => {
      this.throttle = undefined;
      if (!this.ended && this.socket.pendingSends === 0) this.socket.resume();
    }, Math.ceil(((Math.max(1, this.rate / 100) - this.tokens) * 1000) / this.rate)); // at least 10 ms of messages at a time
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

  private reply(bytes: Reply): void {
    const s = this.socket;
    s.send(bytes, bytes.fds ?? []).then(() => {
      if (s.pendingSends === 0 && !this.ended && this.throttle === undefined) s.resume();
    }, (e: Error) => this.end(`sending a reply: ${e.message}`));
    // The kernel buffer is full: read nothing more until the front-end has taken its replies.
    if (s.pendingSends > 0) s.pause();
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.stopTimer();
    if (this.throttle !== undefined) clearTimeout(this.throttle);
    this.throttle = undefined;
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
