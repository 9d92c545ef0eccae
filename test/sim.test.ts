// The software NIC simulation: end-to-end runs in every mode and variant, plus the pieces the
// end-to-end counts rely on (the frame check, the scheduler, segment copies).
import { describe, expect, it } from 'vitest';
import { runSimulation, type SimResult } from '../sim/run.js';
import { SimOptionError, type SimOptions } from '../sim/options.js';
import { Receiver, orderChecksumOf } from '../sim/receiver.js';
import { NET_HDR_SIZE, stampPacket } from '../sim/frame.js';
import { CompletionScheduler } from '../sim/scheduler.js';
import { ChainStore, copyBetween, gatherFrom, scatterInto } from '../sim/sglist.js';
import { Prng } from '../sim/prng.js';
import { ChainBatch, MemoryPlan, createSharedMemory } from '../src/index.js';
import { loadEngine } from '../src/node.js';

const sim = (o: SimOptions): SimResult => runSimulation({ loadEngine, ...o });

/** Every frame accounted for: delivered intact exactly once, or dropped on purpose. */
function expectNothingLost(r: SimResult): void {
  expect(r.lost).toBe(0);
  expect(r.corrupt).toBe(0);
  expect(r.duplicate).toBe(0);
  expect(r.malformed).toBe(0);
  expect(r.delivered + r.dropped).toBe(r.packets);
}

const inOrder = (n: number): string => orderChecksumOf(Array.from({ length: n }, (_, i) => i)).toString(16).padStart(8, '0');

/** The result minus wall-clock fields. */
const counts = ({ seconds: _s, mpps: _m, ...rest }: SimResult) => rest;

describe('loopback', () => {
  it('delivers every frame, in order, with nothing lost', () => {
    const r = sim({ packets: 100_000, queueSize: 256, batch: 32, seed: 3 });
    expectNothingLost(r);
    expect(r.delivered).toBe(100_000);
    expect(r.dropped).toBe(0);
    expect(r.reordered).toBe(0);
    expect(r.orderChecksum).toBe(inOrder(100_000));
    expect(r.kicks).toBeGreaterThan(0);
    expect(r).toMatchObject({ ring: 'split', mode: 'loopback', queueSize: 256, batch: 32, seed: 3 });
  });

  it('still loses nothing with completion latency and out-of-order completion', () => {
    const r = sim({ packets: 60_000, latency: 7, outOfOrder: true, seed: 11 });
    expectNothingLost(r);
    expect(r.delivered).toBe(60_000);
    expect(r.reordered).toBeGreaterThan(0);
    expect(r.orderChecksum).not.toBe(inOrder(60_000));
  });

  it('keeps order with latency alone (no jitter, no shuffle)', () => {
    const r = sim({ packets: 20_000, latency: 5 });
    expectNothingLost(r);
    expect(r.reordered).toBe(0);
    expect(r.orderChecksum).toBe(inOrder(20_000));
  });

  it('counts intentional drops as dropped, not lost', () => {
    const r = sim({ packets: 50_000, drop: 0.1, seed: 5 });
    expectNothingLost(r);
    expect(r.dropped).toBeGreaterThan(0);
    expect(r.delivered).toBeGreaterThan(0);
    // Deterministic for this seed; a drop rate far from 10% would mean the coin is wrong.
    expect(r.dropped / r.packets).toBeGreaterThan(0.08);
    expect(r.dropped / r.packets).toBeLessThan(0.12);
  });

  it('copies across segment boundaries that differ between transmit and receive chains', () => {
    // 3-segment chains without indirect; a frame size that is not a multiple of 4.
    const r = sim({ packets: 20_000, segments: 3, frameSize: 61, queueSize: 16, batch: 5, latency: 2, outOfOrder: true });
    expectNothingLost(r);
    expect(r.delivered).toBe(20_000);
  });

  it('works with the smallest queue and a large one', () => {
    expectNothingLost(sim({ packets: 500, queueSize: 1, batch: 1 }));
    const big = sim({ packets: 100_000, queueSize: 32768, batch: 256, latency: 40, jitter: 20, outOfOrder: true, eventIdx: true });
    expectNothingLost(big);
    expect(big.delivered).toBe(100_000);
  });

  it('applies backpressure instead of dropping when receive buffers run short', () => {
    // A queue of 2 with 2-descriptor chains holds one packet per queue: every transmitted
    // frame has to wait for the single receive buffer to come back.
    const r = sim({ packets: 2_000, queueSize: 2, batch: 1, segments: 2, latency: 3 });
    expectNothingLost(r);
    expect(r.delivered).toBe(2_000);
  });
});

describe('generator and sink', () => {
  it('generator: the NIC produces every frame on receiveq1, in sequence', () => {
    // Out-of-order completion shuffles which buffers come back first, but frames are numbered
    // as they are written, so they still arrive in sequence.
    const r = sim({ mode: 'generator', packets: 50_000, latency: 3, outOfOrder: true });
    expectNothingLost(r);
    expect(r.delivered).toBe(50_000);
    expect(r.reordered).toBe(0);
    expect(r.orderChecksum).toBe(inOrder(50_000));
  });

  it('generator with drops and multi-segment receive buffers', () => {
    const r = sim({ mode: 'generator', packets: 30_000, drop: 0.25, segments: 4, frameSize: 1499 });
    expectNothingLost(r);
    expect(r.dropped).toBeGreaterThan(0);
  });

  it('sink: the NIC consumes and checks every transmitted frame', () => {
    const r = sim({ mode: 'sink', packets: 50_000 });
    expectNothingLost(r);
    expect(r.delivered).toBe(50_000);
    expect(r.orderChecksum).toBe(inOrder(50_000));
  });

  it('sink with drops, latency and multi-segment transmit chains', () => {
    const r = sim({ mode: 'sink', packets: 30_000, drop: 0.3, latency: 4, jitter: 3, segments: 3, frameSize: 1000 });
    expectNothingLost(r);
    expect(r.dropped).toBeGreaterThan(0);
    expect(r.delivered).toBeGreaterThan(0);
  });
});

describe('ring features', () => {
  it('event-idx', () => {
    const r = sim({ packets: 60_000, eventIdx: true, latency: 6 });
    expectNothingLost(r);
    expect(r.delivered).toBe(60_000);
    expect(r.eventIdx).toBe(true);
    expect(r.kicks).toBeGreaterThan(0);
    expect(r.interrupts).toBeGreaterThan(0);
  });

  it('indirect descriptors', () => {
    const r = sim({ packets: 60_000, indirect: true, latency: 2, outOfOrder: true });
    expectNothingLost(r);
    expect(r.delivered).toBe(60_000);
    expect(r.segments).toBe(2);
  });

  it('event-idx and indirect together, in every mode', () => {
    for (const mode of ['loopback', 'generator', 'sink'] as const) {
      const r = sim({ mode, packets: 20_000, eventIdx: true, indirect: true, segments: 3, latency: 1, drop: 0.05 });
      expectNothingLost(r);
      expect(r.dropped).toBeGreaterThan(0);
    }
  });
});

describe('determinism', () => {
  const opts: SimOptions = { packets: 30_000, latency: 3, outOfOrder: true, drop: 0.05, eventIdx: true };

  it('the same seed gives the same counts and the same delivery order', () => {
    const a = sim({ ...opts, seed: 42 });
    const b = sim({ ...opts, seed: 42 });
    expect(counts(b)).toEqual(counts(a));
  });

  it('a different seed gives a different delivery order', () => {
    const a = sim({ ...opts, seed: 42 });
    const b = sim({ ...opts, seed: 43 });
    expectNothingLost(a);
    expectNothingLost(b);
    expect(b.orderChecksum).not.toBe(a.orderChecksum);
  });
});

describe('options', () => {
  it.each<[SimOptions, string]>([
    [{ queueSize: 300 }, 'queueSize'],
    [{ queueSize: 65536 }, 'queueSize'],
    [{ packets: 0 }, 'packets'],
    [{ batch: 0 }, 'batch'],
    [{ batch: 512, queueSize: 256 }, 'batch'],
    [{ drop: 1 }, 'drop'],
    [{ drop: -0.1 }, 'drop'],
    [{ frameSize: 4 }, 'frameSize'],
    [{ segments: 5 }, 'segments'],
    [{ segments: 2, queueSize: 1, batch: 1 }, 'segments'],
  ])('rejects %o', (o, option) => {
    expect(() => sim({ packets: 10, ...o })).toThrow(SimOptionError);
    try { sim({ packets: 10, ...o }); } catch (e) { expect((e as SimOptionError).option).toBe(option); }
  });

  it.each([
    [{ inOrder: true, outOfOrder: true }, 'inOrder'],
    [{ inOrder: true, jitter: 3 }, 'inOrder'],
    [{ ring: 'packed' as const, queueSize: 40000 }, 'queueSize'],
    [{ ring: 'split' as const, queueSize: 100 }, 'queueSize'],
  ])('rejects %o', (o, option) => {
    try { sim({ packets: 10, ...o }); expect.unreachable(); } catch (e) { expect((e as SimOptionError).option).toBe(option); }
  });
});

describe('frame check (Receiver)', () => {
  const memory = createSharedMemory(1 << 20);
  const u8 = new Uint8Array(memory.buffer);
  const u32 = new Uint32Array(memory.buffer);
  const at = 4096;
  const frameSize = 66;
  const len = NET_HDR_SIZE + frameSize;
  const key = 0x1234567;

  it('counts an intact frame once, then as a duplicate', () => {
    const r = new Receiver(u8, u32, 10, frameSize, key);
    stampPacket(u8, u32, at, frameSize, 7, key);
    r.receive(at, len);
    r.receive(at, len);
    expect([r.delivered, r.duplicate, r.corrupt]).toEqual([1, 1, 0]);
    expect(r.orderChecksum).toBe(orderChecksumOf([7]));
  });

  it.each([
    ['a flipped payload byte', () => { u8[at + NET_HDR_SIZE + 30] ^= 1; }, len],
    ['a flipped last (partial-word) byte', () => { u8[at + len - 1] ^= 0x80; }, len],
    ['a non-zero virtio_net_hdr', () => { u8[at + 5] = 1; }, len],
    ['a short length', () => {}, len - 1],
    ['a sequence number out of range', () => { u32[(at + NET_HDR_SIZE) >>> 2] = 10; }, len],
  ])('counts %s as corrupt', (_name, damage, gotLen) => {
    const r = new Receiver(u8, u32, 10, frameSize, key);
    stampPacket(u8, u32, at, frameSize, 3, key);
    damage();
    r.receive(at, gotLen);
    expect([r.delivered, r.corrupt]).toEqual([0, 1]);
  });

  it('rejects a frame stamped with another run key', () => {
    const r = new Receiver(u8, u32, 10, frameSize, key);
    stampPacket(u8, u32, at, frameSize, 3, key ^ 1);
    r.receive(at, len);
    expect(r.corrupt).toBe(1);
  });

  it('counts deliveries that overtake earlier ones', () => {
    const r = new Receiver(u8, u32, 10, frameSize, key);
    for (const s of [0, 2, 1, 3]) { stampPacket(u8, u32, at, frameSize, s, key); r.receive(at, len); }
    expect(r.delivered).toBe(4);
    expect(r.reordered).toBe(1);
    expect(r.orderChecksum).toBe(orderChecksumOf([0, 2, 1, 3]));
  });
});

describe('completion scheduler', () => {
  const drain = (s: CompletionScheduler, ticks: number): number[][] => {
    const out = new Uint32Array(64);
    const byTick: number[][] = [];
    for (let t = 0; t < ticks; t++) { const n = s.release(out); byTick.push(Array.from(out.subarray(0, n))); s.tick(); }
    return byTick;
  };

  it('releases each token exactly `latency` ticks later, in order', () => {
    const s = new CompletionScheduler({ capacity: 64, latency: 3, jitter: 0, outOfOrder: false, dropProbability: 0, seed: 1 });
    for (let i = 0; i < 5; i++) s.schedule(i);
    s.tick();
    s.schedule(9);
    const byTick = [[], ...drain(s, 5)];
    expect(byTick[3]).toEqual([0, 1, 2, 3, 4]);
    expect(byTick[4]).toEqual([9]);
    expect(byTick.flat()).toHaveLength(6);
    expect(s.pending).toBe(0);
  });

  it('shuffles tokens due in the same tick, releasing each exactly once', () => {
    const s = new CompletionScheduler({ capacity: 64, latency: 0, jitter: 0, outOfOrder: true, dropProbability: 0, seed: 9 });
    for (let i = 0; i < 40; i++) s.schedule(i);
    const [first] = drain(s, 1);
    expect([...first].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(first).not.toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('spreads completions over latency .. latency + jitter', () => {
    const s = new CompletionScheduler({ capacity: 64, latency: 2, jitter: 3, outOfOrder: false, dropProbability: 0, seed: 4 });
    for (let i = 0; i < 60; i++) s.schedule(i);
    const byTick = drain(s, 8);
    expect(byTick.slice(0, 2).flat()).toEqual([]);
    expect(byTick.slice(6).flat()).toEqual([]);
    expect(byTick.slice(2, 6).filter((t) => t.length > 0).length).toBeGreaterThan(1);
    expect(byTick.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i));
  });

  it('drops with the configured probability and never at 0', () => {
    const never = new CompletionScheduler({ capacity: 1, latency: 0, jitter: 0, outOfOrder: false, dropProbability: 0, seed: 1 });
    const half = new CompletionScheduler({ capacity: 1, latency: 0, jitter: 0, outOfOrder: false, dropProbability: 0.5, seed: 1 });
    let a = 0, b = 0;
    for (let i = 0; i < 10_000; i++) { if (never.drop()) a++; if (half.drop()) b++; }
    expect(a).toBe(0);
    expect(b).toBeGreaterThan(4_500);
    expect(b).toBeLessThan(5_500);
  });
});

describe('segment copies', () => {
  it('copyBetween moves bytes between chains cut at different places', () => {
    const memory = createSharedMemory(1 << 20);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory);
    const batch = new ChainBatch(engine, plan, 2, 16);
    const src = 8192, dst = 16384, len = 100;
    const rnd = new Prng(1);
    for (let i = 0; i < len; i++) engine.u8[src + i] = rnd.next() & 0xff;
    // Source cut 12 + 50 + 38; destination cut 7 + 60 + 40 (more room than needed).
    batch.clear();
    batch.begin(0); batch.read(src, 12); batch.read(src + 12, 50); batch.read(src + 62, 38); batch.end();
    batch.begin(1); batch.write(dst, 7); batch.write(dst + 7, 60); batch.write(dst + 67, 40); batch.end();
    const a = new ChainStore(engine, plan, 4, 4), b = new ChainStore(engine, plan, 4, 4);
    expect(a.hold(batch, 0)).toBe(true);
    expect(b.hold(batch, 1)).toBe(true);
    expect(a.bytes[0]).toBe(100);
    expect(b.bytes[1]).toBe(107);
    copyBetween(a, 0, b, 1, len);
    expect(engine.u8.slice(dst, dst + len)).toEqual(engine.u8.slice(src, src + len));
    expect(engine.u8[dst + len]).toBe(0);
  });

  it('ChainStore refuses chains with more segments than it holds', () => {
    const memory = createSharedMemory(1 << 20);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory);
    const batch = new ChainBatch(engine, plan, 1, 8);
    batch.begin(0);
    for (let i = 0; i < 3; i++) batch.read(8192 + i * 16, 16);
    batch.end();
    expect(new ChainStore(engine, plan, 1, 2).hold(batch, 0)).toBe(false);
    expect(new ChainStore(engine, plan, 1, 3).hold(batch, 0)).toBe(true);
  });

  it('ChainStore keeps a held chain as SEG records at addr + head * maxSegs * 8, with its bytes and segments', () => {
    const memory = createSharedMemory(1 << 20);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory);
    const batch = new ChainBatch(engine, plan, 2, 8);
    batch.begin(3); batch.write(8192, 17); batch.write(9000, 1); batch.write(10000, 100); batch.end();
    // A store over an area planned elsewhere (as the pipeline's shared chain table is).
    const area = plan.alloc(ChainStore.bytes(4, 4), 64, 'test chain table');
    const store = new ChainStore(engine, plan, 4, 4, area);
    expect(store.hold(batch, 0)).toBe(true);
    expect(store.addr).toBe(area);
    expect(store.segs(3)).toBe(area + 3 * 4 * 8);
    expect([...engine.u32.subarray(store.segs(3) >>> 2, (store.segs(3) >>> 2) + 6)]).toEqual([8192, 17, 9000, 1, 10000, 100]);
    expect(store.bytes[3]).toBe(118);
    expect(store.nSegs[3]).toBe(3);
    expect(store.bytes.byteOffset).toBe(area + 4 * 4 * 8);
    expect(store.nSegs.byteOffset).toBe(area + 4 * 4 * 8 + 4 * 4);
    expect(store.nSegs.byteOffset + store.nSegs.byteLength).toBe(area + ChainStore.bytes(4, 4));
    expect(store.isFlatAligned(3)).toBe(false);
    expect(store.firstOffset(3)).toBe(8192);
  });

  it('the engine\'s sgCopy moves frames cut 17 + 1 + 100 into 50 + 50 + 50 byte for byte, and no further', () => {
    const memory = createSharedMemory(1 << 20);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory);
    const u8 = engine.u8;
    const batch = new ChainBatch(engine, plan, 2, 8);
    // Source segments scattered over memory; destination segments with a canary gap between
    // them and after the last one.
    const srcAt = [8192, 9001, 10003], srcLen = [17, 1, 100];
    const dstAt = [16384, 16384 + 64, 16384 + 128], dstLen = [50, 50, 50];
    const canary = 0xa5;
    u8.fill(canary, 16384 - 64, 16384 + 256);
    const rnd = new Prng(7);
    const frame = Uint8Array.from({ length: 118 }, () => rnd.next() & 0xff);
    let k = 0;
    for (let j = 0; j < 3; j++) for (let i = 0; i < srcLen[j]; i++) u8[srcAt[j] + i] = frame[k++];
    batch.begin(5); for (let j = 0; j < 3; j++) batch.read(srcAt[j], srcLen[j]); batch.end();
    batch.begin(2); for (let j = 0; j < 3; j++) batch.write(dstAt[j], dstLen[j]); batch.end();
    const tx = new ChainStore(engine, plan, 8, 4), rx = new ChainStore(engine, plan, 8, 4);
    expect(tx.hold(batch, 0)).toBe(true);
    expect(rx.hold(batch, 1)).toBe(true);
    expect(rx.bytes[2]).toBe(150);

    /** The bytes of chain 2's destination segments, in order, and whether every byte outside them is still the canary. */
    const received = (): Uint8Array => Uint8Array.from(dstAt.flatMap((at, j) => [...u8.subarray(at, at + dstLen[j])]));
    const outsideIntact = (): boolean => {
      for (let a = 16384 - 64; a < 16384 + 256; a++) {
        if (!dstAt.some((at, j) => a >= at && a < at + dstLen[j]) && u8[a] !== canary) return false;
      }
      return true;
    };

    copyBetween(tx, 5, rx, 2, 118);
    expect(received().subarray(0, 118)).toEqual(frame);
    expect(received().subarray(118).every((b) => b === canary)).toBe(true); // the rest of the last segment
    expect(outsideIntact()).toBe(true);

    // Gather into contiguous memory, and scatter from it, through the one-segment scratch list.
    const flat = 32768;
    u8.fill(canary, flat, flat + 200);
    gatherFrom(tx, 5, flat, 118);
    expect(u8.subarray(flat, flat + 118)).toEqual(frame);
    expect(u8[flat + 118]).toBe(canary);
    u8.fill(canary, 16384 - 64, 16384 + 256);
    scatterInto(flat, rx, 2, 118);
    expect(received().subarray(0, 118)).toEqual(frame);
    expect(outsideIntact()).toBe(true);

    // More than the destination holds: the engine copies what fits, never past the last
    // segment, and the caller hears of it.
    u8.fill(canary, 16384 - 64, 16384 + 256);
    for (let i = 0; i < 200; i++) u8[flat + i] = i;
    expect(() => scatterInto(flat, rx, 2, 200)).toThrow(/150 of 200/);
    expect(received()).toEqual(u8.subarray(flat, flat + 150));
    expect(outsideIntact()).toBe(true);
  });
});

describe('packed ring and in-order', () => {
  it.each([
    [{ ring: 'packed' as const }],
    [{ ring: 'packed' as const, inOrder: true }],
    [{ ring: 'packed' as const, eventIdx: true, indirect: true }],
    [{ ring: 'packed' as const, queueSize: 100, batch: 7, latency: 3, outOfOrder: true, eventIdx: true }],
    [{ ring: 'packed' as const, queueSize: 3, batch: 2, inOrder: true, eventIdx: true, indirect: true }],
    [{ ring: 'packed' as const, mode: 'generator' as const, inOrder: true }],
    [{ ring: 'packed' as const, mode: 'sink' as const, drop: 0.05, seed: 9 }],
    [{ ring: 'split' as const, inOrder: true, latency: 4 }],
  ] as [SimOptions][])('%o delivers every frame', (o) => {
    const r = sim({ packets: 50_000, ...o });
    expectNothingLost(r);
    expect(r).toMatchObject({ ring: o.ring, inOrder: o.inOrder ?? false });
  });

  it('a packed run is deterministic and matches the split run frame for frame', () => {
    const packed = sim({ ring: 'packed', packets: 20_000, latency: 2, outOfOrder: true, drop: 0.01, seed: 5 });
    expect(counts(sim({ ring: 'packed', packets: 20_000, latency: 2, outOfOrder: true, drop: 0.01, seed: 5 }))).toEqual(counts(packed));
    const split = sim({ ring: 'split', packets: 20_000, latency: 2, outOfOrder: true, drop: 0.01, seed: 5 });
    expect(packed.dropped).toBe(split.dropped);
    expect(packed.delivered).toBe(split.delivered);
  });
});
