// The vhost-user front-end's control plane (vhost-user.rst, as QEMU and DPDK's virtio-user are
// front-ends): over one connection it negotiates features and protocol features (REPLY_ACK for
// every set-up request when the back-end has it, MQ when more than one queue pair is wanted),
// offers our memory with SET_MEM_TABLE (one memfd mapped over the Wasm memory, announced with
// guest address = user address = its Wasm offset, so ring and buffer addresses are Wasm offsets),
// sets up each vring (SET_VRING_NUM, BASE, ADDR, CALL, KICK, ENABLE) and reads a ring's state back
// with GET_VRING_BASE (packed rings: both halves, vring.ts). Each reply is awaited with a bound
// and checked (frontend-channel.ts); whatever the back-end gets wrong is a FrontendError.
import { FEATURES, type FeatureSet } from '../features.js';
import type { RingLayout } from '../virtqueue/factory.js';
import type { RingAreas } from '../virtqueue/queue-side.js';
import * as P from './protocol.js';
import { statePayload, addrPayload, memTablePayload, u64Payload } from './message.js';
import { FrontendChannel, FrontendError } from './frontend-channel.js';
import { MAX_VRING_NUM } from './vring.js';

const F_PROTOCOL = 1n << BigInt(P.F_PROTOCOL_FEATURES);
const bit = (b: number): bigint => 1n << BigInt(b);
const PF = P.ProtocolFeature;
/** Protocol features the front-end uses when the back-end has them. */
export const FRONTEND_PROTOCOL_FEATURES = bit(PF.MQ) | bit(PF.REPLY_ACK);

/** Our memory as the back-end gets it: a memfd mapped at Wasm offset `offset`. */
export interface OfferedMemory {
  fd: number;
  offset: number;
  size: number;
}

export interface FrontendSpec {
  memory: OfferedMemory;
  layout: RingLayout;
  /** Queue pairs wanted (vrings 2k receiveq, 2k+1 transmitq). */
  pairs: number;
  /** Device features the driver would like (VERSION_1 and, for packed, RING_PACKED are added). */
  features: FeatureSet;
}

export interface Negotiated {
  /** Device features both sides have (what SET_FEATURES sent, minus the protocol bit). */
  features: FeatureSet;
  /** Protocol features both sides have (0 when the back-end has none, or none we use). */
  protocol: bigint;
  /** VHOST_USER_F_PROTOCOL_FEATURES acked: rings then start disabled until SET_VRING_ENABLE. */
  protocolFeatures: boolean;
  replyAck: boolean;
}

/** One vring to set up: its areas (Wasm offsets, inside the offered memory) and eventfds. */
export interface FrontendVring {
  index: number;
  areas: RingAreas;
  /** SET_VRING_BASE's value (packed: both halves, vring.ts). */
  base: number;
  kickFd: number;
  callFd: number;
}

/** A connected front-end: the negotiation done, the memory offered, vrings set up on demand. */
export class VhostUserFrontend {
  private constructor(readonly channel: FrontendChannel, readonly spec: FrontendSpec, readonly negotiated: Negotiated) {}

  /** Negotiates over `channel` and offers the memory. Throws a FrontendError (the channel closed) on a bad back-end. */
  static async start(channel: FrontendChannel, spec: FrontendSpec): Promise<VhostUserFrontend> {
    try {
      const negotiated = await negotiate(channel, spec);
      const fe = new VhostUserFrontend(channel, spec, negotiated);
      const m = spec.memory;
      await fe.req(P.Request.SET_MEM_TABLE, memTablePayload([{ gpa: BigInt(m.offset), size: BigInt(m.size), uaddr: BigInt(m.offset), mmapOffset: 0n }]), [m.fd]);
      return fe;
    } catch (e) {
      channel.close(`set-up failed: ${(e as Error).message}`);
      throw e;
    }
  }

  private req(request: number, payload?: Uint8Array, fds: readonly number[] = []): Promise<void> {
    return this.channel.request(request, payload, fds, this.negotiated.replyAck);
  }

  /** SET_VRING_NUM, BASE, ADDR, CALL, KICK and (with protocol features) ENABLE for one vring. */
  async setupVring(v: FrontendVring): Promise<void> {
    const num = v.areas.queueSize;
    if (num < 1 || num > MAX_VRING_NUM) throw new RangeError(`vring ${v.index}: queue size ${num}`);
    await this.req(P.Request.SET_VRING_NUM, statePayload(v.index, num));
    await this.req(P.Request.SET_VRING_BASE, statePayload(v.index, v.base));
    await this.req(P.Request.SET_VRING_ADDR, addrPayload({
      index: v.index, flags: 0, desc: BigInt(v.areas.desc), avail: BigInt(v.areas.driver), used: BigInt(v.areas.device), log: 0n,
    }));
    await this.req(P.Request.SET_VRING_CALL, u64Payload(BigInt(v.index)), [v.callFd]);
    await this.req(P.Request.SET_VRING_KICK, u64Payload(BigInt(v.index)), [v.kickFd]);
    // vhost-user.rst "Ring states": with VHOST_USER_F_PROTOCOL_FEATURES rings start disabled.
    if (this.negotiated.protocolFeatures) {
      await this.req(P.Request.SET_VRING_ENABLE, statePayload(v.index, 1));
    }
  }

  /** GET_VRING_BASE: stops the vring and returns its state (split: last_avail_idx; packed: both halves). */
  async getVringBase(index: number): Promise<number> {
    await this.channel.send(P.Request.GET_VRING_BASE, statePayload(index, 0));
    const m = await this.channel.reply(P.Request.GET_VRING_BASE, P.STATE_SIZE);
    const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
    const got = v.getUint32(0, true);
    if (got !== index) {
      this.channel.close(`GET_VRING_BASE: the reply names vring ${got}`);
      throw new FrontendError(P.Request.GET_VRING_BASE, `the reply names vring ${got}, asked for ${index}`);
    }
    return v.getUint32(4, true);
  }

  close(reason?: string): void {
    this.channel.close(reason);
  }
}

async function negotiate(ch: FrontendChannel, spec: FrontendSpec): Promise<Negotiated> {
  const offered = await ch.getU64(P.Request.GET_FEATURES);
  let want = spec.features | FEATURES.VERSION_1 | (spec.layout === 'packed' ? FEATURES.RING_PACKED : 0n);
  const missing = want & ~offered & (FEATURES.VERSION_1 | FEATURES.RING_PACKED);
  if (missing !== 0n) {
    throw new FrontendError(P.Request.GET_FEATURES, `the back-end does not offer ${missing & FEATURES.RING_PACKED ? 'RING_PACKED (VIRTIO 1.2 2.8)' : 'VERSION_1 (VIRTIO 1.2 6)'} (features 0x${offered.toString(16)})`);
  }
  want &= offered;
  let protocol = 0n;
  if (offered & F_PROTOCOL) {
    const theirs = await ch.getU64(P.Request.GET_PROTOCOL_FEATURES);
    protocol = theirs & FRONTEND_PROTOCOL_FEATURES;
    await ch.send(P.Request.SET_PROTOCOL_FEATURES, u64Payload(protocol));
    want |= F_PROTOCOL;
  }
  const replyAck = (protocol & bit(PF.REPLY_ACK)) !== 0n;
  if (spec.pairs > 1) {
    if ((protocol & bit(PF.MQ)) === 0n) throw new FrontendError(P.Request.GET_PROTOCOL_FEATURES, `${spec.pairs} queue pairs wanted but the back-end lacks protocol feature MQ`);
    // The most queues (vrings) the back-end has; DPDK and QEMU read it as queue pairs, so ask for pairs.
    const n = await ch.getU64(P.Request.GET_QUEUE_NUM);
    if (n < BigInt(spec.pairs)) throw new FrontendError(P.Request.GET_QUEUE_NUM, `the back-end has ${n} queue pairs, ${spec.pairs} wanted`);
  }
  await ch.request(P.Request.SET_OWNER, undefined, [], replyAck);
  await ch.request(P.Request.SET_FEATURES, u64Payload(want), [], replyAck);
  return { features: want & ~F_PROTOCOL, protocol, replyAck, protocolFeatures: (want & F_PROTOCOL) !== 0n };
}
