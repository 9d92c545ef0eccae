// A front-end's bring-up as QEMU does it, for helpers that run outside vitest too (the front-end
// process): every request acked, a refusal thrown with the request's name.
import * as P from '../../src/vhost-user/protocol.js';
import { statePayload, addrPayload, memTablePayload, u64Payload, type MemRegion } from '../../src/vhost-user/message.js';
import type { RawFrontEnd } from './vhost-user-frontend.js';

/** Sends `request` with NEED_REPLY; throws unless the ack is 0. */
export async function ack(fe: RawFrontEnd, request: number, payload?: Uint8Array, fds: number[] = []): Promise<void> {
  const v = await fe.acked(request, payload, fds);
  if (v !== 0n) throw new Error(`${P.requestName(request)} refused (${v})`);
}

/** Features, protocol features (REPLY_ACK), SET_OWNER, SET_FEATURES, then the memory table of one region. */
export async function bringUp(fe: RawFrontEnd, features: bigint, region: MemRegion, fd: number): Promise<void> {
  await fe.getU64(P.Request.GET_FEATURES);
  await fe.getU64(P.Request.GET_PROTOCOL_FEATURES);
  await fe.setU64(P.Request.SET_PROTOCOL_FEATURES, 1n << BigInt(P.ProtocolFeature.REPLY_ACK));
  await ack(fe, P.Request.SET_OWNER);
  await ack(fe, P.Request.SET_FEATURES, u64Payload(features));
  await ack(fe, P.Request.SET_MEM_TABLE, memTablePayload([region]), [fd]);
}

export interface VringSetup {
  index: number;
  num: number;
  /** SET_VRING_BASE's value (packed: both halves). */
  base: number;
  /** User addresses of the descriptor, driver and device areas. */
  desc: bigint;
  avail: bigint;
  used: bigint;
  call: number;
  kick: number;
}

/** One vring: num, base, addresses, call, kick, enable. */
export async function setupVring(fe: RawFrontEnd, v: VringSetup): Promise<void> {
  await ack(fe, P.Request.SET_VRING_NUM, statePayload(v.index, v.num));
  await ack(fe, P.Request.SET_VRING_BASE, statePayload(v.index, v.base));
  await ack(fe, P.Request.SET_VRING_ADDR, addrPayload({ index: v.index, flags: 0, desc: v.desc, avail: v.avail, used: v.used, log: 0n }));
  await ack(fe, P.Request.SET_VRING_CALL, u64Payload(BigInt(v.index)), [v.call]);
  await ack(fe, P.Request.SET_VRING_KICK, u64Payload(BigInt(v.index)), [v.kick]);
  await ack(fe, P.Request.SET_VRING_ENABLE, statePayload(v.index, 1));
}
