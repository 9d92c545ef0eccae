// The visualizer's snapshot reader (src/viz/) against the engine's own state, step by step through
// a scripted sequence (add, pop, push out of order, collect) over several laps of split and packed
// rings; it never writes to the memory; and garbage in the rings or control blocks (what a torn
// read of a running ring can look like) gives anomalies, never an exception or an unbounded walk.
// Every snapshot is also drawn the way the page draws a live frame: from a ring image
// (src/viz/ring-image.ts) sent through the live stream's encoding, and the two must be equal.
import { describe, expect, it } from 'vitest';
import { createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, RING_FEATURES, Mempool } from '../src/index.js';
import { loadEngine } from '../src/node.js';
import { allocRing, createDevice, createDriver, type RingLayout } from '../src/virtqueue/factory.js';
import type { DeviceQueue, DriverQueue, RingAreas } from '../src/virtqueue/queue-side.js';
import type { PackedDriver, PackedDevice } from '../src/virtqueue/packed.js';
import type { SplitDriver, SplitDevice } from '../src/virtqueue/split.js';
import { snapshotQueue, takeSnapshot, type QueueSnapshot, type QueueSource } from '../src/viz/snapshot.js';
import { captureImage } from '../src/viz/ring-image.js';
import { decodeFrame, encodeFrame } from '../src/viz/stream.js';
import type { Engine } from '../src/engine.js';
import * as Q from '../assembly/layout/queue.js';
import { Prng } from '../sim/prng.js';

const QSIZE = 8;

/** `source`'s snapshot as a live viewer draws it: its ring image through the stream's encoding. */
function drawnFromImage(engine: Engine, source: QueueSource): QueueSnapshot {
  const event = encodeFrame({ seq: 1, at: 0, source: 'sim', image: captureImage(engine, [source]), workers: [], counters: {} },
    (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64'));
  return decodeFrame(event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')).snapshot.queues[0];
}

/** The snapshot of the memory, checked equal to the one drawn from its image. */
function snapshotBoth(engine: Engine, source: QueueSource, opts?: { maxEntries: number }): QueueSnapshot {
  expect(drawnFromImage(engine, source), 'the snapshot drawn from the ring image').toEqual(snapshotQueue(engine, source));
  return snapshotQueue(engine, source, opts);
}

function rig(layout: RingLayout, features = RING_FEATURES.VERSION_1) {
  const memory = createSharedMemory(2 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const areas: RingAreas = allocRing(plan, { layout, queueSize: QSIZE });
  const driver = createDriver(engine, plan, layout, areas, { features });
  const device = createDevice(engine, plan, layout, areas, { features });
  const buf = plan.alloc(64 * 1024, 64, 'buffers');
  const add = new ChainBatch(engine, plan, QSIZE);
  const popped = new ChainBatch(engine, plan, QSIZE);
  const used = new UsedBatch(engine, plan, QSIZE);
  const collected = new UsedBatch(engine, plan, QSIZE);
  const source: QueueSource = { name: 'q0', layout, areas, driverCb: driver.cb, deviceCb: device.cb };
  const snap = (): QueueSnapshot => {
    const before = engine.u8.slice();
    const s = snapshotBoth(engine, source);
    expect(Buffer.compare(before, engine.u8), 'the snapshot wrote to the memory').toBe(0);
    return JSON.parse(JSON.stringify(s)) as QueueSnapshot;
  };
  return { memory, engine, plan, areas, driver, device, buf, add, popped, used, collected, source, snap, features };
}

type Stage = 'available' | 'device' | 'used';

/** What the script knows: each token's stage and descriptor count. */
class Script {
  stage = new Map<number, Stage>();
  segs = new Map<number, number>();
  /** Device id (split head / packed buffer id) of each popped token. */
  idOf = new Map<number, number>();
  next = 1;
}

function check(r: ReturnType<typeof rig>, s: QueueSnapshot, sc: Script): void {
  const driver = r.driver;
  const device = r.device;
  expect(s.anomalies).toEqual([]);
  expect(s.driver?.status).toBe(0);
  expect(s.device?.status).toBe(0);
  expect(s.features).toBe(`0x${r.features.toString(16)}`);
  expect(s.descriptors).toHaveLength(QSIZE);
  // Counters against the engine's own.
  const d = s.driver as { numFree: number; inFlight: number };
  expect(d.numFree).toBe(driver.numFree);
  expect(d.inFlight).toBe(driver.inFlight);
  expect((s.device as { inFlight: number }).inFlight).toBe(device.inFlight);
  const want = { available: 0, device: 0, used: 0 };
  for (const st of sc.stage.values()) want[st]++;
  expect(s.counters).toEqual({ ...want, inFlight: 0, free: driver.numFree });
  // Owners: the free ones are exactly the driver's free count; every descriptor of a chain in
  // flight is owned by its stage (head) or marked a chain member.
  const owners = (o: string): number => s.descriptors.filter((e) => e.owner === o).length;
  expect(owners('free')).toBe(driver.numFree);
  expect(owners('device')).toBe(want.available + want.device);
  expect(owners('driver')).toBe(want.used);
  let inFlightDescs = 0;
  for (const [tok, st] of sc.stage) inFlightDescs += sc.segs.get(tok)!;
  expect(owners('chain') + want.available + want.device + want.used).toBe(s.layout === 'split' ? inFlightDescs : QSIZE - driver.numFree);
  for (const ch of s.chains) {
    const heads = s.descriptors.filter((e) => e.chain === ch.head && e.owner !== 'chain');
    if (s.layout === 'split' || ch.slot !== null) expect(heads).toHaveLength(1);
  }
  // Chains the device holds or used are the ids it popped, on their stage; the device's have the script's descriptor counts.
  for (const [tok, st] of sc.stage) {
    if (st === 'available') continue;
    const ch = s.chains.find((c) => c.head === sc.idOf.get(tok));
    expect(ch?.stage, `token ${tok} (id ${sc.idOf.get(tok)})`).toBe(st);
    if (st === 'device') expect(ch?.descriptors).toBe(sc.segs.get(tok));
  }
  if (s.layout === 'split') {
    const sd = driver as SplitDriver;
    const sv = device as SplitDevice;
    expect(s.split!.avail.idx).toBe(sd.availIdx & 0xffff);
    expect(s.split!.used.idx).toBe(sv.usedIdx & 0xffff);
    expect((s.device as { lastAvail: number }).lastAvail).toBe(sv.lastAvailIdx & 0xffff);
    expect((s.driver as { lastUsed: number }).lastUsed).toBe(sd.lastUsedIdx & 0xffff);
    expect(s.split!.avail.flags).toBe(s.driver!.notify ? 0 : 1); // VIRTQ_AVAIL_F_NO_INTERRUPT while polling
    expect(s.split!.used.flags).toBe(s.device!.notify ? 0 : 1);
    expect(s.packed).toBeNull();
  } else {
    const pd = driver as PackedDriver;
    const pv = device as PackedDevice;
    expect(s.driver).toMatchObject({ nextAvail: pd.nextAvail, availWrap: pd.availWrapCounter, nextUsed: pd.nextUsed, usedWrap: pd.usedWrapCounter });
    const pos = pv.position();
    expect(s.device).toMatchObject({ nextAvail: pos.nextAvail, availWrap: pos.availWrap, nextUsed: pos.nextUsed, usedWrap: pos.usedWrap });
    // Both sides poll (no notifications asked for), and the event structures say so.
    expect(s.driver!.notify).toBe(false);
    expect(s.packed!.driverEvent.mode).toBe('disable');
    expect(s.packed!.deviceEvent.mode).toBe('disable');
    expect(s.split).toBeNull();
  }
}

/**
 * The driver adds one chain per entry of `segs`, each a new token: 2 segments are readable +
 * writable (16 bytes each); 1 is writable (32 bytes) for a token divisible by 3, else readable.
 */
function addChains(r: ReturnType<typeof rig>, sc: Script, segs: number[]): void {
  r.add.clear();
  for (const n of segs) {
    const tok = sc.next++;
    r.add.begin(tok);
    if (n === 2) { r.add.read(r.buf + tok * 64, 16); r.add.write(r.buf + tok * 64 + 16, 16); }
    else if (tok % 3 === 0) r.add.write(r.buf + tok * 64, 32);
    else r.add.read(r.buf + tok * 64, 32);
    r.add.end();
    sc.stage.set(tok, 'available');
    sc.segs.set(tok, n);
  }
  expect(r.driver.add(r.add)).toBe(segs.length);
}

function runScript(layout: RingLayout): number {
  const r = rig(layout);
  const sc = new Script();
  let checks = 0;
  const step = (): void => { check(r, r.snap(), sc); checks++; };
  step();
  for (let lap = 0; lap < 6; lap++) {
    // Three chains of 1, 2 and 1 segments (addChains says which are readable or writable).
    addChains(r, sc, [1, 2, 1]);
    step();
    // The device takes two.
    r.popped.clear();
    expect(r.device.pop(r.popped, 2)).toBe(2);
    const waiting = [...sc.stage].filter(([, st]) => st === 'available').map(([t]) => t);
    for (let i = 0; i < 2; i++) { sc.stage.set(waiting[i], 'device'); sc.idOf.set(waiting[i], r.popped.id(i)); }
    step();
    // It uses the second first (out of order).
    r.used.clear();
    r.used.push(r.popped.id(1), 0);
    expect(r.device.push(r.used)).toBe(1);
    sc.stage.set(waiting[1], 'used');
    step();
    // The driver collects it.
    r.collected.clear();
    expect(r.driver.collect(r.collected)).toBe(1);
    expect(r.collected.id(0)).toBe(waiting[1]);
    sc.stage.delete(waiting[1]);
    step();
    // The device takes the rest, uses everything; the driver collects.
    r.popped.clear();
    const n = r.device.pop(r.popped);
    const rest = [...sc.stage].filter(([, st]) => st === 'available').map(([t]) => t);
    expect(n).toBe(rest.length);
    rest.forEach((t, i) => { sc.stage.set(t, 'device'); sc.idOf.set(t, r.popped.id(i)); });
    step();
    r.used.clear();
    for (const [t, st] of sc.stage) if (st === 'device') { r.used.push(sc.idOf.get(t)!, 0); sc.stage.set(t, 'used'); }
    r.device.push(r.used);
    step();
    r.collected.clear();
    r.driver.collect(r.collected);
    sc.stage.clear();
    step();
  }
  return checks;
}

/**
 * VIRTIO_F_IN_ORDER: the device uses buffers in pop order, and a run used completely takes one
 * used element (split, 2.7.9) or one used descriptor (packed, 2.8.8) for its last buffer; the
 * used ring's other entries past the driver keep what earlier laps left there.
 */
function runInOrder(layout: RingLayout): number {
  const r = rig(layout, RING_FEATURES.VERSION_1 | RING_FEATURES.IN_ORDER);
  const sc = new Script();
  let checks = 0;
  const step = (): void => { check(r, r.snap(), sc); checks++; };
  /** Bytes the device may write in a token's chain (a push of that many uses it completely). */
  const room = (tok: number): number => (sc.segs.get(tok) === 2 ? 16 : tok % 3 === 0 ? 32 : 0);
  const add = (n: number): void => addChains(r, sc, Array.from({ length: n }, (_, i) => ((sc.next + i) % 2 === 0 ? 2 : 1)));
  const tokens = (st: Stage): number[] => [...sc.stage].filter(([, x]) => x === st).map(([t]) => t);
  const pop = (n: number): void => {
    r.popped.clear();
    expect(r.device.pop(r.popped, n)).toBe(n);
    tokens('available').slice(0, n).forEach((t, i) => { sc.stage.set(t, 'device'); sc.idOf.set(t, r.popped.id(i)); });
  };
  /** Pushes the `n` oldest the device holds, used completely (coalesced) or, with `short`, the last one with less. */
  const push = (n: number, short = false): void => {
    r.used.clear();
    const ts = tokens('device').slice(0, n);
    ts.forEach((t, i) => r.used.push(sc.idOf.get(t)!, short && i === n - 1 && room(t) > 0 ? room(t) - 1 : room(t)));
    expect(r.device.push(r.used)).toBe(n);
    for (const t of ts) sc.stage.set(t, 'used');
  };
  const collect = (): void => {
    r.collected.clear();
    const want = tokens('used');
    expect(r.driver.collect(r.collected)).toBe(want.length);
    for (const t of want) sc.stage.delete(t);
  };
  step();
  for (let lap = 0; lap < 6; lap++) {
    add(3); step();
    pop(3); step();
    push(3); step(); // one used element / descriptor for the three
    collect(); step();
    add(3); pop(2); step();
    push(1, true); step();
    push(1); step();
    pop(1); push(1); step();
    add(2); pop(2); push(2, true); step();
    collect(); step();
  }
  return checks;
}

describe('viz snapshot against the engine', () => {
  for (const layout of ['split', 'packed'] as const) {
    it(`${layout}: every step of six laps matches the engine's state`, () => {
      expect(runScript(layout)).toBe(1 + 6 * 7);
    });
    it(`${layout} with IN_ORDER: runs used as one used entry, over stale used entries, match the engine's state`, () => {
      expect(runInOrder(layout)).toBe(1 + 6 * 10);
    });
  }

  it('a back-end view (device block only) places what the device knows', () => {
    for (const layout of ['split', 'packed'] as const) {
      const r = rig(layout);
      r.add.clear();
      r.add.single(1, r.buf, 64, false);
      r.add.single(2, r.buf + 64, 64, true);
      r.driver.add(r.add);
      r.popped.clear();
      r.device.pop(r.popped, 1);
      const s = snapshotBoth(r.engine, { ...r.source, driverCb: 0 });
      expect(s.driver).toBeNull();
      expect(s.counters).toEqual({ available: 1, device: 1, used: 0, inFlight: 0, free: null });
      expect(s.descriptors.filter((e) => e.owner === 'device')).toHaveLength(2);
      expect(s.descriptors.filter((e) => e.owner === 'driver')).toHaveLength(QSIZE - 2);
    }
  });

  it('64-bit addresses in hex, and an indirect chain counted as one descriptor', () => {
    for (const layout of ['split', 'packed'] as const) {
      const r = rig(layout);
      r.engine.view.setBigUint64(r.areas.desc + 16, 0x1_0000_2000n, true);
      r.engine.view.setBigUint64(r.areas.desc + 32, 0xffff_ffff_ffff_fff0n, true);
      const s = snapshotQueue(r.engine, r.source);
      expect(s.descriptors.slice(0, 3).map((d) => d.addr)).toEqual(['0x0', '0x100002000', '0xfffffffffffffff0']);
    }
    for (const layout of ['split', 'packed'] as const) {
      const memory = createSharedMemory(2 << 20);
      const engine = loadEngine(memory);
      const plan = new MemoryPlan(memory);
      const features = RING_FEATURES.VERSION_1 | RING_FEATURES.INDIRECT_DESC;
      const areas = allocRing(plan, { layout, queueSize: QSIZE });
      const driver = createDriver(engine, plan, layout, areas, { features, indirectMax: 4 });
      const add = new ChainBatch(engine, plan, 2, 8);
      const buf = plan.alloc(4096, 64, 'buffers');
      add.begin(1); add.read(buf, 16); add.read(buf + 16, 16); add.write(buf + 32, 64); add.end();
      driver.add(add);
      const s = snapshotBoth(engine, { name: 'q', layout, areas, driverCb: driver.cb });
      expect(s.chains).toEqual([expect.objectContaining({ stage: 'inFlight', indirect: true, descriptors: 1 })]);
      expect(s.descriptors.filter((d) => d.owner === 'free')).toHaveLength(QSIZE - 1);
    }
  });

  it('a broken queue shows its error and spec section', () => {
    const r = rig('split');
    r.add.clear();
    r.add.single(1, r.buf, 64, true);
    r.driver.add(r.add);
    r.popped.clear();
    r.device.pop(r.popped);
    r.used.clear();
    r.used.push(r.popped.id(0), 1000); // more than the chain's writable 64 bytes
    expect(() => r.device.push(r.used)).not.toThrow();
    r.collected.clear();
    expect(() => r.driver.collect(r.collected)).toThrow(/USED_LEN_TOO_LARGE/);
    const s = snapshotBoth(r.engine, r.source);
    expect(s.driver).toMatchObject({ error: 'USED_LEN_TOO_LARGE', section: '2.7.8.2' });
    expect(s.driver!.status).toBeLessThan(0);
  });

  it('mempool occupancy and a whole snapshot survive JSON', () => {
    const r = rig('packed');
    const pool = Mempool.create(r.engine, r.plan, { size: 64, dataRoom: 128, cacheSize: 4 });
    const s = takeSnapshot(r.engine, [r.source], [{ name: 'pool', addr: pool.addr }, { name: 'nothing', addr: 64 }]);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    expect(s.pools[0]).toMatchObject({ size: 64, free: 64, inUse: 0, error: null });
    expect(s.pools[1].error).toMatch(/no mempool header/);
  });

  it('maxEntries lists the first entries and counts the rest', () => {
    for (const layout of ['split', 'packed'] as const) {
      const r = rig(layout);
      const s = snapshotBoth(r.engine, r.source, { maxEntries: 3 });
      expect(s.descriptors.map((d) => d.index)).toEqual([0, 1, 2]);
      expect(s.truncated).toBe(QSIZE - 3);
      if (layout === 'split') {
        expect(s.split!.avail.ring).toHaveLength(3);
        expect(s.split!.used.ring).toHaveLength(3);
      }
    }
  });
});

describe('viz snapshot over garbage (torn reads)', () => {
  for (const layout of ['split', 'packed'] as const) {
    it.each([['', 0n], [' with IN_ORDER', RING_FEATURES.IN_ORDER]] as const)(`${layout}%s: random ring bytes and control block fields give bounded snapshots and anomalies, no exception`, (_, inOrder) => {
      const r = rig(layout, RING_FEATURES.VERSION_1 | RING_FEATURES.INDIRECT_DESC | inOrder);
      const rng = new Prng(7);
      const ringBytes = layout === 'split' ? r.areas.device + 6 + 8 * QSIZE - r.areas.desc : QSIZE * 16;
      let anomalies = 0;
      for (let i = 0; i < 300; i++) {
        for (let b = 0; b < ringBytes; b++) if (rng.below(10) < 3) r.engine.u8[r.areas.desc + b] = rng.below(256);
        const fields = layout === 'split'
          ? [[r.driver.cb, Q.SDRV_LAST_USED], [r.driver.cb, Q.SDRV_NUM_FREE], [r.driver.cb, Q.SDRV_IN_FLIGHT], [r.driver.cb, Q.SDRV_OLDEST], [r.device.cb, Q.SDEV_LAST_AVAIL]]
          : [[r.driver.cb, Q.PDRV_NEXT_AVAIL], [r.driver.cb, Q.PDRV_NEXT_USED], [r.driver.cb, Q.PDRV_USED_WRAP], [r.driver.cb, Q.PDRV_IN_FLIGHT],
            [r.driver.cb, Q.PDRV_ORDER_HEAD], [r.device.cb, Q.PDEV_NEXT_AVAIL], [r.device.cb, Q.PDEV_NEXT_USED]];
        for (const [cb, f] of fields) if (rng.below(2)) r.engine.u32[(cb + f) >>> 2] = rng.below(0x20000);
        r.engine.u32[(r.device.cb + Q.CB_QUEUE_SIZE) >>> 2] = rng.below(4) ? QSIZE : 3;
        const s = snapshotBoth(r.engine, r.source);
        expect(s.descriptors).toHaveLength(QSIZE);
        expect(s.chains.length).toBeLessThanOrEqual(QSIZE);
        for (const c of s.chains) expect(c.descriptors ?? 0).toBeLessThanOrEqual(QSIZE);
        anomalies += s.anomalies.length;
      }
      expect(anomalies).toBeGreaterThan(0);
    });
  }

  it('a loop in a split chain is cut at the Queue Size and named', () => {
    const r = rig('split');
    r.add.clear();
    r.add.begin(1); r.add.read(r.buf, 8); r.add.read(r.buf + 8, 8); r.add.end();
    r.driver.add(r.add);
    const head = r.engine.u16[(r.areas.driver + 4) >>> 1];
    const second = r.engine.u16[(r.areas.desc + head * 16 + 14) >>> 1];
    r.engine.u16[(r.areas.desc + second * 16 + 12) >>> 1] = 1; // NEXT
    r.engine.u16[(r.areas.desc + second * 16 + 14) >>> 1] = head; // back to the head
    const s = snapshotBoth(r.engine, r.source);
    expect(s.anomalies.join('\n')).toMatch(/already part of chain/);
    expect(s.chains[0].descriptors).toBe(2);
  });

  it('areas outside the memory and a foreign control block are reported', () => {
    const r = rig('split');
    const s = snapshotBoth(r.engine, { ...r.source, areas: { ...r.areas, desc: 1 << 30 } });
    expect(s.anomalies[0]).toMatch(/not inside the memory/);
    const t = snapshotBoth(r.engine, { ...r.source, driverCb: r.device.cb });
    expect(t.driver).toBeNull();
    expect(t.anomalies[0]).toMatch(/split driver control block .* is not this ring's/);
  });
});
