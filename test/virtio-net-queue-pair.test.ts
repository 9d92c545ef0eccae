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
