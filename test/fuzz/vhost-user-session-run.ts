// Runs one fuzzed vhost-user session (one connection) against a back-end in this process and
// checks what vhost-user.rst and the back-end's own contract say must hold:
// - every reply comes within a deadline (no hang), names its request, has exactly the REPLY flag
//   and version 1, no fds, and the size (and, where it is fixed, the value) its request defines;
// - an ack is 0 for what must be carried out and non-zero for what must be refused, and a
//   non-zero ack has a log line saying why;
// - a malformed message (or a refused one no ack was asked for) ends the session; anything else
//   ends it only if a message in flight may end it; every end is logged with its reason;
// - after the session the server serves no one, nothing stays mapped in the back-end's guest
//   memory window, the process has as many open fds as before, and the server takes the next
//   connection (the next case, and every server once more at the end of the run).
// Servers: a plain one, one that requires sealed guest memory, one with inflight I/O tracking
// (GET/SET_INFLIGHT_FD), all with a recording device model, and virtio-net.
// Traffic sessions run the virtio-net device on its Dataplane worker with real rings in a guest
// memory, posting receive buffers, transmitting frames and collecting used buffers between the
// control messages, so rings stop and restart under the worker.
import { fstatSync, ftruncateSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryPlan } from '../../src/index.js';
import { mappings, fdKind, fdSeals, F_SEAL_SHRINK, type Mapping } from '../../src/native/index.js';
import { INFLIGHT_PAYLOAD_SIZE } from '../../src/vhost-user/inflight.js';
import * as P from '../../src/vhost-user/protocol.js';
import { encode, readU64, type Message } from '../../src/vhost-user/message.js';
import { BACKEND_PROTOCOL_FEATURES } from '../../src/vhost-user/backend.js';
import { FEATURES } from '../../src/index.js';
import { MAX_MEM_SLOTS } from '../../src/vhost-user/guest-memory.js';
import type { VhostUserDevice } from '../../src/vhost-user/device-model.js';
import { RawFrontEnd } from '../helpers/vhost-user-frontend.js';
import { rig, guest, removeSocketDir, MiB, WINDOW, INFLIGHT_WINDOW, type Rig, type Guest } from '../helpers/vhost-user-rig.js';
import { netDevice, type NetServer } from '../helpers/vhost-net-rig.js';
import { GuestPair, testFrame } from '../helpers/vhost-net-frontend.js';
import { expectServesNext } from '../helpers/vhost-user-session.js';
import { within } from '../helpers/within.js';
import { Rng } from './harness.js';
import { FdZoo, SessionFds, type FdSpec } from './vhost-user-session-fds.js';
import {
  Drafter, FrontEndModel, bringUp, ringSetup, anyRequest, wantsReply,
  type Draft, type SessionEnv, type Step,
} from './vhost-user-session-grammar.js';

const R = P.Request;
const F_PROTOCOL = 1n << BigInt(P.F_PROTOCOL_FEATURES);
/** Longest wait for a reply or an end before it counts as a hang. */
export const DEADLINE_MS = 5_000;
/**
 * The fuzzed servers' limit on a message's arrival (connection.ts): a session that ends with part
 * of a message read (a hang-up mid-message) may hold fds that keep the connection open (the
 * front-end's own socket, say) until then. The net server keeps the default, 5000 ms.
 */
const MESSAGE_TIMEOUT_MS = 1_000;
const DEFAULT_MESSAGE_TIMEOUT_MS = 5_000;
/** Where the seed of the case running now is written (a crash that kills the process leaves it there). */
export const CURRENT_SEED_FILE = join(tmpdir(), 'virtqueue-fuzz-vhost-user-session.seed');

interface FuzzServer {
  name: 'plain' | 'sealed' | 'inflight' | 'iommu' | 'net';
  /** Inflight I/O tracking is offered (GET/SET_INFLIGHT_FD). */
  inflight: boolean;
  /** ACCESS_PLATFORM and the IOTLB are offered (IOTLB_MSG, SET_BACKEND_REQ_FD). */
  iommu: boolean;
  rig: Rig;
  messageTimeoutMs: number;
  device: VhostUserDevice;
  vrings: number;
  queueNum: number;
  requireSealed: boolean;
  net?: NetServer;
}

/** The back-ends every case picks from, and the fds and guest memory they share. */
export class SessionWorld {
  private constructor(readonly servers: FuzzServer[], readonly zoo: FdZoo, readonly guest: Guest | undefined) {}

  /** Plain, sealed-memory-only and inflight-tracking servers with a recording device; with `traffic`, virtio-net on a worker too. */
  static async open(traffic: boolean): Promise<SessionWorld> {
    const zoo = await FdZoo.open();
    const servers: FuzzServer[] = [];
    for (const name of ['plain', 'sealed', 'inflight', 'iommu'] as const) {
      const sealed = name === 'sealed';
      const inflight = name === 'inflight';
      const iommu = name === 'iommu';
      const r = rig({
        maxQueuePairs: 2, requireSealedMemory: sealed, messageTimeoutMs: MESSAGE_TIMEOUT_MS, inflight: inflight ? { window: INFLIGHT_WINDOW } : undefined, iommu,
      });
      servers.push({ name, rig: r, messageTimeoutMs: MESSAGE_TIMEOUT_MS, device: r.device, vrings: 4, queueNum: 4, requireSealed: sealed, inflight, iommu });
    }
    let g: Guest | undefined;
    if (traffic) {
      const net = await netDevice({ pairs: 2, workers: 1, mode: 'io' });
      servers.push({
        name: 'net', rig: net.r, messageTimeoutMs: DEFAULT_MESSAGE_TIMEOUT_MS, device: net.device, vrings: 4, queueNum: 2, requireSealed: false, inflight: false, iommu: false, net,
      });
      g = guest(4 * MiB);
    }
    return new SessionWorld(servers, zoo, g);
  }

  /** Every server still serves a new front-end; then all closed. */
  async close(): Promise<void> {
    try {
      for (const s of this.servers) await expectServesNext(s.rig);
    } finally {
      for (const s of this.servers) {
        if (s.net) await s.net.close();
        else s.rig.close();
      }
      this.guest?.close();
      this.zoo.close();
      removeSocketDir();
    }
  }
}

const fdCount = (): number => readdirSync('/proc/self/fd').length;

/** A log reason with its numbers taken out, short: a feature's outcome class. */
function reasonClass(reason: string): string {
  return reason
    .replace(/^vhost-user \S+: /, '')
    .replace(/0x[0-9a-f]+/gi, 'X')
    .replace(/\d+/g, 'N')
    .slice(0, 64);
}

const name = (request: number): string => P.requestName(request);
const label = (dr: Draft): string => `${name(dr.request)}${dr.mutation ? `/${dr.mutation}` : ''}`;

interface Sent extends Draft {
  needAck: boolean;
}

/** Whether the back-end may end the session over `dr` (it must for 'end', and for 'nack' with no ack asked). */
const mayEnd = (dr: Sent): boolean => dr.expect === 'end' || (!dr.needAck && (dr.expect === 'nack' || dr.expect === 'any'));
const mustEnd = (dr: Sent): boolean => dr.expect === 'end' || (!dr.needAck && dr.expect === 'nack');

class Failure extends Error {}

const MEMORY_REQUESTS: ReadonlySet<number> = new Set([R.SET_MEM_TABLE, R.ADD_MEM_REG, R.REM_MEM_REG]);

/** VIRTQUEUE_FUZZ_VERBOSE=1 prints every message sent and the back-end's log of each session (for replaying one seed). */
const verbose = process.env.VIRTQUEUE_FUZZ_VERBOSE === '1';

/** One session from `seed`; returns the messages sent. */
export async function runSession(world: SessionWorld, seed: number, features: Set<string>): Promise<number> {
  writeFileSync(CURRENT_SEED_FILE, `${seed}\n`);
  const rng = new Rng(seed);
  const traffic = world.servers.find((s) => s.name === 'net');
  const pick = rng.below(100);
  const named = (n: FuzzServer['name']): FuzzServer => world.servers.find((s) => s.name === n)!;
  const srv = traffic && pick < 15 ? traffic : named(pick < 30 ? 'inflight' : pick < 45 ? 'sealed' : pick < 60 ? 'iommu' : 'plain');
  return new Session(world, srv, rng, features).run();
}

class Session {
  private readonly log: string[];
  private readonly model = new FrontEndModel();
  private readonly env: SessionEnv;
  private readonly drafter: Drafter;
  private readonly pairs: GuestPair[] = [];
  private fe!: RawFrontEnd;
  private fds!: SessionFds;
  /** Messages sent since the last reply (the back-end has them, or is reading them). */
  private inflight: Sent[] = [];
  private logMark = 0;
  private ops = 0;
  private over = false;
  private desynced = 0;
  private held: { bytes: Uint8Array; dr: Sent } | undefined;
  /** Part of a message went out and no more will (the back-end may wait for the rest until its timeout). */
  private partial = false;
  /** Memory the back-end mapped was truncated: the session may end for that at any time. */
  private shrunk = false;
  /**
   * The bring-up went as a front-end does it (nothing mutated, dropped, repeated or inserted,
   * every ack 0) with a memory table: each vring enabled then runs.
   */
  private clean = true;
  private careful = false;
  private bringingUp = true;
  private tableSet = false;
  /** The fd of the last inflight buffer GET_INFLIGHT_FD gave (closed with the session's fds). */
  private inflightFd: number | undefined;
  /** Second front-ends that connected while this session was served (each must be refused). */
  private intruders = 0;
  private readonly rxNext = [0, 0];
  private frames = 0;

  constructor(private readonly world: SessionWorld, private readonly srv: FuzzServer, private readonly rng: Rng,
              private readonly features: Set<string>) {
    this.log = srv.rig.log;
    this.env = {
      vrings: srv.vrings,
      offered: srv.device.features | F_PROTOCOL | (srv.iommu ? FEATURES.ACCESS_PLATFORM : 0n),
      offeredProtocol: BACKEND_PROTOCOL_FEATURES | srv.device.protocolFeatures | (srv.inflight ? 1n << BigInt(P.ProtocolFeature.INFLIGHT_SHMFD) : 0n)
        | (srv.iommu ? 1n << BigInt(P.ProtocolFeature.BACKEND_REQ) : 0n),
      requireSealed: srv.requireSealed,
      inflight: srv.inflight,
      iommu: srv.iommu,
    };
    // With ACCESS_PLATFORM the rings wait for IOTLB updates this front-end may never send: an
    // enabled ring need not run.
    if (srv.iommu) this.clean = false;
    this.drafter = new Drafter(rng, this.env, this.model);
  }

  private fail(problem: string): never {
    throw new Failure(`${this.srv.name} server: ${problem}`);
  }

  async run(): Promise<number> {
    const { srv, rng } = this;
    await srv.net?.device.settled();
    const failures = srv.net?.device.failures ?? 0;
    if (srv.rig.server.session) this.fail('a session is still being served before the case starts');
    // This run's own log lines only (the rig's log would otherwise grow for the whole run).
    this.log.length = 0;
    srv.rig.events.length = 0;
    const baseline = fdCount();
    let endReason: string | undefined;
    const ended = new Promise<string>((resolve) => srv.rig.server.once('sessionEnd', (why: string) => {
      endReason = why;
      resolve(why);
    }));
    if (srv.net) this.trafficSetup();
    this.fe = RawFrontEnd.connect(srv.rig.path);
    this.fds = new SessionFds(this.world.zoo, this.fe.socket.fd, (spec) => this.contextFd(spec));
    try {
      for (const step of this.script()) {
        if (this.over || this.fe.ended) break;
        await this.step(step);
      }
      if (!this.over && !this.fe.ended) await this.finish();
    } finally {
      if (verbose) console.log(`${this.srv.name} server log:\n  ${this.log.join('\n  ')}`);
      this.fe.close();
      // Replies nobody read (a session out of step): their fds are this process's to close.
      for (let m = await this.fe.next(); m !== undefined; m = await this.fe.next()) for (const fd of m.fds) this.fds.adopt(fd);
      try {
        const ms = DEADLINE_MS + (this.partial || this.desynced ? this.srv.messageTimeoutMs : 0);
        await within(ms, 'the session to end after the front-end closed', (done) => void ended.then(done));
      } finally {
        for (const p of this.pairs) p.close();
        this.fds.closeAll();
      }
    }
    // Ended with a logged reason, once; no connection was refused.
    const ends = this.log.filter((l) => l.startsWith('connection ended: '));
    if (ends.length !== 1 || ends[0] !== `connection ended: ${endReason}`) {
      this.fail(`the session ended with ${ends.length} 'connection ended' lines (${JSON.stringify(ends)}), reason ${endReason}`);
    }
    const refused = this.log.filter((l) => l.startsWith('refusing connection'));
    if (refused.length !== this.intruders) this.fail(`${refused.length} connections refused, ${this.intruders} tried while the session was served: ${refused.join(' | ')}`);
    if (srv.rig.server.session) this.fail('the server still serves a session after it ended');
    const mapped = mappings(srv.rig.memory);
    if (mapped.length > 0) this.fail(`guest memory still mapped after the session: ${JSON.stringify(mapped)}`);
    const open = fdCount();
    if (open !== baseline) this.fail(`${open} fds open after the session, ${baseline} before`);
    // Every vring the device model was handed was taken back.
    const running = srv.net ? srv.net.device.runningVrings() : [...srv.rig.ready.keys()];
    if (running.length > 0) this.fail(`vrings ${running.join(', ')} still run on the device after the session ended`);
    for (const e of new Set(srv.rig.events.map((x) => x.kind))) this.features.add(`device:${srv.name}:${e}`);
    // The back-end's own troubles: a device model that threw, a ring it refused, a session that did not close cleanly.
    const trouble = this.log.find((l) => /listener threw|the device model refused|^closing the session:|^closing: vring/.test(l));
    if (trouble) this.fail(`the back-end logged: ${trouble}`);
    if (srv.net && srv.net.device.failures !== failures) {
      this.fail(`the dataplane worker failed: ${this.log.filter((l) => /dataplane/.test(l)).join(' | ')}`);
    }
    this.features.add(`session:${srv.name}:${reasonClass(endReason ?? '')}`);
    return this.ops;
  }

  /** The bring-up, perturbed (steps dropped, repeated, something else first), then any requests. */
  private *script(): Generator<Step | 'traffic' | 'kick' | 'shrink' | 'intruder' | 'flood'> {
    const { rng } = this;
    // A quarter of the sessions bring the device up as a front-end would, and only then go wild.
    this.careful = rng.chance(0.25);
    const p = this.careful ? 0 : 1;
    for (const s of bringUp(rng, this.env)) {
      if (rng.chance(p * 0.04)) { this.clean = false; continue; }
      if (rng.chance(p * 0.04)) { this.clean = false; yield { request: anyRequest(rng) }; }
      yield s;
      if (rng.chance(p * 0.03)) { this.clean = false; yield s; }
      if (this.srv.net && rng.chance(0.1)) yield 'traffic';
    }
    this.bringingUp = false;
    const tail = Math.floor(-Math.log(1 - rng.u32() / 2 ** 32) * 30);
    for (let k = 0; k < tail; k++) {
      const x = rng.below(100);
      if (this.srv.net && x < 15) yield 'traffic';
      else if (x < 19) yield 'kick';
      else if (x < 20) yield rng.chance(0.7) ? 'shrink' : 'intruder';
      else if (x < 25) yield* ringSetup(rng.below(this.env.vrings));
      else if (x < 26) yield 'flood';
      else if (x < 27) for (let n = 30 + rng.below(10); n > 0; n--) yield { request: R.ADD_MEM_REG, small: true };
      else yield { request: anyRequest(rng) };
    }
  }

  private async step(step: Step | 'traffic' | 'kick' | 'shrink' | 'intruder' | 'flood'): Promise<void> {
    if (step === 'traffic') return this.traffic();
    if (step === 'flood') return this.flood();
    if (step === 'intruder') {
      // A second front-end while this one is served: closed at once (logged), this session goes
      // on. Only when every message sent was answered (the session is surely still served).
      if (this.inflight.length > 0 || this.held || this.shrunk || this.desynced) return;
      const second = RawFrontEnd.connect(this.srv.rig.path);
      this.intruders++;
      try {
        await second.closedByBackend(DEADLINE_MS);
      } catch {
        this.fail('a second front-end was not turned away while a session was served');
      } finally {
        second.close();
      }
      this.features.add(`intruder:${this.srv.name}`);
      return;
    }
    if (step === 'shrink') {
      // The front-end truncates memory it sent unsealed (accepted with a warning, or refused).
      const fds = this.fds.shrinkables;
      if (fds.length === 0) return;
      ftruncateSync(this.rng.pick(fds), this.rng.pick([0, 4096, 512 * 1024]));
      this.shrunk = true;
      this.features.add(`shrink:${this.srv.name}`);
      return;
    }
    if (step === 'kick') {
      const kicks = [...this.fds.kicks, ...this.pairs.flatMap((p) => [p.rxq.kick, p.txq.kick])];
      if (kicks.length) this.rng.pick(kicks).signal(BigInt(1 + this.rng.below(3)));
      return;
    }
    const { rng, model } = this;
    this.drafter.pinned = step.vring;
    this.drafter.small = step.small ?? false;
    // A burst (step.small) goes unmutated, so it gets as far as the slot limit; so does a careful bring-up.
    const rate = step.small || (this.careful && this.bringingUp) ? 0 : 1;
    const dr = this.drafter.draft(step.request, rng.chance(rate * (this.desynced ? 0.3 : 0.1)));
    if (rng.chance(rate * 0.06)) this.drafter.structural(dr);
    if (rng.chance(model.replyAck ? 0.8 : 0.15)) dr.flags |= P.FLAG_NEED_REPLY;
    if (rng.chance(rate * 0.01)) Object.assign(dr, { wire: 'cut-and-hang-up', cut: rng.below(P.HEADER_SIZE + dr.payload.length) });
    if ((dr.mutation && dr.mutation !== 'no-fd') || dr.wire !== 'whole' || dr.claimedSize !== undefined) this.clean = false;
    const sent: Sent = { ...dr, needAck: model.replyAck && (dr.flags & P.FLAG_NEED_REPLY) !== 0 };
    if (verbose) console.log(`send ${this.describe(sent)}`);
    await this.send(sent);
  }

  /**
   * Requests with replies, many in one write, before reading any reply: the back-end stops
   * reading while its replies wait for room (connection.ts), and every reply still comes, in order.
   */
  private async flood(): Promise<void> {
    if (this.inflight.length > 0 || this.held || this.desynced) return;
    const { rng } = this;
    const drafts: Sent[] = Array.from({ length: 20 + rng.below(500) }, () => {
      const request = rng.pick([R.GET_FEATURES, R.GET_QUEUE_NUM, R.GET_STATUS, R.GET_PROTOCOL_FEATURES, R.GET_MAX_MEM_SLOTS]);
      return { ...this.drafter.draft(request, false), flags: P.VERSION | (rng.chance(0.5) ? P.FLAG_NEED_REPLY : 0), needAck: false };
    });
    const bytes = Buffer.concat(drafts.map((d) => encode(d.request, d.flags, d.payload)));
    if (rng.chance(0.15)) {
      // ... or many more, and the front-end leaves without reading a reply: the back-end, waiting
      // for room for its replies, must still see the hang-up and end the session.
      const more = Buffer.concat(Array.from({ length: 10 }, () => bytes));
      this.fe.sendRaw(more).catch(() => undefined);
      await new Promise((resolve) => setImmediate(resolve));
      this.fe.close();
      this.partial = true;
      this.over = true;
      this.features.add(`flood-and-leave:${this.srv.name}`);
      return;
    }
    this.ops += drafts.length;
    try {
      await this.fe.sendRaw(bytes);
    } catch (e) {
      if (!/EPIPE|ECONNRESET|closed/.test((e as Error).message)) throw e;
    }
    for (const dr of drafts) {
      this.inflight.push(dr);
      let m: Message | undefined;
      try {
        m = await this.fe.next(DEADLINE_MS);
      } catch {
        this.fail(`no reply to ${this.describe(dr)} of a flood of ${drafts.length} within ${DEADLINE_MS} ms (a hang)`);
      }
      if (m === undefined) return this.endedWhile(dr);
      this.checkReply(dr, m);
      this.inflight = [];
    }
    this.logMark = this.log.length;
    this.features.add(`flood:${this.srv.name}`);
  }

  /** Materializes an fd the session context owns (traffic guest memory and ring eventfds). */
  private contextFd(spec: FdSpec): number | undefined {
    if (spec.kind === 'guest') return this.world.guest!.fd;
    if (spec.kind === 'inflight-buffer') return this.inflightFd;
    if (spec.kind !== 'ring-kick' && spec.kind !== 'ring-call') return undefined;
    const i = spec.index ?? 0;
    const pair = this.pairs[i >> 1];
    if (!pair) throw new Error(`no traffic ring ${i}`);
    const q = (i & 1) === 0 ? pair.rxq : pair.txq;
    return spec.kind === 'ring-kick' ? q.kick.fd : q.call.fd;
  }

  private async send(dr: Sent): Promise<void> {
    const fds = dr.fds.map((f) => this.fds.make(f));
    if (dr.request === R.SET_VRING_KICK) for (const fd of fds) this.fds.sentAsKick(fd);
    const bytes = encode(dr.request, dr.flags, dr.payload);
    const header = bytes.subarray(0, P.HEADER_SIZE);
    const size = (n: number): void => new DataView(header.buffer, header.byteOffset).setUint32(P.HDR_SIZE, n, true);
    const reply = !this.desynced && wantsReply(dr, this.model.replyAck);
    // The guest memory mapped before a memory request the back-end has all it was sent before.
    const memoryBefore = MEMORY_REQUESTS.has(dr.request) && reply && this.inflight.length === 0 && !this.held
      ? this.guestMappings() : undefined;
    this.ops++;
    try {
      // A batched message goes out with the next one (neither has fds or waits for a reply).
      const plain = dr.wire === 'whole' && dr.claimedSize === undefined && fds.length === 0 && !reply;
      if (this.held && !plain) await this.flushHeld();
      if (dr.claimedSize !== undefined) {
        size(dr.claimedSize);
        await this.fe.sendRaw(header, fds);
      } else if (dr.wire === 'split') {
        await this.fe.sendRaw(header, fds);
        await this.fe.sendRaw(bytes.subarray(P.HEADER_SIZE));
      } else if (dr.wire === 'fds-on-payload') {
        await this.fe.sendRaw(header);
        await this.fe.sendRaw(bytes.subarray(P.HEADER_SIZE), fds);
      } else if (dr.wire === 'size-lie') {
        size(dr.payload.length + (dr.sizeLie ?? 0));
        await this.fe.sendRaw(bytes, fds);
        this.desynced = 1;
      } else if (dr.wire === 'cut-and-hang-up') {
        if (dr.cut) await this.fe.sendRaw(bytes.subarray(0, dr.cut), fds);
        this.partial = dr.cut !== 0;
        this.fe.close();
        this.features.add(`${label(dr)}:cut-and-hang-up`);
        this.over = true;
        return;
      } else if (dr.wire === 'batch' && fds.length === 0 && !reply && !this.held && !mustEnd(dr)) {
        // Counted as sent now: the back-end reads it before whatever comes next.
        this.held = { bytes, dr };
        this.sentNoReply(dr);
        return;
      } else if (this.held) {
        const both = new Uint8Array(this.held.bytes.length + bytes.length);
        both.set(this.held.bytes);
        both.set(bytes, this.held.bytes.length);
        this.held = undefined;
        await this.fe.sendRaw(both);
      } else {
        await this.fe.sendRaw(bytes, fds);
      }
    } catch (e) {
      // The back-end closed the connection before this went out (EPIPE): as if it ended now.
      if (!/EPIPE|ECONNRESET|closed/.test((e as Error).message)) throw e;
      this.inflight.push(dr);
      await this.endedWhile(dr);
      return;
    }
    if (this.desynced) {
      // Out of step: the back-end reads our bytes as whatever they line up with. A few more, then hang up.
      this.features.add(`${label(dr)}:desynced`);
      if (this.desynced++ > 3) this.over = true;
      return;
    }
    if (mustEnd(dr)) {
      this.inflight.push(dr);
      try {
        await this.fe.closedByBackend(DEADLINE_MS);
      } catch {
        this.fail(`${this.describe(dr)} must end the session (vhost-user.rst: ${dr.expect === 'end' ? 'malformed or unanswerable' : 'refused with no ack asked for'}); it went on for ${DEADLINE_MS} ms`);
      }
      await this.endedWhile(dr);
      return;
    }
    if (!reply) {
      this.sentNoReply(dr);
      return;
    }
    this.inflight.push(dr);
    let m: Message | undefined;
    try {
      m = await this.fe.next(DEADLINE_MS);
    } catch {
      this.fail(`no reply to ${this.describe(dr)} within ${DEADLINE_MS} ms (a hang)`);
    }
    if (m === undefined) return this.endedWhile(dr);
    const outcome = this.checkReply(dr, m);
    if (memoryBefore) this.checkMemory(dr, outcome, memoryBefore);
    this.features.add(`${label(dr)}:${outcome}`);
    this.inflight = [];
    this.logMark = this.log.length;
  }

  private async flushHeld(): Promise<void> {
    const h = this.held!;
    this.held = undefined;
    await this.fe.sendRaw(h.bytes);
  }

  private sentNoReply(dr: Sent): void {
    this.inflight.push(dr);
    if (dr.expect !== 'nack' && dr.expect !== 'end') dr.apply?.(this.model);
    this.features.add(`${label(dr)}:sent`);
  }

  /** The connection ended while `dr` (and what was in flight before it) was being handled. */
  private async endedWhile(dr: Sent): Promise<void> {
    this.over = true;
    await this.fe.closedByBackend(DEADLINE_MS).catch(() => undefined);
    const line = this.log.find((l) => l.startsWith('connection ended: '));
    if (!line) this.fail(`the connection closed during ${this.describe(dr)} with no 'connection ended' line in the log`);
    const why = line.slice('connection ended: '.length);
    if (this.desynced) {
      this.features.add(`${label(dr)}:ended-desynced:${reasonClass(why)}`);
      return;
    }
    // Memory truncated by this front-end: a region that shrank under its mapping, or (a table
    // still in flight when it was truncated) one found too small for its file.
    if (this.shrunk && /shrank under its mapping|reaches past the end of its/.test(why)) {
      this.features.add(`shrink:ended:${reasonClass(why)}`);
      return;
    }
    // The message the reason names, else the first that could end the session.
    const named = /^vhost-user (\S+): /.exec(why)?.[1];
    const culprit = this.inflight.filter(mayEnd).reverse().find((x) => name(x.request) === named) ?? this.inflight.find(mayEnd);
    if (!culprit) {
      this.fail(`the session ended (${why}) during ${this.describe(dr)}, though every message since the last reply ` +
        `was well-formed and either asked for an ack or cannot be refused: ${this.inflight.map((x) => this.describe(x)).join('; ')}`);
    }
    this.features.add(`${label(culprit)}:ended:${reasonClass(why)}`);
  }

  private describe(dr: Sent): string {
    const hex = Buffer.from(dr.payload.subarray(0, 48)).toString('hex');
    return `${label(dr)} (flags 0x${dr.flags.toString(16)}, ${dr.payload.length}-byte payload ${hex}${dr.payload.length > 48 ? '...' : ''}, ` +
      `fds [${dr.fds.map((f) => f.kind).join(', ')}], wire ${dr.wire}, expected ${dr.expect}${dr.needAck ? ' with an ack' : ''})`;
  }

  /** Checks a reply to `dr`; returns its outcome class. */
  private checkReply(dr: Sent, m: Message): string {
    const what = this.describe(dr);
    if (m.request !== dr.request) this.fail(`the reply to ${what} names ${name(m.request)}`);
    if (m.flags !== (P.VERSION | P.FLAG_REPLY)) this.fail(`the reply to ${what} has flags 0x${m.flags.toString(16)}, expected 0x5 (version 1, REPLY)`);
    for (const fd of m.fds) this.fds.adopt(fd);
    const inflightReply = dr.request === R.GET_INFLIGHT_FD && dr.ownReply;
    if (m.fds.length > (inflightReply ? 1 : 0)) this.fail(`the reply to ${what} carries ${m.fds.length} fds`);
    const size = m.payload.length;
    const u64 = (): bigint => {
      if (size !== 8) this.fail(`the reply to ${what} has ${size} bytes, expected 8`);
      return readU64(m);
    };
    if (dr.ownReply) {
      switch (dr.request) {
        case R.GET_INFLIGHT_FD: return this.checkInflightReply(dr, m);
        case R.GET_FEATURES: if (u64() !== this.env.offered) this.fail(`GET_FEATURES answered 0x${readU64(m).toString(16)}, offered 0x${this.env.offered.toString(16)}`); break;
        case R.GET_PROTOCOL_FEATURES: if (u64() !== this.env.offeredProtocol) this.fail(`GET_PROTOCOL_FEATURES answered 0x${readU64(m).toString(16)}`); break;
        case R.GET_QUEUE_NUM: if (u64() !== BigInt(this.srv.queueNum)) this.fail(`GET_QUEUE_NUM answered ${readU64(m)}, expected ${this.srv.queueNum}`); break;
        case R.GET_MAX_MEM_SLOTS: if (u64() !== BigInt(MAX_MEM_SLOTS)) this.fail(`GET_MAX_MEM_SLOTS answered ${readU64(m)}`); break;
        case R.GET_STATUS: {
          const v = Number(u64());
          if (!this.model.status.includes(v)) this.fail(`GET_STATUS answered 0x${v.toString(16)}, expected one of ${this.model.status.map((s) => `0x${s.toString(16)}`).join(', ')}`);
          break;
        }
        case R.GET_VRING_BASE: {
          if (size !== P.STATE_SIZE) this.fail(`the reply to ${what} has ${size} bytes, expected ${P.STATE_SIZE}`);
          const index = new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0, true);
          if (index !== dr.vring) this.fail(`GET_VRING_BASE for vring ${dr.vring} answered for vring ${index}`);
          // Nothing consumed a control session's rings: a split ring's base is what was set (0 if nothing was).
          const num = new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(4, true);
          const want = this.model.bases[index] ?? 0;
          if (!this.srv.net && !this.model.everPacked && !this.model.inflightResume && num !== want) {
            this.fail(`GET_VRING_BASE for vring ${index} answered ${num}; SET_VRING_BASE set ${want} and nothing consumed the ring since`);
          }
          this.expectStopped([index], what);
          break;
        }
        case R.GET_CONFIG: {
          const want = P.CONFIG_HEADER + (dr.configSize ?? 0);
          if (size !== 0 && size !== want) this.fail(`the reply to ${what} has ${size} bytes, expected 0 or ${want}`);
          return size === 0 ? 'reply-empty' : 'reply';
        }
      }
      return 'reply';
    }
    const ack = u64();
    const refusals = this.log.slice(this.logMark).filter((l) => l.startsWith(`${name(dr.request)}: failed: `) ||
      (l.startsWith(`${name(dr.request)}: refused: `) && !l.endsWith('(ignored)')));
    if (ack === 0n) {
      if (dr.expect === 'nack' || dr.expect === 'refuse') this.fail(`${what} was acked 0: it must be refused`);
      if (refusals.length > 0) this.fail(`${what} was acked 0 but the log says it failed: ${refusals.join(' | ')}`);
      dr.apply?.(this.model);
      const v = new DataView(dr.payload.buffer, dr.payload.byteOffset);
      if (dr.request === R.RESET_DEVICE || dr.request === R.RESET_OWNER || (dr.request === R.SET_STATUS && v.getBigUint64(0, true) === 0n)) {
        this.expectStopped(Array.from({ length: this.env.vrings }, (_, i) => i), what);
      } else if (dr.request === R.SET_VRING_ENABLE && v.getUint32(4, true) === 0) {
        this.expectStopped([v.getUint32(0, true)], what);
      } else if (dr.request === R.SET_VRING_ENABLE && this.clean && this.bringingUp && this.tableSet) {
        this.expectRunning(v.getUint32(0, true), what);
      }
      if (dr.request === R.SET_MEM_TABLE) this.tableSet = true;
      return 'ack0';
    }
    if (ack !== 1n) this.fail(`${what} was acked ${ack} (the back-end acks 0 or 1)`);
    this.clean = false;
    if (dr.expect === 'ack0') this.fail(`${what} was refused: ${refusals.join(' | ') || '(nothing logged)'}`);
    if (refusals.length === 0) this.fail(`${what} was refused with nothing in the log saying why`);
    return `ack1:${reasonClass(refusals[0].replace(/^\S+: (failed|refused): /, ''))}`;
  }

  /** The device model has let go of these vrings by the time the reply to `what` came (vhost-user.rst: "stop the ring"). */
  private expectStopped(vrings: number[], what: string): void {
    if (this.shrunk) return;
    const running = this.srv.net ? this.srv.net.device.runningVrings() : [...this.srv.rig.ready.keys()];
    const still = vrings.filter((i) => running.includes(i));
    if (still.length > 0) this.fail(`after ${what} vrings ${still.join(', ')} still run on the device`);
  }

  /** What is mapped in the back-end's guest memory window (not its inflight window). */
  private guestMappings(): Mapping[] {
    return mappings(this.srv.rig.memory).filter((x) => x.offset >= WINDOW.offset && x.offset < WINDOW.offset + WINDOW.size);
  }

  /**
   * GET_INFLIGHT_FD's reply: the description (num_queues and queue_size as asked) and a sealed
   * memfd holding mmap_size bytes from mmap_offset; or, refused (logged), mmap_size 0 and no fd.
   */
  private checkInflightReply(dr: Sent, m: Message): string {
    const what = this.describe(dr);
    if (m.payload.length !== INFLIGHT_PAYLOAD_SIZE) this.fail(`the reply to ${what} has ${m.payload.length} bytes, expected ${INFLIGHT_PAYLOAD_SIZE}`);
    const v = new DataView(m.payload.buffer, m.payload.byteOffset);
    const desc = { mmapSize: v.getBigUint64(0, true), mmapOffset: v.getBigUint64(8, true), numQueues: v.getUint16(16, true), queueSize: v.getUint16(18, true) };
    if (m.fds.length === 0) {
      if (desc.mmapSize !== 0n) this.fail(`the reply to ${what} describes ${desc.mmapSize} bytes but brings no fd`);
      const why = this.log.slice(this.logMark).find((l) => l.startsWith('GET_INFLIGHT_FD: refused: '));
      if (!why) this.fail(`${what} was answered with no buffer and nothing in the log saying why`);
      return `reply-none:${reasonClass(why.slice('GET_INFLIGHT_FD: refused: '.length))}`;
    }
    const fd = m.fds[0];
    const asked = dr.inflight;
    if (asked && (desc.numQueues !== asked.numQueues || desc.queueSize !== asked.queueSize)) {
      this.fail(`the reply to ${what} describes ${desc.numQueues} queues of ${desc.queueSize}, asked for ${asked.numQueues} of ${asked.queueSize}`);
    }
    const kind = fdKind(fd);
    const size = fstatSync(fd, { bigint: true }).size;
    if (kind !== 'memfd' || desc.mmapSize === 0n || desc.mmapOffset + desc.mmapSize > size) {
      this.fail(`the reply to ${what} brings a ${kind} of ${size} bytes for [${desc.mmapOffset}, +${desc.mmapSize})`);
    }
    if ((fdSeals(fd) & F_SEAL_SHRINK) === 0) this.fail(`the inflight buffer from ${what} is not sealed against shrinking`);
    this.inflightFd = fd;
    this.model.inflight = desc;
    return 'reply-buffer';
  }

  /** Vring `index` was set up as a front-end does it: the device model runs it by the reply to `what`. */
  private expectRunning(index: number, what: string): void {
    if (this.shrunk) return;
    const running = this.srv.net ? this.srv.net.device.runningVrings() : [...this.srv.rig.ready.keys()];
    if (!running.includes(index)) {
      this.fail(`vring ${index} was set up in order (num, base, addresses, call, kick) with a memory table, and ${what} was acked 0, ` +
        `but the device does not run it; the log: ${this.log.slice(-5).join(' | ')}`);
    }
    this.features.add(`ring-runs:${this.srv.name}`);
  }

  /**
   * After an acked memory request: a refused one changed nothing mapped (a SET_MEM_TABLE that
   * fails while mapping leaves nothing mapped: guest-memory.ts, all or nothing); SET_MEM_TABLE
   * carried out maps exactly its regions; ADD_MEM_REG adds at most one, REM_MEM_REG removes at
   * most one (a region added again is counted, not mapped twice).
   */
  private checkMemory(dr: Sent, outcome: string, before: Mapping[]): void {
    // Memory that shrank ends the session whenever the guard's fault is delivered (unmapping it all).
    if (this.shrunk) return;
    const after = this.guestMappings();
    const key = (ms: Mapping[]): string => JSON.stringify(ms.map((x) => [x.offset, x.length, x.fdOffset]).sort((a, b) => a[0] - b[0]));
    const what = this.describe(dr);
    if (outcome.startsWith('ack1')) {
      if (key(after) === key(before)) return;
      if (dr.request === R.SET_MEM_TABLE && after.length === 0 && /mapping region/.test(outcome)) return;
      this.fail(`${what} was refused (${outcome}) but guest memory changed: ${key(before)} -> ${key(after)}`);
    }
    if (outcome !== 'ack0') return;
    if (dr.request === R.SET_MEM_TABLE) {
      const v = new DataView(dr.payload.buffer, dr.payload.byteOffset);
      const sizes = Array.from({ length: v.getUint32(0, true) }, (_, i) => Number(v.getBigUint64(P.MEM_HEADER + i * P.REGION_SIZE + P.REGION_LEN, true)));
      if (JSON.stringify(after.map((x) => x.length).sort()) !== JSON.stringify(sizes.sort())) {
        this.fail(`${what} was carried out but the mappings are ${key(after)}`);
      }
    } else {
      const d = after.length - before.length;
      if (d !== 0 && d !== (dr.request === R.ADD_MEM_REG ? 1 : -1)) this.fail(`${what} was carried out but the mappings went ${key(before)} -> ${key(after)}`);
    }
  }

  /** Ends a session that is still going: it must still answer GET_QUEUE_NUM (or have a reason to have ended). */
  private async finish(): Promise<void> {
    if (this.held) {
      try {
        await this.flushHeld();
      } catch {
        return this.endedWhile(this.inflight.at(-1)!);
      }
    }
    if (this.desynced) return;
    const probe: Sent = { request: R.GET_QUEUE_NUM, ownReply: true, flags: P.VERSION, payload: new Uint8Array(0), fds: [], expect: 'reply', wire: 'whole', needAck: false };
    await this.send(probe);
  }

  /** Guest rings for the traffic session: two queue pairs in a fresh plan of the shared guest memory. */
  private trafficSetup(): void {
    const g = this.world.guest!;
    g.plan = new MemoryPlan(g.memory, { start: g.gpa, end: g.gpa + g.size });
    g.privatePlan = new MemoryPlan(g.memory, { start: 64 * 1024, end: g.gpa });
    const layout = this.rng.chance(0.3) ? 'packed' : 'split';
    const num = 64;
    for (let k = 0; k < 2; k++) this.pairs.push(new GuestPair(g, k, num, 2048, layout));
    this.env.traffic = {
      region: g.region, layout, num,
      rings: this.pairs.flatMap((p) => [p.rxq, p.txq]).map((q) => ({ desc: g.uaddr(q.ring.desc), driver: g.uaddr(q.ring.driver), device: g.uaddr(q.ring.device) })),
    };
  }

  /**
   * Frames both ways on both pairs: receive buffers posted (again as they come back), a few
   * frames transmitted, used buffers collected. The rings may be stopped, half set up or broken
   * by the fuzzing: the driver side's errors are expected and ignored; only the back-end is checked.
   */
  private traffic(): void {
    const { rng } = this;
    this.pairs.forEach((p, k) => {
      try {
        p.collect();
      } catch { /* a used entry the driver refuses: the fuzzing moved the ring under it */ }
      const back = p.received.splice(0).length;
      if (back > 0) this.features.add('traffic:frames-came-back');
      try {
        // Receive buffer ids stay below the ring's 64 (the arena holds that many).
        const from = this.rxNext[k] % 64;
        const n = this.rxNext[k] === 0 ? 32 : Math.min(back, 64 - from);
        if (n > 0) p.postRx(n, from);
        this.rxNext[k] += n;
      } catch { /* the ring is full or broken */ }
      try {
        p.send(Array.from({ length: 1 + rng.below(4) }, () => testFrame(60 + rng.below(1400), this.frames++)));
      } catch { /* likewise */ }
    });
  }
}
