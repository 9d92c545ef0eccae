// The grammar of a fuzzed vhost-user session: a front-end that mostly brings a device up in the
// order QEMU does (GET_FEATURES, SET_OWNER, protocol features, SET_FEATURES, the memory table,
// then each vring's num, base, addresses, call, kick and enable, then the status), then goes on
// with any request at all (vring stops and restarts, memory slots, resets, config space,
// requests this back-end does not implement, unknown codes), and mutates some messages: wrong
// payload sizes, bad version bits, stray flags, NEED_REPLY on and off, out-of-range indices and
// values, huge, overlapping, unaligned and unmappable regions, the wrong kind or number of fds,
// fds that arrive in the middle of a message, a size that lies, a message cut by a hang-up.
//
// Each message is drafted with what vhost-user.rst (and this back-end's documented choices) say
// must happen to it, so the runner can check the answer: `expect`, below.
import * as P from '../../src/vhost-user/protocol.js';
import {
  u64Payload, statePayload, addrPayload, memTablePayload, singleRegionPayload, configPayload, iotlbPayload, type MemRegion,
} from '../../src/vhost-user/message.js';
import { splitAreaSizes } from '../../src/virtqueue/layout.js';
import { inflightPayload, type InflightDescription } from '../../src/vhost-user/inflight.js';
import { FEATURES } from '../../src/index.js';
import { PAGE_SIZE } from '../../src/native/index.js';
import { UADDR } from '../helpers/vhost-user-rig.js';
import type { Rng } from './harness.js';
import { ANY_KIND, NOT_EVENTFDS, NOT_MEMORY, type FdKindName, type FdSpec } from './vhost-user-session-fds.js';

const R = P.Request;
const PF = P.ProtocolFeature;
const MiB = 1 << 20;
const PAGE = BigInt(PAGE_SIZE);
const F_PROTOCOL = 1n << BigInt(P.F_PROTOCOL_FEATURES);

/**
 * What the back-end must do with a message (needAck: REPLY_ACK negotiated and NEED_REPLY set):
 * - reply: a reply of its own (requests that have one, whatever NEED_REPLY says);
 * - end: the session ends (a malformed message, or a request with a reply that cannot be answered);
 * - ack0: carried out (ack 0 when needAck; else no reply and the session goes on);
 * - nack: refused (ack 1 when needAck; else the session ends: the front-end would believe it worked);
 * - refuse: not carried out, harmlessly (ack 1 when needAck; else logged and ignored);
 * - any: depends on state this front-end does not track (ack 0 or 1; without needAck it goes on or ends).
 */
export type Expect = 'reply' | 'end' | 'ack0' | 'nack' | 'refuse' | 'any';

/** How a message's bytes go out. */
export type Wire =
  | 'whole'
  /** Header (with the fds) and payload in two sends. */
  | 'split'
  /** Header, then the payload carrying the fds: fds in the middle of a message (ends the session). */
  | 'fds-on-payload'
  /** The header's size says `sizeLie` bytes more (or fewer) than follow: the stream is out of step from here. */
  | 'size-lie'
  /** Only `cut` bytes of the message (fds with them), then the front-end hangs up. */
  | 'cut-and-hang-up'
  /** With the next message in the same send. */
  | 'batch';

export interface Draft {
  request: number;
  /** The back-end answers it with a reply of its own (whatever NEED_REPLY says). */
  ownReply: boolean;
  flags: number;
  payload: Uint8Array;
  fds: FdSpec[];
  expect: Expect;
  wire: Wire;
  sizeLie?: number;
  cut?: number;
  /** A header claiming this payload size, sent alone (a size above the back-end's limit). */
  claimedSize?: number;
  /** The mutation applied, for features and failure messages. */
  mutation?: string;
  /** Model changes once the back-end has carried the message out. */
  apply?: (m: FrontEndModel) => void;
  /** The vring a GET_VRING_BASE asks for (its reply must name it). */
  vring?: number;
  /** The config access size of a GET_CONFIG (its reply is empty or that many bytes after the header). */
  configSize?: number;
  /** The queues a GET_INFLIGHT_FD asks for (its reply echoes them). */
  inflight?: { numQueues: number; queueSize: number };
}

/** Requests the back-end answers with a reply of their own. */
export const REPLY_REQUESTS: ReadonlySet<number> = new Set([
  R.GET_FEATURES, R.GET_PROTOCOL_FEATURES, R.GET_VRING_BASE, R.GET_QUEUE_NUM, R.GET_STATUS, R.GET_CONFIG, R.GET_MAX_MEM_SLOTS,
]);

/** Requests this back-end implements (the rest are refused: a non-zero ack, or ignored). */
const HANDLED: ReadonlySet<number> = new Set([
  R.GET_FEATURES, R.SET_FEATURES, R.GET_PROTOCOL_FEATURES, R.SET_PROTOCOL_FEATURES, R.SET_OWNER, R.RESET_OWNER,
  R.RESET_DEVICE, R.GET_MAX_MEM_SLOTS, R.ADD_MEM_REG, R.REM_MEM_REG, R.SET_MEM_TABLE, R.SET_VRING_NUM,
  R.SET_VRING_ADDR, R.SET_VRING_BASE, R.GET_VRING_BASE, R.SET_VRING_KICK, R.SET_VRING_CALL, R.SET_VRING_ERR,
  R.SET_VRING_ENABLE, R.GET_QUEUE_NUM, R.SET_STATUS, R.GET_STATUS, R.GET_CONFIG, R.SET_CONFIG, R.SEND_RARP, R.NET_SET_MTU,
]);
/** Handled requests whose payload is a fixed size (vhost-user.rst, "Message types"). */
const FIXED_SIZE = new Map<number, number>([
  [R.GET_FEATURES, 0], [R.GET_PROTOCOL_FEATURES, 0], [R.GET_QUEUE_NUM, 0], [R.GET_STATUS, 0], [R.GET_MAX_MEM_SLOTS, 0],
  [R.SET_OWNER, 0], [R.RESET_OWNER, 0], [R.RESET_DEVICE, 0],
  [R.SET_FEATURES, 8], [R.SET_PROTOCOL_FEATURES, 8], [R.SET_STATUS, 8], [R.SEND_RARP, 8], [R.NET_SET_MTU, 8],
  [R.SET_VRING_KICK, 8], [R.SET_VRING_CALL, 8], [R.SET_VRING_ERR, 8],
  [R.SET_VRING_NUM, P.STATE_SIZE], [R.SET_VRING_BASE, P.STATE_SIZE], [R.GET_VRING_BASE, P.STATE_SIZE], [R.SET_VRING_ENABLE, P.STATE_SIZE],
  [R.SET_VRING_ADDR, P.ADDR_SIZE], [R.ADD_MEM_REG, P.SINGLE_REGION_SIZE], [R.REM_MEM_REG, P.SINGLE_REGION_SIZE],
]);
/** Handled requests that take fds, and how many are right for a draft's payload. */
const TAKES_FDS: ReadonlySet<number> = new Set([R.SET_MEM_TABLE, R.ADD_MEM_REG, R.REM_MEM_REG, R.SET_VRING_KICK, R.SET_VRING_CALL, R.SET_VRING_ERR]);
/** Payload sizes of the requests an iommu back-end handles too. */
const IOMMU_SIZES = new Map<number, number>([[R.IOTLB_MSG, P.IOTLB_SIZE], [R.SET_BACKEND_REQ_FD, 0]]);
/** Requests defined by vhost-user.rst that this back-end does not implement, and codes nobody defined. */
const UNHANDLED: readonly number[] = [
  R.SET_LOG_BASE, R.SET_LOG_FD, R.SET_BACKEND_REQ_FD, R.IOTLB_MSG, R.SET_VRING_ENDIAN, R.CREATE_CRYPTO_SESSION,
  R.CLOSE_CRYPTO_SESSION, R.POSTCOPY_ADVISE, R.POSTCOPY_LISTEN, R.POSTCOPY_END, R.GET_INFLIGHT_FD, R.SET_INFLIGHT_FD,
  R.GPU_SET_SOCKET, R.VRING_KICK, 0, 41, 42, 99, 0x7fff_ffff, 0xffff_ffff,
];

/** What the session's back-end offers and how its guest memory and rings are laid out. */
export interface SessionEnv {
  vrings: number;
  /** GET_FEATURES's answer (device features and F_PROTOCOL_FEATURES). */
  offered: bigint;
  offeredProtocol: bigint;
  /** The back-end refuses memory that can shrink. */
  requireSealed: boolean;
  /** The back-end offers inflight I/O tracking (GET/SET_INFLIGHT_FD are handled). */
  inflight: boolean;
  /** The back-end offers ACCESS_PLATFORM and BACKEND_REQ (IOTLB_MSG and SET_BACKEND_REQ_FD are handled). */
  iommu: boolean;
  /** Traffic sessions: the guest memory region (fd kind 'guest') and each vring's ring, already allocated. */
  traffic?: { region: MemRegion; layout: 'split' | 'packed'; num: number; rings: { desc: bigint; driver: bigint; device: bigint }[] };
}

/** What the front-end knows of the session: enough to say what each request must get. */
export class FrontEndModel {
  protocol = 0n;
  features = 0n;
  featuresSet = false;
  /** What GET_STATUS may answer: the last status set, with or without FEATURES_OK (the back-end may clear it). */
  status: number[] = [0];
  /** Regions announced (for ADD/REM_MEM_REG and ring placement). */
  regions: MemRegion[] = [];
  /** Each vring's last Queue Size sent. */
  nums: number[] = [];
  /** Each vring's SET_VRING_BASE carried out (undefined: none since the start or a reset). */
  bases: (number | undefined)[] = [];
  /** RING_PACKED was negotiated at some point (ring bases are then encoded per layout). */
  everPacked = false;
  /** The last buffer GET_INFLIGHT_FD gave (its fd is the session's 'inflight-buffer'). */
  inflight: InflightDescription | undefined;
  /**
   * SET_INFLIGHT_FD was carried out: a ring's first start after it resumes from its inflight
   * region (position from used.idx and the chains in flight, as libvhost-user does), not from
   * SET_VRING_BASE.
   */
  inflightResume = false;
  /** Slots for regions never announced before (guest and user addresses nobody used). */
  private fresh = 16;

  get replyAck(): boolean {
    return (this.protocol & (1n << BigInt(PF.REPLY_ACK))) !== 0n;
  }

  get packed(): boolean {
    return (this.features & FEATURES.RING_PACKED) !== 0n;
  }

  freshSlot(): bigint {
    return BigInt(this.fresh++);
  }

  reset(): void {
    this.bases = [];
    this.features = 0n;
    this.featuresSet = false;
    this.status = [0];
  }
}

const STRIDE = 0x1000_0000n;
const RING_STRIDE = 0x10000n;
const NUMS = [64, 128, 256] as const;

/** A region in slot `k`: guest address k * 256 MiB, user address UADDR + the same. */
function slotRegion(k: bigint, size: bigint, mmapOffset = 0n): MemRegion {
  return { gpa: k * STRIDE, size, uaddr: UADDR + k * STRIDE, mmapOffset };
}

/** Ring areas of vring `i` in region 0 (control sessions), for the layout and size given. */
function ringAddrs(env: SessionEnv, m: FrontEndModel, i: number, num: number): { desc: bigint; driver: bigint; device: bigint } {
  if (env.traffic) return env.traffic.rings[i] ?? env.traffic.rings[0];
  const base = (m.regions[0]?.uaddr ?? UADDR) + BigInt(i) * RING_STRIDE;
  if (m.packed) return { desc: base, driver: base + BigInt(16 * num), device: base + BigInt(16 * num) + 4n };
  const s = splitAreaSizes(num);
  const avail = base + BigInt(s.desc);
  const used = (avail + BigInt(s.avail) + 3n) & ~3n;
  return { desc: base, driver: avail, device: used };
}

/** One draft: the request, its payload and fds, and what must happen to it. */
export class Drafter {
  /** The vring the next drafts are about (a bring-up step pins it), else drawn for each. */
  pinned: number | undefined;
  /** Regions of at most 64 KiB (a burst of ADD_MEM_REG that fills every slot). */
  small = false;

  constructor(private readonly rng: Rng, private readonly env: SessionEnv, private readonly m: FrontEndModel) {}

  private get vring(): number {
    return this.pinned ?? this.rng.below(this.env.vrings);
  }

  /** A vring index out of range: just past the last, the largest 8-bit one, or any 32 bits. */
  private badVring(): number {
    return this.rng.pick([this.env.vrings, this.env.vrings + 1, 255, 0xffff_ffff, (this.rng.u32() | this.env.vrings) >>> 0]);
  }

  private d(request: number, payload: Uint8Array, expect: Expect, extra: Partial<Draft> = {}): Draft {
    const ownReply = REPLY_REQUESTS.has(request) || (this.env.inflight && request === R.GET_INFLIGHT_FD);
    return { request, ownReply, flags: P.VERSION, payload, fds: [], expect, wire: 'whole', ...extra };
  }

  /** A well-formed request of this kind, valid or (when `mutate`) with a bad value. */
  draft(request: number, mutate: boolean): Draft {
    const { rng, env, m } = this;
    switch (request) {
      case R.GET_FEATURES: case R.GET_PROTOCOL_FEATURES: case R.GET_QUEUE_NUM: case R.GET_STATUS: case R.GET_MAX_MEM_SLOTS:
        return this.d(request, new Uint8Array(0), 'reply');
      case R.SET_OWNER:
        return this.d(request, new Uint8Array(0), 'ack0');
      case R.RESET_OWNER: case R.RESET_DEVICE:
        return this.d(request, new Uint8Array(0), 'ack0', { apply: (x) => x.reset() });
      case R.SET_FEATURES: {
        if (mutate) {
          const extra = rng.chance(0.5) ? 1n << BigInt(rng.pick([31, 37, 50, 63])) : BigInt(rng.u32()) << 32n | BigInt(rng.u32());
          const v = (this.features() | extra);
          if ((v & ~env.offered) !== 0n) return this.d(request, u64Payload(v), 'nack', { mutation: 'not-offered' });
        }
        const v = this.features();
        const samePacking = !m.featuresSet || ((v ^ m.features) & FEATURES.RING_PACKED) === 0n;
        return this.d(request, u64Payload(v), samePacking ? 'ack0' : 'any', { apply: (x) => {
          x.features = v;
          x.featuresSet = true;
          x.everPacked ||= (v & FEATURES.RING_PACKED) !== 0n;
        } });
      }
      case R.SET_PROTOCOL_FEATURES: {
        if (mutate) {
          const bad = rng.pick([PF.LOG_SHMFD, PF.INFLIGHT_SHMFD, PF.BACKEND_REQ, PF.PAGEFAULT, 40, 63]);
          const v = env.offeredProtocol | (1n << BigInt(bad));
          if ((v & ~env.offeredProtocol) !== 0n) return this.d(request, u64Payload(v), 'nack', { mutation: 'not-offered' });
        }
        let v = 0n;
        for (let b = 0n; b < 64n; b++) if ((env.offeredProtocol >> b) & 1n && rng.chance(0.6)) v |= 1n << b;
        const ack = 1n << BigInt(PF.REPLY_ACK);
        v = rng.chance(0.85) ? v | ack : v & ~ack;
        return this.d(request, u64Payload(v), 'ack0', { apply: (x) => { x.protocol = v; } });
      }
      case R.SET_MEM_TABLE: return this.memTable(mutate);
      case R.ADD_MEM_REG: return this.addMemReg(mutate);
      case R.REM_MEM_REG: return this.remMemReg(mutate);
      case R.SET_VRING_NUM: {
        const i = this.vring;
        const num = env.traffic?.num ?? rng.pick(NUMS);
        if (mutate) {
          if (rng.chance(0.4)) return this.d(request, statePayload(this.badVring(), num), 'nack', { mutation: 'vring-out-of-range' });
          const bad = rng.pick([0, 32769, 65536, 0xffff_ffff]);
          if (rng.chance(0.6)) return this.d(request, statePayload(i, bad), 'nack', { mutation: 'num-out-of-range' });
          const odd = rng.pick([1, 3, 100, 1000, 32768]);
          return this.d(request, statePayload(i, odd), 'any', { mutation: 'num-edge', apply: (x) => { x.nums[i] = odd; } });
        }
        return this.d(request, statePayload(i, num), 'any', { apply: (x) => { x.nums[i] = num; } });
      }
      case R.SET_VRING_BASE: {
        const i = this.vring;
        if (mutate && rng.chance(0.4)) return this.d(request, statePayload(this.badVring(), 0), 'nack', { mutation: 'vring-out-of-range' });
        // Split rings resume anywhere (a front-end migrated or restarted); traffic starts at 0.
        const packed = env.traffic?.layout === 'packed' || m.packed;
        const start = packed ? 0x8000_8000 : env.traffic || rng.chance(0.5) ? 0 : rng.below(0x10000);
        const v = mutate ? rng.edgy(32) : start;
        return this.d(request, statePayload(i, v), 'any', { mutation: mutate ? 'base-edge' : undefined, apply: (x) => { x.bases[i] = v; } });
      }
      case R.SET_VRING_ADDR: {
        const i = this.vring;
        const num = m.nums[i] ?? env.traffic?.num ?? 64;
        const a = ringAddrs(env, m, i, num);
        const addr = { index: i, flags: 0, desc: a.desc, avail: a.driver, used: a.device, log: 0n };
        if (mutate) {
          switch (rng.below(4)) {
            case 0: return this.d(request, addrPayload({ ...addr, index: this.badVring() }), 'nack', { mutation: 'vring-out-of-range' });
            case 1: {
              // Outside every region this front-end ever announces, or across the end of 2^64.
              const where = rng.pick([0x1000n, 0xffff_ffff_ffff_fff0n, UADDR - 0x10n, 0x10n]);
              const area = rng.pick(['desc', 'avail', 'used'] as const);
              // With ACCESS_PLATFORM these are IOVAs, whose translations may come later: only alignment and 2^64 are checked.
              const iovas = env.iommu && (m.features & FEATURES.ACCESS_PLATFORM) !== 0n;
              return this.d(request, addrPayload({ ...addr, [area]: where }), iovas ? 'any' : 'nack', { mutation: `${area}-outside` });
            }
            case 2: {
              const area = rng.pick(['desc', 'avail', 'used'] as const);
              return this.d(request, addrPayload({ ...addr, [area]: addr[area] + 1n }), 'nack', { mutation: `${area}-unaligned` });
            }
            default:
              return this.d(request, addrPayload({ ...addr, flags: rng.pick([P.VRING_F_LOG, 2, 0xffff_ffff]), log: BigInt(rng.u32()) }), 'any', { mutation: 'addr-flags' });
          }
        }
        return this.d(request, addrPayload(addr), 'any');
      }
      case R.GET_VRING_BASE: {
        if (mutate) return this.d(request, statePayload(this.badVring(), 0), 'end', { mutation: 'vring-out-of-range' });
        const i = this.vring;
        return this.d(request, statePayload(i, rng.chance(0.9) ? 0 : rng.u32()), 'reply', { vring: i });
      }
      case R.SET_VRING_KICK: case R.SET_VRING_CALL: case R.SET_VRING_ERR: return this.vringFd(request, mutate);
      case R.SET_VRING_ENABLE: {
        if (mutate) {
          if (rng.chance(0.5)) return this.d(request, statePayload(this.badVring(), 1), 'nack', { mutation: 'vring-out-of-range' });
          return this.d(request, statePayload(this.vring, rng.pick([2, 3, 0x100, 0xffff_ffff])), 'nack', { mutation: 'enable-value' });
        }
        return this.d(request, statePayload(this.vring, rng.chance(0.8) ? 1 : 0), 'ack0');
      }
      case R.SET_STATUS: {
        if (mutate) return this.d(request, u64Payload(rng.pick([0x100n, 0xffff_ffffn, 1n << 63n])), 'nack', { mutation: 'status-too-big' });
        const v = rng.chance(0.5) ? 0x0f : rng.chance(0.2) ? 0 : rng.below(256);
        return this.d(request, u64Payload(BigInt(v)), 'ack0', { apply: (x) => { x.status = [v, v & ~8]; } });
      }
      case R.GET_CONFIG: {
        const size = rng.chance(0.2) ? rng.below(P.MAX_CONFIG_SIZE + 1) : rng.pick([6, 2, 4, 8, 12]);
        const offset = rng.chance(0.8) ? rng.below(16) : rng.edgy(32);
        return this.d(request, configPayload(offset, rng.chance(0.9) ? 0 : rng.u32(), new Uint8Array(size)), 'reply', { configSize: size });
      }
      case R.SET_CONFIG:
        return this.d(request, configPayload(rng.below(16), 0, new Uint8Array(rng.below(8) + 1)), 'refuse');
      case R.SEND_RARP:
        return this.d(request, u64Payload(BigInt(rng.u32()) << 16n | BigInt(rng.below(0x10000))), 'ack0');
      case R.NET_SET_MTU: {
        if (mutate) return this.d(request, u64Payload(rng.pick([0n, 67n, 65536n, 1n << 40n])), 'nack', { mutation: 'mtu-out-of-range' });
        return this.d(request, u64Payload(BigInt(rng.pick([68, 1500, 9000, 65535]))), 'ack0');
      }
      case R.GET_INFLIGHT_FD: case R.SET_INFLIGHT_FD:
        if (!env.inflight) return this.unhandled(request);
        return request === R.GET_INFLIGHT_FD ? this.getInflightFd(mutate) : this.setInflightFd(mutate);
      case R.IOTLB_MSG:
        if (!env.iommu) return this.unhandled(request);
        return this.iotlbMsg(mutate);
      case R.SET_BACKEND_REQ_FD:
        if (!env.iommu) return this.unhandled(request);
        return this.backendReqFd(mutate);
      default:
        return this.unhandled(request);
    }
  }

  /**
   * IOTLB_MSG (iommu back-end): an UPDATE of a few pages of an announced region, or an
   * INVALIDATE; refused unless ACCESS_PLATFORM was negotiated (and, for an UPDATE, guest memory
   * is mapped there: 'any', the model does not track every refusal). Mutations are refused whatever
   * the state: a type the front-end must not send, a bad permission, an empty range, one across
   * 2^64 (in IOVAs or user addresses), an UPDATE of user addresses no region holds.
   */
  private iotlbMsg(mutate: boolean): Draft {
    const { rng, m } = this;
    const r = m.regions.length > 0 ? rng.pick(m.regions) : undefined;
    const pages = r ? BigInt(Math.max(1, Math.min(4, Number(r.size / PAGE)))) : 1n;
    const size = PAGE * (1n + BigInt(rng.below(Number(pages))));
    const uaddr = r ? r.uaddr + PAGE * BigInt(rng.below(Number((r.size - size) / PAGE) + 1)) : UADDR;
    const iova = 0x1_0000_0000n + PAGE * BigInt(rng.below(4096));
    const t = { iova, size, uaddr, perm: rng.pick([P.IotlbPerm.RW, P.IotlbPerm.RW, P.IotlbPerm.RO, P.IotlbPerm.WO]), type: P.IotlbType.UPDATE as number };
    if (mutate) {
      switch (rng.below(6)) {
        case 0: return this.d(R.IOTLB_MSG, iotlbPayload({ ...t, type: rng.pick([0, P.IotlbType.MISS, P.IotlbType.ACCESS_FAIL, 5, 255]) }), 'nack', { mutation: 'iotlb-type' });
        case 1: return this.d(R.IOTLB_MSG, iotlbPayload({ ...t, perm: rng.pick([0, 4, 7, 255]) }), 'nack', { mutation: 'iotlb-perm' });
        case 2: return this.d(R.IOTLB_MSG, iotlbPayload({ ...t, size: 0n, type: rng.pick([P.IotlbType.UPDATE, P.IotlbType.INVALIDATE]) }), 'nack', { mutation: 'iotlb-empty' });
        case 3: return this.d(R.IOTLB_MSG, iotlbPayload({ ...t, iova: (1n << 64n) - PAGE, size: 2n * PAGE }), 'nack', { mutation: 'iotlb-iova-overflow' });
        case 4: return this.d(R.IOTLB_MSG, iotlbPayload({ ...t, uaddr: (1n << 64n) - PAGE, size: 2n * PAGE }), 'nack', { mutation: 'iotlb-uaddr-overflow' });
        default: return this.d(R.IOTLB_MSG, iotlbPayload({ ...t, uaddr: 0x1000n }), 'nack', { mutation: 'iotlb-outside-memory' });
      }
    }
    const negotiated = m.featuresSet && (m.features & FEATURES.ACCESS_PLATFORM) !== 0n;
    if (rng.chance(0.3)) return this.d(R.IOTLB_MSG, iotlbPayload({ ...t, type: P.IotlbType.INVALIDATE, uaddr: 0n, perm: 0 }), negotiated ? 'any' : 'nack');
    return this.d(R.IOTLB_MSG, iotlbPayload(t), negotiated && r ? 'any' : 'nack');
  }

  /** SET_BACKEND_REQ_FD (iommu back-end): one connected socket; anything else is refused. */
  private backendReqFd(mutate: boolean): Draft {
    const { rng, m } = this;
    if (mutate) {
      const fds: FdSpec[] = rng.chance(0.3) ? [] : [{ kind: rng.pick<FdKindName>(['eventfd', 'memfd', 'pipe', 'dev-null', 'directory']) }];
      return this.d(R.SET_BACKEND_REQ_FD, new Uint8Array(0), 'nack', { fds, mutation: fds.length ? `fd-${fds[0].kind}` : 'no-fd' });
    }
    const negotiated = (m.protocol & (1n << BigInt(PF.BACKEND_REQ))) !== 0n;
    return this.d(R.SET_BACKEND_REQ_FD, new Uint8Array(0), negotiated ? 'ack0' : 'nack', { fds: [{ kind: 'socket-peer' }] });
  }

  /** A request not implemented here (or nobody's): whatever payload and fds, a non-zero ack or nothing. */
  private unhandled(request: number): Draft {
    const { rng } = this;
    const size = rng.pick([0, 8, 16, 24, 40, rng.below(P.MAX_PAYLOAD + 1)]);
    const payload = new Uint8Array(size);
    for (let k = 0; k < Math.min(size, 64); k++) payload[k] = rng.below(256);
    const fds: FdSpec[] = rng.chance(0.3) ? Array.from({ length: 1 + rng.below(3) }, () => ({ kind: rng.pick(ANY_KIND) })) : [];
    return this.d(request, payload, 'refuse', { fds });
  }

  /**
   * GET_INFLIGHT_FD (vhost-user.rst "Inflight I/O tracking"): num_queues regions of queue_size
   * entries. Always answered: a buffer and its fd, or (refused) an empty description and no fd.
   */
  private getInflightFd(mutate: boolean): Draft {
    const { rng, env } = this;
    let numQueues = env.vrings;
    let queueSize = env.traffic?.num ?? rng.pick(NUMS);
    let mutation: string | undefined;
    if (mutate) {
      if (rng.chance(0.5)) { numQueues = rng.pick([0, env.vrings + 1, 0xffff]); mutation = 'num-queues'; }
      else { queueSize = rng.pick([0, 32769, 0xffff]); mutation = 'queue-size'; }
    }
    const payload = inflightPayload({ mmapSize: 0n, mmapOffset: 0n, numQueues, queueSize });
    return this.d(R.GET_INFLIGHT_FD, payload, 'reply', { mutation, inflight: { numQueues, queueSize } });
  }

  /**
   * SET_INFLIGHT_FD: the buffer a GET_INFLIGHT_FD gave back (as a front-end does after a back-end
   * restart), or one of its own; refused unless INFLIGHT_SHMFD was negotiated, no ring runs and
   * the buffer holds the queues.
   */
  private setInflightFd(mutate: boolean): Draft {
    const { rng, m, env } = this;
    const negotiated = (m.protocol & (1n << BigInt(PF.INFLIGHT_SHMFD))) !== 0n;
    const got = m.inflight;
    let desc = got ?? { mmapSize: BigInt(MiB), mmapOffset: 0n, numQueues: env.vrings, queueSize: 64 };
    let fds: FdSpec[] = [got && rng.chance(0.8) ? { kind: 'inflight-buffer' } : { kind: 'memfd', size: MiB }];
    if (!mutate) {
      return this.d(R.SET_INFLIGHT_FD, inflightPayload(desc), negotiated ? 'any' : 'nack', { fds, apply: (x) => { x.inflightResume = true; } });
    }
    let mutation: string;
    switch (rng.below(4)) {
      case 0: fds = [{ kind: rng.pick(NOT_MEMORY) }]; mutation = `fd-${fds[0].kind}`; break;
      case 1: desc = { ...desc, mmapOffset: desc.mmapOffset + BigInt(rng.pick([1, 512])) }; mutation = 'unaligned-offset'; break;
      case 2: desc = { ...desc, mmapSize: rng.pick([1n, 1n << 40n]) }; mutation = 'mmap-size'; break;
      default: fds = rng.chance(0.5) ? [] : [fds[0], { kind: 'memfd', size: MiB }]; mutation = 'fd-count'; break;
    }
    return this.d(R.SET_INFLIGHT_FD, inflightPayload(desc), 'nack', { fds, mutation });
  }

  /** SET_FEATURES's value: VERSION_1, F_PROTOCOL_FEATURES and some of the rest offered (the traffic layout's packing). */
  private features(): bigint {
    const { rng, env } = this;
    let v = FEATURES.VERSION_1 | F_PROTOCOL;
    for (let b = 0n; b < 64n; b++) if ((env.offered >> b) & 1n && rng.chance(0.3)) v |= 1n << b;
    if (env.traffic) {
      v = env.traffic.layout === 'packed' ? v | FEATURES.RING_PACKED : v & ~FEATURES.RING_PACKED;
      // The traffic driver is not in order and has no event index.
      v &= ~(FEATURES.IN_ORDER | FEATURES.EVENT_IDX | FEATURES.NET_MRG_RXBUF);
    }
    return v & env.offered;
  }

  /** A memory fd for a region of `size` bytes: a sealed memfd, or (sometimes) one that can shrink. */
  private memoryFd(size: number): { spec: FdSpec; refused: boolean } {
    if (this.rng.chance(0.2)) {
      return { spec: { kind: this.rng.chance(0.5) ? 'shm-file' : 'memfd-unsealed', size }, refused: this.env.requireSealed };
    }
    return { spec: { kind: 'memfd', size }, refused: false };
  }

  private memTable(mutate: boolean): Draft {
    const { rng, env, m } = this;
    if (env.traffic && !mutate) {
      const t = env.traffic;
      return this.d(R.SET_MEM_TABLE, memTablePayload([t.region]), 'ack0', { fds: [{ kind: 'guest' }], apply: (x) => { x.regions = [t.region]; } });
    }
    // Mostly one region (QEMU with one memory backend), sometimes up to the 8 SET_MEM_TABLE carries.
    const n = rng.chance(0.7) ? 1 : rng.chance(0.8) ? 2 + rng.below(2) : 1 + rng.below(P.MEM_TABLE_MAX_REGIONS);
    const regions: MemRegion[] = [];
    const fds: FdSpec[] = [];
    let refused = false;
    for (let k = 0; k < n; k++) {
      const size = rng.pick([MiB, 2 * MiB]);
      const offset = rng.chance(0.15) ? PAGE * BigInt(1 + rng.below(4)) : 0n;
      regions.push(slotRegion(BigInt(k), BigInt(size), offset));
      const f = this.memoryFd(size + Number(offset));
      refused ||= f.refused;
      fds.push(f.spec);
    }
    let mutation: string | undefined;
    if (mutate) {
      mutation = this.badRegion(regions, rng.below(n), fds);
      refused = true;
    }
    const table = regions.map((r) => ({ ...r }));
    return this.d(R.SET_MEM_TABLE, memTablePayload(table), refused ? 'nack' : 'ack0', {
      fds, mutation, apply: (x) => { x.regions = table; },
    });
  }

  /**
   * Makes region `k` of `regions` (fd specs in `fds`) one the back-end must refuse; returns how.
   * Every way here is refused whatever the state: the table is checked whole before anything maps.
   */
  private badRegion(regions: MemRegion[], k: number, fds: FdSpec[]): string {
    const { rng } = this;
    const r = regions[k];
    const size = Number(r.size);
    /** Some ways need a region of two pages or more (memfd-small is one page). */
    const twoPages = (): void => {
      if (r.size >= 2n * PAGE) return;
      r.size = 2n * PAGE;
      fds[k] = { kind: 'memfd', size: Number(r.size + r.mmapOffset) };
    };
    switch (rng.below(11)) {
      case 0: r.size = 0n; return 'zero-size';
      case 1: r.size += BigInt(1 + rng.below(PAGE_SIZE - 1)); fds[k] = { kind: 'memfd', size: Number(r.size + r.mmapOffset) + PAGE_SIZE }; return 'unaligned-size';
      case 2: r.mmapOffset += BigInt(rng.pick([1, 512, 2048])); fds[k] = { kind: 'memfd', size: size + 2 * PAGE_SIZE }; return 'unaligned-offset';
      case 3: case 4: {
        // The last page of the address space, and a region of at least two pages from there.
        twoPages();
        if (rng.chance(0.5)) { r.gpa = 0xffff_ffff_ffff_f000n; return 'past-2^64-gpa'; }
        r.uaddr = 0xffff_ffff_ffff_f000n;
        return 'past-2^64-uaddr';
      }
      case 5: r.size = 64n * BigInt(MiB); return 'bigger-than-window';
      case 6: twoPages(); fds[k] = { kind: 'memfd-small' }; return 'file-too-small';
      case 7: r.mmapOffset = BigInt(size); fds[k] = { kind: 'memfd', size }; return 'offset-past-file';
      case 8: fds[k] = { kind: rng.pick(NOT_MEMORY) }; return `fd-${fds[k].kind}`;
      case 9: {
        if (regions.length < 2) { r.size = 0n; return 'zero-size'; }
        const o = regions[(k + 1) % regions.length];
        r.gpa = o.gpa + PAGE;
        return 'overlap-gpa';
      }
      default: {
        if (regions.length < 2) { r.mmapOffset = 3n; return 'unaligned-offset'; }
        const o = regions[(k + 1) % regions.length];
        r.uaddr = o.uaddr;
        return 'overlap-uaddr';
      }
    }
  }

  private addMemReg(mutate: boolean): Draft {
    const { rng, m } = this;
    // Small regions too, so a session can fill all 32 slots (GET_MAX_MEM_SLOTS) inside the window.
    const size = this.small || rng.chance(0.3) ? PAGE_SIZE * (1 + rng.below(16)) : rng.pick([MiB, 2 * MiB]);
    // A region in a slot never used: no overlap, no repeat of a mapped one.
    const region = slotRegion(m.freshSlot(), BigInt(size));
    const f = this.memoryFd(size);
    const fds = [f.spec];
    if (mutate) {
      if (m.regions.length > 0 && rng.chance(0.3)) {
        // Overlapping a region announced before (in guest or user addresses): refused if that
        // one is mapped now (this front-end does not know for sure).
        const o = rng.pick(m.regions);
        const r = rng.chance(0.5) ? { ...region, gpa: o.gpa + PAGE } : { ...region, uaddr: o.uaddr + PAGE };
        return this.d(R.ADD_MEM_REG, singleRegionPayload(r), 'any', { fds, mutation: 'overlap-announced' });
      }
      const regions = [region];
      const how = this.badRegion(regions, 0, fds);
      return this.d(R.ADD_MEM_REG, singleRegionPayload(regions[0]), 'nack', { fds, mutation: how });
    }
    // The same region again (QEMU before 8.0 sends one per queue pair) or a new one: ack 0 unless
    // the window is full or the slots are all taken.
    const again = m.regions.length > 0 && rng.chance(0.2) ? rng.pick(m.regions) : undefined;
    const r = again ?? region;
    return this.d(R.ADD_MEM_REG, singleRegionPayload(r), f.refused && !again ? 'nack' : 'any', {
      fds, apply: (x) => { if (!again) x.regions.push(r); },
    });
  }

  private remMemReg(mutate: boolean): Draft {
    const { rng, m } = this;
    const fds: FdSpec[] = rng.chance(0.2) ? [{ kind: rng.pick(ANY_KIND) }] : [];
    if (mutate || m.regions.length === 0) {
      const never = slotRegion(m.freshSlot(), BigInt(MiB));
      return this.d(R.REM_MEM_REG, singleRegionPayload(never), 'nack', { fds, mutation: mutate ? 'never-added' : undefined });
    }
    const r = rng.pick(m.regions);
    return this.d(R.REM_MEM_REG, singleRegionPayload(r), 'any', { fds, apply: (x) => { x.regions = x.regions.filter((q) => q !== r); } });
  }

  private vringFd(request: number, mutate: boolean): Draft {
    const { rng, env } = this;
    const i = this.vring;
    const what = request === R.SET_VRING_KICK ? 'ring-kick' : 'ring-call';
    const good = (): FdSpec => {
      if (env.traffic && request !== R.SET_VRING_ERR && rng.chance(0.9)) return { kind: what, index: i };
      return { kind: rng.pick<FdKindName>(['eventfd', 'eventfd', 'eventfd', 'eventfd-blocking', 'eventfd-full']) };
    };
    if (mutate) {
      switch (rng.below(3)) {
        case 0: return this.d(request, u64Payload(BigInt(this.badVring() & 0xff)), 'nack', { fds: [good()], mutation: 'vring-out-of-range' });
        default: return this.d(request, u64Payload(BigInt(i)), 'nack', { fds: [{ kind: rng.pick(NOT_EVENTFDS) }], mutation: 'not-an-eventfd' });
      }
    }
    if (rng.chance(0.1)) return this.d(request, u64Payload(BigInt(i | P.VRING_NOFD_MASK)), 'ack0', { mutation: 'no-fd' });
    return this.d(request, u64Payload(BigInt(i)), 'ack0', { fds: [good()] });
  }

  /**
   * Structural mutations any message can take: each makes it malformed (the session must end) or
   * changes only how it travels. Returns the draft changed in place.
   */
  structural(dr: Draft): Draft {
    const { rng } = this;
    const iommuRequest = this.env.iommu && IOMMU_SIZES.has(dr.request);
    const known = HANDLED.has(dr.request) || iommuRequest;
    const fixed = FIXED_SIZE.get(dr.request) ?? (iommuRequest ? IOMMU_SIZES.get(dr.request) : undefined);
    const ends = (mutation: string): Draft => Object.assign(dr, { expect: 'end' as Expect, mutation });
    switch (rng.below(12)) {
      case 0: {
        // A payload shorter or longer than the request's (the header says so truthfully).
        const inflightSize = this.env.inflight && (dr.request === R.GET_INFLIGHT_FD || dr.request === R.SET_INFLIGHT_FD);
        if (!known && !inflightSize) return dr;
        const delta = rng.pick([-8, -4, -1, 1, 4, 8, 100]);
        const was = dr.payload.length;
        const len = Math.max(0, was + delta);
        if (len === was) return dr;
        const p = new Uint8Array(len);
        p.set(dr.payload.subarray(0, len));
        dr.payload = p;
        // GET_INFLIGHT_FD answers whatever it gets (an empty description when it cannot be read).
        if (inflightSize && dr.request === R.GET_INFLIGHT_FD) return Object.assign(dr, { mutation: 'wrong-size' });
        if (fixed !== undefined || inflightSize) return ends(len < was ? 'truncated' : 'oversized-payload');
        if (dr.request === R.SET_MEM_TABLE) {
          const n = new DataView(p.buffer).getUint32(0, true);
          const ok = len >= P.MEM_HEADER + n * P.REGION_SIZE && len <= P.MEM_HEADER + P.MEM_TABLE_MAX_REGIONS * P.REGION_SIZE && len >= P.MEM_HEADER;
          return ok ? Object.assign(dr, { mutation: 'padded' }) : ends('wrong-size');
        }
        return ends('wrong-size'); // config accesses: the size field must match
      }
      case 1: dr.flags = (dr.flags & ~P.FLAG_VERSION_MASK) | rng.pick([0, 2, 3]); return ends('bad-version');
      case 2: dr.flags |= rng.pick([P.FLAG_REPLY, 1 << 4, 1 << 31]); return Object.assign(dr, { mutation: 'stray-flags' });
      case 3: {
        // Fds with a request that takes none, or the wrong number with one that takes some.
        const extra: FdSpec[] = Array.from({ length: 1 + rng.below(2) }, () => ({ kind: rng.pick(ANY_KIND) }));
        dr.fds = [...dr.fds, ...extra];
        // REM_MEM_REG may come with the region's fd (QEMU sends it) or without.
        const fine = !known || (dr.request === R.REM_MEM_REG && dr.fds.length <= 1);
        if (this.env.inflight && dr.request === R.SET_INFLIGHT_FD) return Object.assign(dr, { mutation: 'extra-fds', expect: 'nack' as Expect });
        if (this.env.iommu && dr.request === R.SET_BACKEND_REQ_FD) return Object.assign(dr, { mutation: 'extra-fds', expect: 'nack' as Expect });
        return fine ? Object.assign(dr, { mutation: 'extra-fds' }) : ends('extra-fds');
      }
      case 4: {
        if (!TAKES_FDS.has(dr.request) || dr.fds.length === 0) return dr;
        dr.fds = dr.fds.slice(1);
        if (dr.request === R.REM_MEM_REG) return dr;
        return ends('missing-fd');
      }
      case 5: {
        dr.fds = Array.from({ length: 9 + rng.below(4) }, () => ({ kind: rng.pick<FdKindName>(['eventfd', 'dev-null', 'pipe']) }));
        return ends('too-many-fds');
      }
      case 6: {
        if (dr.payload.length === 0) return dr;
        if (dr.fds.length === 0) return Object.assign(dr, { wire: 'split' as Wire, mutation: 'split' });
        return Object.assign(dr, { wire: 'fds-on-payload' as Wire, expect: 'end' as Expect, mutation: 'fds-on-payload' });
      }
      case 7: return Object.assign(dr, { wire: 'split' as Wire, mutation: dr.payload.length ? 'split' : undefined });
      case 8: return Object.assign(ends('size-above-limit'), { claimedSize: P.MAX_PAYLOAD + 1 + rng.below(1 << 20) });
      case 9: {
        if (dr.request === R.SET_VRING_KICK || dr.request === R.SET_VRING_CALL || dr.request === R.SET_VRING_ERR) {
          // Reserved bits of the u64, or the no-fd flag with an fd, or neither flag nor fd.
          const v = new DataView(dr.payload.buffer).getBigUint64(0, true);
          const how = rng.below(3);
          if (how === 0) dr.payload = u64Payload(v | (1n << BigInt(9 + rng.below(55))));
          else if (how === 1 && dr.fds.length === 1) dr.payload = u64Payload(v | BigInt(P.VRING_NOFD_MASK));
          else if (dr.fds.length === 0) dr.payload = u64Payload(v & ~BigInt(P.VRING_NOFD_MASK));
          else dr.payload = u64Payload(v | (1n << 63n));
          return ends('vring-fd-bits');
        }
        if (dr.request === R.SET_MEM_TABLE) {
          const n = rng.pick([0, 9, 0xffff_ffff]);
          new DataView(dr.payload.buffer).setUint32(0, n, true);
          return ends('region-count');
        }
        if (dr.request === R.GET_CONFIG || dr.request === R.SET_CONFIG) {
          dr.payload = configPayload(0, 0, new Uint8Array(P.MAX_CONFIG_SIZE + 1 + rng.below(64)));
          return ends('config-too-big');
        }
        return dr;
      }
      case 10: return Object.assign(dr, { wire: 'batch' as Wire });
      default: {
        const delta = rng.pick([-4, -1, 1, 3, 12]);
        if (dr.payload.length + delta < 0) return dr;
        return Object.assign(dr, { wire: 'size-lie' as Wire, sizeLie: delta, mutation: 'size-lie' });
      }
    }
  }
}

/** A request to draft, about one vring when `vring` is set. */
export interface Step {
  request: number;
  vring?: number;
  /** Small regions (see Drafter.small). */
  small?: boolean;
}

/** The order a front-end brings a device up in. */
export function bringUp(rng: Rng, env: SessionEnv): Step[] {
  const out: Step[] = [R.GET_FEATURES, R.SET_OWNER, R.GET_PROTOCOL_FEATURES, R.SET_PROTOCOL_FEATURES].map((request) => ({ request }));
  if (rng.chance(0.5)) out.push({ request: R.GET_QUEUE_NUM });
  if (rng.chance(0.3)) out.push({ request: R.GET_MAX_MEM_SLOTS });
  out.push({ request: R.SET_FEATURES });
  if (env.traffic || rng.chance(0.75)) out.push({ request: R.SET_MEM_TABLE });
  else for (let k = 1 + rng.below(3); k > 0; k--) out.push({ request: R.ADD_MEM_REG });
  // QEMU asks for the inflight buffer before the rings (and hands it back after a back-end restart).
  if (env.inflight && rng.chance(0.7)) out.push({ request: R.GET_INFLIGHT_FD });
  if (env.inflight && rng.chance(0.3)) out.push({ request: R.SET_INFLIGHT_FD });
  // QEMU gives the back-end request channel right after the protocol features, and IOTLB UPDATEs
  // when the device starts (and on every miss).
  if (env.iommu && rng.chance(0.7)) out.push({ request: R.SET_BACKEND_REQ_FD });
  if (env.iommu) for (let k = rng.below(4); k > 0; k--) out.push({ request: R.IOTLB_MSG });
  const rings = env.traffic ? env.vrings : 1 + rng.below(env.vrings);
  for (let i = 0; i < rings; i++) out.push(...ringSetup(i));
  if (rng.chance(0.5)) out.push({ request: R.SET_STATUS });
  return out;
}

/** One vring's setup, in QEMU's order. */
export function ringSetup(vring: number): Step[] {
  return [R.SET_VRING_NUM, R.SET_VRING_BASE, R.SET_VRING_ADDR, R.SET_VRING_CALL, R.SET_VRING_KICK, R.SET_VRING_ENABLE]
    .map((request) => ({ request, vring }));
}

/** Any request, weighted towards the ones with state behind them. */
export function anyRequest(rng: Rng): number {
  const table: [number, number][] = [
    [R.GET_VRING_BASE, 6], [R.SET_VRING_NUM, 4], [R.SET_VRING_BASE, 3], [R.SET_VRING_ADDR, 4], [R.SET_VRING_KICK, 4],
    [R.SET_VRING_CALL, 4], [R.SET_VRING_ERR, 2], [R.SET_VRING_ENABLE, 4], [R.SET_MEM_TABLE, 3], [R.ADD_MEM_REG, 3],
    [R.REM_MEM_REG, 3], [R.RESET_DEVICE, 1], [R.RESET_OWNER, 1], [R.SET_STATUS, 3], [R.GET_STATUS, 2],
    [R.GET_QUEUE_NUM, 2], [R.GET_FEATURES, 2], [R.SET_FEATURES, 2], [R.GET_PROTOCOL_FEATURES, 1],
    [R.SET_PROTOCOL_FEATURES, 1], [R.GET_CONFIG, 2], [R.SET_CONFIG, 1], [R.SEND_RARP, 1], [R.NET_SET_MTU, 1],
    [R.GET_MAX_MEM_SLOTS, 1], [R.SET_OWNER, 1], [R.GET_INFLIGHT_FD, 2], [R.SET_INFLIGHT_FD, 2], [R.IOTLB_MSG, 3],
    [R.SET_BACKEND_REQ_FD, 1], [-1, 4],
  ];
  const total = table.reduce((s, [, w]) => s + w, 0);
  let x = rng.below(total);
  for (const [req, w] of table) {
    if (x < w) return req === -1 ? rng.pick(UNHANDLED) : req;
    x -= w;
  }
  return R.GET_FEATURES;
}

/** Whether the back-end answers `dr` with a message (its reply or an ack) when it carries on. */
export function wantsReply(dr: Draft, replyAck: boolean): boolean {
  if (dr.expect === 'end') return false;
  if (dr.ownReply) return true;
  return replyAck && (dr.flags & P.FLAG_NEED_REPLY) !== 0;
}
