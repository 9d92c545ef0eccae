// Cuts a vhost-user byte stream into messages, keeping each message's file descriptors with it.
// The socket reader asks for exactly the bytes it needs next (`wanted`), so the fds that arrive
// with a header belong to that header's message; fds arriving with anything else, a header with a
// bad version or an oversized payload are protocol errors, after which the connection must close.
import * as P from './protocol.js';
import { ProtocolError, type Message } from './message.js';

export class MessageReader {
  private header = new Uint8Array(P.HEADER_SIZE);
  private have = 0;
  private payload: Uint8Array | undefined;
  private fds: number[] = [];
  private request = 0;
  private flags = 0;

  /** Bytes to ask the socket for next: the rest of the header, or the rest of the payload. */
  get wanted(): number {
    return this.payload ? this.payload.length - this.have : P.HEADER_SIZE - this.have;
  }

  /** Some bytes of a message arrived and it is not complete yet. */
  get midMessage(): boolean {
    return this.payload !== undefined || this.have !== 0;
  }

  /**
   * What arrived of the message not yet complete: its request (once the header is read), the
   * bytes so far and the bytes it has in all (header included; the header's 12 until its size
   * field is read). Undefined between messages.
   */
  get progress(): { request: number | undefined; have: number; of: number } | undefined {
    if (!this.midMessage) return undefined;
    if (!this.payload) return { request: undefined, have: this.have, of: P.HEADER_SIZE };
    return { request: this.request, have: P.HEADER_SIZE + this.have, of: P.HEADER_SIZE + this.payload.length };
  }

  /** File descriptors held for a message not yet complete (closed by the owner on teardown). */
  get pendingFds(): readonly number[] {
    return this.fds;
  }

  /**
   * Takes the next chunk and returns the messages it completes. Throws a ProtocolError (and
   * hands every fd it held back through `orphans`) when the stream cannot be a vhost-user one.
   */
  push(data: Uint8Array, fds: readonly number[], orphans: (fds: number[]) => void): Message[] {
    const out: Message[] = [];
    let at = 0;
    if (fds.length) {
      // Ancillary data travels with the first byte of a message (its header).
      if (this.payload !== undefined || this.have !== 0) {
        orphans([...this.fds, ...fds]);
        this.fds = [];
        throw new ProtocolError(this.request, 'file descriptors arrived in the middle of a message', true);
      }
      this.fds.push(...fds);
    }
    while (at < data.length) {
      if (!this.payload) {
        const take = Math.min(P.HEADER_SIZE - this.have, data.length - at);
        this.header.set(data.subarray(at, at + take), this.have);
        this.have += take;
        at += take;
        if (this.have < P.HEADER_SIZE) break;
        const v = new DataView(this.header.buffer);
        this.request = v.getUint32(P.HDR_REQUEST, true);
        this.flags = v.getUint32(P.HDR_FLAGS, true);
        const size = v.getUint32(P.HDR_SIZE, true);
        if ((this.flags & P.FLAG_VERSION_MASK) !== P.VERSION) {
          orphans(this.takeFds());
          throw new ProtocolError(this.request, `protocol version ${this.flags & P.FLAG_VERSION_MASK}, expected ${P.VERSION}`, true);
        }
        if (size > P.MAX_PAYLOAD) {
          orphans(this.takeFds());
          throw new ProtocolError(this.request, `payload of ${size} bytes; at most ${P.MAX_PAYLOAD}`, true);
        }
        this.payload = new Uint8Array(size);
        this.have = 0;
      }
      const take = Math.min(this.payload.length - this.have, data.length - at);
      this.payload.set(data.subarray(at, at + take), this.have);
      this.have += take;
      at += take;
      if (this.have === this.payload.length) {
        out.push({ request: this.request, flags: this.flags, payload: this.payload, fds: this.takeFds() });
        this.payload = undefined;
        this.have = 0;
        if (at < data.length && fds.length) {
          // Bytes of a second message shared the read that brought fds: whose are they?
          orphans(out.flatMap((m) => m.fds));
          throw new ProtocolError(this.request, 'file descriptors arrived with more than one message', true);
        }
      }
    }
    return out;
  }

  private takeFds(): number[] {
    const fds = this.fds;
    this.fds = [];
    return fds;
  }
}
