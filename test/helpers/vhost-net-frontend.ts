// A virtio-net driver over the raw vhost-user front-end, for the device model's tests: it brings
// up queue pairs (receiveq k = vring 2k, transmitq k = vring 2k+1), posts receive buffers,
// transmits frames with a 12-byte virtio_net_hdr and collects what comes back, reassembling
// frames that span several buffers by the header's num_buffers (VIRTIO 1.2 5.1.6.4).
import { expect } from 'vitest';
import { allocRing, createDriver, ChainBatch, UsedBatch, FEATURES, type RingLayout, type RingAreas, type DriverQueue } from '../../src/index.js';
import { EventFd, type UnixSocket } from '../../src/native/index.js';
import * as P from '../../src/vhost-user/protocol.js';
import { statePayload, addrPayload, u64Payload } from '../../src/vhost-user/message.js';
import { RawFrontEnd } from './vhost-user-frontend.js';
import type { Guest } from './vhost-user-rig.js';
import { until } from './within.js';

export const HDR = 12;

export interface Received {
  /** num_buffers from the first buffer's header. */
  numBuffers: number;
  /** Used lengths of the buffers the frame took. */
  lens: number[];
  /** The 12 header bytes. */
  header: Uint8Array;
  frame: Uint8Array;
}

class GuestQueue {
  readonly driver: DriverQueue;
  readonly kick = EventFd.create();
  readonly call = EventFd.create();
  /** Split rings also have `avail` and `used` (the driver and device areas). */
  readonly ring: RingAreas & { avail?: number; used?: number };
  readonly batch: ChainBatch;
  readonly used: UsedBatch;
  readonly arena: number;

  constructor(readonly g: Guest, readonly num: number, readonly bufSize: number, readonly layout: RingLayout = 'split') {
    this.ring = allocRing(g.plan, { layout, queueSize: num });
    const features = FEATURES.VERSION_1 | (layout === 'packed' ? FEATURES.RING_PACKED : 0n);
    this.driver = createDriver(g.engine, g.privatePlan, layout, this.ring, { features });
    this.batch = new ChainBatch(g.engine, g.privatePlan, num, num);
    this.used = new UsedBatch(g.engine, g.privatePlan, num);
    this.arena = g.plan.alloc(num * bufSize, 64, 'buffers');
  }

  buf(id: number): number {
    return this.arena + id * this.bufSize;
  }

  close(): void {
    this.kick.close();
    this.call.close();
  }
}

export class GuestPair {
  readonly rxq: GuestQueue;
  readonly txq: GuestQueue;
  private nextTx = 0;
  private readonly pending: { id: number; len: number }[] = [];
  readonly received: Received[] = [];
  txDone = 0;

  constructor(readonly g: Guest, readonly index: number, num: number, rxBufSize: number, layout: RingLayout = 'split') {
    this.rxq = new GuestQueue(g, num, rxBufSize, layout);
    this.txq = new GuestQueue(g, num, 16384, layout);
  }

  /** Makes receive buffers ids [from, from + n) available. */
  postRx(n: number, from = 0): void {
    const q = this.rxq;
    q.batch.clear();
    for (let id = from; id < from + n; id++) q.batch.single(id, q.buf(id), q.bufSize, true);
    expect(q.driver.add(q.batch)).toBe(n);
    q.kick.signal();
  }

  /** Transmits frames, each one readable chain: a zero header, then the frame. */
  send(frames: Uint8Array[]): void {
    const q = this.txq;
    q.batch.clear();
    for (const f of frames) {
      const id = this.nextTx++ % q.num;
      const at = q.buf(id);
      this.g.engine.u8.fill(0, at, at + HDR);
      this.g.engine.u8.set(f, at + HDR);
      q.batch.single(id, at, HDR + f.length, false);
    }
    expect(q.driver.add(q.batch)).toBe(frames.length);
    q.kick.signal();
  }

  /** Collects used buffers of both queues; complete received frames go to `received`. */
  collect(): void {
    const t = this.txq;
    this.txDone += t.driver.collect(t.used);
    const q = this.rxq;
    const n = q.driver.collect(q.used);
    for (let i = 0; i < n; i++) this.pending.push({ id: q.used.id(i), len: q.used.len(i) });
    for (;;) {
      const first = this.pending[0];
      if (!first) break;
      const u8 = this.g.engine.u8;
      const at = q.buf(first.id);
      const numBuffers = u8[at + 10] | (u8[at + 11] << 8);
      if (this.pending.length < Math.max(numBuffers, 1)) break;
      const parts = this.pending.splice(0, Math.max(numBuffers, 1));
      const bytes = Buffer.concat(parts.map((p) => u8.slice(q.buf(p.id), q.buf(p.id) + p.len)));
      this.received.push({ numBuffers, lens: parts.map((p) => p.len), header: bytes.subarray(0, HDR), frame: new Uint8Array(bytes.subarray(HDR)) });
    }
  }

  /** Collects until `n` frames were received (deadline 5 s). */
  async receive(n: number): Promise<Received[]> {
    await until(() => {
      this.collect();
      return this.received.length >= n;
    }, `${n} frames on receiveq${this.index + 1}`);
    return this.received.splice(0, n);
  }

  /** Collects until `n` transmitted chains came back used. */
  async transmitted(n: number): Promise<void> {
    await until(() => {
      this.collect();
      return this.txDone >= n;
    }, `${n} chains used on transmitq${this.index + 1}`);
  }

  close(): void {
    this.rxq.close();
    this.txq.close();
  }
}

/** Sets up vrings 2k and 2k+1 for pair k: num, base 0, addresses, call, kick, enable. */
export async function setupPair(fe: RawFrontEnd, g: Guest, k: number, num = 64, rxBufSize = 2048, layout: RingLayout = 'split'): Promise<GuestPair> {
  const pair = new GuestPair(g, k, num, rxBufSize, layout);
  for (const [index, q] of [[2 * k, pair.rxq], [2 * k + 1, pair.txq]] as const) {
    expect(await fe.acked(P.Request.SET_VRING_NUM, statePayload(index, num))).toBe(0n);
    // A fresh packed ring: slot 0, wrap counters 1 (both halves, as QEMU sends it).
    expect(await fe.acked(P.Request.SET_VRING_BASE, statePayload(index, layout === 'packed' ? 0x8000_8000 : 0))).toBe(0n);
    expect(await fe.acked(P.Request.SET_VRING_ADDR, addrPayload({
      index, flags: 0, desc: g.uaddr(q.ring.desc), avail: g.uaddr(q.ring.driver), used: g.uaddr(q.ring.device), log: 0n,
    }))).toBe(0n);
    expect(await fe.acked(P.Request.SET_VRING_CALL, u64Payload(BigInt(index)), [q.call.fd])).toBe(0n);
    expect(await fe.acked(P.Request.SET_VRING_KICK, u64Payload(BigInt(index)), [q.kick.fd])).toBe(0n);
    expect(await fe.acked(P.Request.SET_VRING_ENABLE, statePayload(index, 1))).toBe(0n);
  }
  return pair;
}

/** A frame of `len` bytes: MACs 02:..:0d / 02:..:05, type 0x88b5 (local experimental), a pattern after. */
export function testFrame(len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set([2, 0, 0, 0, 0, 0x0d, 2, 0, 0, 0, 0, 5, 0x88, 0xb5]);
  for (let i = 14; i < len; i++) f[i] = (i * 7 + seed * 13) & 0xff;
  return f;
}

/** A RawFrontEnd over a socket the test accepted (client mode: the back-end connected to us). */
export function frontEndOn(socket: UnixSocket): RawFrontEnd {
  return new (RawFrontEnd as unknown as new (s: UnixSocket) => RawFrontEnd)(socket);
}
