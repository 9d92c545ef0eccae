// Resource and abuse limits of the vhost-user back-end (issue 11, item 4), each case named for what
// it guards, with no fd (checkFdLeaks) and no mapping (mappings(memory)) left behind:
// - a peer that opens and closes connections by the thousand (at once, after half a message,
//   after a full negotiation with guest memory mapped, while another session is served): the
//   server survives, serves the next front-end, and keeps no session, socket or fd of them;
// - a peer that sends part of a message and stalls: the message timeout ends the session with a
//   reason naming the request and the bytes that came; a session idle between messages stays;
// - a peer that floods control messages: read at the message rate (a token bucket), every one
//   answered in order, the limit told once in the log;
// - memory tables and ADD_MEM_REG larger than the back-end's window: refused, nothing mapped.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { FEATURES, MemoryPlan } from '../src/index.js';
import { memfdCreate, close, mappings } from '../src/native/index.js';
import * as P from '../src/vhost-user/protocol.js';
import { encode, memTablePayload, u64Payload, singleRegionPayload, type MemRegion } from '../src/vhost-user/message.js';
import type { VhostUserBackend } from '../src/vhost-user/backend.js';
import { VhostUserServer, type VhostUserServerOptions } from '../src/vhost-user/server.js';
import { DEFAULT_MESSAGE_TIMEOUT_MS, DEFAULT_MESSAGE_RATE } from '../src/vhost-user/connection.js';
import { parseVhost } from '../cli/vhost/args.js';
import { VHOST_USAGE } from '../cli/vhost/usage.js';
import { UsageError } from '../cli/common.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { expectServesNext, withSession, closeSession } from './helpers/vhost-user-session.js';
import { nextEvent, sleep, until } from './helpers/within.js';
import { isListening } from './helpers/unix-listening.js';
import { RawFrontEnd } from './helpers/vhost-user-frontend.js';
import { rig, guest, removeSocketDir, socketDir, backend, UADDR, MiB, WINDOW, RecordingDevice, type Rig } from './helpers/vhost-user-rig.js';
import { negotiate, setMemTable, F_PROTOCOL } from './helpers/vhost-user-setup.js';

checkFdLeaks();
afterAll(removeSocketDir);

const R = P.Request;
const bin = fileURLToPath(new URL('../bin/virtqueue.js', import.meta.url));

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage after the current job (WeakRefs made in it are kept until it ends). */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
}

/** Options of a server built here rather than by the rig (whose servers have no message rate limit). */
function serverOptions(log: (line: string) => void): VhostUserServerOptions {
  const { memory, engine } = backend();
  return {
    engine, plan: new MemoryPlan(memory, { start: 64 * 1024, end: 8 * MiB }), window: WINDOW, log,
    device: new RecordingDevice(FEATURES.VERSION_1 | F_PROTOCOL, 1, [2, 0, 0, 0, 0, 1], 1500),
  };
}

/** The log lines of ended connections. */
const ends = (r: Rig): string[] => r.log.filter((l) => l.startsWith('connection ended:'));

// VIRTQUEUE_CHURN_CONNECTIONS changes how many connections the churn test opens (default 10,000).
const CHURN = Number(process.env.VIRTQUEUE_CHURN_CONNECTIONS ?? 10_000);

describe('a peer that opens and closes connections by the thousand', () => {
  it(`${CHURN} connections (closed at once, after half a message, after a negotiation with memory mapped, refused while one is served): the server survives and keeps nothing of them`, async () => {
    const r = rig();
    const g = guest(2 * MiB);
    // Every session and socket the server made, weakly: after the churn none may be left alive.
    const sessions: WeakRef<VhostUserBackend>[] = [];
    const sockets: WeakRef<object>[] = [];
    r.server.on('session', (b) => {
      sessions.push(new WeakRef(b));
      sockets.push(new WeakRef((r.server as unknown as { current: { socket: object } }).current.socket));
    });
    const reasons = new Map<string, number>();
    r.server.on('sessionEnd', (why) => reasons.set(why, (reasons.get(why) ?? 0) + 1));
    const half = encode(R.SET_FEATURES, P.VERSION, u64Payload(1n)).subarray(0, 7);
    let refused = 0;
    const one = async (i: number): Promise<void> => {
      const ended = nextEvent<[string]>(r.server, 'sessionEnd');
      const fe = RawFrontEnd.connect(r.path);
      switch (i % 4) {
        case 0: // gone at once
          fe.close();
          break;
        case 1: // half a header, then gone
          await fe.sendRaw(half);
          fe.close();
          break;
        case 2: // a whole negotiation with guest memory mapped, then gone
          await negotiate(fe);
          expect(await setMemTable(fe, g)).toBe(0n);
          fe.close();
          break;
        default: { // served, and meanwhile a second one that is refused
          expect(await fe.getU64(R.GET_FEATURES) & F_PROTOCOL).toBe(F_PROTOCOL);
          const second = RawFrontEnd.connect(r.path);
          await second.closedByBackend();
          refused++;
          fe.close();
        }
      }
      await ended;
    };
    try {
      // Warm up (JIT, pools), then measure from there.
      for (let i = 0; i < 200; i++) await one(i);
      r.log.length = 0;
      await collect();
      const before = process.memoryUsage();
      const t0 = performance.now();
      for (let i = 0; i < CHURN; i++) {
        await one(i);
        if (i % 1000 === 999) r.log.length = 0; // the rig's log is the test's, not the server's
      }
      const seconds = (performance.now() - t0) / 1000;
      await collect();
      const after = process.memoryUsage();
      const alive = sessions.filter((w) => w.deref() !== undefined).length;
      const socketsAlive = sockets.filter((w) => w.deref() !== undefined).length;
      const grew = { heapMiB: (after.heapUsed - before.heapUsed) / MiB, rssMiB: (after.rss - before.rss) / MiB };
      console.log(`churn: ${CHURN} connections in ${seconds.toFixed(1)} s; heap ${grew.heapMiB.toFixed(1)} MiB, rss ${grew.rssMiB.toFixed(1)} MiB; sessions alive ${alive}, sockets alive ${socketsAlive}`);
      // Every connection got a session and every session ended; the refused ones never got one.
      expect(sessions.length).toBe(200 + CHURN);
      expect(refused).toBe(Math.floor(CHURN / 4) + 50);
      expect([...reasons.values()].reduce((a, b) => a + b, 0)).toBe(200 + CHURN);
      expect([...reasons.keys()].sort()).toEqual(['the front-end hung up']);
      // Nothing of them is kept: no session, no socket (a live fd watcher would pin its socket).
      expect({ alive, socketsAlive }).toEqual({ alive: 0, socketsAlive: 0 });
      expect(r.server.session).toBeUndefined();
      expect(mappings(r.memory)).toEqual([]);
      // A generous bound: 10,000 sessions kept would be tens of MiB of heap.
      expect(grew.heapMiB).toBeLessThan(16);
      await expectServesNext(r);
    } finally {
      r.close();
      g.close();
    }
  });
});

describe('a peer that sends part of a message and stalls: the message timeout', () => {
  const TIMEOUT = 300;

  /** A rig whose messages must be whole within TIMEOUT ms, and a front-end on it. */
  async function stalled(body: (r: Rig, fe: RawFrontEnd) => Promise<void>): Promise<void> {
    const r = rig({ messageTimeoutMs: TIMEOUT });
    const fe = RawFrontEnd.connect(r.path);
    try {
      await body(r, fe);
    } finally {
      await closeSession(r, fe);
    }
  }

  it('half a header, then nothing: the session ends, naming how many header bytes came; the server serves the next', async () => {
    await stalled(async (r, fe) => {
      const ended = nextEvent<[string]>(r.server, 'sessionEnd', 5_000);
      await fe.sendRaw(encode(R.GET_FEATURES, P.VERSION).subarray(0, 5));
      const [reason] = await ended;
      expect(reason).toBe(`no complete message within ${TIMEOUT} ms of its first byte (5 of the 12 header bytes arrived)`);
      expect(ends(r)).toEqual([`connection ended: ${reason}`]);
      await fe.closedByBackend();
    });
  });

  it('a header with its fd and part of the payload (SET_MEM_TABLE), with memory mapped: ends naming the request and the bytes; the fd it brought and the mapping are released', async () => {
    const g = guest(2 * MiB);
    try {
      await stalled(async (r, fe) => {
        await negotiate(fe);
        expect(await setMemTable(fe, g)).toBe(0n);
        expect(mappings(r.memory)).toHaveLength(1);
        const whole = encode(R.SET_MEM_TABLE, P.VERSION, memTablePayload([g.region]));
        const ended = nextEvent<[string]>(r.server, 'sessionEnd', 5_000);
        // The header travels with the fd; 20 payload bytes of 40 follow, then nothing.
        await fe.sendRaw(whole.subarray(0, P.HEADER_SIZE + 20), [g.fd]);
        const [reason] = await ended;
        expect(reason).toBe(`no complete message within ${TIMEOUT} ms of its first byte (SET_MEM_TABLE: 32 of ${whole.length} bytes arrived)`);
        expect(mappings(r.memory)).toEqual([]);
      });
    } finally {
      g.close();
    }
  });

  it('a message trickled a byte at a time is timed from its first byte, not from the last one', async () => {
    await stalled(async (r, fe) => {
      const ended = nextEvent<[string]>(r.server, 'sessionEnd', 5_000);
      const bytes = encode(R.SET_FEATURES, P.VERSION, u64Payload(FEATURES.VERSION_1));
      // The header at once, then each payload byte well within the timeout of the one before;
      // the whole would take 8 * 80 ms, more than the timeout.
      await fe.sendRaw(bytes.subarray(0, P.HEADER_SIZE));
      let sent = P.HEADER_SIZE;
      for (; sent < bytes.length && !fe.ended; sent++) {
        await sleep(80);
        if (!fe.ended) await fe.sendRaw(bytes.subarray(sent, sent + 1));
      }
      const [reason] = await ended;
      const got = /^no complete message within 300 ms of its first byte \(SET_FEATURES: (\d+) of 20 bytes arrived\)$/.exec(reason);
      expect(got, reason).not.toBeNull();
      expect(Number(got![1])).toBeGreaterThan(P.HEADER_SIZE);
      expect(Number(got![1])).toBeLessThan(bytes.length);
      expect(ends(r)).toHaveLength(1);
    });
  });

  it('a message split in two that completes within the timeout goes through; the clock starts again for the next', async () => {
    await stalled(async (r, fe) => {
      await negotiate(fe);
      for (let i = 0; i < 3; i++) {
        const bytes = encode(R.GET_QUEUE_NUM, P.VERSION);
        await fe.sendRaw(bytes.subarray(0, 6));
        await sleep(TIMEOUT / 2);
        await fe.sendRaw(bytes.subarray(6));
        const reply = await fe.next();
        expect(reply?.request).toBe(R.GET_QUEUE_NUM);
      }
      expect(ends(r)).toEqual([]);
    });
  });

  it('a session idle between messages never times out (QEMU may send nothing for hours)', async () => {
    await stalled(async (r, fe) => {
      await negotiate(fe);
      await sleep(5 * TIMEOUT);
      expect(await fe.getU64(R.GET_QUEUE_NUM)).toBe(2n);
      await sleep(3 * TIMEOUT);
      expect(await fe.getU64(R.GET_QUEUE_NUM)).toBe(2n);
      expect(ends(r)).toEqual([]);
      expect(r.server.session).toBeDefined();
    });
  });

  it('a front-end that does not read its replies is paused between messages, and that pause is not a stall', async () => {
    await stalled(async (r, fe) => {
      await negotiate(fe);
      // Requests whose replies the front-end leaves unread until the back-end stops reading.
      fe.socket.pause();
      const request = encode(R.GET_FEATURES, P.VERSION);
      const flood = new Uint8Array(request.length * 20_000);
      for (let i = 0; i < 20_000; i++) flood.set(request, i * request.length);
      const sending = fe.sendRaw(flood);
      await sleep(3 * TIMEOUT);
      expect(r.server.replyBacklog).toBeGreaterThan(0);
      expect(ends(r)).toEqual([]);
      fe.socket.resume();
      await sending;
      let got = 0;
      while (got < 20_000) {
        const m = await fe.next();
        expect(m?.request).toBe(R.GET_FEATURES);
        got++;
      }
      expect(ends(r)).toEqual([]);
    });
  });

  it(`is ${DEFAULT_MESSAGE_TIMEOUT_MS} ms unless set; 0 means no limit; a value that is not a whole number of ms is refused before listening`, async () => {
    expect(DEFAULT_MESSAGE_TIMEOUT_MS).toBeGreaterThanOrEqual(1000);
    const base = serverOptions(() => undefined);
    for (const bad of [-1, 1.5, Number.NaN, Infinity]) {
      const path = `${socketDir()}/bad-timeout.sock`;
      expect(() => VhostUserServer.listen(path, { ...base, messageTimeoutMs: bad })).toThrow(/message timeout .* expected a whole number of milliseconds/);
      expect(() => VhostUserServer.listen(path, { ...base, messageRate: bad })).toThrow(/message rate .* expected a whole number of messages per second/);
      expect(existsSync(path)).toBe(false);
    }
    // 0: no limit. Half a header stays pending (the session is still served) well past the default.
    const r = rig({ messageTimeoutMs: 0 });
    const fe = RawFrontEnd.connect(r.path);
    try {
      expect(await fe.getU64(R.GET_QUEUE_NUM)).toBe(2n);
      await fe.sendRaw(encode(R.GET_QUEUE_NUM, P.VERSION).subarray(0, 3));
      await sleep(4 * TIMEOUT);
      expect(ends(r)).toEqual([]);
      await fe.sendRaw(encode(R.GET_QUEUE_NUM, P.VERSION).subarray(3));
      expect((await fe.next())?.request).toBe(R.GET_QUEUE_NUM);
    } finally {
      fe.close();
      await nextEvent(r.server, 'sessionEnd');
      r.close();
    }
  });
});

describe('virtqueue vhost --message-timeout', () => {
  it('and --message-rate: parse a whole number (0 for no limit), refuse anything else, and are in --help', () => {
    const opts = (...a: string[]) => {
      const c = parseVhost(['--socket', 's', ...a]);
      if (c.kind !== 'vhost') throw new Error('not a vhost command');
      return c.options;
    };
    expect(opts().messageTimeoutMs).toBe(DEFAULT_MESSAGE_TIMEOUT_MS);
    expect(opts('--message-timeout', '250').messageTimeoutMs).toBe(250);
    expect(opts('--message-timeout', '0').messageTimeoutMs).toBe(0);
    for (const bad of ['-1', '1.5', 'soon', '', '3600001']) {
      expect(() => opts('--message-timeout', bad), bad).toThrow(UsageError);
    }
    expect(VHOST_USAGE).toMatch(/--message-timeout MS .*\n(.*\n)*.* idle\s+between messages never times out/);
    expect(opts().messageRate).toBe(DEFAULT_MESSAGE_RATE);
    expect(opts('--message-rate', '50').messageRate).toBe(50);
    expect(opts('--message-rate', '0').messageRate).toBe(0);
    for (const bad of ['-5', '2.5', 'many', '1000001']) {
      expect(() => opts('--message-rate', bad), bad).toThrow(UsageError);
    }
    expect(VHOST_USAGE).toMatch(/--message-rate N .*\n(.*\n)*.*0 for no limit \(default 1000\)/);
  });

  it('a stalled front-end is logged by the CLI with the request and bytes, and the next one is served', async () => {
    const path = join(socketDir(), 'cli-timeout.sock');
    const child = spawn(process.execPath, [bin, 'vhost', '--socket', path, '--message-timeout', '200', '--guest-mem', '64'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await until(() => isListening(path), `${path} listening`, 20_000);
      const fe = RawFrontEnd.connect(path);
      try {
        await fe.sendRaw(encode(R.SET_VRING_NUM, P.VERSION, new Uint8Array(8)).subarray(0, 16));
        await fe.closedByBackend();
      } finally {
        fe.close();
      }
      const next = RawFrontEnd.connect(path);
      try {
        expect(await next.getU64(R.GET_FEATURES) & F_PROTOCOL).toBe(F_PROTOCOL);
      } finally {
        next.close();
      }
      await until(() => stderr.includes('session ended: the front-end hung up'), 'the second session to end');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stderr).toContain('connection ended: no complete message within 200 ms of its first byte (SET_VRING_NUM: 16 of 20 bytes arrived)');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });
});

describe('a peer that floods control messages: read at the message rate', () => {
  /**
   * Sends `n` GET_FEATURES in one write and reads the replies, checking that by each reply's
   * arrival no more were read than the burst and the rate allow (`rate` a second since the flood
   * began, plus the burst and a few for the bucket's granularity). Returns the seconds it took.
   */
  async function flood(fe: RawFrontEnd, n: number, rate: number, offered: bigint): Promise<number> {
    const one = encode(R.GET_FEATURES, P.VERSION);
    const all = new Uint8Array(one.length * n);
    for (let i = 0; i < n; i++) all.set(one, i * one.length);
    const t0 = performance.now();
    const sending = fe.sendRaw(all);
    for (let i = 1; i <= n; i++) {
      const m = await fe.next();
      const seconds = (performance.now() - t0) / 1000;
      expect({ request: m?.request, flags: m?.flags }).toEqual({ request: R.GET_FEATURES, flags: P.VERSION | P.FLAG_REPLY });
      expect(new DataView(m!.payload.buffer, m!.payload.byteOffset).getBigUint64(0, true)).toBe(offered);
      if (i > rate + rate * seconds + Math.max(2, rate / 100) + 2) throw new Error(`reply ${i} after ${seconds.toFixed(3)} s: more than ${rate} a second were read`);
    }
    await sending;
    return (performance.now() - t0) / 1000;
  }

  it('600 GET_FEATURES at once at a rate of 200: each answered, in order, none faster than the rate allows; the session goes on; logged once', async () => {
    const r = rig({ messageRate: 200 });
    const fe = RawFrontEnd.connect(r.path);
    try {
      const offered = await negotiate(fe);
      expect(r.log).toEqual([]); // a negotiation is far below the limit
      const seconds = await flood(fe, 600, 200, offered);
      // The burst (200, less what the negotiation took), then 200 a second for the other 400 or so.
      expect(seconds).toBeGreaterThan(1.5);
      expect(r.log.filter((l) => l.includes('messages a second'))).toEqual(['the front-end sends more than 200 messages a second: reading them at that rate']);
      expect(await fe.getU64(R.GET_QUEUE_NUM)).toBe(2n);
      expect(ends(r)).toEqual([]);
    } finally {
      fe.close();
      await nextEvent(r.server, 'sessionEnd');
      r.close();
    }
  });

  it(`a server's default is ${DEFAULT_MESSAGE_RATE} messages a second: 1,300 at once are read at that rate`, async () => {
    const log: string[] = [];
    const server = VhostUserServer.listen(join(socketDir(), 'default-rate.sock'), serverOptions((l) => log.push(l)));
    const fe = RawFrontEnd.connect(join(socketDir(), 'default-rate.sock'));
    try {
      const offered = await fe.getU64(R.GET_FEATURES);
      await flood(fe, 1_300, DEFAULT_MESSAGE_RATE, offered);
      expect(log).toContain(`the front-end sends more than ${DEFAULT_MESSAGE_RATE} messages a second: reading them at that rate`);
    } finally {
      fe.close();
      if (server.session) await nextEvent(server, 'sessionEnd');
      server.close();
    }
  });

  it('a throttled front-end that also leaves its replies unread is served again, every reply in order, once it reads', async () => {
    // 40,000 requests at 10,000 a second: the replies of the burst alone overflow the socket, so
    // reading stops for both reasons (back-pressure and the rate) and must start again. (At
    // 20,000 a second a busy machine's server did not always read fast enough to meet the rate.)
    const N = 40_000;
    const r = rig({ messageRate: 10_000 });
    const fe = RawFrontEnd.connect(r.path);
    try {
      const offered = await negotiate(fe);
      fe.socket.pause();
      const one = encode(R.GET_FEATURES, P.VERSION);
      const all = new Uint8Array(one.length * N);
      for (let i = 0; i < N; i++) all.set(one, i * one.length);
      const sending = fe.sendRaw(all);
      // The replies back up within a few hundred ms on an idle machine; longer when it is busy.
      await until(() => r.server.replyBacklog > 0, 'replies backed up', 10_000);
      fe.socket.resume();
      for (let i = 0; i < N; i++) {
        const m = await fe.next();
        if (m?.request !== R.GET_FEATURES) throw new Error(`reply ${i}: ${m === undefined ? 'none' : P.requestName(m.request)}`);
      }
      await sending;
      expect(await fe.getU64(R.GET_FEATURES)).toBe(offered);
      expect(r.log.filter((l) => l.includes('messages a second'))).toHaveLength(1);
      expect(ends(r)).toEqual([]);
    } finally {
      fe.close();
      await nextEvent(r.server, 'sessionEnd');
      r.close();
    }
  });
});

describe('memory larger than the window: refused, nothing mapped', () => {
  const W = BigInt(WINDOW.size);
  const M = BigInt(MiB);
  const PAGE = 4096n;
  const at = (gpa: bigint, size: bigint, uaddr: bigint): MemRegion => ({ gpa, size, uaddr, mmapOffset: 0n });

  /** A memfd of `size` bytes (sparse: no memory is used until touched). */
  function withFile<T>(size: bigint, body: (fd: number) => Promise<T>): Promise<T> {
    const fd = memfdCreate('big-guest', Number(size));
    return body(fd).finally(() => close(fd));
  }

  it('SET_MEM_TABLE whose regions each fit but together do not: a non-zero ack naming the sizes, the table in place kept', async () => {
    await withSession(async (r, g, fe) => {
      expect(await setMemTable(fe, g)).toBe(0n);
      const before = mappings(r.memory);
      await withFile(20n * M, async (fd) => {
        const table = [at(0n, 20n * M, UADDR + 0x1_0000_0000n), at(0x1_0000_0000n, 20n * M, UADDR + 0x2_0000_0000n)];
        expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload(table), [fd, fd])).not.toBe(0n);
        expect(r.log.at(-1)).toBe(`SET_MEM_TABLE: failed: guest memory of ${40n * M} bytes does not fit the back-end's ${W}-byte window`);
        // Eight regions of 5 MiB: each small, 40 MiB together.
        const eight = Array.from({ length: 8 }, (_, i) => at(BigInt(i) << 32n, 5n * M, UADDR + 0x1_0000_0000n + (BigInt(i) << 32n)));
        expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload(eight), Array(8).fill(fd))).not.toBe(0n);
        expect(r.log.at(-1)).toMatch(/guest memory of 41943040 bytes does not fit the back-end's 33554432-byte window/);
      });
      expect(mappings(r.memory)).toEqual(before);
      expect(await fe.getU64(R.GET_QUEUE_NUM)).toBe(2n);
    });
  });

  it('SET_MEM_TABLE: a region of exactly the window maps; one page more, or 2^63 bytes, is refused before anything is mapped', async () => {
    await withSession(async (r, _g, fe) => {
      await withFile(W + PAGE, async (fd) => {
        expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload([at(0n, W + PAGE, UADDR)]), [fd])).not.toBe(0n);
        expect(r.log.at(-1)).toMatch(`guest memory of ${W + PAGE} bytes does not fit the back-end's ${W}-byte window`);
        expect(mappings(r.memory)).toEqual([]);
        expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload([at(1n << 63n, 1n << 63n, 1n << 63n)]), [fd])).not.toBe(0n);
        expect(r.log.at(-1)).toMatch(`guest memory of ${1n << 63n} bytes does not fit`);
        expect(mappings(r.memory)).toEqual([]);
        expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload([at(0n, W, UADDR)]), [fd])).toBe(0n);
        expect(mappings(r.memory)).toEqual([expect.objectContaining({ offset: WINDOW.offset, length: WINDOW.size })]);
      });
    });
  });

  it('ADD_MEM_REG past the window (a region that fits alone, not beside the ones mapped; one of 2^63 bytes): refused, nothing more mapped; up to the window it maps', async () => {
    await withSession(async (r, g, fe) => {
      expect(await setMemTable(fe, g)).toBe(0n); // 2 MiB
      const before = mappings(r.memory);
      await withFile(W, async (fd) => {
        const big = at(0x1_0000_0000n, W - 2n * M + PAGE, UADDR + 0x1_0000_0000n);
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(big), [fd])).not.toBe(0n);
        expect(r.log.at(-1)).toBe(`ADD_MEM_REG: failed: a region of ${W - 2n * M + PAGE} bytes does not fit any gap of the back-end's ${W}-byte window`);
        expect(mappings(r.memory)).toEqual(before);
        const huge = at(1n << 63n, 1n << 63n, 1n << 63n);
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(huge), [fd])).not.toBe(0n);
        expect(r.log.at(-1)).toMatch(`a region of ${1n << 63n} bytes does not fit any gap`);
        expect(mappings(r.memory)).toEqual(before);
        // What is left of the window, exactly: it maps; then not one page more.
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload({ ...big, size: W - 2n * M }), [fd])).toBe(0n);
        expect(mappings(r.memory)).toHaveLength(2);
        const page = at(0x2_0000_0000n, PAGE, UADDR + 0x2_0000_0000n);
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(page), [fd])).not.toBe(0n);
        expect(r.log.at(-1)).toMatch(/a region of 4096 bytes does not fit any gap of the back-end's 33554432-byte window/);
        expect(mappings(r.memory)).toHaveLength(2);
      });
      expect(await fe.getU64(R.GET_QUEUE_NUM)).toBe(2n);
    });
  });

  it('without REPLY_ACK a table larger than the window ends the session, with the reason and nothing mapped', async () => {
    const r = rig();
    const fe = RawFrontEnd.connect(r.path);
    try {
      await negotiate(fe, FEATURES.VERSION_1 | F_PROTOCOL, 0n);
      await withFile(W + PAGE, async (fd) => {
        await fe.send(R.SET_MEM_TABLE, memTablePayload([at(0n, W + PAGE, UADDR)]), [fd]);
        await fe.closedByBackend();
      });
      expect(ends(r).join('\n')).toMatch(`SET_MEM_TABLE: guest memory of ${W + PAGE} bytes does not fit the back-end's ${W}-byte window`);
      expect(mappings(r.memory)).toEqual([]);
      await expectServesNext(r);
    } finally {
      fe.close();
      r.close();
    }
  });
});
