// A raw vhost-user front-end for tests: sends hand-encoded messages with whatever fds (and
// whatever mistakes) a test wants, and reads the back-end's replies, with deadlines.
import { UnixSocket } from '../../src/native/index.js';
import * as P from '../../src/vhost-user/protocol.js';
import { encode, u64Payload, readU64, type Message } from '../../src/vhost-user/message.js';
import { MessageReader } from '../../src/vhost-user/reader.js';
import { within } from './within.js';

export class RawFrontEnd {
  private readonly reader = new MessageReader();
  private readonly replies: Message[] = [];
  private waiting: ((m: Message | undefined) => void) | undefined;
  private hungUp = false;
  private endWaiters: (() => void)[] = [];

  private constructor(readonly socket: UnixSocket) {
    socket.on('data', (got) => {
      for (const m of this.reader.push(got.data, got.fds, () => undefined)) this.deliver(m);
    });
    const ended = (): void => {
      if (this.hungUp) return;
      this.hungUp = true;
      this.socket.close();
      this.waiting?.(undefined);
      for (const w of this.endWaiters.splice(0)) w();
    };
    socket.on('end', ended);
    socket.on('close', ended);
    socket.on('error', ended);
  }

  static connect(path: string): RawFrontEnd {
    return new RawFrontEnd(UnixSocket.connect(path));
  }

  /** The back-end closed the connection (or we did). */
  get ended(): boolean {
    return this.hungUp;
  }

  private deliver(m: Message): void {
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w(m);
    } else {
      this.replies.push(m);
    }
  }

  /** Sends raw bytes (e.g. a truncated or forged header) with `fds`. */
  sendRaw(bytes: Uint8Array, fds: readonly number[] = []): Promise<void> {
    return this.socket.send(bytes, fds);
  }

  send(request: number, payload: Uint8Array = new Uint8Array(0), fds: readonly number[] = [], flags = P.VERSION): Promise<void> {
    return this.socket.send(encode(request, flags, payload), fds);
  }

  /** The next message from the back-end; undefined if it closed the connection first. */
  next(ms = 5_000): Promise<Message | undefined> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.hungUp) return Promise.resolve(undefined);
    return within<Message | undefined>(ms, 'a vhost-user reply', (done) => {
      this.waiting = done;
    });
  }

  /** Sends a request and waits for its reply (which must be one). */
  async call(request: number, payload?: Uint8Array, fds: readonly number[] = [], flags = P.VERSION): Promise<Message> {
    await this.send(request, payload, fds, flags);
    const m = await this.next();
    if (!m) throw new Error(`${P.requestName(request)}: the back-end closed the connection`);
    if (m.request !== request || (m.flags & P.FLAG_REPLY) === 0) throw new Error(`${P.requestName(request)}: got ${P.requestName(m.request)} flags ${m.flags}`);
    return m;
  }

  /** A request with NEED_REPLY set; returns the u64 ack (0 = success). */
  async acked(request: number, payload?: Uint8Array, fds: readonly number[] = []): Promise<bigint> {
    return readU64(await this.call(request, payload, fds, P.VERSION | P.FLAG_NEED_REPLY));
  }

  async getU64(request: number): Promise<bigint> {
    return readU64(await this.call(request));
  }

  setU64(request: number, value: bigint, flags = P.VERSION): Promise<void> {
    return this.send(request, u64Payload(value), [], flags);
  }

  /** Takes every reply that arrived and was not read: returns how many. */
  drain(): number {
    const n = this.replies.length;
    this.replies.length = 0;
    return n;
  }

  /** Resolves once the back-end has closed the connection. */
  closedByBackend(ms = 5_000): Promise<void> {
    if (this.hungUp) return Promise.resolve();
    return within<void>(ms, 'the back-end closing the connection', (done) => this.endWaiters.push(done));
  }

  close(): void {
    this.socket.close();
  }
}
