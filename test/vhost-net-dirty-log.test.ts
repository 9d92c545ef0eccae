// Dirty-page logging for live migration (vhost-user.rst "Migration") through the real virtio-net
// device on its worker: the front-end maps a log (SET_LOG_BASE), turns VHOST_F_LOG_ALL on and
// gives each ring its log address (VHOST_VRING_F_LOG), as QEMU does when a migration starts;
// frames forwarded then mark exactly the pages the device wrote (receive buffers up to their
// used length, used rings; packed: used descriptors and the device event area), nothing past
// the declared log size, and nothing once logging is turned off again.
import { readSync, writeSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FEATURES, createSharedMemory, MemoryPlan, allocRing, createDriver, createDevice, ChainBatch, UsedBatch, type RingLayout,
} from '../src/index.js';
import { loadEngine } from '../src/node.js';
import { NetQueuePair } from '../src/virtio-net/queue-pair.js';
import { memfdCreate, close, mappings, eventfdCreate, eventfdRead, PAGE_SIZE } from '../src/native/index.js';
import * as P from '../src/vhost-user/protocol.js';
import { u64Payload, addrPayload, statePayload } from '../src/vhost-user/message.js';
import { logBytesFor, LOG_ALL } from '../src/vhost-user/dirty-log.js';
import * as S from '../assembly/layout/split.js';
import * as PK from '../assembly/layout/packed.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { removeSocketDir, LOG_WINDOW, MiB } from './helpers/vhost-user-rig.js';
import { netWorld, type NetWorld } from './helpers/vhost-net-rig.js';
import { testFrame, HDR, type GuestPair } from './helpers/vhost-net-frontend.js';
import { PROTOCOL, F_PROTOCOL } from './helpers/vhost-user-setup.js';

checkFdLeaks();
afterAll(removeSocketDir);

const R = P.Request;
const LOG_SHMFD = 1n << BigInt(P.ProtocolFeature.LOG_SHMFD);
const NUM = 64;
const FRAMES = 24;
const FRAME_LEN = 1000;
/** The log file: two pages, of which the front-end declares only what covers guest memory. */
const LOG_FILE = 2 * PAGE_SIZE;

const logPayload = (size: number, offset = 0): Uint8Array => {
  const p = new Uint8Array(16);
  const v = new DataView(p.buffer);
  v.setBigUint64(0, BigInt(size), true);
  v.setBigUint64(8, BigInt(offset), true);
  return p;
};

function readLog(fd: number): Uint8Array {
  const b = new Uint8Array(LOG_FILE);
  expect(readSync(fd, b, 0, LOG_FILE, 0)).toBe(LOG_FILE);
  return b;
}

/** Pages whose bits are set in the first `size` bytes of `log`, and whether any bit past them is. */
function loggedPages(log: Uint8Array, size: number): { pages: Set<number>; past: number } {
  const pages = new Set<number>();
  for (let i = 0; i < size; i++) for (let b = 0; b < 8; b++) if (log[i] & (1 << b)) pages.add(i * 8 + b);
  return { pages, past: log.subarray(size).reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) };
}

const pagesOf = (gpa: number, len: number): number[] => {
  const out: number[] = [];
  for (let p = Math.floor(gpa / PAGE_SIZE); p <= Math.floor((gpa + len - 1) / PAGE_SIZE); p++) out.push(p);
  return out;
};

/** The pages the device writes for `frames` frames of `len` bytes received in buffers 0.. of pair `p`. */
function expectedPages(p: GuestPair, layout: RingLayout, frames: number, len: number): Set<number> {
  const want = new Set<number>();
  for (let i = 0; i < frames; i++) pagesOf(p.rxq.buf(i), HDR + len).forEach((x) => want.add(x));
  for (const q of [p.rxq, p.txq]) {
    if (layout === 'split') pagesOf(q.ring.device, S.USED_RING + NUM * S.USED_ELEM_SIZE + S.USED_TRAILER).forEach((x) => want.add(x));
    else {
      pagesOf(q.ring.desc, NUM * PK.PDESC_SIZE).forEach((x) => want.add(x));
      pagesOf(q.ring.device, 4).forEach((x) => want.add(x));
    }
  }
  return want;
}

/** Turns logging on as QEMU does when a migration starts: log base, LOG_ALL, each ring's log address. */
async function startLogging(w: NetWorld, layout: RingLayout, fd: number, size: number): Promise<void> {
  const reply = await w.fe.call(R.SET_LOG_BASE, logPayload(size), [fd]);
  expect(reply.request).toBe(R.SET_LOG_BASE);
  expect(reply.payload.length).toBe(0);
  await setFeatures(w, layout, LOG_ALL);
  await setLogAddresses(w, P.VRING_F_LOG);
}

async function setFeatures(w: NetWorld, layout: RingLayout, extra: bigint): Promise<void> {
  const f = FEATURES.VERSION_1 | F_PROTOCOL | (layout === 'packed' ? FEATURES.RING_PACKED : 0n) | extra;
  expect(await w.fe.acked(R.SET_FEATURES, u64Payload(f))).toBe(0n);
}

async function setLogAddresses(w: NetWorld, flags: number): Promise<void> {
  const p = w.pairs[0];
  for (const [index, q] of [[0, p.rxq], [1, p.txq]] as const) {
    expect(await w.fe.acked(R.SET_VRING_ADDR, addrPayload({
      index, flags, desc: w.g.uaddr(q.ring.desc), avail: w.g.uaddr(q.ring.driver), used: w.g.uaddr(q.ring.device),
      log: flags ? BigInt(q.ring.device) : 0n,
    }))).toBe(0n);
  }
}

async function traffic(p: GuestPair, seed: number): Promise<void> {
  p.postRx(FRAMES);
  p.send(Array.from({ length: FRAMES }, (_, i) => testFrame(FRAME_LEN, seed + i)));
  const got = await p.receive(FRAMES);
  await p.transmitted(FRAMES);
  got.forEach((r, i) => expect(r.frame).toEqual(testFrame(FRAME_LEN, seed + i)));
}

describe.each(['split', 'packed'] as const)('dirty-page logging, %s rings, virtio-net io', (layout) => {
  it('marks exactly the pages the device wrote, nothing past the declared size, nothing once logging is off', async () => {
    const w = await netWorld({ layout, num: NUM, guestSize: 4 * MiB, dirtyLog: { window: LOG_WINDOW }, protocol: PROTOCOL | LOG_SHMFD });
    const fd = memfdCreate('dirty-log', LOG_FILE);
    try {
      const size = Number(logBytesFor(BigInt(w.g.gpa + w.g.size - 1)));
      expect(size).toBeLessThan(LOG_FILE);
      await startLogging(w, layout, fd, size);
      expect(w.r.log.join('\n')).toMatch(new RegExp(`SET_LOG_BASE: a ${size}-byte log mapped`));
      const p = w.pairs[0];
      await traffic(p, 1);
      const { pages, past } = loggedPages(readLog(fd), size);
      expect(past).toBe(0);
      expect([...pages].sort((a, b) => a - b)).toEqual([...expectedPages(p, layout, FRAMES, FRAME_LEN)].sort((a, b) => a - b));

      // Migration over (or cancelled): LOG_ALL off, rings without log addresses. The log is cleared
      // and stays clear under traffic.
      await setFeatures(w, layout, 0n);
      await setLogAddresses(w, 0);
      writeSync(fd, new Uint8Array(LOG_FILE), 0, LOG_FILE, 0);
      p.received.length = 0;
      await traffic(p, 100);
      expect(readLog(fd).every((b) => b === 0)).toBe(true);
    } finally {
      close(fd);
      await w.close();
    }
    expect(mappings(w.r.memory)).toEqual([]);
  });
});

describe.each(['split', 'packed'] as const)('SET_LOG_FD (vhost-user.rst "Migration"), %s rings', (layout) => {
  it('its eventfd is signalled once per ring that stops while logging, not for rings stopped without logging', async () => {
    const w = await netWorld({ layout, num: NUM, guestSize: 4 * MiB, dirtyLog: { window: LOG_WINDOW }, protocol: PROTOCOL | LOG_SHMFD });
    const fd = memfdCreate('dirty-log', LOG_FILE);
    const ev = eventfdCreate();
    try {
      expect(await w.fe.acked(R.SET_LOG_FD, new Uint8Array(0), [ev])).toBe(0n);
      const size = Number(logBytesFor(BigInt(w.g.gpa + w.g.size - 1)));
      await startLogging(w, layout, fd, size);
      await traffic(w.pairs[0], 1);
      expect(eventfdRead(ev)).toBeNull(); // nothing yet: the rings run
      const base = async (index: number): Promise<void> => {
        const reply = await w.fe.call(R.GET_VRING_BASE, statePayload(index, 0));
        expect(reply.request).toBe(R.GET_VRING_BASE);
      };
      await base(0);
      expect(eventfdRead(ev)).toBe(1n);
      await base(1);
      expect(eventfdRead(ev)).toBe(1n);
      // Stopped again (nothing running, nothing logged since): no signal.
      await base(1);
      expect(eventfdRead(ev)).toBeNull();
    } finally {
      close(ev);
      close(fd);
      await w.close();
    }
  });
});

describe.each(['split', 'packed'] as const)('the engine bounds every bit by the declared log size (CVE-2019-14835 class), %s', (layout) => {
  // Receive buffers at guest addresses 0 to 64 KiB (pages 0-15) and a log of one byte (pages
  // 0-7): the device writes all 32 buffers, and marks only the 8 pages the log covers. The used
  // ring's log address is near 2^64, so its pages lie past the log (and must not wrap round to
  // page 0). Nothing after the declared byte changes.
  it('32 buffers over 16 pages, a 1-byte log: byte 0 is 0xff, the 63 bytes after it stay 0', () => {
    const memory = createSharedMemory(16 << 20);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory);
    const features = FEATURES.VERSION_1 | (layout === 'packed' ? FEATURES.RING_PACKED : 0n);
    const [txR, rxR] = [0, 1].map(() => allocRing(plan, { layout, queueSize: 64 }));
    const txD = createDriver(engine, plan, layout, txR, { features });
    const rxD = createDriver(engine, plan, layout, rxR, { features });
    const BUF = 2048;
    const rxArea = plan.alloc(32 * BUF, PAGE_SIZE, 'receive buffers');
    const bitmap = plan.alloc(64, 64, 'log');
    engine.u8.fill(0, bitmap, bitmap + 64);
    const pair = NetQueuePair.create(engine, plan, { hdrSize: HDR, mergeable: false, mode: 'io', burst: 32 });
    const tx = createDevice(engine, plan, layout, txR, { features });
    const rx = createDevice(engine, plan, layout, rxR, {
      features,
      regions: [{ gpa: 0n, size: BigInt(32 * BUF), offset: rxArea }],
      log: { bitmap, size: 1, usedGpa: (1n << 64n) - 4096n },
    });
    pair.attach(tx.cb, rx.cb);
    const tb = new ChainBatch(engine, plan, 32);
    const rb = new ChainBatch(engine, plan, 32);
    const txBufs = plan.alloc(32 * BUF, 64, 'transmit buffers');
    for (let i = 0; i < 32; i++) {
      engine.u8.set(testFrame(BUF - HDR, i), txBufs + i * BUF + HDR);
      tb.single(i, txBufs + i * BUF, BUF, false);
      rb.single(i, i * BUF, BUF, true); // guest addresses, translated through the region
    }
    expect(rxD.add(rb)).toBe(32);
    expect(txD.add(tb)).toBe(32);
    expect(pair.forward()).toBe(32);
    expect(rx.broken).toBe(false);
    const used = new UsedBatch(engine, plan, 64);
    expect(rxD.collect(used)).toBe(32);
    for (let i = 0; i < 32; i++) expect(used.len(i)).toBe(BUF);
    expect(engine.u8[bitmap]).toBe(0xff);
    expect([...engine.u8.subarray(bitmap + 1, bitmap + 64)]).toEqual(new Array(63).fill(0));
  });
});
