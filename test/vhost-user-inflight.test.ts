// vhost-user inflight I/O tracking (vhost-user.rst "Inflight I/O tracking"; src/vhost-user/
// inflight.ts): GET_INFLIGHT_FD gives a zeroed, sealed memfd that the rings started after it track
// into; SET_INFLIGHT_FD after a reconnection makes the rings resume from it (the packed base the
// front-end resends replaced by the committed position, the chains in flight popped again);
// hostile payloads and fds are refused with nothing mapped and every fd closed; and the
// back-end's own state file (for front-ends that send neither) resumes a ring only for the same
// front-end's same ring, and only when the front-end was never told where it stopped.
import { fstatSync, statSync, readdirSync, mkdtempSync, readSync, rmSync, symlinkSync, writeFileSync, writeSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FEATURES, MemoryPlan, ChainBatch, UsedBatch, type RingLayout } from '../src/index.js';
import { EventFd, memfdCreate, close, mappings, fdKind, fdSeals, F_SEAL_SHRINK, PAGE_SIZE } from '../src/native/index.js';
import * as P from '../src/vhost-user/protocol.js';
import { statePayload, addrPayload, u64Payload, memTablePayload, type Message } from '../src/vhost-user/message.js';
import { inflightRegionSize } from '../src/virtqueue/inflight.js';
import { inflightPayload, readInflight } from '../src/vhost-user/inflight.js';
import { InflightStateFile } from '../src/vhost-user/inflight-state.js';
import type { DeviceQueue } from '../src/virtqueue/queue-side.js';
import * as I from '../assembly/layout/inflight.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { nextEvent } from './helpers/within.js';
import { RawFrontEnd } from './helpers/vhost-user-frontend.js';
import { rig, guest, removeSocketDir, INFLIGHT_WINDOW, MiB, type Rig, type Guest } from './helpers/vhost-user-rig.js';
import { negotiate, PROTOCOL, F_PROTOCOL } from './helpers/vhost-user-setup.js';
import { GuestPair } from './helpers/vhost-net-frontend.js';
import { readSplitRegion, readPackedRegion } from './helpers/inflight-region.js';

checkFdLeaks();
afterAll(removeSocketDir);

const R = P.Request;
const INFLIGHT = 1n << BigInt(P.ProtocolFeature.INFLIGHT_SHMFD);
const NUM = 64;
const PACKED_BASE = 0x8000_8000; // slot 0, both wrap counters 1: what QEMU resends after a crash

const fdCount = (): number => readdirSync('/proc/self/fd').length;
/** The back-end's mappings in its inflight window. */
const inflightMappings = (r: Rig) => mappings(r.memory).filter((m) => m.offset >= INFLIGHT_WINDOW.offset && m.offset < INFLIGHT_WINDOW.offset + INFLIGHT_WINDOW.size);

const features = (layout: RingLayout): bigint => FEATURES.VERSION_1 | F_PROTOCOL | (layout === 'packed' ? FEATURES.RING_PACKED : 0n);

async function connect(r: Rig, g: Guest, layout: RingLayout, protocol = PROTOCOL | INFLIGHT): Promise<RawFrontEnd> {
  const fe = RawFrontEnd.connect(r.path);
  await negotiate(fe, features(layout), protocol);
  expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload([g.region]), [g.fd])).toBe(0n);
  return fe;
}

/** Vrings 0 and 1 of `pair` (the driver side the test keeps across sessions): num, base, addresses, call, kick, enable. */
async function startRings(fe: RawFrontEnd, g: Guest, pair: GuestPair, bases: [number, number]): Promise<void> {
  for (const [index, q] of [[0, pair.rxq], [1, pair.txq]] as const) {
    expect(await fe.acked(R.SET_VRING_NUM, statePayload(index, NUM))).toBe(0n);
    expect(await fe.acked(R.SET_VRING_BASE, statePayload(index, bases[index]))).toBe(0n);
    expect(await fe.acked(R.SET_VRING_ADDR, addrPayload({
      index, flags: 0, desc: g.uaddr(q.ring.desc), avail: g.uaddr(q.ring.driver), used: g.uaddr(q.ring.device), log: 0n,
    }))).toBe(0n);
    expect(await fe.acked(R.SET_VRING_CALL, u64Payload(BigInt(index)), [q.call.fd])).toBe(0n);
    expect(await fe.acked(R.SET_VRING_KICK, u64Payload(BigInt(index)), [q.kick.fd])).toBe(0n);
    expect(await fe.acked(R.SET_VRING_ENABLE, statePayload(index, 1))).toBe(0n);
  }
}

/** The back-end's device side of vring `index` (the recording device runs nothing: the test pops and pushes). */
function deviceOf(r: Rig, index: number): DeviceQueue {
  const v = r.ready.get(index);
  if (!v) throw new Error(`vring ${index} is not running; log:\n${r.log.join('\n')}`);
  return v.device;
}

/** Burst arrays in the back-end's memory (above its ring state, below the guest window). */
function bursts(r: Rig): { pop: ChainBatch; used: UsedBatch } {
  const plan = new MemoryPlan(r.memory, { start: 8 * MiB, end: 9 * MiB });
  return { pop: new ChainBatch(r.engine, plan, NUM, NUM), used: new UsedBatch(r.engine, plan, NUM) };
}

/** Pops up to `n` from vring 0 (receive buffers), pushes the first `used` of them back (len 100). */
function popPush(r: Rig, n: number, used: number): number[] {
  const b = bursts(r);
  const d = deviceOf(r, 0);
  const got = d.pop(b.pop, n);
  const ids = Array.from({ length: got }, (_, i) => b.pop.id(i));
  for (const id of ids.slice(0, used)) b.used.push(id, 100);
  if (used > 0) d.push(b.used);
  return ids;
}

async function endSession(r: Rig, fe: RawFrontEnd): Promise<void> {
  const ended = nextEvent(r.server, 'sessionEnd');
  fe.close();
  await ended;
}

function readFd(fd: number, size: number): DataView {
  const b = Buffer.alloc(size);
  expect(readSync(fd, b, 0, size, 0)).toBe(size);
  return new DataView(b.buffer, b.byteOffset, size);
}

describe('GET_INFLIGHT_FD and SET_INFLIGHT_FD', () => {
  let r: Rig;
  let g: Guest;
  let fe: RawFrontEnd | undefined;
  let pair: GuestPair | undefined;
  beforeEach(() => {
    r = rig({ inflight: { window: INFLIGHT_WINDOW } });
    g = guest();
  });
  afterEach(async () => {
    if (fe && !fe.ended) await endSession(r, fe);
    fe = undefined;
    pair?.close();
    pair = undefined;
    r.close();
    g.close();
    expect(mappings(r.memory)).toEqual([]);
  });

  it('PROTOCOL_F_INFLIGHT_SHMFD is offered (bit 12) with an inflight window, not without one', async () => {
    fe = await connect(r, g, 'split');
    expect(await fe.getU64(R.GET_PROTOCOL_FEATURES) & INFLIGHT).toBe(INFLIGHT);
    const plain = rig();
    const other = RawFrontEnd.connect(plain.path);
    try {
      expect(await other.getU64(R.GET_PROTOCOL_FEATURES) & INFLIGHT).toBe(0n);
    } finally {
      other.close();
      await nextEvent(plain.server, 'sessionEnd');
      plain.close();
    }
  });

  it('GET_INFLIGHT_FD: a zeroed memfd sealed against shrinking, of num_queues regions, mapped once; rings started after it track into it', async () => {
    fe = await connect(r, g, 'split');
    const reply = await fe.call(R.GET_INFLIGHT_FD, inflightPayload({ mmapSize: 0n, mmapOffset: 0n, numQueues: 2, queueSize: NUM }));
    const d = readInflight(reply);
    const stride = inflightRegionSize('split', NUM);
    expect(stride).toBe(Math.ceil((16 + 16 * NUM) / 64) * 64); // header and entries, at DPDK's 64-byte stride
    const size = Math.ceil((2 * stride) / PAGE_SIZE) * PAGE_SIZE;
    expect(d).toEqual({ mmapSize: BigInt(size), mmapOffset: 0n, numQueues: 2, queueSize: NUM });
    expect(reply.fds).toHaveLength(1);
    const fd = reply.fds[0];
    try {
      expect(fdKind(fd)).toBe('memfd');
      expect(fdSeals(fd) & F_SEAL_SHRINK).toBe(F_SEAL_SHRINK);
      expect(fstatSync(fd).size).toBe(size);
      expect(new Uint8Array(readFd(fd, size).buffer).every((b) => b === 0)).toBe(true);
      expect(inflightMappings(r)).toEqual([{ offset: INFLIGHT_WINDOW.offset, length: size }].map((m) => expect.objectContaining(m)));

      pair = new GuestPair(g, 0, NUM, 2048, 'split');
      await startRings(fe, g, pair, [0, 0]);
      pair.postRx(10);
      expect(popPush(r, 10, 3)).toHaveLength(10);
      // Queue 0's region (vring 0) as the spec says after 10 pops and one push of 3.
      const q0 = readSplitRegion(readFd(fd, size), 0, NUM);
      expect([q0.version, q0.descNum, q0.usedIdx]).toEqual([1, NUM, 3]);
      expect(q0.desc.filter((e) => e.inflight === 1)).toHaveLength(7);
      // Queue 1's region (transmitq, nothing popped) is formatted too, at the stride.
      const q1 = readSplitRegion(readFd(fd, size), stride, NUM);
      expect([q1.version, q1.descNum]).toEqual([1, NUM]);
    } finally {
      close(fd);
    }
  });

  for (const layout of ['split', 'packed'] as const) {
    it(`SET_INFLIGHT_FD after a reconnection, ${layout} rings: resumed at the committed position, the buffers in flight popped again`, async () => {
      fe = await connect(r, g, layout);
      const reply = await fe.call(R.GET_INFLIGHT_FD, inflightPayload({ mmapSize: 0n, mmapOffset: 0n, numQueues: 2, queueSize: NUM }));
      const desc = readInflight(reply);
      const fd = reply.fds[0];
      try {
        pair = new GuestPair(g, 0, NUM, 2048, layout);
        const base: [number, number] = layout === 'packed' ? [PACKED_BASE, PACKED_BASE] : [0, 0];
        await startRings(fe, g, pair, base);
        pair.postRx(10);
        const ids = popPush(r, 10, 4);
        pair.collect();
        // The session ends with six buffers popped and not used (the back-end "died").
        await endSession(r, fe);

        fe = await connect(r, g, layout);
        expect(await fe.acked(R.SET_INFLIGHT_FD, inflightPayload(desc), [fd])).toBe(0n);
        // The front-end resends the base of the first start (QEMU, packed) or used.idx (split: 4).
        await startRings(fe, g, pair, layout === 'packed' ? base : [4, 0]);
        const rec = deviceOf(r, 0).recovered;
        // Reading the ring resumes after the six (they come first, from the resubmission list).
        const at = layout === 'packed' ? { nextAvail: 10, availWrap: 1, nextUsed: 4, usedWrap: 1 } : { nextAvail: 10, availWrap: 0, nextUsed: 4, usedWrap: 0 };
        expect(rec).toEqual({ inflight: 6, from: expect.any(Object), to: at });
        expect(deviceOf(r, 1).recovered).toEqual({ inflight: 0, from: expect.any(Object), to: expect.any(Object) });
        expect(r.log.join('\n')).toMatch(new RegExp(`vring 0: resumed from the front-end's inflight region: 6 chains in flight, position .* -> avail ${at.nextAvail}\\b`));
        // The six buffers come again, in their order, and the driver gets each back once.
        expect(popPush(r, NUM, 6)).toEqual(ids.slice(4));
        pair.rxq.driver.collect(pair.rxq.used);
        expect(pair.rxq.used.count).toBe(6);
      } finally {
        close(fd);
      }
    });
  }

  it('a garbage region given back: the ring is not started, the log names the rule; other rings start', async () => {
    fe = await connect(r, g, 'packed');
    const reply = await fe.call(R.GET_INFLIGHT_FD, inflightPayload({ mmapSize: 0n, mmapOffset: 0n, numQueues: 2, queueSize: NUM }));
    const desc = readInflight(reply);
    const fd = reply.fds[0];
    try {
      pair = new GuestPair(g, 0, NUM, 2048, 'packed');
      await startRings(fe, g, pair, [PACKED_BASE, PACKED_BASE]);
      pair.postRx(5);
      popPush(r, 5, 0);
      await endSession(r, fe);
      // The front-end scribbles on queue 0's region (through its fd): an inflight byte that is neither 0 nor 1.
      writeSync(fd, Buffer.from([7]), 0, 1, I.IPACKED_HEADER_SIZE + 1 * I.IPACKED_DESC_SIZE + I.IPACKED_D_INFLIGHT);
      fe = await connect(r, g, 'packed');
      expect(await fe.acked(R.SET_INFLIGHT_FD, inflightPayload(desc), [fd])).toBe(0n);
      await startRings(fe, g, pair, [PACKED_BASE, PACKED_BASE]);
      expect(r.ready.has(0)).toBe(false);
      expect(r.ready.has(1)).toBe(true);
      expect(r.log.join('\n')).toMatch(/vring 0 not started: packed device inflight recovery: .*\(vhost-user.rst "Inflight I\/O tracking"\) \[INFLIGHT_RANGE/);
    } finally {
      close(fd);
    }
  });

  it('SET_INFLIGHT_FD refused (nack, the fd closed, nothing mapped, the session goes on): payload values, fds, sizes, running rings', async () => {
    fe = await connect(r, g, 'split');
    const good = { mmapSize: BigInt(PAGE_SIZE), mmapOffset: 0n, numQueues: 2, queueSize: NUM };
    const before = fdCount();
    const tryWith = async (d: typeof good, fds: number[], why: RegExp): Promise<void> => {
      const at = r.log.length;
      expect(await fe!.acked(R.SET_INFLIGHT_FD, inflightPayload(d), fds)).not.toBe(0n);
      expect(r.log.slice(at).join('\n')).toMatch(why);
      expect(inflightMappings(r)).toEqual([]);
    };
    const memfd = (size: number): number => memfdCreate('inflight', size);
    const cases: [typeof good, number, RegExp][] = [
      [{ ...good, numQueues: 0 }, PAGE_SIZE, /num_queues 0: the device has 1 to 2 queues/],
      [{ ...good, numQueues: 3 }, PAGE_SIZE, /num_queues 3/],
      [{ ...good, numQueues: 0xffff, queueSize: 0xffff }, PAGE_SIZE, /num_queues 65535/],
      [{ ...good, queueSize: 0 }, PAGE_SIZE, /queue_size 0: 1 to 32768/],
      [{ ...good, queueSize: 40000 }, PAGE_SIZE, /queue_size 40000/],
      [{ ...good, mmapSize: 100n }, PAGE_SIZE, /mmap_size 100 is smaller than 2 split queue regions of 64 entries \(2176 bytes\)/],
      [{ ...good, mmapSize: BigInt(INFLIGHT_WINDOW.size) + 1n }, PAGE_SIZE, /larger than the back-end's .*inflight window/],
      [{ ...good, mmapOffset: 12n }, 2 * PAGE_SIZE, /mmap_offset 0xc is not page-aligned/],
      [{ ...good, mmapOffset: BigInt(PAGE_SIZE) }, PAGE_SIZE, /reaches past the end of its 4096-byte file/],
    ];
    for (const [d, size, why] of cases) {
      const fd = memfd(size);
      await tryWith(d, [fd], why);
      close(fd);
    }
    // No fd, two fds, an eventfd.
    await tryWith(good, [], /0 file descriptors, expected 1/);
    const a = memfd(PAGE_SIZE);
    const b = memfd(PAGE_SIZE);
    await tryWith(good, [a, b], /2 file descriptors, expected 1/);
    close(a);
    close(b);
    const ev = EventFd.create();
    await tryWith(good, [ev.fd], /fd is a eventfd, not a memfd or a file/);
    ev.close();
    // While a ring runs.
    pair = new GuestPair(g, 0, NUM, 2048, 'split');
    await startRings(fe, g, pair, [0, 0]);
    const fd = memfd(PAGE_SIZE);
    await tryWith(good, [fd], /rings are running/);
    close(fd);
    expect(fdCount()).toBe(before + 8); // the rings' kick and call eventfds: the test's four and the back-end's copies
    expect(await fe.getU64(R.GET_QUEUE_NUM)).toBe(2n); // alive
  });

  it('SET_INFLIGHT_FD without PROTOCOL_F_INFLIGHT_SHMFD negotiated is refused', async () => {
    fe = await connect(r, g, 'split', PROTOCOL);
    const fd = memfdCreate('inflight', PAGE_SIZE);
    expect(await fe.acked(R.SET_INFLIGHT_FD, inflightPayload({ mmapSize: BigInt(PAGE_SIZE), mmapOffset: 0n, numQueues: 2, queueSize: NUM }), [fd])).not.toBe(0n);
    close(fd);
    expect(r.log.join('\n')).toMatch(/PROTOCOL_F_INFLIGHT_SHMFD was not negotiated/);
  });

  it('GET_INFLIGHT_FD refused with an empty answer (mmap_size 0, no fd), the session going on: values, a payload of the wrong size, fds with it, running rings', async () => {
    fe = await connect(r, g, 'split');
    const empty = (m: Message): void => {
      expect(m.request).toBe(R.GET_INFLIGHT_FD);
      expect(m.fds).toEqual([]);
      expect(m.payload.length).toBe(24);
      expect(new DataView(m.payload.buffer, m.payload.byteOffset).getBigUint64(0, true)).toBe(0n);
    };
    const get = (d: { numQueues: number; queueSize: number }): Promise<Message> =>
      fe!.call(R.GET_INFLIGHT_FD, inflightPayload({ mmapSize: 0n, mmapOffset: 0n, ...d }));
    empty(await get({ numQueues: 0, queueSize: NUM }));
    empty(await get({ numQueues: 2, queueSize: 0 }));
    empty(await get({ numQueues: 9, queueSize: NUM }));
    empty(await fe.call(R.GET_INFLIGHT_FD, new Uint8Array(20)));
    const ev = EventFd.create();
    empty(await fe.call(R.GET_INFLIGHT_FD, inflightPayload({ mmapSize: 0n, mmapOffset: 0n, numQueues: 2, queueSize: NUM }), [ev.fd]));
    ev.close();
    pair = new GuestPair(g, 0, NUM, 2048, 'split');
    await startRings(fe, g, pair, [0, 0]);
    empty(await get({ numQueues: 2, queueSize: NUM }));
    expect(r.log.join('\n')).toMatch(/GET_INFLIGHT_FD: refused: rings are running/);
    expect(inflightMappings(r)).toEqual([]);
    expect(await fe.getU64(R.GET_QUEUE_NUM)).toBe(2n); // alive
  });

  it('GET_INFLIGHT_FD without PROTOCOL_F_INFLIGHT_SHMFD negotiated: an empty answer', async () => {
    fe = await connect(r, g, 'split', PROTOCOL);
    const m = await fe.call(R.GET_INFLIGHT_FD, inflightPayload({ mmapSize: 0n, mmapOffset: 0n, numQueues: 2, queueSize: NUM }));
    expect([readInflight(m).mmapSize, m.fds]).toEqual([0n, []]);
    expect(r.log.join('\n')).toMatch(/GET_INFLIGHT_FD: refused: PROTOCOL_F_INFLIGHT_SHMFD was not negotiated/);
  });

  it('CVE-2020-10726 class (repeated GET_INFLIGHT_FD leaking fds and mappings): 1,000 GETs, each replaces the last; one fd and one mapping kept', async () => {
    fe = await connect(r, g, 'packed');
    const before = fdCount();
    for (let i = 0; i < 1000; i++) {
      const reply = await fe.call(R.GET_INFLIGHT_FD, inflightPayload({ mmapSize: 0n, mmapOffset: 0n, numQueues: 1 + (i % 2), queueSize: 256 }));
      expect(reply.fds).toHaveLength(1);
      close(reply.fds[0]);
      expect(inflightMappings(r)).toHaveLength(1);
    }
    expect(fdCount()).toBe(before + 1);
  });
});

describe('the back-end\'s state file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vq-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is created with mode 0600; a symlink, a file others may read or write, a directory are refused; a foreign file is laid out afresh', () => {
    const path = join(dir, 'a.inflight');
    const f = InflightStateFile.open(path, 2);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(f.record(0)).toEqual({ running: false, identity: undefined });
    expect(statSync(path).size).toBe(f.headerBytes + 2 * f.slotBytes);
    f.close();
    symlinkSync(path, join(dir, 'link'));
    expect(() => InflightStateFile.open(join(dir, 'link'), 2)).toThrow(/is a symbolic link \(never followed\)/);
    writeFileSync(join(dir, 'open'), 'x', { mode: 0o644 });
    chmodSync(join(dir, 'open'), 0o644);
    expect(() => InflightStateFile.open(join(dir, 'open'), 2)).toThrow(/has mode 0644: other users could read or write it/);
    mkdirSync(join(dir, 'd'), { mode: 0o700 });
    expect(() => InflightStateFile.open(join(dir, 'd'), 2)).toThrow(/d/);
    writeFileSync(join(dir, 'junk'), Buffer.alloc(100, 0xff), { mode: 0o600 });
    const j = InflightStateFile.open(join(dir, 'junk'), 2);
    expect(j.record(1)).toEqual({ running: false, identity: undefined });
    j.close();
  });

  describe('sessions', () => {
    let r: Rig;
    let g: Guest;
    let state: InflightStateFile;
    let fe: RawFrontEnd | undefined;
    let pairs: GuestPair[] = [];
    beforeEach(() => {
      state = InflightStateFile.open(join(dir, 'vu.inflight'), 2);
      r = rig({ inflight: { window: INFLIGHT_WINDOW, state } });
      g = guest();
    });
    afterEach(async () => {
      if (fe && !fe.ended) await endSession(r, fe);
      fe = undefined;
      for (const p of pairs) p.close();
      pairs = [];
      r.close();
      g.close();
      state.close();
      expect(mappings(r.memory)).toEqual([]);
    });

    /** Session 1 on `g`: packed rings from the start, 10 buffers popped, 4 used, then the session ends without GET_VRING_BASE. */
    async function crashedSession(): Promise<{ pair: GuestPair; ids: number[] }> {
      fe = await connect(r, g, 'packed', PROTOCOL);
      const pair = new GuestPair(g, 0, NUM, 2048, 'packed');
      pairs.push(pair);
      await startRings(fe, g, pair, [PACKED_BASE, PACKED_BASE]);
      pair.postRx(10);
      const ids = popPush(r, 10, 4);
      expect(inflightMappings(r)).toHaveLength(2);
      await endSession(r, fe);
      expect(state.record(0).running).toBe(true);
      return { pair, ids };
    }

    it('the same front-end, same rings: resumed at the committed position instead of the stale base, the buffers in flight popped again', async () => {
      const { pair, ids } = await crashedSession();
      fe = await connect(r, g, 'packed', PROTOCOL);
      await startRings(fe, g, pair, [PACKED_BASE, PACKED_BASE]);
      expect(deviceOf(r, 0).recovered).toEqual({
        inflight: 6, from: { nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1 }, to: { nextAvail: 10, availWrap: 1, nextUsed: 4, usedWrap: 1 },
      });
      expect(r.log.join('\n')).toMatch(/vring 0: resumed from the state file .*vu\.inflight: 6 chains in flight, position avail 0 \(wrap 1\), used 0 \(wrap 1\) -> avail 10 \(wrap 1\), used 4 \(wrap 1\)/);
      expect(popPush(r, NUM, 6)).toEqual(ids.slice(4));
      // The driver gets each of its ten buffers back once (four from the first session).
      const n = pair.rxq.driver.collect(pair.rxq.used);
      expect(Array.from({ length: n }, (_, i) => pair.rxq.used.id(i)).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('after GET_VRING_BASE (the front-end was told where the ring stopped) the next session starts where the front-end says', async () => {
      fe = await connect(r, g, 'packed', PROTOCOL);
      const pair = new GuestPair(g, 0, NUM, 2048, 'packed');
      pairs.push(pair);
      await startRings(fe, g, pair, [PACKED_BASE, PACKED_BASE]);
      pair.postRx(10);
      popPush(r, 10, 10);
      const base = await fe.call(R.GET_VRING_BASE, statePayload(0, 0));
      expect(new DataView(base.payload.buffer, base.payload.byteOffset).getUint32(4, true)).toBe(0x800a_800a);
      expect(state.record(0).running).toBe(false);
      await endSession(r, fe);
      fe = await connect(r, g, 'packed', PROTOCOL);
      await startRings(fe, g, pair, [0x800a_800a, PACKED_BASE]);
      expect(deviceOf(r, 0).recovered).toBeUndefined();
      expect(deviceOf(r, 0).position()).toEqual({ nextAvail: 10, availWrap: 1, nextUsed: 10, usedWrap: 1 });
    });

    it('SET_STATUS 0 alone keeps a ring resumable (QEMU tells the position with the GET_VRING_BASE that follows); RESET_DEVICE does not', async () => {
      fe = await connect(r, g, 'packed', PROTOCOL | (1n << BigInt(P.ProtocolFeature.RESET_DEVICE)));
      const pair = new GuestPair(g, 0, NUM, 2048, 'packed');
      pairs.push(pair);
      await startRings(fe, g, pair, [PACKED_BASE, PACKED_BASE]);
      pair.postRx(10);
      popPush(r, 10, 3);
      expect(await fe.acked(R.SET_STATUS, u64Payload(0n))).toBe(0n);
      expect([state.record(0).running, state.record(1).running]).toEqual([true, true]);
      expect(await fe.acked(R.RESET_DEVICE)).toBe(0n);
      expect([state.record(0).running, state.record(1).running]).toEqual([false, false]);
    });

    it('another front-end (another guest memory file) starts fresh: the record is not its ring', async () => {
      await crashedSession();
      const g2 = guest();
      try {
        fe = await connect(r, g2, 'packed', PROTOCOL);
        const pair = new GuestPair(g2, 0, NUM, 2048, 'packed');
        pairs.push(pair);
        await startRings(fe, g2, pair, [PACKED_BASE, PACKED_BASE]);
        expect(deviceOf(r, 0).recovered).toBeUndefined();
        expect(deviceOf(r, 0).position()).toEqual({ nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1 });
        await endSession(r, fe);
      } finally {
        g2.close();
      }
    });

    it('a region that cannot be resumed is formatted afresh at the front-end\'s position, with the reason logged', async () => {
      const { pair } = await crashedSession();
      // Scribble on vring 0's slot of the file: a used position out of range.
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(0xffff_ffffn);
      writeSync(state.fd, b, 0, 8, state.slotOffset(0) + I.IPACKED_USED_WORD);
      fe = await connect(r, g, 'packed', PROTOCOL);
      await startRings(fe, g, pair, [PACKED_BASE, PACKED_BASE]);
      expect(deviceOf(r, 0).recovered).toBeUndefined();
      expect(deviceOf(r, 0).position()).toEqual({ nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1 });
      expect(r.log.join('\n')).toMatch(/vring 0: the state file's region cannot be resumed: .*INFLIGHT_RANGE.*; starting at the front-end's position/);
      const region = readPackedRegion(new DataView(r.memory.buffer), inflightMappings(r)[0].offset, NUM);
      expect([region.version, region.usedIdx, region.oldUsedIdx]).toEqual([1, 0, 0]);
    });
  });
});


describe('virtqueue vhost --state', () => {
  it('defaults to PATH.inflight next to the socket; none turns it off; an empty name is refused; --help says so', async () => {
    const { parseVhost } = await import('../cli/vhost/args.js');
    const { VHOST_USAGE } = await import('../cli/vhost/usage.js');
    const { UsageError } = await import('../cli/common.js');
    const opts = (...a: string[]) => {
      const c = parseVhost(['--socket', '/run/vu.sock', ...a]);
      if (c.kind !== 'vhost') throw new Error('not a vhost command');
      return c.options;
    };
    expect(opts().state).toBe('/run/vu.sock.inflight');
    expect(opts('--state', '/var/lib/vq/state').state).toBe('/var/lib/vq/state');
    expect(opts('--state', 'none').state).toBeUndefined();
    expect(() => opts('--state', '')).toThrow(UsageError);
    expect(VHOST_USAGE).toMatch(/--state FILE\|none .*\n(.*\n)*.*never through a symlink/);
  });

  it('the command creates the file next to its socket with mode 0600, and refuses a symlink (exit status 1)', async () => {
    const { spawnSync } = await import('node:child_process');
    const { virtqueueBin } = await import('./helpers/testpmd.js');
    const dir = mkdtempSync(join(tmpdir(), 'vq-state-cli-'));
    try {
      const sock = join(dir, 'vu.sock');
      const ok = spawnSync(process.execPath, [virtqueueBin(), 'vhost', '--socket', sock, '--duration', '0.3', '--guest-mem', '16', '--json'], { encoding: 'utf8', timeout: 30_000 });
      expect(ok.status, ok.stderr).toBe(0);
      expect(statSync(`${sock}.inflight`).mode & 0o777).toBe(0o600);
      symlinkSync(`${sock}.inflight`, join(dir, 'link'));
      const bad = spawnSync(process.execPath, [virtqueueBin(), 'vhost', '--socket', sock, '--state', join(dir, 'link'), '--duration', '0.3'], { encoding: 'utf8', timeout: 30_000 });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/virtqueue: --state: state file .*link is a symbolic link \(never followed\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
