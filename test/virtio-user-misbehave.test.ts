// The virtio-user port against a scripted back-end that misbehaves: bad replies (wrong request
// code, truncated, none, refused, hang-up) end the set-up with a FrontendError naming the request
// and the fault; bad used entries (ids not in flight, lengths past the buffer, a packed
// descriptor with an id never made available) and a disconnect mid-traffic end the connection.
// After each the mempool is whole again.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as P from '../src/vhost-user/protocol.js';
import * as S from '../assembly/layout/split.js';
import * as PK from '../assembly/layout/packed.js';
import { VirtioUserPort } from '../src/virtio-user/port.js';
import { VirtioUserWorkers } from '../src/virtio-user/workers.js';
import { FrontendError } from '../src/vhost-user/frontend-channel.js';
import type { HandleBurst } from '../src/dataplane/handle-ring.js';
import { ScriptedBackend, type Misdeed } from './helpers/scripted-backend.js';
import { socketDir, removeSocketDir } from './helpers/vhost-user-rig.js';
import { within, until } from './helpers/within.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';

// Every test ends with the fds it started with: sockets, eventfds and the memfd are all closed.
checkFdLeaks();

let n = 0;
let live: { close(): void }[] = [];
const path = (): string => join(socketDir(), `fe-${n++}.sock`);
afterEach(() => { for (const x of live.splice(0)) x.close(); });
afterAll(removeSocketDir);

function portFor(socket: string, layout: 'split' | 'packed' = 'split'): VirtioUserPort {
  const port = VirtioUserPort.create({ socket, layout, queueSize: 64, poolSize: 512, reconnect: false, replyTimeoutMs: 300 });
  live.push(port);
  return port;
}

describe('bad replies during set-up', () => {
  const cases: [string, number, Misdeed, RegExp][] = [
    ['GET_FEATURES', P.Request.GET_FEATURES, 'wrong-code', /GET_FEATURES: the reply is for GET_STATUS/],
    ['GET_PROTOCOL_FEATURES', P.Request.GET_PROTOCOL_FEATURES, 'truncated', /GET_PROTOCOL_FEATURES: reply payload of 4 bytes, expected 8/],
    ['SET_MEM_TABLE', P.Request.SET_MEM_TABLE, 'silent', /SET_MEM_TABLE: no reply within 300 ms/],
    ['SET_VRING_KICK', P.Request.SET_VRING_KICK, 'refuse', /SET_VRING_KICK: the back-end refused it \(REPLY_ACK 1\)/],
    ['SET_OWNER', P.Request.SET_OWNER, 'bad-version', /SET_OWNER: no reply: bad message from the back-end: .*protocol version 2, expected 1/],
    ['SET_VRING_NUM', P.Request.SET_VRING_NUM, 'no-reply-flag', /SET_VRING_NUM: the reply lacks the REPLY flag/],
    ['SET_VRING_ADDR', P.Request.SET_VRING_ADDR, 'hangup', /SET_VRING_ADDR: no reply: the back-end hung up|SET_VRING_ADDR: no reply: the socket closed/],
  ];
  for (const [name, request, deed, message] of cases) {
    it(`${name} ${deed}: a FrontendError naming it, the pool whole`, async () => {
      const socket = path();
      const be = new ScriptedBackend(socket, { [request]: deed });
      live.push(be);
      const port = portFor(socket);
      const err = await port.connect().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(FrontendError);
      expect((err as Error).message).toMatch(message);
      expect(be.requests).toContain(request);
      expect(port.up).toBe(false);
      expect(port.pool.freeCount).toBe(port.pool.size);
    });
  }

  it('the same back-end behaving: a packed port comes up, both vrings enabled, acked', async () => {
    const socket = path();
    const be = new ScriptedBackend(socket, {});
    live.push(be);
    const port = portFor(socket, 'packed');
    await port.connect();
    expect(port.up).toBe(true);
    expect(be.requests.filter((r) => r === P.Request.SET_VRING_ENABLE)).toHaveLength(2);
  });

  it('a back-end with protocol features but neither MQ nor REPLY_ACK: no acks asked for, rings still enabled (they start disabled)', async () => {
    const socket = path();
    const be = new ScriptedBackend(socket, {}, 1n << BigInt(P.ProtocolFeature.CONFIG));
    live.push(be);
    const port = portFor(socket);
    await port.connect();
    expect(port.up).toBe(true);
    // Nothing is acked: the requests arrive after connect() resolved.
    await until(() => be.requests.filter((r) => r === P.Request.SET_VRING_ENABLE).length === 2, 'two SET_VRING_ENABLE');
    expect(be.requests).not.toContain(P.Request.GET_QUEUE_NUM);
  });
});

describe('bad rings and hang-ups in traffic', () => {
  async function upPort(layout: 'split' | 'packed'): Promise<{ port: VirtioUserPort; be: ScriptedBackend; out: HandleBurst }> {
    const socket = path();
    const be = new ScriptedBackend(socket);
    live.push(be);
    const port = portFor(socket, layout);
    await port.connect();
    expect(port.pool.freeCount).toBe(port.pool.size - 64); // the receive ring is full
    const out = port.burst(32);
    return { port, be, out };
  }

  function splitUsed(port: VirtioUserPort, id: number, len: number): void {
    const used = port.queues[0].rx.areas.device;
    const e = port.engine;
    e.u32[(used + S.USED_RING + S.USED_ELEM_ID) >>> 2] = id;
    e.u32[(used + S.USED_RING + S.USED_ELEM_LEN) >>> 2] = len;
    e.u16[(used + S.USED_IDX) >>> 1] = 1;
  }

  /** The port down with the error named; its 'down' event comes once every buffer is reclaimed. */
  const expectDown = async (port: VirtioUserPort, message: RegExp): Promise<void> => {
    const reason = await within<string>(5_000, "the port's 'down' event", (done) => port.once('down', done));
    expect(reason).toMatch(message);
    expect(port.lastError).toMatch(message);
    expect(port.pool.freeCount).toBe(port.pool.size);
  };

  it('split: a used id not in flight breaks the queue, the connection ends, the pool is whole', async () => {
    const { port, out } = await upPort('split');
    splitUsed(port, 9999, 100);
    expect(() => port.rxBurst(0, out)).toThrow(/USED_ID/);
    await expectDown(port, /queue pair 0: .*USED_ID/);
  });

  it('split: a used length past the buffer is refused the same way', async () => {
    const { port, out } = await upPort('split');
    splitUsed(port, 0, 100_000);
    expect(() => port.rxBurst(0, out)).toThrow(/USED_LEN_TOO_LARGE/);
    await expectDown(port, /USED_LEN_TOO_LARGE/);
  });

  it('packed: a used descriptor with an id never made available (and garbage flags bits) is refused', async () => {
    const { port, out } = await upPort('packed');
    const d = port.queues[0].rx.areas.desc;
    const e = port.engine;
    e.u16[(d + PK.PDESC_ID) >>> 1] = 9999;
    e.u32[(d + PK.PDESC_LEN) >>> 2] = 10;
    e.u16[(d + PK.PDESC_FLAGS) >>> 1] = PK.PDESC_F_AVAIL | PK.PDESC_F_USED | 0x7f38;
    expect(() => port.rxBurst(0, out)).toThrow(/USED_ID/);
    await expectDown(port, /USED_ID/);
  });

  for (const deed of ['wrong-code', 'truncated'] as const) {
    it(`GET_VRING_BASE ${deed}: shutdown() rejects naming it, the pool whole`, async () => {
      const socket = path();
      const be = new ScriptedBackend(socket, { [P.Request.GET_VRING_BASE]: deed });
      live.push(be);
      const port = portFor(socket);
      await port.connect();
      await expect(port.shutdown()).rejects.toThrow(deed === 'wrong-code' ? /GET_VRING_BASE: the reply is for GET_FEATURES/ : /GET_VRING_BASE: reply payload of 4 bytes, expected 8/);
      expect(port.pool.freeCount).toBe(port.pool.size);
    });
  }

  it('on a Dataplane worker: a bad used entry fails the pair there; the connection ends naming it, the pool is whole', async () => {
    const socket = path();
    const be = new ScriptedBackend(socket);
    live.push(be);
    const port = VirtioUserPort.create({ socket, queueSize: 64, poolSize: 512, reconnect: false, replyTimeoutMs: 300, workers: 1 });
    live.push(port);
    const workers = await VirtioUserWorkers.start(port, { workers: 1, mode: 'rxonly' });
    try {
      await port.connect();
      splitUsed(port, 4242, 10);
      await expectDown(port, /queue pair 0: .*USED_ID/);
    } finally {
      await workers.stop();
    }
  });

  /** Makes the buffer of descriptor 0 used with `len` bytes and num_buffers `numBuffers` (split ring). */
  function splitUsedMerged(port: VirtioUserPort, len: number, numBuffers: number): void {
    const e = port.engine;
    const q = port.queues[0];
    const addr = Number(new BigUint64Array(e.memory.buffer, q.rx.areas.desc, 1)[0]); // desc[0].addr: the header's place
    e.u16[(addr + 10) >>> 1] = numBuffers;
    splitUsed(port, 0, len);
  }

  it('mergeable: a frame whose other buffers never come is reclaimed at the hang-up; the pool whole', async () => {
    const { port, be, out } = await upPort('split');
    splitUsedMerged(port, 200, 3);
    expect(port.rxBurst(0, out)).toBe(0); // waiting for 2 more buffers
    expect(port.pool.freeCount).toBe(port.pool.size - 65); // the ring refilled, the first buffer held
    be.hangUp();
    await expectDown(port, /hung up|socket closed/);
  });

  it('mergeable: num_buffers above the queue size drops the frame (counted), nothing held', async () => {
    const { port, out } = await upPort('split');
    splitUsedMerged(port, 200, 65);
    expect(port.rxBurst(0, out)).toBe(0);
    expect(port.stats(0).rxDropped).toBe(1);
    expect(port.pool.freeCount).toBe(port.pool.size - 64);
  });

  it('a back-end that hangs up mid-traffic: down, named, every buffer (receive and transmit) back', async () => {
    const { port, be } = await upPort('split');
    for (let i = 0; i < 20; i++) await port.send(new Uint8Array(60).fill(i));
    expect(port.pool.freeCount).toBe(port.pool.size - 64 - 20);
    be.hangUp();
    await expectDown(port, /hung up|socket closed/);
  });
});
