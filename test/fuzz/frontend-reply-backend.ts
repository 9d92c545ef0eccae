// A hostile vhost-user back-end for the front-end reply target, drawn from a seed: it answers
// what the front-end asks, except where its script misbehaves. A session's script sets the device
// and protocol features it offers (garbage bits, VERSION_1 or RING_PACKED missing, protocol
// features never asked about), its queue count, and per reply a misdeed with some probability:
// the wrong request code, no REPLY flag, protocol version 2, a payload too short or too long (past
// MAX_PAYLOAD too), a payload size that promises more than comes (then a stall or a hang-up), fds
// with the reply, a REPLY_ACK nack, silence, a hang-up, the reply twice, a flood of unsolicited
// messages or bytes first, GET_VRING_BASE naming another vring. It records what it did so the
// target can say what the front-end must have made of it, and closes every fd it is sent.
import { UnixServer, UnixSocket, close, memfdCreate } from '../../src/native/index.js';
import * as P from '../../src/vhost-user/protocol.js';
import { encode, u64Payload, type Message } from '../../src/vhost-user/message.js';
import { MessageReader } from '../../src/vhost-user/reader.js';
import { FEATURES } from '../../src/index.js';
import type { Rng } from './harness.js';

const R = P.Request;
const bit = (b: number): bigint => 1n << BigInt(b);
const F_PROTOCOL = bit(P.F_PROTOCOL_FEATURES);
const HONEST_FEATURES = FEATURES.VERSION_1 | FEATURES.RING_PACKED | FEATURES.NET_MRG_RXBUF | F_PROTOCOL;
const HONEST_PROTOCOL = bit(P.ProtocolFeature.MQ) | bit(P.ProtocolFeature.REPLY_ACK);
const U64 = (1n << 64n) - 1n;

/** What a reply can do wrong. The ones a front-end must notice at once name their fault in `MUST_DETECT`. */
export type Misdeed =
  | 'wrong-code' | 'no-reply-flag' | 'bad-version' | 'truncated' | 'oversized' | 'too-large' | 'with-fds'
  | 'nack' | 'silent' | 'hangup' | 'half-stall' | 'half-hangup' | 'twice' | 'flood' | 'garbage-first' | 'wrong-vring' | 'extra-flags';

/** The fault a front-end must report for a misdeed on a reply it waits for (its FrontendError's problem). */
export const MUST_DETECT: Partial<Record<Misdeed, RegExp>> = {
  'wrong-code': /the reply is for /,
  'no-reply-flag': /the reply lacks the REPLY flag/,
  'bad-version': /no reply: bad message from the back-end: .*protocol version 2, expected 1/,
  'truncated': /reply payload of \d+ bytes, expected \d+/,
  'oversized': /reply payload of \d+ bytes, expected \d+/,
  'too-large': /no reply: bad message from the back-end: .*payload of \d+ bytes; at most 4096/,
  'with-fds': /\d+ unexpected file descriptors with the reply/,
  'nack': /the back-end refused it \(REPLY_ACK \d+\)/,
  'silent': /no reply within \d+ ms/,
  'hangup': /no reply: (the back-end hung up|the socket closed)/,
  'half-stall': /no reply within \d+ ms/,
  'half-hangup': /no reply: (the back-end hung up|the socket closed)/,
  'flood': /the reply is for |the reply lacks the REPLY flag|unexpected file descriptors|bad message from the back-end/,
  'wrong-vring': /the reply names vring \d+, asked for \d+/,
};

const MISDEEDS: Misdeed[] = [
  'wrong-code', 'no-reply-flag', 'bad-version', 'truncated', 'oversized', 'too-large', 'with-fds', 'nack', 'silent', 'hangup',
  'half-stall', 'half-hangup', 'twice', 'flood', 'garbage-first', 'wrong-vring', 'extra-flags',
];
/** Misdeeds that cost a reply timeout: drawn only in sessions with a short one (`arm`'s slowAllowed). */
const SLOW: ReadonlySet<Misdeed> = new Set(['silent', 'half-stall']);

/** One session's script. */
export interface BackendScript {
  features: bigint;
  protocol: bigint;
  queueNum: bigint;
  /** Chance of a misdeed on each reply. */
  badRate: number;
}

/** The first misdeed on a reply the front-end waited for, and every request seen. */
export interface SessionRecord {
  requests: Message[];
  /** Misdeeds done, in order, with the request they answered. */
  deeds: { request: number; deed: Misdeed; awaited: boolean }[];
  /** Messages both ways (the target's operations). */
  messages: number;
  /** The back-end's end closed (by it or by the front-end). */
  closed: boolean;
}

/** A script for a session: mostly sound features, now and then garbage. */
export function drawScript(rng: Rng): BackendScript {
  const honest = rng.chance(0.15);
  let features = HONEST_FEATURES;
  let protocol = HONEST_PROTOCOL;
  let queueNum = 8n;
  if (!honest) {
    switch (rng.below(8)) {
      case 0: features |= (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()); break;
      case 1: features = U64; break;
      case 2: features &= ~rng.pick([FEATURES.VERSION_1, FEATURES.RING_PACKED, F_PROTOCOL, FEATURES.NET_MRG_RXBUF]); break;
      case 3: features = (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()); break;
      default: break;
    }
    switch (rng.below(8)) {
      case 0: protocol = U64; break;
      case 1: protocol = 0n; break;
      case 2: protocol = (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()); break;
      case 3: protocol = rng.pick([bit(P.ProtocolFeature.MQ), bit(P.ProtocolFeature.REPLY_ACK), bit(P.ProtocolFeature.CONFIG)]); break;
      default: break;
    }
    if (rng.chance(0.1)) queueNum = rng.pick([0n, 1n, U64, BigInt(rng.u32())]);
  }
  return { features, protocol, queueNum, badRate: honest ? 0 : rng.pick([0.02, 0.08, 0.25]) };
}

export class HostileBackend {
  private readonly server: UnixServer;
  private socket: UnixSocket | undefined;
  private rng: Rng | undefined;
  private script: BackendScript | undefined;
  private slowAllowed = false;
  record: SessionRecord = { requests: [], deeds: [], messages: 0, closed: true };

  constructor(readonly path: string) {
    this.server = UnixServer.listen(path);
    this.server.on('connection', (s) => this.serve(s));
  }

  /**
   * The next connection follows `script`, its misdeeds drawn from `rng`; silences only when
   * `slowAllowed` (the front-end then has a short reply timeout).
   */
  arm(script: BackendScript, rng: Rng, slowAllowed: boolean): void {
    this.script = script;
    this.rng = rng;
    this.slowAllowed = slowAllowed;
    this.record = { requests: [], deeds: [], messages: 0, closed: false };
  }

  private serve(s: UnixSocket): void {
    if (this.socket) { s.close(); return; }
    this.socket = s;
    const reader = new MessageReader();
    const closeAll = (fds: readonly number[]): void => { for (const fd of fds) close(fd); };
    s.maxFds = P.MEM_TABLE_MAX_REGIONS;
    s.maxBytes = reader.wanted;
    const done = (): void => {
      if (this.socket !== s) return;
      this.socket = undefined;
      this.record.closed = true;
      closeAll(reader.pendingFds);
    };
    s.on('end', () => { done(); s.close(); });
    s.on('close', done);
    s.on('error', () => { done(); s.close(); });
    s.on('data', (got) => {
      let ms: Message[];
      try {
        ms = reader.push(got.data, got.fds, closeAll);
      } catch {
        // The front-end is not under test here for what it sends; a malformed request ends it.
        s.close();
        return;
      }
      for (const m of ms) {
        closeAll(m.fds);
        this.record.requests.push({ ...m, fds: [] });
        this.record.messages++;
        if (this.socket === s) this.answer(s, m);
      }
      s.maxBytes = reader.wanted;
    });
  }

  /** Sends `data` (with fds made for it, closed once sent); counted as a message. */
  private send(s: UnixSocket, data: Uint8Array, fds: number[] = []): void {
    this.record.messages++;
    void s.send(data, fds).catch(() => undefined).finally(() => { for (const fd of fds) close(fd); });
  }

  /** What an honest back-end answers to `m`, or undefined when it answers nothing. */
  private honestPayload(m: Message): Uint8Array | undefined {
    const sc = this.script!;
    switch (m.request) {
      case R.GET_FEATURES: return u64Payload(sc.features);
      case R.GET_PROTOCOL_FEATURES: return u64Payload(sc.protocol);
      case R.GET_QUEUE_NUM: return u64Payload(sc.queueNum);
      case R.GET_VRING_BASE: {
        const p = new Uint8Array(P.STATE_SIZE);
        p.set(m.payload.subarray(0, 4));
        new DataView(p.buffer).setUint32(4, this.rng!.below(0x10000), true);
        return p;
      }
      default: return (m.flags & P.FLAG_NEED_REPLY) !== 0 ? u64Payload(0n) : undefined;
    }
  }

  private answer(s: UnixSocket, m: Message): void {
    const rng = this.rng!;
    const honest = this.honestPayload(m);
    if (honest === undefined) {
      // Nothing asked: now and then something unsolicited anyway, or a hang-up.
      if (rng.chance(this.script!.badRate / 4)) {
        const deed: Misdeed = rng.chance(0.5) ? 'flood' : 'hangup';
        this.record.deeds.push({ request: m.request, deed, awaited: false });
        if (deed === 'flood') this.flood(s, m.request);
        else s.close();
      }
      return;
    }
    if (!rng.chance(this.script!.badRate)) { this.send(s, encode(m.request, P.VERSION | P.FLAG_REPLY, honest)); return; }
    let deed = rng.pick(MISDEEDS);
    if (SLOW.has(deed) && !this.slowAllowed) deed = 'wrong-code';
    if (deed === 'wrong-vring' && m.request !== R.GET_VRING_BASE) deed = 'truncated';
    if (deed === 'nack' && (m.flags & P.FLAG_NEED_REPLY) === 0) deed = 'oversized';
    this.record.deeds.push({ request: m.request, deed, awaited: true });
    const reply = (payload: Uint8Array, flags = P.VERSION | P.FLAG_REPLY, request = m.request): Uint8Array => encode(request, flags, payload);
    switch (deed) {
      case 'wrong-code': {
        const other = rng.chance(0.5) ? rng.pick(Object.values(R).filter((r) => r !== m.request)) : rng.edgy(32);
        return this.send(s, reply(honest, undefined, other === m.request ? m.request + 1 : other));
      }
      case 'no-reply-flag': return this.send(s, reply(honest, P.VERSION | (rng.chance(0.5) ? P.FLAG_NEED_REPLY : 0)));
      case 'bad-version': return this.send(s, reply(honest, 2 | P.FLAG_REPLY));
      case 'extra-flags': return this.send(s, reply(honest, P.VERSION | P.FLAG_REPLY | (rng.u32() & ~0xf & ~P.FLAG_VERSION_MASK)));
      case 'truncated': return this.send(s, reply(honest.subarray(0, rng.below(honest.length))));
      case 'oversized': {
        const p = new Uint8Array(honest.length + 1 + rng.below(P.MAX_PAYLOAD - honest.length));
        p.set(honest);
        return this.send(s, reply(p));
      }
      case 'too-large': {
        // The header promises more than MAX_PAYLOAD; what follows does not matter.
        const h = reply(new Uint8Array(0));
        new DataView(h.buffer).setUint32(P.HDR_SIZE, P.MAX_PAYLOAD + 1 + rng.below(1 << 20), true);
        return this.send(s, h);
      }
      case 'with-fds': {
        const fds = Array.from({ length: 1 + rng.below(3) }, () => memfdCreate('hostile', rng.chance(0.5) ? 0 : 1 << 20));
        return this.send(s, reply(honest), fds);
      }
      case 'nack': return this.send(s, reply(u64Payload(rng.chance(0.5) ? 1n : BigInt(rng.u32()) + 1n)));
      case 'silent': return;
      case 'hangup': s.close(); return;
      case 'half-stall':
      case 'half-hangup': {
        const full = reply(honest);
        this.send(s, full.subarray(0, 1 + rng.below(full.length - 1)));
        if (deed === 'half-hangup') setImmediate(() => s.close());
        return;
      }
      case 'twice': this.send(s, reply(honest)); return this.send(s, reply(honest));
      case 'flood': this.flood(s, m.request); return this.send(s, reply(honest));
      case 'garbage-first': {
        const g = new Uint8Array(1 + rng.below(64));
        for (let i = 0; i < g.length; i++) g[i] = rng.u32() & 0xff;
        this.send(s, g);
        return this.send(s, reply(honest));
      }
      case 'wrong-vring': {
        const p = honest.slice();
        const v = new DataView(p.buffer);
        v.setUint32(0, (v.getUint32(0, true) + 1 + rng.below(0xffff)) >>> 0, true);
        return this.send(s, reply(p));
      }
    }
  }

  /** Unsolicited messages: replies to other requests, requests of the back-end's own, with or without fds. */
  private flood(s: UnixSocket, request: number): void {
    const rng = this.rng!;
    const n = 1 + (rng.chance(0.1) ? rng.below(200) : rng.below(4));
    for (let i = 0; i < n; i++) {
      const code = rng.chance(0.7) ? rng.pick(Object.values(R).filter((r) => r !== request)) : rng.u32();
      const flags = rng.pick([P.VERSION | P.FLAG_REPLY, P.VERSION, P.VERSION | P.FLAG_NEED_REPLY]);
      const payload = new Uint8Array(rng.pick([0, 8, 40, rng.below(P.MAX_PAYLOAD + 1)]));
      const fds = rng.chance(0.05) ? [memfdCreate('hostile', 4096)] : [];
      this.send(s, encode(code === request ? code + 1 : code, flags, payload), fds);
    }
  }

  /** Hangs up on the current connection (after a session). */
  hangUp(): void {
    this.socket?.close();
  }

  /** Sends `n` unsolicited messages now (a flood while the front-end is idle). */
  floodNow(n: number): void {
    const s = this.socket;
    if (!s) return;
    for (let i = 0; i < n; i++) this.send(s, encode(R.GET_FEATURES, P.VERSION | P.FLAG_REPLY, u64Payload(0n)));
  }

  /** Sends the first `k` bytes of a message and nothing after (half a message while idle). */
  halfNow(k: number): void {
    const s = this.socket;
    if (!s) return;
    this.send(s, encode(R.GET_FEATURES, P.VERSION | P.FLAG_REPLY, u64Payload(0n)).subarray(0, k));
  }

  get connected(): boolean {
    return this.socket !== undefined;
  }

  close(): void {
    this.hangUp();
    this.server.close();
  }
}
