// The front-end's end of a vhost-user socket: sends requests and waits for their replies, each
// wait bounded. The back-end is not trusted: a reply with the wrong request code, without the
// REPLY flag, with a payload of the wrong size, a REPLY_ACK that is not 0, silence past the
// deadline or a hang-up all end in a FrontendError naming the request and what was wrong
// (vhost-user.rst "Communication", "REPLY_ACK"). The wire format is the back-end's
// (message.ts, reader.ts); only the direction differs.
import { close, UnixSocket, type Received } from '../native/index.js';
import * as P from './protocol.js';
import { encode, readU64, type Message } from './message.js';
import { MessageReader } from './reader.js';

/** How long a reply may take, by default (ms). */
export const DEFAULT_REPLY_TIMEOUT_MS = 5_000;

/** What the back-end did wrong, or why the front-end could not go on. */
export class FrontendError extends Error {
  constructor(readonly request: number | undefined, problem: string) {
    super(request === undefined ? `vhost-user front-end: ${problem}` : `vhost-user front-end: ${P.requestName(request)}: ${problem}`);
    this.name = 'FrontendError';
  }
}

function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try { close(fd); } catch { /* already gone */ }
  }
}

export class FrontendChannel {
  private readonly reader = new MessageReader();
  private readonly queued: Message[] = [];
  private waiter: ((m: Message | Error) => void) | undefined;
  /** Runs while part of a message has arrived: the rest must come within the timeout. */
  private partial: NodeJS.Timeout | undefined;
  private endReason: string | undefined;
  private readonly endListeners: ((reason: string) => void)[] = [];

  constructor(readonly socket: UnixSocket, readonly timeoutMs = DEFAULT_REPLY_TIMEOUT_MS) {
    socket.maxFds = P.MEM_TABLE_MAX_REGIONS;
    socket.on('data', (got: Received) => this.onData(got));
    socket.on('end', () => this.end('the back-end hung up'));
    socket.on('close', () => this.end('the socket closed'));
    socket.on('error', (e: Error) => this.end(`socket error: ${e.message}`));
  }

  /** Undefined while the connection lives; else why it ended. */
  get ended(): string | undefined {
    return this.endReason;
  }

  /** `f` runs once when the connection ends (at once if it already has). */
  onEnd(f: (reason: string) => void): void {
    if (this.endReason !== undefined) f(this.endReason);
    else this.endListeners.push(f);
  }

  private onData(got: Received): void {
    if (this.endReason !== undefined) { closeAll(got.fds); return; }
    try {
      for (const m of this.reader.push(got.data, got.fds, closeAll)) {
        // Ended by an earlier message of this read (the flood bound): the rest are dropped too.
        if (this.endReason !== undefined) { closeAll(m.fds); continue; }
        const w = this.waiter;
        if (w) { this.waiter = undefined; w(m); } else if (this.queued.length < 64) this.queued.push(m);
        else { closeAll(m.fds); this.end('the back-end sent more than 64 messages nobody asked for'); }
      }
    } catch (e) {
      this.end(`bad message from the back-end: ${(e as Error).message}`);
      return;
    }
    this.watchPartial();
  }

  /**
   * A message begun must end within the timeout, asked for or not (vhost-user.rst has no bound;
   * this is ours): a back-end that sends half a message and stalls would otherwise hold the
   * connection, and the fds that came with it, for good.
   */
  private watchPartial(): void {
    if (!this.reader.midMessage) {
      clearTimeout(this.partial);
      this.partial = undefined;
      return;
    }
    if (this.partial !== undefined || this.endReason !== undefined) return;
    this.partial = setTimeout(() => {
      const p = this.reader.progress;
      this.end(`half a message from the back-end for ${this.timeoutMs} ms (${p?.have ?? 0} of ${p?.of ?? 0} bytes${p?.request !== undefined ? `, ${P.requestName(p.request)}` : ''})`);
    }, this.timeoutMs);
    this.partial.unref();
  }

  private end(reason: string): void {
    if (this.endReason !== undefined) return;
    this.endReason = reason;
    clearTimeout(this.partial);
    const w = this.waiter;
    this.waiter = undefined;
    w?.(new Error(reason));
    for (const m of this.queued.splice(0)) closeAll(m.fds);
    closeAll(this.reader.pendingFds);
    this.socket.close();
    for (const f of this.endListeners.splice(0)) f(reason);
  }

  close(reason = 'the front-end closed the connection'): void {
    this.end(reason);
  }

  /** Sends one request (the flags: version 1, plus NEED_REPLY when `needReply`). */
  async send(request: number, payload: Uint8Array = new Uint8Array(0), fds: readonly number[] = [], needReply = false): Promise<void> {
    if (this.endReason !== undefined) throw new FrontendError(request, `the connection has ended (${this.endReason})`);
    try {
      await this.socket.send(encode(request, P.VERSION | (needReply ? P.FLAG_NEED_REPLY : 0), payload), fds);
    } catch (e) {
      throw new FrontendError(request, `sending: ${(e as Error).message}`);
    }
  }

  /** The next message from the back-end, within the timeout. */
  private next(request: number): Promise<Message> {
    const m = this.queued.shift();
    if (m) return Promise.resolve(m);
    if (this.endReason !== undefined) return Promise.reject(new FrontendError(request, `no reply: ${this.endReason}`));
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        const e = new FrontendError(request, `no reply within ${this.timeoutMs} ms`);
        this.end(e.message);
        reject(e);
      }, this.timeoutMs);
      this.waiter = (got) => {
        clearTimeout(timer);
        if (got instanceof Error) reject(new FrontendError(request, `no reply: ${got.message}`));
        else resolve(got);
      };
    });
  }

  /**
   * The reply to `request`, checked: same request code, REPLY flag set, payload of `size` bytes
   * (when given). A bad reply ends the connection (the stream cannot be trusted after it).
   */
  async reply(request: number, size?: number): Promise<Message> {
    const m = await this.next(request);
    let problem: string | undefined;
    if (m.request !== request) problem = `the reply is for ${P.requestName(m.request)} (vhost-user.rst: a reply carries the request's code)`;
    else if ((m.flags & P.FLAG_REPLY) === 0) problem = `the reply lacks the REPLY flag (flags 0x${m.flags.toString(16)})`;
    else if (size !== undefined && m.payload.length !== size) problem = `reply payload of ${m.payload.length} bytes, expected ${size}`;
    else if (m.fds.length > 0) problem = `${m.fds.length} unexpected file descriptors with the reply`;
    if (problem !== undefined) {
      closeAll(m.fds);
      this.end(`${P.requestName(request)}: ${problem}`);
      throw new FrontendError(request, problem);
    }
    return m;
  }

  /** Sends a request that has a reply, and returns the reply's u64. */
  async getU64(request: number, payload?: Uint8Array): Promise<bigint> {
    await this.send(request, payload);
    return readU64(await this.reply(request, 8));
  }

  /**
   * Sends a request; with REPLY_ACK (`acked`), asks for and checks the ack: 0 is success, any
   * other value means the back-end refused (vhost-user.rst "REPLY_ACK").
   */
  async request(request: number, payload: Uint8Array | undefined, fds: readonly number[], acked: boolean): Promise<void> {
    await this.send(request, payload, fds, acked);
    if (!acked) return;
    const ack = readU64(await this.reply(request, 8));
    if (ack !== 0n) throw new FrontendError(request, `the back-end refused it (REPLY_ACK ${ack})`);
  }
}
