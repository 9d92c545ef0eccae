// The front-end reply target: one case is one session of the vhost-user front-end against the
// hostile back-end of frontend-reply-backend.ts, either through a VirtioUserPort (connect(), the
// port's set-up of every vring, then the back-end ends the session: a hang-up, a flood of
// unsolicited messages, half a message and a hang-up or a stall, garbage) or through VhostUserFrontend
// directly (set-up, two vrings, GET_VRING_BASE of each). Checked:
// - every wait is bounded: the session settles within one reply timeout plus a margin;
// - a failure is a FrontendError whose problem is one of KNOWN_PROBLEMS; with sound features and
//   the first misdeed one a front-end must notice (MUST_DETECT), it is that fault, naming that
//   request; with no misdeed the outcome is exactly what the features call for;
// - what the front-end sends keeps to what the back-end offered (SET_FEATURES, SET_PROTOCOL_FEATURES,
//   NEED_REPLY only with REPLY_ACK);
// - after the session the port is down and its mempool whole, and the process has the fds and
//   mappings it had before.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FEATURES, type RingLayout } from '../../src/index.js';
import { EventFd, UnixSocket, allMappings, memfdCreate, close } from '../../src/native/index.js';
import * as P from '../../src/vhost-user/protocol.js';
import { readU64 } from '../../src/vhost-user/message.js';
import { FrontendChannel, FrontendError } from '../../src/vhost-user/frontend-channel.js';
import { VhostUserFrontend, FRONTEND_PROTOCOL_FEATURES } from '../../src/vhost-user/frontend.js';
import { VirtioUserPort } from '../../src/virtio-user/port.js';
import { socketDir } from '../helpers/vhost-user-rig.js';
import { within, sleep } from '../helpers/within.js';
import { Rng, type FuzzCase } from './harness.js';
import { HostileBackend, MUST_DETECT, drawScript, type BackendScript, type SessionRecord } from './frontend-reply-backend.js';

const R = P.Request;
/**
 * The front-end's bound on each reply (ms): short in the few sessions where the back-end may fall
 * silent (any timeout is then an acceptable end: under load even an honest reply may be late),
 * long enough elsewhere that load never makes an honest back-end look silent.
 */
export const SHORT_TIMEOUT_MS = 150;
export const LONG_TIMEOUT_MS = 3_000;
/** Sessions where the back-end may fall silent. */
const SLOW_SESSIONS = 0.04;
/** A session settles within this (one reply timeout at most: the first failure ends it). */
const SETTLE_MS = LONG_TIMEOUT_MS + 5_000;
const TIMED_OUT = /: no reply(: | )(within \d+ ms|half a message from the back-end)/;
const F_PROTOCOL = 1n << BigInt(P.F_PROTOCOL_FEATURES);

/** Every problem a FrontendError may name (frontend-channel.ts, frontend.ts). */
export const KNOWN_PROBLEMS: readonly RegExp[] = [
  /^the reply is for \S+ \(vhost-user\.rst: a reply carries the request's code\)$/,
  /^the reply lacks the REPLY flag \(flags 0x[0-9a-f]+\)$/,
  /^reply payload of \d+ bytes, expected \d+$/,
  /^\d+ unexpected file descriptors with the reply$/,
  /^the back-end refused it \(REPLY_ACK \d+\)$/,
  /^no reply within \d+ ms$/,
  /^no reply: (the back-end hung up|the socket closed|socket error: .+|the back-end sent more than 64 messages nobody asked for|bad message from the back-end: .+|no reply within \d+ ms|half a message from the back-end for \d+ ms \(\d+ of \d+ bytes(, \S+)?\))$/,
  /^the connection has ended \(.+\)$/,
  /^sending: .+$/,
  /^the back-end does not offer (RING_PACKED \(VIRTIO 1\.2 2\.8\)|VERSION_1 \(VIRTIO 1\.2 6\)) \(features 0x[0-9a-f]+\)$/,
  /^\d+ queue pairs wanted but the back-end lacks protocol feature MQ$/,
  /^the back-end has \d+ queue pairs, \d+ wanted$/,
  /^the reply names vring \d+, asked for \d+$/,
];

/** What ended a port's session while it was up (the channel's end reasons). */
const DOWN_REASONS = /^(the back-end hung up|the socket closed|the back-end sent more than 64 messages nobody asked for|bad message from the back-end: .+|socket error: .+|half a message from the back-end for \d+ ms \(\d+ of \d+ bytes(, \S+)?\))$/;

const fdCount = (): number => readdirSync('/proc/self/fd').length;

interface Outcome {
  error?: FrontendError;
}

class ReplyWorld {
  readonly backend: HostileBackend;
  private readonly ports = new Map<string, VirtioUserPort>();
  /** The memory VhostUserFrontend offers in direct sessions. */
  readonly memfd = memfdCreate('frontend-reply-fuzz', 1 << 20);

  constructor(readonly path: string) {
    this.backend = new HostileBackend(path);
  }

  port(layout: RingLayout, pairs: number, timeoutMs: number): VirtioUserPort {
    const key = `${layout}/${pairs}/${timeoutMs}`;
    let p = this.ports.get(key);
    if (!p) {
      p = VirtioUserPort.create({ socket: this.path, layout, queues: pairs, queueSize: 8, poolSize: 64, reconnect: false, replyTimeoutMs: timeoutMs });
      this.ports.set(key, p);
    }
    return p;
  }

  close(): void {
    for (const p of this.ports.values()) p.close();
    this.backend.close();
    close(this.memfd);
  }
}

let world: ReplyWorld | undefined;

export function openReplyWorld(): void {
  world ??= new ReplyWorld(join(socketDir(), 'frontend-reply-fuzz.sock'));
}

export function closeReplyWorld(): void {
  world?.close();
  world = undefined;
}

/** What the features alone call for: a failure's problem, or '' for a session that must come up. */
function featureVerdict(sc: BackendScript, layout: RingLayout, pairs: number): RegExp | undefined {
  if ((sc.features & FEATURES.VERSION_1) === 0n || (layout === 'packed' && (sc.features & FEATURES.RING_PACKED) === 0n)) return /the back-end does not offer/;
  if (pairs > 1) {
    const mq = (sc.features & F_PROTOCOL) !== 0n && (sc.protocol & (1n << BigInt(P.ProtocolFeature.MQ))) !== 0n;
    if (!mq) return /queue pairs wanted but the back-end lacks protocol feature MQ/;
    if (sc.queueNum < BigInt(pairs)) return /the back-end has \d+ queue pairs/;
  }
  return undefined;
}

/** Checks the outcome against the script and what the back-end did. */
function checkOutcome(o: Outcome, sc: BackendScript, rec: SessionRecord, layout: RingLayout, pairs: number, slow: boolean, features: Set<string>): void {
  const e = o.error;
  if (e) {
    const m = /^vhost-user front-end: (?:([A-Z_0-9]+): )?(.*)$/s.exec(e.message);
    if (!m) throw new Error(`a failure that is not the front-end's: ${e.message}`);
    const problem = m[2]!;
    if (!KNOWN_PROBLEMS.some((re) => re.test(problem))) throw new Error(`a failure outside the known set: ${e.message}`);
    features.add(`reply:fail:${m[1] ?? '-'}:${problem.replace(/0x[0-9a-f]+/g, 'X').replace(/\d+/g, 'N').slice(0, 60)}`);
  } else {
    features.add('reply:up');
  }
  // With a short timeout any reply may be late (a bounded wait, which is what is checked there).
  if (slow && e && TIMED_OUT.test(e.message)) return;
  const verdict = featureVerdict(sc, layout, pairs);
  const first = rec.deeds[0];
  if (!first) {
    if (verdict && !e) throw new Error(`the session came up though ${verdict.source} was called for`);
    if (verdict && !verdict.test(e!.message)) throw new Error(`expected ${verdict.source}, got: ${e!.message}`);
    if (!verdict && e) throw new Error(`an honest back-end was refused: ${e.message}`);
    return;
  }
  features.add(`reply:first:${first.deed}${first.awaited ? '' : ':unasked'}`);
  const must = first.awaited ? MUST_DETECT[first.deed] : undefined;
  if (verdict || !must) return;
  if (!e) throw new Error(`the session came up after ${first.deed} on ${P.requestName(first.request)}`);
  const named = `vhost-user front-end: ${P.requestName(first.request)}: `;
  if (!e.message.startsWith(named) || !must.test(e.message)) {
    throw new Error(`after ${first.deed} on ${P.requestName(first.request)}, expected "${named}" and ${must.source}, got: ${e.message}`);
  }
}

/** What the front-end sent keeps to what was offered. */
function checkRequests(sc: BackendScript, rec: SessionRecord): void {
  let acked = false;
  for (const m of rec.requests) {
    if ((m.flags & P.FLAG_NEED_REPLY) !== 0 && !acked) throw new Error(`${P.requestName(m.request)} asked for a reply without REPLY_ACK negotiated`);
    if (m.request === R.SET_PROTOCOL_FEATURES) {
      const v = readU64(m);
      if ((v & ~(sc.protocol & FRONTEND_PROTOCOL_FEATURES)) !== 0n) throw new Error(`SET_PROTOCOL_FEATURES 0x${v.toString(16)}: not offered or not ours (offered 0x${sc.protocol.toString(16)})`);
      acked = (v & (1n << BigInt(P.ProtocolFeature.REPLY_ACK))) !== 0n;
    }
    if (m.request === R.SET_FEATURES) {
      const v = readU64(m);
      if ((v & ~sc.features) !== 0n) throw new Error(`SET_FEATURES 0x${v.toString(16)} has bits not offered (0x${sc.features.toString(16)})`);
    }
  }
}

async function settle<T>(p: Promise<T>, what: string): Promise<T> {
  return within<T>(SETTLE_MS, what, (done) => { void p.then(done); });
}

/** A port session: connect, then (if up) the back-end ends it in one of several ways. */
async function portSession(w: ReplyWorld, rng: Rng, layout: RingLayout, pairs: number, slow: boolean, features: Set<string>): Promise<Outcome> {
  const port = w.port(layout, pairs, slow ? SHORT_TIMEOUT_MS : LONG_TIMEOUT_MS);
  const error = await settle(port.connect().then(() => undefined, (e: unknown) => e), 'connect');
  if (error !== undefined) {
    if (!(error instanceof FrontendError)) throw new Error(`connect rejected with ${String(error)}, not a FrontendError`);
    if (port.up) throw new Error('the port is up after a failed set-up');
    return { error };
  }
  if (!port.up) throw new Error('connect resolved with the port down');
  // Half a message and a stall costs a reply timeout: drawn less often.
  const end = slow && rng.chance(0.5) ? 4 : rng.below(4);
  const down = within<string>(SETTLE_MS, "the port's 'down'", (done) => port.once('down', done));
  switch (end) {
    case 0: w.backend.hangUp(); break;
    case 1: w.backend.floodNow(65 + rng.below(100)); break;
    case 2: w.backend.halfNow(1 + rng.below(P.HEADER_SIZE + 7)); await sleep(1); w.backend.hangUp(); break;
    case 3: w.backend.floodNow(1 + rng.below(8)); await sleep(1); w.backend.hangUp(); break;
    default: w.backend.halfNow(1 + rng.below(P.HEADER_SIZE + 7)); break;
  }
  const reason = await down;
  if (!DOWN_REASONS.test(reason)) throw new Error(`the port went down for an unknown reason: ${reason}`);
  // After earlier unsolicited messages (misdeeds during set-up) the session may end on those first.
  const clean = w.backend.record.deeds.length === 0;
  if (clean && end === 1 && !/more than 64 messages/.test(reason)) throw new Error(`a flood of 65+ messages ended the session with "${reason}"`);
  if (clean && end === 4 && !/^half a message/.test(reason)) throw new Error(`half a message and a stall ended the session with "${reason}"`);
  features.add(`reply:down:${end}:${reason.slice(0, 30)}`);
  return {};
}

/** A direct session: VhostUserFrontend set-up, two vrings, GET_VRING_BASE of each. */
async function frontendSession(w: ReplyWorld, layout: RingLayout, timeoutMs: number): Promise<Outcome> {
  const kick = EventFd.create();
  const call = EventFd.create();
  let fe: VhostUserFrontend | undefined;
  let ch: FrontendChannel | undefined;
  try {
    const run = async (): Promise<void> => {
      ch = new FrontendChannel(UnixSocket.connect(w.path), timeoutMs);
      fe = await VhostUserFrontend.start(ch, { memory: { fd: w.memfd, offset: 1 << 20, size: 1 << 20 }, layout, pairs: 1, features: FEATURES.NET_MRG_RXBUF });
      for (const index of [0, 1]) {
        const at = (1 << 20) + index * 0x10000;
        await fe.setupVring({ index, areas: { queueSize: 8, desc: at, driver: at + 0x1000, device: at + 0x2000 }, base: 0, kickFd: kick.fd, callFd: call.fd });
      }
      for (const index of [0, 1]) await fe.getVringBase(index);
    };
    const error = await settle(run().then(() => undefined, (e: unknown) => e), 'front-end session');
    if (error !== undefined && !(error instanceof FrontendError)) throw new Error(`the front-end failed with ${String(error)}, not a FrontendError`);
    // A bad reply ends the connection (the stream cannot be trusted after it); a nack is a refusal, not a bad reply.
    if (error && ch && ch.ended === undefined && !/REPLY_ACK/.test((error as Error).message)) throw new Error(`a FrontendError left the connection open: ${(error as Error).message}`);
    return { error: error as FrontendError | undefined };
  } finally {
    fe?.close('the session is over');
    (ch as FrontendChannel | undefined)?.close('the session is over');
    kick.close();
    call.close();
  }
}

export const frontendReplyTarget: FuzzCase = async (seed, features) => {
  const w = world!;
  const rng = new Rng(seed);
  const layout: RingLayout = rng.chance(0.5) ? 'split' : 'packed';
  const direct = rng.chance(0.3);
  const pairs = direct ? 1 : rng.chance(0.75) ? 1 : 2;
  const sc = drawScript(rng);
  const slow = rng.chance(SLOW_SESSIONS);
  const timeoutMs = slow ? SHORT_TIMEOUT_MS : LONG_TIMEOUT_MS;
  if (!direct) w.port(layout, pairs, timeoutMs); // built before the baseline: its memory and eventfds are the world's
  const fds = fdCount();
  const maps = allMappings().length;
  w.backend.arm(sc, rng, slow);
  const o = direct ? await frontendSession(w, layout, timeoutMs) : await portSession(w, rng, layout, pairs, slow, features);
  const rec = w.backend.record;
  features.add(`reply:${direct ? 'direct' : 'port'}:${layout}:${pairs}${slow ? ':short-timeout' : ''}`);
  checkOutcome(o, sc, rec, layout, pairs, slow, features);
  checkRequests(sc, rec);
  if (!direct) {
    const port = w.port(layout, pairs, timeoutMs);
    if (port.up) throw new Error('the port is still up after the session');
    if (port.listenerCount('up') !== 0) throw new Error(`${port.listenerCount('up')} 'up' listeners left on the port after the session`);
    if (port.pool.freeCount !== port.pool.size) throw new Error(`the pool has ${port.pool.freeCount} of ${port.pool.size} buffers after the session`);
  }
  // Both ends closed, then the fds and mappings of before.
  w.backend.hangUp();
  const deadline = performance.now() + 2_000;
  while (!rec.closed || fdCount() !== fds) {
    if (performance.now() > deadline) throw new Error(`${fdCount()} fds open after the session, ${fds} before (back-end closed: ${rec.closed})`);
    await sleep(1);
  }
  if (allMappings().length !== maps) throw new Error(`${allMappings().length} mappings after the session, ${maps} before`);
  return rec.messages;
};
