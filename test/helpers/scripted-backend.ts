// A scripted, misbehaving vhost-user back-end for the front-end's tests: it listens at a path,
// answers every request that needs an answer the way a plain back-end would (features VERSION_1,
// RING_PACKED, NET_MRG_RXBUF and PROTOCOL_FEATURES, protocol features MQ and REPLY_ACK, acks 0), except where
// `script` says otherwise for a request: 'wrong-code' (the reply names another request),
// 'truncated' (4 bytes of an 8-byte payload), 'silent' (no reply at all), 'refuse' (REPLY_ACK 1)
// 'hangup' (close the connection), 'bad-version' (a header with protocol version 2) or
// 'no-reply-flag' (the right code without the REPLY flag), 'half' (the first 6 bytes of the reply, then nothing) or
// 'with-memfd' (the reply carries a 1 MiB memfd). It records the requests it got and closes every fd it is sent.
import { UnixServer, close, memfdCreate, type UnixSocket } from '../../src/native/index.js';
import * as P from '../../src/vhost-user/protocol.js';
import { encode, encodeReply, u64Payload, type Message } from '../../src/vhost-user/message.js';
import { MessageReader } from '../../src/vhost-user/reader.js';
import { FEATURES } from '../../src/index.js';

export type Misdeed = 'wrong-code' | 'truncated' | 'silent' | 'refuse' | 'hangup' | 'bad-version' | 'no-reply-flag' | 'half' | 'with-memfd';

const OFFERED = FEATURES.VERSION_1 | FEATURES.RING_PACKED | FEATURES.NET_MRG_RXBUF | (1n << 30n);
const PROTOCOL = (1n << BigInt(P.ProtocolFeature.MQ)) | (1n << BigInt(P.ProtocolFeature.REPLY_ACK));

export class ScriptedBackend {
  readonly requests: number[] = [];
  private readonly server: UnixServer;
  private sockets: UnixSocket[] = [];

  /** `protocol`: the protocol features offered (default MQ and REPLY_ACK). */
  constructor(readonly path: string, readonly script: Partial<Record<number, Misdeed>> = {}, readonly protocol = PROTOCOL) {
    this.server = UnixServer.listen(path);
    this.server.on('connection', (s) => this.serve(s));
  }

  private serve(s: UnixSocket): void {
    this.sockets.push(s);
    const reader = new MessageReader();
    const closeAll = (fds: readonly number[]): void => { for (const fd of fds) close(fd); };
    // As the real back-end reads (connection.ts): exactly the bytes the reader wants, so each
    // message's fds stay with its header when requests come back to back (no REPLY_ACK).
    s.maxFds = P.MEM_TABLE_MAX_REGIONS;
    s.maxBytes = reader.wanted;
    s.on('data', (got) => {
      for (const m of reader.push(got.data, got.fds, closeAll)) {
        closeAll(m.fds);
        this.requests.push(m.request);
        this.answer(s, m);
      }
      s.maxBytes = reader.wanted;
    });
  }

  private answer(s: UnixSocket, m: Message): void {
    const value = ((): bigint | undefined => {
      switch (m.request) {
        case P.Request.GET_FEATURES: return OFFERED;
        case P.Request.GET_PROTOCOL_FEATURES: return this.protocol;
        case P.Request.GET_QUEUE_NUM: return 8n;
        default: return (m.flags & P.FLAG_NEED_REPLY) !== 0 ? 0n : undefined;
      }
    })();
    const deed = this.script[m.request];
    if (deed === 'hangup') { s.close(); return; }
    if (deed === 'silent') return;
    if (m.request === P.Request.GET_VRING_BASE) {
      void s.send(encodeReply(deed === 'wrong-code' ? P.Request.GET_FEATURES : m.request, m.payload.subarray(0, deed === 'truncated' ? 4 : 8)));
      return;
    }
    if (value === undefined) return;
    if (deed === 'wrong-code') void s.send(encodeReply(P.Request.GET_STATUS, u64Payload(value)));
    else if (deed === 'bad-version') void s.send(encode(m.request, 2 | P.FLAG_REPLY, u64Payload(value)));
    else if (deed === 'no-reply-flag') void s.send(encode(m.request, P.VERSION, u64Payload(value)));
    else if (deed === 'truncated') void s.send(encodeReply(m.request, u64Payload(value).subarray(0, 4)));
    else if (deed === 'refuse') void s.send(encodeReply(m.request, u64Payload(1n)));
    else if (deed === 'half') void s.send(encodeReply(m.request, u64Payload(value)).subarray(0, 6));
    else if (deed === 'with-memfd') {
      const fd = memfdCreate('scripted-backend', 1 << 20);
      void s.send(encodeReply(m.request, u64Payload(value)), [fd]).finally(() => close(fd));
    }
    else void s.send(encode(m.request, P.VERSION | P.FLAG_REPLY, u64Payload(value)));
  }

  /** Sends `bytes` as they are on every current connection (unsolicited). */
  sendRaw(bytes: Uint8Array): void {
    for (const s of this.sockets) void s.send(bytes).catch(() => undefined);
  }

  /** Closes the current connections (a back-end dying mid-traffic). */
  hangUp(): void {
    for (const s of this.sockets.splice(0)) s.close();
  }

  close(): void {
    this.hangUp();
    this.server.close();
  }
}
