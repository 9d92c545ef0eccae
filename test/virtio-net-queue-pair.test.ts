// The engine's virtio-net data path (assembly/net, src/virtio-net/queue-pair.ts) between engine
// drivers and devices on both layouts: one copy per frame with the header written in place,
// MAC swap in the destination, MRG_RXBUF spanning, drops, receive buffers given back unused
// (so the device holds none between bursts), txonly injection, and interrupt decisions.
import { describe, it, expect } from 'vitest';
import {
  createSharedMemory, MemoryPlan, allocRing, createDriver, createDevice, ChainBatch, UsedBatch, FEATURES,
  type RingLayout, type DriverQueue, type DeviceQueue,
} from '../src/index.js';
import { loadEngine } from '../src/node.js';
import { NetQueuePair, type NetMode } from '../src/virtio-net/queue-pair.js';
import * as N from '../assembly/layout/net.js';

const HDR = 12;

function world(layout: RingLayout, mode: NetMode, opts: { mergeable?: boolean; queueSize?: number; burst?: number } = {}) {
  const memory = createSharedMemory(64 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const qs = opts.queueSize ?? 64;
  let features = FEATURES.VERSION_1 | FEATURES.EVENT_IDX;
  if (layout === 'packed') features |= FEATURES.RING_PACKED;
  const txRing = allocRing(plan, { layout, queueSize: qs });
  const rxRing = allocRing(plan, { layout, queueSize: qs });
  const txDrv: DriverQueue = createDriver(engine, plan, layout, txRing, { features, interrupts: true });
  const rxDrv: DriverQueue = createDriver(engine, plan, layout, rxRing, { features, interrupts: true });
  const txDev: DeviceQueue = createDevice(engine, plan, layout, txRing, { features });
  const rxDev: DeviceQueue = createDevice(engine, plan, layout, rxRing, { features });
  const pair = NetQueuePair.create(engine, plan, { hdrSize: HDR, mergeable: opts.mergeable ?? false, mode, burst: opts.burst ?? 32 });
  pair.attach(txDev.cb, rxDev.cb);
  const batch = new ChainBatch(engine, plan, qs, qs * 4);
  const used = new UsedBatch(engine, plan, qs);
  const u8 = engine.u8;
  /** Transmits frames (header + payload in one buffer, or split in `pieces` segments). */
  const send = (frames: Uint8Array[], pieces = 1): number[] => {
    batch.clear();
    const bufs: number[] = [];
    frames.forEach((f, i) => {
      const buf = plan.alloc(HDR + f.length + 64, 8);
      u8.fill(0xee, buf, buf + HDR);
      u8.set(f, buf + HDR);
      bufs.push(buf);
      batch.begin(1000 + i);
      const total = HDR + f.length;
      const cut = Math.ceil(total / pieces);
      for (let at = 0; at < total; at += cut) batch.read(buf + at, Math.min(cut, total - at));
      batch.end();
    });
    expect(txDrv.add(batch)).toBe(frames.length);
    return bufs;
  };
  /** Posts `n` receive buffers of `size` bytes (in `pieces` writable segments). */
  const post = (n: number, size: number, pieces = 1): Map<number, number> => {
    batch.clear();
    const where = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const buf = plan.alloc(size, 8);
      u8.fill(0x55, buf, buf + size);
      where.set(2000 + i, buf);
      batch.begin(2000 + i);
      const cut = Math.ceil(size / pieces);
      for (let at = 0; at < size; at += cut) batch.write(buf + at, Math.min(cut, size - at));
      batch.end();
    }
    expect(rxDrv.add(batch)).toBe(n);
    return where;
  };
  const collect = (d: DriverQueue): { id: number; len: number }[] => {
    const n = d.collect(used);
    return Array.from({ length: n }, (_, i) => ({ id: used.id(i), len: used.len(i) }));
  };
  return { engine, plan, pair, txDrv, rxDrv, txDev, rxDev, send, post, collect, u8 };
}

const frame = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe.each<RingLayout>(['split', 'packed'])('virtio-net queue pair, %s rings', (layout) => {
  it('io: each frame copied once into a receive buffer, header zero but num_buffers 1', () => {
    const w = world(layout, 'io');
    const rx = w.post(8, 2048);
    const frames = [frame(60, 1), frame(1514, 2), frame(64, 3)];
    w.send(frames, 3);
    expect(w.pair.forward()).toBe(3);
    expect(w.collect(w.txDrv).map((u) => u.len)).toEqual([0, 0, 0]);
    const got = w.collect(w.rxDrv);
    expect(got.map((u) => u.len)).toEqual(frames.map((f) => HDR + f.length));
    got.forEach((u, i) => {
      const buf = rx.get(u.id)!;
      const hdr = w.u8.subarray(buf, buf + HDR);
      expect(Array.from(hdr)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
      expect(w.u8.subarray(buf + HDR, buf + HDR + frames[i].length)).toEqual(frames[i]);
    });
    const c = w.pair.counters();
    expect(c).toMatchObject({ rxPackets: 3, txPackets: 3, rxBytes: 60 + 1514 + 64, txBytes: 60 + 1514 + 64, dropped: 0 });
    // Five receive buffers were not needed: the device gave them back, it holds nothing.
    expect(w.rxDev.inFlight).toBe(0);
    expect(w.txDev.inFlight).toBe(0);
  });

  it('macswap swaps the MACs in the copy, never in the front-end\'s transmit buffer', () => {
    const w = world(layout, 'macswap');
    const rx = w.post(4, 256, 3);
    const f = frame(64, 9);
    const tx = w.send([f], 4); // header and MACs cut across segments on both sides
    expect(w.pair.forward()).toBe(1);
    const [u] = w.collect(w.rxDrv);
    const out = w.u8.slice(rx.get(u.id)! + HDR, rx.get(u.id)! + HDR + 64);
    expect(Array.from(out.subarray(0, 6))).toEqual(Array.from(f.subarray(6, 12)));
    expect(Array.from(out.subarray(6, 12))).toEqual(Array.from(f.subarray(0, 6)));
    expect(out.subarray(12)).toEqual(f.subarray(12));
    expect(w.u8.subarray(tx[0] + HDR, tx[0] + HDR + 64)).toEqual(f);
  });

  it('without MRG_RXBUF a frame bigger than the buffer is dropped and the buffer kept for the next', () => {
    const w = world(layout, 'io');
    w.post(1, 200);
    w.send([frame(500, 1), frame(100, 2)]);
    expect(w.pair.forward()).toBe(2);
    const got = w.collect(w.rxDrv);
    expect(got.map((u) => u.len)).toEqual([HDR + 100]);
    expect(w.pair.counters()).toMatchObject({ dropped: 1, txPackets: 1, rxPackets: 2 });
  });

  it('with MRG_RXBUF a frame spans buffers and num_buffers says how many', () => {
    const w = world(layout, 'io', { mergeable: true });
    const rx = w.post(6, 512);
    const f = frame(1400, 4);
    w.send([f]);
    expect(w.pair.forward()).toBe(1);
    const got = w.collect(w.rxDrv);
    expect(got.map((u) => u.len)).toEqual([512, 512, HDR + 1400 - 1024]);
    const first = rx.get(got[0].id)!;
    expect(w.u8[first + 10] | (w.u8[first + 11] << 8)).toBe(3);
    const joined = new Uint8Array(HDR + 1400);
    let at = 0;
    for (const u of got) { joined.set(w.u8.subarray(rx.get(u.id)!, rx.get(u.id)! + u.len), at); at += u.len; }
    expect(joined.subarray(HDR)).toEqual(f);
    expect(w.rxDev.inFlight).toBe(0);
  });

  it('no receive buffers: frames are dropped, transmit chains still come back', () => {
    const w = world(layout, 'macswap');
    w.send([frame(64, 1), frame(64, 2)]);
    expect(w.pair.forward()).toBe(2);
    expect(w.collect(w.txDrv)).toHaveLength(2);
    expect(w.pair.counters()).toMatchObject({ dropped: 2, txPackets: 0, rxPackets: 2 });
  });

  it('rxonly counts and returns without touching a receive buffer', () => {
    const w = world(layout, 'rxonly');
    w.post(4, 256);
    w.send([frame(64, 1), frame(64, 2), frame(64, 3)]);
    expect(w.pair.forward()).toBe(3);
    expect(w.collect(w.rxDrv)).toHaveLength(0);
    expect(w.pair.counters()).toMatchObject({ rxPackets: 3, rxBytes: 192, txPackets: 0, dropped: 0 });
  });

  it('inject (txonly) fills receive buffers in one call, as far as they go, and gives back none', () => {
    const w = world(layout, 'txonly');
    const rx = w.post(20, 128);
    const src = w.plan.alloc(64, 8);
    const f = frame(64, 5);
    w.u8.set(f, src);
    expect(w.pair.inject(src, 64, 32)).toBe(20);
    const got = w.collect(w.rxDrv);
    expect(got).toHaveLength(20);
    for (const u of got) expect(w.u8.subarray(rx.get(u.id)! + HDR, rx.get(u.id)! + HDR + 64)).toEqual(f);
    expect(w.pair.inject(src, 64, 32)).toBe(0);
    expect(w.pair.counters()).toMatchObject({ txPackets: 20, txBytes: 20 * 64, dropped: 0 });
  });

  it('receive buffers not taken are read again by the next burst, in order', () => {
    const w = world(layout, 'io', { queueSize: 16 });
    w.post(16, 256);
    for (let round = 0; round < 10; round++) {
      w.send([frame(64, round)]);
      expect(w.pair.forward()).toBe(1);
      const got = w.collect(w.rxDrv);
      expect(got).toHaveLength(1);
      expect(w.collect(w.txDrv)).toHaveLength(1);
      expect(w.rxDev.inFlight).toBe(0);
      // Put the buffer back so the ring stays full.
      w.post(1, 256);
    }
    expect(w.pair.counters().txPackets).toBe(10);
  });

  it('interrupts: the events say which queue wants one, and the counters count them', () => {
    const w = world(layout, 'io');
    w.post(4, 256);
    w.send([frame(64, 1)]);
    w.pair.forward();
    expect(w.pair.events & (N.NETQ_EV_CALL_TX | N.NETQ_EV_CALL_RX)).toBe(N.NETQ_EV_CALL_TX | N.NETQ_EV_CALL_RX);
    expect(w.pair.counters()).toMatchObject({ txCalls: 1, rxCalls: 1 });
  });
});

describe('virtio-net queue pair: configuration', () => {
  it('refuses a header size other than 10 or 12', () => {
    const memory = createSharedMemory(16 << 20);
    const engine = loadEngine(memory);
    expect(() => NetQueuePair.create(engine, new MemoryPlan(memory), { hdrSize: 8, mergeable: false, mode: 'io' })).toThrow(/12 or 10 bytes/);
  });
});

// Behind an IOTLB (CB_OPT_IOTLB: vhost-user with ACCESS_PLATFORM): the devices' region tables are
// keyed by IOVA and lack a page until the front-end's UPDATE. A receive buffer that misses leaves
// the frame in its transmit chain (given back untaken), a transmit buffer that misses is not
// taken; neither queue breaks, nothing is dropped, and once the table has the page the same
// burst goes through.
describe.each(['split', 'packed'] as const)('%s: IOTLB misses in the data path', (layout) => {
  it('a receive buffer or a transmit buffer without a translation: the frame waits, untaken, nothing dropped or broken; with it, it goes through', () => {
    const memory = createSharedMemory(16 << 20);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory);
    const IOVA = 0x1_0000_0000n;
    const PAGE = 4096;
    let features = FEATURES.VERSION_1 | FEATURES.ACCESS_PLATFORM;
    if (layout === 'packed') features |= FEATURES.RING_PACKED;
    const txRing = allocRing(plan, { layout, queueSize: 16, align: PAGE });
    const rxRing = allocRing(plan, { layout, queueSize: 16, align: PAGE });
    const ringsEnd = Math.ceil(plan.alloc(1, 1) / PAGE) * PAGE;
    // Descriptors carry IOVA = Wasm offset + IOVA.
    const txDrv = createDriver(engine, plan, layout, txRing, { features, addressBase: IOVA });
    const rxDrv = createDriver(engine, plan, layout, rxRing, { features, addressBase: IOVA });
    const txBuf = plan.alloc(PAGE, PAGE);
    const rxBuf = plan.alloc(PAGE, PAGE);
    const page = (offset: number, size = PAGE) => ({ gpa: IOVA + BigInt(offset), size: BigInt(size), offset });
    const ringsStart = Math.min(txRing.desc, rxRing.desc) & ~(PAGE - 1);
    // The rings' pages and the transmit buffer's; not the receive buffer's.
    const table = [page(ringsStart, ringsEnd - ringsStart), page(txBuf)];
    const txDev = createDevice(engine, plan, layout, txRing, { features, regions: table, iotlb: true });
    const rxDev = createDevice(engine, plan, layout, rxRing, { features, regions: table, iotlb: true });
    const pair = NetQueuePair.create(engine, plan, { hdrSize: HDR, mergeable: false, mode: 'macswap' });
    pair.attach(txDev.cb, rxDev.cb);
    const batch = new ChainBatch(engine, plan, 4, 8);
    /** Adds one chain of one buffer, device-readable or device-writable, with token `id`. */
    const addOne = (drv: typeof txDrv, id: number, buf: number, len: number, writable: boolean): number => {
      batch.clear();
      batch.begin(id);
      if (writable) batch.write(buf, len); else batch.read(buf, len);
      batch.end();
      return drv.add(batch);
    };
    const frame = Uint8Array.from({ length: 60 }, (_, i) => i);
    engine.u8.set(frame, txBuf + HDR);
    expect(addOne(txDrv, 7, txBuf, HDR + frame.length, false)).toBe(1);
    expect(addOne(rxDrv, 9, rxBuf, 2048, true)).toBe(1);

    expect(pair.forward()).toBe(0);
    expect(pair.events & N.NETQ_EV_MISS_RX).toBe(N.NETQ_EV_MISS_RX);
    expect(rxDev.missIova).toBe(IOVA + BigInt(rxBuf));
    expect([txDev.broken, rxDev.broken, txDev.inFlight, rxDev.inFlight]).toEqual([false, false, 0, 0]);
    expect(txDev.position().nextAvail).toBe(0); // the transmit chain was given back untaken
    expect(pair.counters()).toMatchObject({ rxPackets: 0, txPackets: 0, dropped: 0 });

    // The UPDATE: the tables get the receive buffer's page; the same frame goes through.
    txDev.setRegions([...table, page(rxBuf)]);
    rxDev.setRegions([...table, page(rxBuf)]);
    expect(pair.forward()).toBe(1);
    expect(pair.counters()).toMatchObject({ rxPackets: 1, txPackets: 1, dropped: 0 });
    const used = new UsedBatch(engine, plan, 4);
    expect(rxDrv.collect(used)).toBe(1);
    expect([used.id(0), used.len(0)]).toEqual([9, HDR + frame.length]);
    expect(engine.u8.slice(rxBuf + HDR + 12, rxBuf + HDR + 60)).toEqual(frame.slice(12));
    expect(txDrv.collect(used)).toBe(1);

    // A transmit buffer without a translation: not taken, NETQ_EV_MISS_TX, nothing broken.
    const far = plan.alloc(PAGE, PAGE);
    engine.u8.set(frame, far + HDR);
    expect(addOne(txDrv, 8, far, HDR + frame.length, false)).toBe(1);
    expect(pair.forward()).toBe(0);
    expect(pair.events).toBe(N.NETQ_EV_MISS_TX);
    expect(txDev.missIova).toBe(IOVA + BigInt(far));
    expect([txDev.broken, txDev.inFlight]).toEqual([false, 0]);
  });
});
