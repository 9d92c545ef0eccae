// The message sequence a well-behaved front-end (QEMU-like) sends to bring up one queue pair of
// split rings placed in guest memory, and the driver sides the test keeps for itself.
import { expect } from 'vitest';
import { allocSplitRing, SplitDriver, FEATURES, type SplitRingAddrs } from '../../src/index.js';
import { EventFd } from '../../src/native/index.js';
import * as P from '../../src/vhost-user/protocol.js';
import { statePayload, addrPayload, memTablePayload, u64Payload } from '../../src/vhost-user/message.js';
import type { RawFrontEnd } from './vhost-user-frontend.js';
import type { Guest } from './vhost-user-rig.js';

export const PF = P.ProtocolFeature;
export const PROTOCOL = [PF.MQ, PF.REPLY_ACK, PF.CONFIG, PF.STATUS].reduce((s, b) => s | (1n << BigInt(b)), 0n);
export const F_PROTOCOL = 1n << 30n;

export interface GuestRing {
  ring: SplitRingAddrs;
  driver: SplitDriver;
  kick: EventFd;
  call: EventFd;
}

/** GET/SET_FEATURES, protocol features with REPLY_ACK, SET_OWNER: returns the features offered. */
export async function negotiate(fe: RawFrontEnd, features = FEATURES.VERSION_1 | F_PROTOCOL, protocol = PROTOCOL): Promise<bigint> {
  const offered = await fe.getU64(P.Request.GET_FEATURES);
  if (offered & F_PROTOCOL) {
    // As QEMU and DPDK do: ask for what both sides know.
    const theirs = await fe.getU64(P.Request.GET_PROTOCOL_FEATURES);
    await fe.setU64(P.Request.SET_PROTOCOL_FEATURES, protocol & theirs);
  }
  if (protocol & (1n << BigInt(PF.REPLY_ACK))) {
    expect(await fe.acked(P.Request.SET_OWNER)).toBe(0n);
    expect(await fe.acked(P.Request.SET_FEATURES, u64Payload(features))).toBe(0n);
  } else {
    await fe.send(P.Request.SET_OWNER);
    await fe.send(P.Request.SET_FEATURES, u64Payload(features));
  }
  return offered;
}

export async function setMemTable(fe: RawFrontEnd, g: Guest): Promise<bigint> {
  return fe.acked(P.Request.SET_MEM_TABLE, memTablePayload([g.region]), [g.fd]);
}

/** Rings 0 and 1 (receiveq1, transmitq1) of `num` entries: num, base, addresses, call, kick, enable. */
export async function setupRings(fe: RawFrontEnd, g: Guest, num = 64, bases: [number, number] = [0, 0]): Promise<GuestRing[]> {
  const rings: GuestRing[] = [];
  for (const index of [0, 1]) {
    const ring = allocSplitRing(g.plan, num);
    const driver = new SplitDriver(g.engine, g.privatePlan, ring, { features: FEATURES.VERSION_1, startIdx: bases[index] });
    // A ring resumed at a base has its used.idx there too: the device reads it from guest
    // memory (vhost-user.rst, SET_VRING_BASE), as a driver that ran before left it.
    g.engine.u16[(ring.used + 2) >>> 1] = bases[index] & 0xffff;
    const kick = EventFd.create();
    const call = EventFd.create();
    rings.push({ ring, driver, kick, call });
    expect(await fe.acked(P.Request.SET_VRING_NUM, statePayload(index, num))).toBe(0n);
    expect(await fe.acked(P.Request.SET_VRING_BASE, statePayload(index, bases[index]))).toBe(0n);
    expect(await fe.acked(P.Request.SET_VRING_ADDR, addrPayload({
      index, flags: 0, desc: g.uaddr(ring.desc), avail: g.uaddr(ring.avail), used: g.uaddr(ring.used), log: 0n,
    }))).toBe(0n);
    expect(await fe.acked(P.Request.SET_VRING_CALL, u64Payload(BigInt(index)), [call.fd])).toBe(0n);
    expect(await fe.acked(P.Request.SET_VRING_KICK, u64Payload(BigInt(index)), [kick.fd])).toBe(0n);
    expect(await fe.acked(P.Request.SET_VRING_ENABLE, statePayload(index, 1))).toBe(0n);
  }
  return rings;
}

export function closeRings(rings: GuestRing[]): void {
  for (const r of rings) {
    r.kick.close();
    r.call.close();
  }
}
