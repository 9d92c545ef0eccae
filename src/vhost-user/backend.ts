// One vhost-user connection, back-end side, for any device type: the state machine that takes
// the front-end's messages, keeps features, guest memory and vring state, builds each vring's
// engine DeviceQueue once it is ready (num, addresses, base, kick or polling, enabled) and hands
// it to the device model (device-model.ts), which runs it. Every handler checks its input before
// changing anything; what happens on error is `handle`'s comment.
import {
  close as closeFd, fdKind, fdSeals, setNonBlocking, eventfdWrite, F_SEAL_SHRINK, memoryFaultCount, memoryFaults, onMemoryFault,
  type MemoryFault,
} from '../native/index.js';
import { FEATURES, RING_FEATURES, featureProblems, type FeatureSet } from '../features.js';
import * as DS from '../../assembly/layout/device-status.js';
import type { Engine } from '../engine.js';
import type { RingLayout } from '../virtqueue/factory.js';
import type { DeviceQueue } from '../virtqueue/queue-side.js';
import type { InflightOptions } from '../virtqueue/inflight.js';
import * as P from './protocol.js';
import {
  ProtocolError, encodeReply, u64Payload, statePayload, readEmpty, readU64, readState, readAddr, readMemTable,
  readVringFd, readConfig, configPayload, readSingleRegion, readIotlb, type Message,
} from './message.js';
import { Iotlb, iotlbMsgProblem, updateOutsideMemory, permName } from './iotlb.js';
import { BackendChannel } from './backend-channel.js';
import type { Region } from '../virtqueue/queue-side.js';
import { GuestMemory, MAX_MEM_SLOTS } from './guest-memory.js';
import type { MemoryWindow } from './memory-table.js';
import type { RingSlots } from './ring-slots.js';
import { Vring, vringAreas, areaSpecs, vringNumProblem, vringBase, vringBaseProblem, buildRingDevice } from './vring.js';
import type { VhostUserDevice } from './device-model.js';
import { InflightTracking, readInflight, inflightPayload, type InflightSpace } from './inflight.js';
import { DirtyLog, readLog, usedLogProblem, LOG_ALL } from './dirty-log.js';
import * as SPLIT from '../../assembly/layout/split.js';

export interface BackendOptions {
  engine: Engine;
  /** Device-state slots, at least one per vring of the device (reused across connections). */
  slots: RingSlots;
  /** Where guest memory is mapped in engine.memory. */
  window: MemoryWindow;
  /** The device type behind the back-end. */
  device: VhostUserDevice;
  /**
   * Refuse guest memory a front-end could shrink under the mapping (a memfd without
   * F_SEAL_SHRINK, or a plain file). Default false: such memory is accepted with a warning in the
   * log; if it does shrink, the first touch of a page cut off (from any thread) reads zeros
   * instead of killing the process (the native SIGBUS guard), and the session ends with the reason.
   */
  requireSealedMemory?: boolean;
  /** Ends this session from inside (guest memory shrank under its mapping); without it the back-end only closes itself. */
  endSession?: (reason: string) => void;
  /**
   * Inflight I/O tracking (inflight.ts): where regions are mapped, and the back-end's own state
   * file. With it PROTOCOL_F_INFLIGHT_SHMFD is offered and every ring tracks into a region;
   * without it neither.
   */
  inflight?: InflightSpace;
  /**
   * Dirty-page logging for live migration (dirty-log.ts): the page-aligned range of the Wasm
   * memory the front-end's log is mapped into (not the guest memory or inflight window). With it
   * VHOST_F_LOG_ALL and PROTOCOL_F_LOG_SHMFD are offered; without it neither.
   */
  dirtyLog?: { window: MemoryWindow };
  /**
   * A device behind the front-end's IOMMU (vhost-user.rst "IOMMU support"; DPDK's
   * iommu-support=1): VIRTIO_F_ACCESS_PLATFORM and PROTOCOL_F_BACKEND_REQ are offered, and once
   * ACCESS_PLATFORM is negotiated every ring and descriptor address is an IOVA, translated
   * through the IOTLB (iotlb.ts) that IOTLB_MSG fills; a translation the back-end lacks is asked
   * for with a MISS on the back-end request channel. Default false (neither is offered).
   */
  iommu?: boolean;
  log?: (line: string) => void;
}

/** An encoded reply, with the fds to send along (GET_INFLIGHT_FD's memfd). */
export type Reply = Uint8Array & { fds?: readonly number[] };

const PF = P.ProtocolFeature;
/** Protocol features the generic back-end implements itself; a device model adds its own. */
export const BACKEND_PROTOCOL_FEATURES: bigint = [PF.MQ, PF.REPLY_ACK, PF.STATUS, PF.RESET_DEVICE, PF.CONFIGURE_MEM_SLOTS]
  .reduce((s, b) => s | (1n << BigInt(b)), 0n);
const PROTOCOL_FEATURES_BIT = 1n << BigInt(P.F_PROTOCOL_FEATURES);
/**
 * Features a vhost-user front-end implements itself and leaves out of SET_FEATURES: virtio-net's
 * control queue (QEMU's vhost-user net feature bits and DPDK virtio-user's set both omit
 * NET_CTRL_VQ, and send NET_MQ without it). A dependency on them is met by the front-end.
 */
const FRONT_END_FEATURES: FeatureSet = FEATURES.NET_CTRL_VQ;

/** A request this back-end does not carry out; harmless to ignore when no ack was asked for. */
class Refused extends Error {}

type Fds = 'none' | 'any';
interface Handler {
  /** Whether the request has a reply of its own (else REPLY_ACK may ask for an ack). */
  reply: boolean;
  /** 'none': fds with it are a protocol error; 'any': its reader checks them. */
  fds: Fds;
  run(m: Message): Uint8Array | { payload: Uint8Array; fds: readonly number[] } | void;
}

const R = P.Request;

export class VhostUserBackend {
  readonly memory: GuestMemory;
  readonly rings: Vring[];
  private readonly offered: FeatureSet;
  private readonly offeredProtocol: bigint;
  private readonly device: VhostUserDevice;
  private features: FeatureSet = 0n;
  private featuresSet = false;
  private protocolFeatures = 0n;
  private status = 0;
  private owner = false;
  private closed = false;
  private readonly log: (line: string) => void;
  private readonly handlers: Map<number, Handler>;
  /** Faults of the SIGBUS guard numbered up to this one came before the session. */
  private readonly faultsBefore: number;
  private readonly stopFaultWatch: () => void;
  private faultReported = false;
  private readonly inflight: InflightTracking | undefined;
  private readonly dirtyLog: DirtyLog | undefined;
  /** SET_LOG_FD's eventfd: signalled when a ring that was logging stops (its writes are all logged). */
  private logFd: number | undefined;
  /** IOVA -> front-end user address, with ACCESS_PLATFORM (iommu). */
  readonly iotlb = new Iotlb();
  /** SET_BACKEND_REQ_FD's socket: where IOTLB misses are asked for. */
  private backendChannel: BackendChannel | undefined;

  constructor(private readonly opts: BackendOptions) {
    this.device = opts.device;
    const n = this.device.vrings;
    if (!Number.isInteger(n) || n < 1 || n > opts.slots.count || n > 256) {
      throw new RangeError(`the device has ${n} vrings: needs 1 to ${Math.min(256, opts.slots.count)} (one slot each, a vring index is 8 bits)`);
    }
    this.offered = this.device.features | PROTOCOL_FEATURES_BIT | (opts.dirtyLog ? LOG_ALL : 0n) | (opts.iommu ? FEATURES.ACCESS_PLATFORM : 0n);
    this.offeredProtocol = BACKEND_PROTOCOL_FEATURES | this.device.protocolFeatures
      | (opts.iommu ? 1n << BigInt(PF.BACKEND_REQ) : 0n)
      | (opts.inflight ? 1n << BigInt(PF.INFLIGHT_SHMFD) : 0n)
      | (opts.dirtyLog ? 1n << BigInt(PF.LOG_SHMFD) : 0n);
    this.memory = new GuestMemory(opts.engine.memory, opts.window);
    this.rings = Array.from({ length: n }, (_, i) => new Vring(i));
    this.log = opts.log ?? ((line) => console.warn(`vhost-user: ${line}`));
    this.inflight = opts.inflight ? new InflightTracking(opts.engine.memory, opts.inflight, n, this.log) : undefined;
    this.dirtyLog = opts.dirtyLog ? new DirtyLog(opts.engine.memory, opts.dirtyLog.window) : undefined;
    this.handlers = this.table();
    this.faultsBefore = memoryFaultCount();
    this.stopFaultWatch = onMemoryFault((f) => this.onMemoryFault(f));
  }

  get negotiatedFeatures(): FeatureSet {
    return this.features;
  }

  get negotiatedProtocolFeatures(): bigint {
    return this.protocolFeatures;
  }

  get deviceStatus(): number {
    return this.status;
  }

  /** SET_OWNER came (and no RESET_OWNER since). */
  get owned(): boolean {
    return this.owner;
  }

  /** The protocol features offered by GET_PROTOCOL_FEATURES. */
  get offeredProtocolFeatures(): bigint {
    return this.offeredProtocol;
  }

  private get replyAck(): boolean {
    return (this.protocolFeatures & (1n << BigInt(PF.REPLY_ACK))) !== 0n;
  }

  /** ACCESS_PLATFORM was negotiated: ring and descriptor addresses are IOVAs. */
  private get iommu(): boolean {
    return (this.features & FEATURES.ACCESS_PLATFORM) !== 0n;
  }

  /** IOTLB UPDATEs applied so far. */
  iotlbUpdates = 0;
  /** What the device model calls with an IOTLB miss (one function for the session). */
  private readonly missListener = (index: number, iova: bigint): void => this.onIotlbMiss(index, iova);
  /** IOTLB ranges the last region table built had no room for. */
  private iotlbLeft = 0;

  /**
   * A running ring's device met a buffer at `iova` outside its region table (the chain was left
   * available): asks the front-end for the translation (MISS). If the IOTLB has it already, the
   * table had no room for it (it is made the newest and the rings are rebuilt), or it cannot be
   * used (not RW, or not guest memory mapped now): the ring is stopped, with the reason logged.
   */
  private onIotlbMiss(index: number, iova: bigint): void {
    const r = this.rings[index];
    if (this.closed || !r?.running || !this.iommu) return;
    const e = this.iotlb.lookup(iova);
    if (e === undefined) {
      if (this.backendChannel) this.backendChannel.miss(iova, P.IotlbPerm.RW);
      else this.log(`vring ${index}: a buffer at IOVA 0x${iova.toString(16)} is not in the IOTLB, and there is no back-end request channel to ask for it`);
      return;
    }
    if (e.perm === P.IotlbPerm.RW && this.iotlbLeft > 0) {
      this.iotlb.touch(iova);
      this.restartAround(0, () => undefined);
      return;
    }
    const why = e.perm !== P.IotlbPerm.RW
      ? `is mapped ${permName(e.perm)} in the IOTLB; the device reads and writes buffers through one table and takes only RW mappings`
      : 'is in the IOTLB, but its user address is in no memory region mapped now';
    this.log(`vring ${index} stopped: a buffer at IOVA 0x${iova.toString(16)} ${why} (vhost-user.rst "IOMMU support")`);
    try {
      this.stop(r);
    } catch (err) {
      this.log(`vring ${index}: ${(err as Error).message}`);
    }
  }

  /** MISS requests sent on the back-end request channel so far. */
  get iotlbMisses(): number {
    return this.backendChannel?.misses ?? 0;
  }

  /**
   * The Wasm offset of a ring area [addr, addr + size): front-end user addresses through the
   * memory table, or with ACCESS_PLATFORM IOVAs through the IOTLB (an RW entry) first.
   */
  private translateArea(addr: bigint, size: number): number | undefined {
    if (!this.iommu) return this.memory.translateUser(addr, size);
    const uaddr = this.iotlb.translate(addr, size);
    return uaddr === undefined ? undefined : this.memory.translateUser(uaddr, size);
  }

  /** The device's region table: guest addresses, or with ACCESS_PLATFORM IOVAs (iotlb.ts). */
  private deviceRegions(): Region[] {
    if (!this.iommu) return this.memory.deviceRegions();
    const { regions, left } = this.iotlb.deviceRegions(this.memory.regions);
    this.iotlbLeft = left;
    if (left > 0) this.log(`IOTLB: ${left} ranges beyond the engine's ${regions.length}-range table left out (they miss again when used)`);
    return regions;
  }

  /** With ACCESS_PLATFORM: asks for the translations of ring `r`'s areas the IOTLB lacks (MISS). */
  private missRingAreas(r: Vring): void {
    if (!this.iommu || r.num === undefined || r.addr === undefined) return;
    for (const s of areaSpecs(this.layout, r.num, r.addr)) {
      if (this.translateArea(s.uaddr, s.size) !== undefined) continue;
      // An area across two pages may need both.
      for (const at of [s.uaddr, s.uaddr + BigInt(s.size - 1)]) {
        if (this.iotlb.translate(at, 1) !== undefined) continue;
        if (this.backendChannel) this.backendChannel.miss(at, P.IotlbPerm.RW);
        else this.log(`vring ${r.index}: the ${s.name} area's IOVA 0x${at.toString(16)} is not in the IOTLB, and there is no back-end request channel to ask for it`);
      }
    }
  }

  private get layout(): RingLayout {
    return (this.features & RING_FEATURES.RING_PACKED) !== 0n ? 'packed' : 'split';
  }

  /**
   * Handles one message; returns the encoded replies to send (zero or one). The message's fds
   * are taken over: kept by the handler or closed. On a bad request (out of range, refused by
   * the checks): with REPLY_ACK negotiated and NEED_REPLY set, a non-zero ack and the session
   * goes on; a request the back-end does not implement is otherwise logged and ignored; any
   * other bad request (the front-end would go on believing it worked), a malformed payload or
   * wrong fds throws a ProtocolError with close = true: the connection must end.
   */
  handle(m: Message): Reply[] {
    const name = P.requestName(m.request);
    const needAck = this.replyAck && (m.flags & P.FLAG_NEED_REPLY) !== 0;
    const h = this.handlers.get(m.request);
    try {
      if (this.closed) throw new ProtocolError(m.request, 'the session is closed', true);
      if (!h) throw new Refused('not supported by this back-end');
      if (h.fds === 'none' && m.fds.length > 0) {
        throw new ProtocolError(m.request, `${m.fds.length} file descriptors with a request that takes none`, true);
      }
      const out = h.run(m);
      if (h.reply) {
        if (out === undefined || out instanceof Uint8Array) return [encodeReply(m.request, out ?? new Uint8Array(0))];
        return [Object.assign(encodeReply(m.request, out.payload), { fds: out.fds })];
      }
      return needAck ? [encodeReply(m.request, u64Payload(0n))] : [];
    } catch (e) {
      if (e instanceof ProtocolError && e.close) throw e;
      const why = (e as Error).message;
      if (e instanceof Refused && !h?.reply) {
        this.log(`${name}: refused: ${why}${needAck ? '' : ' (ignored)'}`);
        return needAck ? [encodeReply(m.request, u64Payload(1n))] : [];
      }
      if (needAck && !h?.reply) {
        this.log(`${name}: failed: ${why}`);
        return [encodeReply(m.request, u64Payload(1n))];
      }
      throw new ProtocolError(m.request, why.startsWith('vhost-user ') ? why.replace(/^vhost-user \S+: /, '') : why, true);
    } finally {
      for (const fd of m.fds.splice(0)) this.closeQuietly(fd);
    }
  }

  /**
   * The front-end shrank the file behind a region of guest memory and a thread touched a page cut
   * off: the guard put zero pages over the region (rings there may read zeros and be marked
   * broken), and the session ends, since its guest memory is no longer the front-end's.
   */
  private onMemoryFault(f: MemoryFault): void {
    const why = this.closed ? undefined : this.memory.faultReason(f);
    if (why === undefined) return;
    this.faultReported = true;
    if (this.opts.endSession) {
      this.opts.endSession(why);
    } else {
      this.log(why);
      this.close();
    }
  }

  /** Ends the session: stops every ring, closes every fd it owns, unmaps guest memory. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopFaultWatch();
    // A fault the event loop has not delivered yet (the session ended for another reason first).
    for (const f of this.faultReported ? [] : memoryFaults(this.faultsBefore)) {
      const why = this.memory.faultReason(f);
      if (why !== undefined) this.log(`closing: ${why}`);
    }
    for (const r of this.rings) {
      try {
        this.stop(r);
      } catch (e) {
        this.log(`closing: ${(e as Error).message}`);
      }
      r.closeFds();
    }
    this.inflight?.close();
    this.dirtyLog?.close();
    this.backendChannel?.close();
    this.backendChannel = undefined;
    this.device.bindIotlbMiss?.(undefined);
    this.iotlb.clear();
    if (this.logFd !== undefined) this.closeQuietly(this.logFd);
    this.logFd = undefined;
    this.memory.clear();
  }

  private closeQuietly(fd: number): void {
    try {
      closeFd(fd);
    } catch (e) {
      this.log(`closing fd ${fd}: ${(e as Error).message}`);
    }
  }

  private ring(m: Message, index: number): Vring {
    const r = this.rings[index];
    if (r === undefined) throw new ProtocolError(m.request, `vring ${index} does not exist (${this.rings.length} vrings)`);
    return r;
  }

  private invalid(m: Message, problem: string): never {
    throw new ProtocolError(m.request, problem);
  }

  // -- Rings starting and stopping ------------------------------------------------------------

  /** Starts `r` if it has everything it needs; logs (and leaves it stopped) if the engine refuses. */
  private tryStart(r: Vring): void {
    if (this.closed || r.running) return;
    const protocol = (this.features & PROTOCOL_FEATURES_BIT) !== 0n;
    if (r.num === undefined || r.addr === undefined || r.base === undefined || !r.started) return;
    if (protocol && !r.enabled) return;
    if (this.memory.regions.length === 0) return;
    const layout = this.layout;
    const areas = vringAreas(layout, r.num, r.addr, (u, n) => this.translateArea(u, n));
    const numProblem = vringNumProblem(r.num, layout);
    if (typeof areas === 'string' && numProblem === null && this.iommu) {
      // Started once the front-end's UPDATEs bring the areas' translations.
      this.missRingAreas(r);
      return;
    }
    if (typeof areas === 'string' || numProblem !== null) {
      this.log(`vring ${r.index} not started: ${numProblem ?? areas}`);
      return;
    }
    let device;
    const base = r.base;
    const log = this.logFor(r);
    // VHOST_F_LOG_ALL is a vhost feature: the engine's queue gets the virtio ones.
    const features = this.features & ~LOG_ALL;
    const build = (inflight?: InflightOptions): DeviceQueue => buildRingDevice(this.opts.engine, this.opts.slots.planFor(r.index), {
      layout, areas, features, regions: this.deviceRegions(), base, notify: r.hasKickFd, inflight, log, iotlb: this.iommu,
    });
    try {
      device = this.inflight ? this.inflight.startRing({ index: r.index, layout, num: r.num, addr: r.addr, base }, build) : build();
    } catch (e) {
      this.log(`vring ${r.index} not started: ${(e as Error).message}`);
      return;
    }
    r.device = device;
    r.layout = layout;
    try {
      this.device.vringStarted({ index: r.index, layout, device, features: this.features, callFd: r.call });
    } catch (e) {
      r.device = undefined;
      r.layout = undefined;
      this.inflight?.ringStopped(r.index, false);
      this.log(`vring ${r.index} not started: the device model refused it: ${(e as Error).message}`);
    }
  }

  /**
   * What ring `r` logs into (undefined: not logging): while VHOST_F_LOG_ALL is negotiated and a
   * log is mapped. Used ring writes go to the log address SET_VRING_ADDR gave with
   * VHOST_VRING_F_LOG, else to the used ring's own guest address.
   */
  private logFor(r: Vring): ReturnType<DirtyLog['optionsFor']> {
    if (!this.dirtyLog || (this.features & LOG_ALL) === 0n || r.addr === undefined) return undefined;
    const a = r.addr;
    let usedGpa = a.log;
    if ((a.flags & P.VRING_F_LOG) === 0) {
      const used = this.iommu ? this.iotlb.translate(a.used, 1) ?? 0n : a.used;
      const region = this.memory.regions.find((m) => used - m.uaddr >= 0n && used - m.uaddr < m.size);
      usedGpa = region ? region.gpa + (used - region.uaddr) : 0n;
    }
    return this.dirtyLog.optionsFor(usedGpa);
  }

  /** Stops the running rings, runs `change`, starts every ring that can start (also after a throw). */
  private restartAround(request: number, change: () => void): void {
    for (const r of this.rings.filter((x) => x.running)) this.stop(r, request);
    try {
      change();
    } finally {
      for (const r of this.rings) this.tryStart(r);
    }
  }

  /**
   * Stops `r` if it runs, keeping where it got to as its base. The device model lets go of the
   * ring first; if it cannot, the session cannot go on safely (throws a ProtocolError that ends it).
   * `told`: the front-end learns the position (GET_VRING_BASE), so inflight tracking has nothing
   * to resume the ring from later.
   */
  private stop(r: Vring, request = 0, told = false): void {
    if (!r.device) return;
    const layout = r.layout!;
    const device = r.device;
    r.device = undefined;
    r.layout = undefined;
    try {
      this.device.vringStopped(r.index);
    } catch (e) {
      throw new ProtocolError(request, `vring ${r.index}: ${(e as Error).message}`, true);
    }
    r.base = vringBase(layout, device.position());
    if (device.steppedOver > 0) {
      this.log(`vring ${r.index}: stepped over ${device.steppedOver} slot${device.steppedOver === 1 ? '' : 's'} the front-end had used in place while no back-end ran`);
    }
    this.inflight?.ringStopped(r.index, told);
  }

  private notify(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.log(`device model listener threw: ${(e as Error).message}`);
    }
  }

  private onKick(r: Vring, count: number): void {
    if (r.running) this.notify(() => this.device.kicked?.(r.index, count));
    else this.log(`vring ${r.index}: kick before the ring runs (ignored)`);
  }

  // -- Handlers, one per request -----------------------------------------------------------------

  private table(): Map<number, Handler> {
    const t = new Map<number, Handler>();
    const on = (request: number, reply: boolean, run: Handler['run'], fds: Fds = 'none'): void => {
      t.set(request, { reply, fds, run });
    };
    on(R.GET_FEATURES, true, (m) => this.getFeatures(m));
    on(R.SET_FEATURES, false, (m) => this.setFeatures(m));
    on(R.GET_PROTOCOL_FEATURES, true, (m) => this.getProtocolFeatures(m));
    on(R.SET_PROTOCOL_FEATURES, false, (m) => this.setProtocolFeatures(m));
    on(R.SET_OWNER, false, (m) => this.setOwner(m));
    on(R.RESET_OWNER, false, (m) => this.resetOwner(m));
    on(R.RESET_DEVICE, false, (m) => this.resetDevice(m));
    on(R.GET_MAX_MEM_SLOTS, true, (m) => this.getMaxMemSlots(m));
    on(R.ADD_MEM_REG, false, (m) => this.addMemReg(m), 'any');
    on(R.REM_MEM_REG, false, (m) => this.remMemReg(m), 'any');
    on(R.SET_MEM_TABLE, false, (m) => this.setMemTable(m), 'any');
    on(R.SET_VRING_NUM, false, (m) => this.setVringNum(m));
    on(R.SET_VRING_ADDR, false, (m) => this.setVringAddr(m));
    on(R.SET_VRING_BASE, false, (m) => this.setVringBase(m));
    on(R.GET_VRING_BASE, true, (m) => this.getVringBase(m));
    on(R.SET_VRING_KICK, false, (m) => this.setVringKick(m), 'any');
    on(R.SET_VRING_CALL, false, (m) => this.setVringCall(m), 'any');
    on(R.SET_VRING_ERR, false, (m) => this.setVringErr(m), 'any');
    on(R.SET_VRING_ENABLE, false, (m) => this.setVringEnable(m));
    on(R.GET_QUEUE_NUM, true, (m) => this.getQueueNum(m));
    on(R.SET_STATUS, false, (m) => this.setStatus(m));
    on(R.GET_STATUS, true, (m) => this.getStatus(m));
    on(R.GET_CONFIG, true, (m) => this.getConfig(m));
    on(R.SET_CONFIG, false, (m) => this.setConfig(m));
    on(R.SEND_RARP, false, (m) => this.sendRarp(m));
    on(R.NET_SET_MTU, false, (m) => this.netSetMtu(m));
    if (this.dirtyLog) {
      on(R.SET_LOG_BASE, true, (m) => this.setLogBase(m), 'any');
      on(R.SET_LOG_FD, false, (m) => this.setLogFd(m), 'any');
    }
    if (this.opts.iommu) {
      on(R.SET_BACKEND_REQ_FD, false, (m) => this.setBackendReqFd(m), 'any');
      on(R.IOTLB_MSG, false, (m) => this.iotlbMsg(m));
    }
    if (this.inflight) {
      on(R.GET_INFLIGHT_FD, true, (m) => this.getInflightFd(m), 'any');
      on(R.SET_INFLIGHT_FD, false, (m) => this.setInflightFd(m), 'any');
    }
    return t;
  }

  /** GET_FEATURES: the virtio features offered, plus F_PROTOCOL_FEATURES. */
  private getFeatures(m: Message): Uint8Array {
    readEmpty(m);
    return u64Payload(this.offered);
  }

  /** SET_FEATURES: a subset of what GET_FEATURES offered. */
  private setFeatures(m: Message): void {
    const f = readU64(m);
    const extra = f & ~this.offered;
    if (extra !== 0n) this.invalid(m, `feature bits 0x${extra.toString(16)} were not offered`);
    const layoutChanges = this.featuresSet && ((f ^ this.features) & RING_FEATURES.RING_PACKED) !== 0n;
    if (layoutChanges && this.rings.some((r) => r.running)) this.invalid(m, 'RING_PACKED cannot change while rings run');
    // VHOST_F_LOG_ALL turned on or off (migration starts or ends): running rings are rebuilt
    // with or without their log (nothing is held between bursts, so nothing is lost).
    const logChanges = ((f ^ this.features) & LOG_ALL) !== 0n;
    const apply = (): void => {
      this.features = f;
      this.featuresSet = true;
      this.device.bindIotlbMiss?.(this.iommu ? this.missListener : undefined);
    };
    if (logChanges) this.restartAround(m.request, apply);
    else {
      apply();
      for (const r of this.rings) this.tryStart(r);
    }
  }

  /** GET_PROTOCOL_FEATURES: the protocol features this back-end implements. */
  private getProtocolFeatures(m: Message): Uint8Array {
    readEmpty(m);
    return u64Payload(this.offeredProtocol);
  }

  /** SET_PROTOCOL_FEATURES: a subset of what was offered. */
  private setProtocolFeatures(m: Message): void {
    const f = readU64(m);
    const extra = f & ~this.offeredProtocol;
    if (extra !== 0n) this.invalid(m, `protocol feature bits 0x${extra.toString(16)} were not offered`);
    this.protocolFeatures = f;
  }

  /** SET_OWNER: the front-end claims the session. */
  private setOwner(m: Message): void {
    readEmpty(m);
    this.owner = true;
  }

  /** RESET_OWNER (deprecated; QEMU sends it on a device reset): the device reset, and no owner. */
  private resetOwner(m: Message): void {
    readEmpty(m);
    this.reset(m);
    this.owner = false;
  }

  /**
   * RESET_DEVICE: "disable all rings and reset all internal device state to the initial state,
   * ready to be reinitialized" (vhost-user.rst); the session, its owner, protocol features and
   * guest memory stay.
   */
  private resetDevice(m: Message): void {
    readEmpty(m);
    this.reset(m);
  }

  /** Every ring stopped and forgotten (num, addresses, base, fds), features and status back to 0. */
  private reset(m: Message): void {
    for (const r of this.rings) {
      this.stop(r, m.request);
      // The rings will be set up afresh: nothing of theirs is for a later back-end to resume.
      this.inflight?.ringStopped(r.index, true);
      r.forget();
    }
    this.features = 0n;
    this.featuresSet = false;
    this.status = 0;
    this.device.bindIotlbMiss?.(undefined);
    this.flushIotlb();
  }

  /** Forgets every translation (and which misses were asked for). */
  private flushIotlb(): void {
    this.iotlb.clear();
    this.backendChannel?.answered();
  }

  /** GET_MAX_MEM_SLOTS (CONFIGURE_MEM_SLOTS): how many regions ADD_MEM_REG may map. */
  private getMaxMemSlots(m: Message): Uint8Array {
    readEmpty(m);
    return u64Payload(BigInt(MAX_MEM_SLOTS));
  }

  /**
   * ADD_MEM_REG: one more region, with its fd. The rings that run are stopped, their device side
   * gets the new region table, and they start again (nothing is held between bursts, so nothing
   * is lost).
   */
  private addMemReg(m: Message): void {
    const region = readSingleRegion(m);
    if (m.fds.length !== 1) throw new ProtocolError(m.request, `${m.fds.length} file descriptors, expected 1`, true);
    if (this.memory.addRepeat(region)) { // the same region again (QEMU < 8.0, one per queue pair); its fd is closed
      this.inflight?.memoryAdded(region, m.fds[0]);
      return;
    }
    this.checkMemoryFds(m);
    const running = this.rings.filter((r) => r.running);
    for (const r of running) this.stop(r, m.request);
    try {
      this.memory.add(region, m.fds[0]);
      this.inflight?.memoryAdded(region, m.fds[0]);
    } finally {
      for (const r of this.rings) this.tryStart(r);
    }
  }

  /**
   * REM_MEM_REG: unmaps the region with that guest address, size and user address. Rings whose
   * areas were in it stay stopped (with a log line); the others start again on the new table.
   */
  private remMemReg(m: Message): void {
    const region = readSingleRegion(m);
    if (m.fds.length > 1) throw new ProtocolError(m.request, `${m.fds.length} file descriptors, expected at most 1`, true);
    const running = this.rings.filter((r) => r.running);
    for (const r of running) this.stop(r, m.request);
    try {
      this.memory.remove(region);
      this.inflight?.memoryRemoved(region);
    } finally {
      for (const r of this.rings) this.tryStart(r);
    }
  }

  /** SET_MEM_TABLE: checks the new table whole, stops the rings, remaps, restarts them. */
  private setMemTable(m: Message): void {
    const regions = readMemTable(m);
    this.checkMemoryFds(m);
    this.memory.check(regions, m.fds);
    const running = this.rings.filter((r) => r.running);
    for (const r of running) this.stop(r, m.request);
    this.memory.replace(regions, m.fds);
    this.inflight?.memoryReplaced(regions, m.fds);
    // The fds are closed by handle(): the mappings keep the pages.
    for (const r of this.rings) this.tryStart(r);
  }

  /**
   * Guest memory must be a memfd or a file (hugetlbfs, /dev/shm). One that can shrink under the
   * mapping is refused with requireSealedMemory, else accepted with a warning.
   */
  private checkMemoryFds(m: Message): void {
    for (const fd of m.fds) {
      const kind = fdKind(fd);
      if (kind !== 'memfd' && kind !== 'file') this.invalid(m, `a memory region's fd is a ${kind}, not a memfd or a file`);
      const sealed = kind === 'memfd' && (fdSeals(fd) & F_SEAL_SHRINK) !== 0;
      if (sealed) continue;
      const why = `fd of a memory region ${kind === 'memfd' ? 'is a memfd without F_SEAL_SHRINK' : 'is a file that cannot be sealed'}: the front-end could shrink it under the mapping (the session would end)`;
      if (this.opts.requireSealedMemory) this.invalid(m, why);
      this.log(`SET_MEM_TABLE: warning: ${why}`);
    }
  }

  /**
   * A kick, call or err fd must be an eventfd (vhost-user.rst: "an eventfd"): anything else
   * (a pipe, the front-end's own socket) would be read or written as one. It is made
   * non-blocking, so signalling a full counter fails instead of stalling the thread.
   */
  private checkEventFd(m: Message, index: number, fd: number | undefined, what: string): void {
    if (fd === undefined) return;
    let kind: string;
    try {
      kind = fdKind(fd);
      if (kind === 'eventfd') { setNonBlocking(fd); return; }
    } catch (e) {
      kind = `bad fd (${(e as Error).message})`;
    }
    this.closeQuietly(fd);
    this.invalid(m, `vring ${index}: the ${what} fd is a ${kind}, not an eventfd`);
  }

  /** SET_VRING_NUM: Queue Size, 1 to 32768 (a power of two unless RING_PACKED), ring stopped. */
  private setVringNum(m: Message): void {
    const s = readState(m);
    const r = this.ring(m, s.index);
    const problem = vringNumProblem(s.num, this.layout);
    if (problem !== null) this.invalid(m, `vring ${s.index}: ${problem}`);
    if (r.running) this.invalid(m, `vring ${s.index} is running`);
    r.num = s.num;
  }

  /** SET_VRING_ADDR: each area whole inside one region (translated through user addresses). */
  private setVringAddr(m: Message): void {
    const a = readAddr(m);
    const r = this.ring(m, a.index);
    // vhost-user.rst, SET_VRING_ADDR: bit 0 of the flags (VHOST_VRING_F_LOG) asks for the used
    // ring's writes to be logged at the log address for migration. A back-end without dirty-page
    // logging (no VHOST_F_LOG_ALL offered) refuses it rather than leave the ring unlogged; every
    // other bit is reserved.
    const logged = (a.flags & P.VRING_F_LOG) !== 0;
    if (logged && !this.dirtyLog) this.invalid(m, `vring ${a.index}: VHOST_VRING_F_LOG asks for dirty-page logging, which this back-end does not offer (no VHOST_F_LOG_ALL)`);
    if ((a.flags & ~P.VRING_F_LOG) !== 0) this.invalid(m, `vring ${a.index}: reserved address flags 0x${(a.flags & ~P.VRING_F_LOG).toString(16)}`);
    if (r.num === undefined) this.invalid(m, `vring ${a.index}: addresses before SET_VRING_NUM`);
    if (this.memory.regions.length === 0) this.invalid(m, `vring ${a.index}: addresses before SET_MEM_TABLE`);
    if (this.iommu) {
      // IOVAs: their translations may come later (the ring starts when they do); only their
      // alignment is checked now (IOTLB entries map whole pages, so it carries over).
      for (const s of areaSpecs(this.layout, r.num, a)) {
        if (s.uaddr % BigInt(s.align) !== 0n) this.invalid(m, `vring ${a.index}: ${s.name} area at IOVA 0x${s.uaddr.toString(16)} is not ${s.align}-byte aligned`);
        if (s.uaddr + BigInt(s.size) > 1n << 64n) this.invalid(m, `vring ${a.index}: ${s.name} area at IOVA 0x${s.uaddr.toString(16)} reaches past 2^64`);
      }
    } else {
      const areas = vringAreas(this.layout, r.num, a, (u, n) => this.memory.translateUser(u, n));
      if (typeof areas === 'string') this.invalid(m, `vring ${a.index}: ${areas}`);
    }
    const bitmap = this.dirtyLog?.bitmap;
    if (logged && bitmap !== undefined && this.layout === 'split') {
      const problem = usedLogProblem(BigInt(bitmap.size), a, usedRingBytes(r.num));
      if (problem !== null) this.invalid(m, `vring ${a.index}: ${problem} (vhost-user.rst "Migration")`);
    }
    this.stop(r, m.request);
    r.addr = a;
    this.tryStart(r);
  }

  /** SET_VRING_BASE: where the device starts (vring.ts says how each layout encodes it), ring stopped. */
  private setVringBase(m: Message): void {
    const s = readState(m);
    const r = this.ring(m, s.index);
    if (r.running) this.invalid(m, `vring ${s.index} is running`);
    const problem = vringBaseProblem(this.layout, s.num, r.num);
    if (problem !== null) this.invalid(m, `vring ${s.index}: ${problem}`);
    r.base = s.num;
    this.tryStart(r);
  }

  /** GET_VRING_BASE: stops the ring and replies with where the device got to. */
  private getVringBase(m: Message): Uint8Array {
    const s = readState(m);
    const r = this.ring(m, s.index);
    const logged = r.running && this.logFor(r) !== undefined;
    this.stop(r, m.request, true);
    r.dropKick();
    // The device stops (QEMU's vhost_dev_stop takes every ring's base): its translations go with
    // it, as DPDK's vhost flushes its IOTLB here. The guest may unmap and reuse those IOVAs while
    // the device is stopped, and no INVALIDATE comes for that; the next start asks again.
    if (!this.rings.some((x) => x.running)) this.flushIotlb();
    // vhost-user.rst "Migration": SET_LOG_FD's eventfd tells the front-end the log was modified;
    // the ring's writes are all in it now.
    if (logged && this.logFd !== undefined) eventfdWrite(this.logFd, 1);
    return statePayload(s.index, r.base ?? 0);
  }

  /** SET_VRING_KICK: the kick eventfd (or polling); starts the ring if it has the rest. */
  private setVringKick(m: Message): void {
    const v = readVringFd(m);
    const r = this.ring(m, v.index);
    m.fds.splice(0);
    this.checkEventFd(m, v.index, v.fd, 'kick');
    try {
      r.setKick(v.fd, (count) => this.onKick(r, count), (e) => this.log(`vring ${r.index}: kick fd failed (${e.message}); the ring is polled`));
    } catch (e) {
      this.invalid(m, `vring ${v.index}: cannot watch the kick fd: ${(e as Error).message}`);
    }
    this.tryStart(r);
  }

  /** SET_VRING_CALL: the eventfd to signal used buffers on (or none). */
  private setVringCall(m: Message): void {
    const v = readVringFd(m);
    const r = this.ring(m, v.index);
    m.fds.splice(0);
    this.checkEventFd(m, v.index, v.fd, 'call');
    // The device model switches to the new fd before the old one is closed.
    if (r.running) {
      try {
        this.device.callChanged?.(r.index, v.fd);
      } catch (e) {
        if (v.fd !== undefined) this.closeQuietly(v.fd);
        throw new ProtocolError(m.request, `vring ${v.index}: ${(e as Error).message}`, true);
      }
    }
    r.setCall(v.fd);
  }

  /** SET_VRING_ERR: the eventfd to signal errors on (or none). */
  private setVringErr(m: Message): void {
    const v = readVringFd(m);
    const r = this.ring(m, v.index);
    m.fds.splice(0);
    this.checkEventFd(m, v.index, v.fd, 'err');
    r.setErr(v.fd);
  }

  /** SET_VRING_ENABLE: num 1 enables, 0 disables (stopping it, keeping its position). */
  private setVringEnable(m: Message): void {
    const s = readState(m);
    const r = this.ring(m, s.index);
    if (s.num > 1) this.invalid(m, `vring ${s.index}: enable value ${s.num}, expected 0 or 1`);
    r.enabled = s.num === 1;
    if (r.enabled) this.tryStart(r);
    else this.stop(r, m.request);
  }

  /** GET_QUEUE_NUM: the device model's answer (default: its vrings). */
  private getQueueNum(m: Message): Uint8Array {
    readEmpty(m);
    return u64Payload(BigInt(this.device.queueNum ?? this.rings.length));
  }

  /** SET_STATUS: the virtio device status byte. */
  private setStatus(m: Message): void {
    const v = readU64(m);
    if (v > 0xffn) this.invalid(m, `status 0x${v.toString(16)} does not fit a byte`);
    let status = Number(v);
    // 3.1.1: the device refuses features it cannot work with by not setting FEATURES_OK. What
    // the front-end implements itself is not in SET_FEATURES, and needs no back-end support.
    const problems = featureProblems(this.features | FRONT_END_FEATURES);
    if ((status & DS.STATUS_FEATURES_OK) !== 0 && problems.length > 0) {
      this.log(`SET_STATUS: FEATURES_OK not set: ${problems.join('; ')}`);
      status &= ~DS.STATUS_FEATURES_OK;
    }
    // Writing 0 resets the device (2.1.2): the rings stop (their state is kept for GET_VRING_BASE,
    // which QEMU sends next and which tells it where they stopped).
    if (status === 0) {
      for (const r of this.rings) this.stop(r, m.request);
      this.flushIotlb();
    }
    this.status = status;
  }

  /** GET_STATUS: the last status set. */
  private getStatus(m: Message): Uint8Array {
    readEmpty(m);
    return u64Payload(BigInt(this.status));
  }

  /** GET_CONFIG: exactly the requested bytes of the device's config space; empty if out of range. */
  private getConfig(m: Message): Uint8Array {
    const c = readConfig(m);
    if (!this.device.readConfig) throw new Refused('the device has no configuration space');
    const bytes = this.device.readConfig(c.offset, c.size);
    if (bytes === undefined) {
      this.log(`GET_CONFIG: [${c.offset}, +${c.size}) is outside the config space (empty reply)`);
      return new Uint8Array(0);
    }
    return configPayload(c.offset, c.flags, bytes);
  }

  /** SET_CONFIG: the device model writes it, or refuses (read-only without writeConfig). */
  private setConfig(m: Message): void {
    const c = readConfig(m);
    if (!this.device.writeConfig) throw new Refused('the config space is read-only');
    try {
      this.device.writeConfig(c.offset, c.data);
    } catch (e) {
      throw new Refused((e as Error).message);
    }
  }

  /** SEND_RARP: the MAC (first six bytes) to announce; the device model broadcasts a RARP for it. */
  private sendRarp(m: Message): void {
    const v = readU64(m);
    if (!this.device.announce) throw new Refused('the device does not announce');
    const mac = u64Payload(v).slice(0, 6);
    this.notify(() => this.device.announce!(mac));
  }

  /**
   * GET_INFLIGHT_FD (with PROTOCOL_F_INFLIGHT_SHMFD): a new buffer of num_queues inflight regions
   * (inflight.ts), replacing the previous one; the reply carries its fd. The request has a reply
   * of its own, so a refusal is an empty one (mmap_size 0, no fd: QEMU then goes on without
   * inflight tracking), logged with the reason; the session goes on.
   */
  private getInflightFd(m: Message): { payload: Uint8Array; fds: readonly number[] } {
    let numQueues = 0;
    let queueSize = 0;
    const none = (why: string): { payload: Uint8Array; fds: readonly number[] } => {
      this.log(`GET_INFLIGHT_FD: refused: ${why} (answered with no region)`);
      return { payload: inflightPayload({ mmapSize: 0n, mmapOffset: 0n, numQueues, queueSize }), fds: [] };
    };
    if (m.fds.length > 0) return none(`${m.fds.length} file descriptors with a request that takes none`);
    let d;
    try {
      d = readInflight(m);
    } catch (e) {
      return none((e as Error).message.replace(/^vhost-user \S+: /, ''));
    }
    ({ numQueues, queueSize } = d);
    if ((this.protocolFeatures & (1n << BigInt(PF.INFLIGHT_SHMFD))) === 0n) return none('PROTOCOL_F_INFLIGHT_SHMFD was not negotiated');
    if (this.rings.some((r) => r.running)) return none('rings are running (the buffer changes only while every ring is stopped)');
    try {
      const { reply, fd } = this.inflight!.getFd(d, this.layout);
      return { payload: inflightPayload(reply), fds: [fd] };
    } catch (e) {
      return none((e as Error).message);
    }
  }

  /**
   * SET_INFLIGHT_FD (with PROTOCOL_F_INFLIGHT_SHMFD): the front-end's buffer of inflight regions
   * (after a back-end restart, the one it got before), checked to hold num_queues regions of
   * queue_size entries and mapped, replacing the previous one; the back-end keeps its fd. Rings
   * started after it resume from it.
   */
  private setInflightFd(m: Message): void {
    const d = readInflight(m);
    if ((this.protocolFeatures & (1n << BigInt(PF.INFLIGHT_SHMFD))) === 0n) this.invalid(m, 'PROTOCOL_F_INFLIGHT_SHMFD was not negotiated');
    if (m.fds.length !== 1) this.invalid(m, `${m.fds.length} file descriptors, expected 1`);
    if (this.rings.some((r) => r.running)) this.invalid(m, 'rings are running (the buffer changes only while every ring is stopped)');
    const fd = m.fds[0];
    const kind = fdKind(fd);
    if (kind !== 'memfd' && kind !== 'file') this.invalid(m, `the inflight buffer's fd is a ${kind}, not a memfd or a file`);
    if (kind !== 'memfd' || (fdSeals(fd) & F_SEAL_SHRINK) === 0) {
      const why = 'the inflight buffer\'s fd can be shrunk under the mapping (not a memfd with F_SEAL_SHRINK)';
      if (this.opts.requireSealedMemory) this.invalid(m, why);
      this.log(`SET_INFLIGHT_FD: warning: ${why}`);
    }
    try {
      this.inflight!.setFd(d, fd, this.layout);
    } catch (e) {
      this.invalid(m, (e as Error).message);
    }
    m.fds.splice(0); // taken over
  }

  /**
   * The message's one fd, of kind `kind` (fdKind): anything else is refused, naming `what` and
   * what it was (`expected` says what one fd should be).
   */
  private oneFd(m: Message, kind: string, expected: string, what: string): number {
    if (m.fds.length !== 1) this.invalid(m, `${m.fds.length} file descriptors, expected 1 (${expected})`);
    const fd = m.fds[0];
    let got: string;
    try {
      got = fdKind(fd);
    } catch (e) {
      got = `bad fd (${(e as Error).message})`;
    }
    if (got !== kind) this.invalid(m, `${what} is a ${got}, not ${kind === 'eventfd' ? 'an eventfd' : `a ${kind}`}`);
    return fd;
  }

  /**
   * SET_LOG_FD (vhost-user.rst "Migration": an optional eventfd "to inform the front-end that the
   * log has been modified"; no payload, no reply): exactly one fd, an eventfd, replacing any
   * previous one. The log is current whenever a ring that was logging stops (GET_VRING_BASE), and
   * that is when it is signalled. Anything else is refused (a nack with REPLY_ACK; the fds closed).
   */
  private setLogFd(m: Message): void {
    readEmpty(m);
    const fd = this.oneFd(m, 'eventfd', 'an eventfd', 'the log fd');
    setNonBlocking(fd);
    m.fds.splice(0); // taken over
    if (this.logFd !== undefined) this.closeQuietly(this.logFd);
    this.logFd = fd;
  }

  /**
   * SET_LOG_BASE (with PROTOCOL_F_LOG_SHMFD): the front-end's dirty log, one fd and its log
   * description, checked (dirty-log.ts says what is refused) and mapped, replacing the previous
   * one; running rings are rebuilt to log into it. The reply has no payload (as QEMU reads it and
   * DPDK sends it). A log this back-end cannot use is answered with a nack when the front-end
   * asked for an ack (NEED_REPLY); otherwise the session ends, since a front-end that went on
   * migrating without its log would lose the pages the device writes.
   */
  private setLogBase(m: Message): Uint8Array {
    const needAck = this.replyAck && (m.flags & P.FLAG_NEED_REPLY) !== 0;
    try {
      const d = readLog(m);
      if ((this.protocolFeatures & (1n << BigInt(PF.LOG_SHMFD))) === 0n) throw new Error('PROTOCOL_F_LOG_SHMFD was not negotiated (a log outside shared memory cannot be written)');
      if (m.fds.length !== 1) throw new Error(`${m.fds.length} file descriptors, expected 1 (the log's memfd)`);
      const fd = m.fds[0];
      this.dirtyLog!.check(d, fd, this.memory.regions);
      for (const r of this.rings) {
        if (r.addr === undefined || r.num === undefined || (r.addr.flags & P.VRING_F_LOG) === 0 || this.layout !== 'split') continue;
        const problem = usedLogProblem(d.mmapSize, r.addr, usedRingBytes(r.num));
        if (problem !== null) throw new Error(`vring ${r.index}: ${problem}`);
      }
      this.restartAround(m.request, () => this.dirtyLog!.replace(d, fd));
      this.log(`SET_LOG_BASE: a ${d.mmapSize}-byte log mapped`);
      return new Uint8Array(0);
    } catch (e) {
      const why = (e as Error).message.replace(/^vhost-user \S+: /, '');
      if (!needAck) throw new ProtocolError(m.request, why, true);
      this.log(`SET_LOG_BASE: refused: ${why}`);
      return u64Payload(1n);
    }
  }

  /**
   * SET_BACKEND_REQ_FD (PROTOCOL_F_BACKEND_REQ): the socket for the back-end's own requests (its
   * IOTLB misses), replacing an earlier one. No payload; exactly one fd, a unix socket.
   */
  private setBackendReqFd(m: Message): void {
    readEmpty(m);
    if ((this.protocolFeatures & (1n << BigInt(PF.BACKEND_REQ))) === 0n) this.invalid(m, 'PROTOCOL_F_BACKEND_REQ was not negotiated');
    const fd = this.oneFd(m, 'socket', 'a unix socket', 'the back-end request fd');
    try {
      setNonBlocking(fd);
    } catch (e) {
      this.invalid(m, `the back-end request fd: ${(e as Error).message}`);
    }
    m.fds.splice(0); // taken over
    this.backendChannel?.close();
    this.backendChannel = new BackendChannel(fd, this.log);
  }

  /**
   * IOTLB_MSG (vhost-user.rst "IOMMU support"): an UPDATE maps IOVAs to front-end user
   * addresses, an INVALIDATE takes them away. Checked whole first (iotlb.ts iotlbMsgProblem; an
   * UPDATE's user addresses must be guest memory mapped now, and ACCESS_PLATFORM negotiated);
   * a refused message changes nothing. A change stops the running rings, rebuilds their
   * IOVA-keyed region tables and starts them again (as a new memory table does), and starts the
   * rings that were waiting for their areas' translations.
   */
  private iotlbMsg(m: Message): void {
    const t = readIotlb(m);
    if (!this.iommu) this.invalid(m, 'VIRTIO_F_ACCESS_PLATFORM was not negotiated (addresses are not IOVAs)');
    const problem = iotlbMsgProblem(t) ?? (t.type === P.IotlbType.UPDATE ? updateOutsideMemory(t, this.memory.regions) : null);
    if (problem !== null) this.invalid(m, problem);
    if (t.type === P.IotlbType.UPDATE) {
      this.restartAround(m.request, () => this.iotlb.update(t));
      this.iotlbUpdates++;
    } else if (this.iotlb.entries.some((e) => e.iova < t.iova + t.size && t.iova < e.iova + e.size)) {
      this.restartAround(m.request, () => this.iotlb.invalidate(t.iova, t.size));
    }
    this.backendChannel?.answered();
  }

  /** NET_SET_MTU: the MTU the front-end wants (68 to 65535); the device model may refuse it. */
  private netSetMtu(m: Message): void {
    const v = readU64(m);
    if (v < 68n || v > 65535n) this.invalid(m, `MTU ${v} is outside 68 to 65535`);
    if (!this.device.setMtu) throw new Refused('the device has no MTU');
    this.device.setMtu(Number(v));
  }
}

/** Bytes of a split used ring of `num` entries: flags, idx, the ring, avail_event. */
const usedRingBytes = (num: number): number => SPLIT.USED_RING + num * SPLIT.USED_ELEM_SIZE + SPLIT.USED_TRAILER;
