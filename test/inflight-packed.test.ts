// Inflight I/O tracking on the packed device (vhost-user.rst "Inflight I/O tracking", packed
// virtqueue): the region bytes after each pop, push and unpop follow the spec's rules (free
// list, head entries, descriptor copies, used_idx and its old copy), and a new device resuming
// from the region of one that "died" at each point of a push (before its flags were written,
// after, before any push) resumes at the committed used position and pops again, from their
// copies and in counter order, exactly the buffers the driver has not got back, whatever order
// the others were used in; the slots a dying push had begun to overwrite never look used to the
// driver. Lists of several descriptors, a queue size that is not a power of two, wrap counters
// flipping. Regions no driver and device could have left are refused.
import { describe, expect, it } from 'vitest';
import {
  createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, PackedDriver, PackedDevice, allocPackedRing,
  VirtqueueError, RING_FEATURES, type FeatureSet,
} from '../src/index.js';
import { loadEngine } from '../src/node.js';
import { inflightRegionSize } from '../src/virtqueue/inflight.js';
import { allocRing, createDevice } from '../src/virtqueue/factory.js';
import { RingSlots } from '../src/vhost-user/ring-slots.js';
import { MAX_VRING_NUM } from '../src/vhost-user/vring.js';
import * as P from '../assembly/layout/packed.js';
import * as I from '../assembly/layout/inflight.js';
import * as B from '../assembly/layout/batch.js';
import { readPackedRegion, packedEntry, packedFreeList, type PackedRegion } from './helpers/inflight-region.js';

const Q = 10;

/** The head entries in flight, oldest first. */
const headsByCounter = (r: PackedRegion): number[] =>
  r.desc.map((e, i) => [e, i] as const).filter(([e]) => e.inflight === 1).sort(([a], [b]) => Number(a.counter - b.counter)).map(([, i]) => i);

/** A packed ring of Q slots, a driver, and a region to track into. Token t has 1 + t % 3 descriptors. */
function world(features: FeatureSet = 0n) {
  const memory = createSharedMemory(4 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const ring = allocPackedRing(plan, Q);
  const region = plan.alloc(inflightRegionSize('packed', Q), 64, 'inflight region');
  const buffers = plan.alloc(64 * 512, 64);
  const driver = new PackedDriver(engine, plan, ring, { features });
  const add = new ChainBatch(engine, plan, Q, 3 * Q);
  const popped = new ChainBatch(engine, plan, Q, 3 * Q);
  const used = new UsedBatch(engine, plan, Q);
  const got = new UsedBatch(engine, plan, Q);
  const descsOf = (t: number): number => 1 + (t % 3);
  const device = (opts: { resume?: boolean; usedInPlace?: boolean; nextAvail?: number; availWrapCounter?: number } = {}): PackedDevice => new PackedDevice(engine, plan, ring, {
    features, inflight: { region, resume: opts.resume, usedInPlace: opts.usedInPlace }, nextAvail: opts.nextAvail ?? 0, availWrapCounter: opts.availWrapCounter ?? 1,
  });
  const r = (): PackedRegion => readPackedRegion(engine.view, region, Q);
  /** Offers tokens (a readable header then writable buffers); returns how many the ring took. */
  const offer = (tokens: number[]): number => {
    add.clear();
    for (const t of tokens) {
      const at = buffers + (t % 64) * 512;
      add.begin(t);
      add.read(at, 12);
      for (let k = 1; k < descsOf(t); k++) add.write(at + 64 * k, 64);
      add.end();
    }
    return driver.add(add);
  };
  /** Pops; returns [buffer id, write length] of each. */
  const pop = (d: PackedDevice, max = Q): [number, number][] => {
    const n = d.pop(popped, max);
    return Array.from({ length: n }, (_, i) => [popped.id(i), popped.writeLen(i)]);
  };
  const push = (d: PackedDevice, ids: [number, number][]): void => {
    used.clear();
    for (const [id, len] of ids) used.push(id, len);
    d.push(used);
  };
  const collect = (): number[] => {
    const n = driver.collect(got);
    return Array.from({ length: n }, (_, i) => got.id(i));
  };
  const ringBytes = (): Uint8Array => engine.u8.slice(ring.desc, ring.desc + Q * P.PDESC_SIZE);
  return { engine, ring, region, driver, device, offer, pop, push, collect, r, ringBytes, popped, descsOf };
}

describe('packed inflight region: the spec\'s rules at each step', () => {
  it('reset formats it: version 1, desc_num, every entry free (next = i + 1), used_idx at the start with its wrap counter', () => {
    const w = world();
    w.engine.u8.fill(0x5a, w.region, w.region + inflightRegionSize('packed', Q));
    w.device({ nextAvail: 3, availWrapCounter: 0 });
    const r = w.r();
    expect([r.version, r.descNum, r.freeHead, r.oldFreeHead]).toEqual([1, Q, 0, 0]);
    expect([r.usedIdx, r.oldUsedIdx, r.usedWrap, r.oldUsedWrap]).toEqual([3, 3, 0, 0]);
    expect(r.desc.map((e) => e.next)).toEqual(Array.from({ length: Q }, (_, i) => i + 1));
    expect(r.desc.every((e) => e.inflight === 0)).toBe(true);
  });

  it('pop: each list takes entries from the free list (head: num, last, counter, inflight), with a copy of every descriptor', () => {
    const w = world();
    const d = w.device();
    expect(w.offer([0, 1, 2])).toBe(3); // 1, 2 and 3 descriptors: slots 0, 1-2, 3-5
    const before = w.ringBytes();
    const got = w.pop(d);
    expect(got.map(([id]) => id)).toHaveLength(3);
    const r = w.r();
    // Entries 0..5 in free-list order: head entries 0, 1 and 3.
    expect([r.freeHead, r.oldFreeHead]).toEqual([6, 6]);
    const heads = [0, 1, 3];
    heads.forEach((h, k) => {
      expect(r.desc[h].inflight).toBe(1);
      expect(r.desc[h].counter).toBe(BigInt(k));
      expect(r.desc[h].num).toBe(k + 1);
      expect(r.desc[h].last).toBe(h + k);
    });
    expect(r.desc.filter((e) => e.inflight === 1)).toHaveLength(3);
    // Entry j holds the descriptor of slot j, as popped.
    const v = new DataView(before.buffer);
    for (let j = 0; j < 6; j++) {
      const s = j * P.PDESC_SIZE;
      expect([r.desc[j].addr, r.desc[j].len, r.desc[j].id, r.desc[j].flags]).toEqual([
        v.getBigUint64(s + P.PDESC_ADDR, true), v.getUint32(s + P.PDESC_LEN, true), v.getUint16(s + P.PDESC_ID, true), v.getUint16(s + P.PDESC_FLAGS, true),
      ]);
    }
    // The last copy of each list carries the buffer id.
    heads.forEach((h, k) => expect(r.desc[r.desc[h].last].id).toBe(got[k][0]));
  });

  it('push: entries back on the free list (head first), used_idx and old_used_idx past the batch, nothing in flight', () => {
    const w = world();
    const d = w.device();
    w.offer([0, 1, 2]);
    const got = w.pop(d);
    w.push(d, [got[1], got[0]]); // out of order: the spec's free list does not care
    const r = w.r();
    // Steps 1-4 for got[1] (entries 1-2) then got[0] (entry 0): free_head = 0 -> 0's last (0) -> 1 -> 2 -> 6.
    expect(r.freeHead).toBe(0);
    expect(packedFreeList(r)).toEqual([0, 1, 2, 6, 7, 8, 9]);
    expect(r.oldFreeHead).toBe(r.freeHead);
    expect([r.usedIdx, r.oldUsedIdx, r.usedWrap, r.oldUsedWrap]).toEqual([3, 3, 1, 1]);
    expect([r.desc[0].inflight, r.desc[1].inflight, r.desc[3].inflight]).toEqual([0, 0, 1]);
  });

  it('unpop: the buffers given back leave no entry in flight and their entries are free again; the counter goes back', () => {
    const w = world();
    const d = w.device();
    w.offer([0, 1, 2]);
    const got = w.pop(d);
    w.engine.exports.packedDeviceUnpop(d.cb, w.popped.chainsPtr + 1 * B.CHAIN_SIZE, 2);
    let r = w.r();
    expect(r.desc.filter((e) => e.inflight === 1).map((e) => e.counter)).toEqual([0n]);
    expect(packedFreeList(r).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const again = w.pop(d);
    expect(again).toEqual(got.slice(1));
    r = w.r();
    expect(r.desc.filter((e) => e.inflight === 1).map((e) => e.counter).sort()).toEqual([0n, 1n, 2n]);
  });
});

describe('packed inflight region: a new device resumes where the old one died', () => {
  /** Runs the ring until every token offered came back to the driver, each exactly once. */
  function finish(w: ReturnType<typeof world>, d: PackedDevice, offered: number[], already: number[]): void {
    const back = [...already];
    for (let round = 0; round < 6; round++) {
      const ids = w.pop(d);
      if (ids.length > 0) w.push(d, ids);
      back.push(...w.collect());
    }
    expect([...back].sort((a, b) => a - b)).toEqual([...offered].sort((a, b) => a - b));
  }

  /** Runs `rounds` of offer / pop / push / collect so that the wrap counters flip. */
  function warm(w: ReturnType<typeof world>, d: PackedDevice, rounds: number): void {
    let t = 100;
    for (let i = 0; i < rounds; i++) {
      const toks = [t++, t++];
      w.offer(toks);
      w.push(d, w.pop(d));
      expect(w.collect().sort()).toEqual(toks);
    }
  }

  it('died with buffers popped and none pushed: the stale base the front-end resends is replaced by the committed position', () => {
    const w = world();
    const d1 = w.device();
    warm(w, d1, 4); // 17 descriptors: past the end of the ring once
    const at = d1.position();
    expect(at.usedWrap).toBe(0);
    expect(w.offer([0, 1, 2])).toBe(3);
    const got = w.pop(d1);
    const dead = d1.position();
    // QEMU resends the position of the session start: slot 0, wrap 1.
    const d2 = w.device({ resume: true, nextAvail: 0, availWrapCounter: 1 });
    // The ring is read again after the three (they come from their copies), used from where they were.
    expect(d2.recovered).toEqual({
      inflight: 3, from: { nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1 }, to: { nextAvail: dead.nextAvail, availWrap: dead.availWrap, nextUsed: at.nextUsed, usedWrap: 0 },
    });
    const again = w.pop(d2);
    expect(again).toEqual(got);
    w.push(d2, again);
    finish(w, d2, [0, 1, 2], []);
  });

  it('died after a whole push: resumes past it', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2, 3]);
    const got = w.pop(d1);
    const dead = d1.position();
    w.push(d1, got.slice(0, 2));
    const back = w.collect();
    expect(back).toEqual([0, 1]);
    const d2 = w.device({ resume: true });
    expect(d2.recovered?.inflight).toBe(2);
    expect(d2.recovered?.to).toEqual({ nextAvail: dead.nextAvail, availWrap: dead.availWrap, nextUsed: 3, usedWrap: 1 });
    const again = w.pop(d2);
    expect(again).toEqual(got.slice(2));
    w.push(d2, again);
    finish(w, d2, [0, 1, 2, 3], back);
  });

  for (const [name, features] of [['', 0n], [' (IN_ORDER: one used descriptor for the batch)', RING_FEATURES.IN_ORDER]] as const) {
    it(`died during a push before its flags were written: rolled back, the overwritten slots never look used${name}`, () => {
      const w = world(features);
      const d1 = w.device();
      warm(w, d1, 3);
      expect(w.offer([0, 1, 2, 3])).toBe(4);
      const got = w.pop(d1);
      const ringBefore = w.ringBytes();
      const regionBefore = w.r();
      const from = d1.position();
      const dead = d1.position();
      // The whole push, with the lengths written: then undo what had not happened yet when it died.
      w.push(d1, got.slice(0, 3).map(([id]) => [id, 7]));
      const after = d1.position();
      const v = w.engine.view;
      // Its first used descriptor's flags (the publish) never written: as they were.
      const first = w.ring.desc + from.nextUsed * P.PDESC_SIZE + P.PDESC_FLAGS;
      v.setUint16(first, new DataView(ringBefore.buffer).getUint16(from.nextUsed * P.PDESC_SIZE + P.PDESC_FLAGS, true), true);
      // Region: step 5 done (used_idx moved), steps 7 and 8 not (heads in flight, old_* behind).
      v.setBigUint64(w.region + I.IPACKED_USED_WORD,
        BigInt(after.nextUsed) | (BigInt(from.nextUsed) << 16n) | (BigInt(after.usedWrap) << 32n) | (BigInt(from.usedWrap) << 40n), true);
      for (const h of headsByCounter(regionBefore).slice(0, 3)) v.setUint8(packedEntry(w.region, h) + I.IPACKED_D_INFLIGHT, 1);
      v.setUint16(w.region + I.IPACKED_OLD_FREE_HEAD, regionBefore.oldFreeHead, true);
      expect(w.collect()).toEqual([]); // the driver saw nothing
      expect(w.ringBytes()).not.toEqual(ringBefore);

      const d2 = w.device({ resume: true });
      expect(d2.recovered?.inflight).toBe(4);
      expect(d2.recovered?.to).toEqual({ nextAvail: dead.nextAvail, availWrap: dead.availWrap, nextUsed: from.nextUsed, usedWrap: from.usedWrap });
      // Popped again with their original lengths.
      const again = w.pop(d2);
      expect(again).toEqual(got);
      // One at a time: after the first, the driver must not take a slot the dead push wrote for used.
      for (const one of again) {
        w.push(d2, [one]);
        expect(w.collect()).toEqual([got.findIndex(([id]) => id === one[0])]);
      }
      finish(w, d2, [0, 1, 2, 3], [0, 1, 2, 3]);
    });
  }

  it('died during a push after its flags were written: committed, those buffers are not popped again', () => {
    const w = world();
    const d1 = w.device();
    warm(w, d1, 4);
    w.offer([0, 1, 2, 3]);
    const got = w.pop(d1);
    const regionBefore = w.r();
    const from = d1.position();
    const dead = d1.position();
    w.push(d1, got.slice(0, 2));
    const after = d1.position();
    const v = w.engine.view;
    // Steps 7 and 8 not done: the two heads still in flight, old_* behind.
    for (const h of headsByCounter(regionBefore).slice(0, 2)) v.setUint8(packedEntry(w.region, h) + I.IPACKED_D_INFLIGHT, 1);
    v.setUint16(w.region + I.IPACKED_OLD_FREE_HEAD, regionBefore.oldFreeHead, true);
    v.setBigUint64(w.region + I.IPACKED_USED_WORD,
      BigInt(after.nextUsed) | (BigInt(from.nextUsed) << 16n) | (BigInt(after.usedWrap) << 32n) | (BigInt(from.usedWrap) << 40n), true);
    const back = w.collect();
    expect(back).toEqual([0, 1]);
    const d2 = w.device({ resume: true });
    expect(d2.recovered?.inflight).toBe(2);
    expect(d2.recovered?.to).toEqual({ nextAvail: dead.nextAvail, availWrap: dead.availWrap, nextUsed: after.nextUsed, usedWrap: after.usedWrap });
    const again = w.pop(d2);
    expect(again).toEqual(got.slice(2));
    w.push(d2, again);
    finish(w, d2, [0, 1, 2, 3], back);
  });

  it('buffers used out of pop order: the ones left are popped again first, from their copies, in pop order', () => {
    const w = world();
    const d1 = w.device();
    warm(w, d1, 3);
    w.offer([0, 1, 2, 3, 4]);
    const got = w.pop(d1);
    const dead = d1.position();
    w.push(d1, [got[3], got[1]]);
    const back = w.collect();
    expect(back.sort()).toEqual([1, 3]);
    w.offer([5, 6]);
    const d2 = w.device({ resume: true });
    expect(d2.recovered?.inflight).toBe(3);
    expect(d2.recovered?.to).toMatchObject({ nextAvail: dead.nextAvail, availWrap: dead.availWrap });
    const again = w.pop(d2);
    expect(again.slice(0, 3)).toEqual([got[0], got[2], got[4]]);
    expect(again).toHaveLength(5);
    w.push(d2, again);
    finish(w, d2, [0, 1, 2, 3, 4, 5, 6], [...back, ...w.collect()]);
  });

  it('a burst smaller than the list, unpop back onto it, and a second death before they are used', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1, 2, 3]);
    const got = w.pop(d1);
    w.push(d1, [got[1]]);
    const back = w.collect();
    const d2 = w.device({ resume: true });
    expect(w.pop(d2, 1)).toEqual([got[0]]);
    const more = w.pop(d2);
    expect(more).toEqual([got[2], got[3]]);
    w.engine.exports.packedDeviceUnpop(d2.cb, w.popped.chainsPtr + B.CHAIN_SIZE, 1);
    // d2 dies holding got[0] and got[2]; got[3] went back on its list. The next one takes all three again.
    const d3 = w.device({ resume: true });
    expect(d3.recovered?.inflight).toBe(3);
    const again = w.pop(d3);
    expect(again).toEqual([got[0], got[2], got[3]]);
    w.push(d3, [again[2], again[0], again[1]]);
    finish(w, d3, [0, 1, 2, 3], [...back, ...w.collect()]);
  });

  it('died in the middle of recording a pop: the half-recorded list is not in flight, and is popped again', () => {
    const w = world();
    const d1 = w.device();
    w.offer([0, 1]);
    const got = w.pop(d1);
    // The second list's head entry lost its inflight mark (it is stored last).
    const r = w.r();
    const second = r.desc.findIndex((e) => e.inflight === 1 && e.counter === 1n);
    w.engine.view.setUint8(packedEntry(w.region, second) + I.IPACKED_D_INFLIGHT, 0);
    const d2 = w.device({ resume: true });
    expect(d2.recovered?.inflight).toBe(1);
    expect(w.pop(d2)).toEqual(got);
  });
});

describe('packed: a front-end that used buffers in place while no back-end ran (InflightOptions.usedInPlace)', () => {
  /** Marks the buffer at `slot` used in place with wrap counter `wrap`, as QEMU 7.2's virtio-net drops a frame the guest transmits: its id kept, length 0. */
  function useInPlace(w: ReturnType<typeof world>, slot: number, wrap: number): void {
    const d = w.ring.desc + slot * P.PDESC_SIZE;
    w.engine.view.setUint32(d + P.PDESC_LEN, 0, true);
    w.engine.view.setUint16(d + P.PDESC_FLAGS, wrap ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0, true);
  }

  /**
   * The QEMU case: the device dies near the end of lap 0 with four single-descriptor buffers
   * available (slots 8 and 9 of lap 0, 0 and 1 of lap 1); QEMU, at its stale position (slot 0,
   * wrap 1), uses 0 and 1 in place; the driver takes them after the device's 8 and 9.
   */
  function crashWithUsedAhead(usedInPlace: boolean) {
    const w = world();
    const d1 = w.device();
    for (let i = 0; i < 9; i++) {
      const toks = [300 + 6 * i, 303 + 6 * i]; // multiples of 3: one descriptor each
      w.offer(toks);
      w.push(d1, w.pop(d1));
      expect(w.collect().sort((a, b) => a - b)).toEqual(toks);
    }
    expect(d1.position()).toEqual({ nextAvail: 8, availWrap: 0, nextUsed: 8, usedWrap: 0 });
    expect(w.offer([0, 3, 6, 9])).toBe(4);
    useInPlace(w, 0, 1);
    useInPlace(w, 1, 1);
    const d2 = w.device({ resume: true, usedInPlace });
    const first = w.pop(d2);
    // Slot 0 is met with slots 8 and 9 still in flight: nothing is stepped over yet.
    expect(first).toHaveLength(2);
    expect(d2.steppedOver).toBe(0);
    w.push(d2, first);
    expect(w.collect().sort((a, b) => a - b)).toEqual([0, 3, 6, 9]);
    return { w, d2 };
  }

  it('with it, the device steps over the slots used ahead of it once nothing is in flight, and traffic goes on; a device resuming later starts past them', () => {
    const { w, d2 } = crashWithUsedAhead(true);
    expect(w.pop(d2)).toEqual([]);
    expect(d2.steppedOver).toBe(2);
    expect(d2.position()).toEqual({ nextAvail: 2, availWrap: 1, nextUsed: 2, usedWrap: 1 });
    expect(d2.broken).toBe(false);
    expect(w.offer([12, 15])).toBe(2);
    const next = w.pop(d2);
    expect(next).toHaveLength(2);
    w.push(d2, next);
    expect(w.collect().sort((a, b) => a - b)).toEqual([12, 15]);
    // The region's committed used position moved with the steps.
    const d3 = w.device({ resume: true, usedInPlace: true });
    expect(d3.recovered).toMatchObject({ inflight: 0, to: { nextAvail: 4, availWrap: 1, nextUsed: 4, usedWrap: 1 } });
  });

  it('without it (the default, the spec\'s device), the device waits at the first of those slots for ever', () => {
    const { w, d2 } = crashWithUsedAhead(false);
    expect(w.offer([12, 15])).toBe(2);
    expect(w.pop(d2)).toEqual([]);
    expect(d2.steppedOver).toBe(0);
    expect(d2.position()).toEqual({ nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1 });
  });

  it('a driver that writes every slot in used form moves the device at most one lap per pop, and the queue stays whole', () => {
    const w = world();
    w.device();
    const d = w.device({ resume: true, usedInPlace: true });
    for (let s = 0; s < Q; s++) useInPlace(w, s, 1);
    expect(w.pop(d)).toEqual([]);
    expect(d.steppedOver).toBe(Q);
    expect(d.position()).toEqual({ nextAvail: 0, availWrap: 0, nextUsed: 0, usedWrap: 0 });
    expect(w.pop(d)).toEqual([]);
    expect(d.steppedOver).toBe(Q);
    expect(d.broken).toBe(false);
  });
});

describe('packed inflight region: refused when no driver and device could have left it (vhost-user.rst "Inflight I/O tracking")', () => {
  function refused(w: ReturnType<typeof world>, name: string): VirtqueueError {
    const ring = w.ringBytes();
    let err: unknown;
    try {
      w.device({ resume: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VirtqueueError);
    const e = err as VirtqueueError;
    expect(e.info.name).toBe(name);
    expect(e.message).toContain('vhost-user.rst "Inflight I/O tracking"');
    expect(w.ringBytes()).toEqual(ring); // nothing written back
    return e;
  }

  function popped(w: ReturnType<typeof world>): [number, number][] {
    const d1 = w.device();
    w.offer([0, 1, 2]);
    return w.pop(d1);
  }

  it('version 0 and a desc_num that is not the Queue Size', () => {
    const w = world();
    refused(w, 'INFLIGHT_BAD_REGION');
    popped(w);
    w.engine.view.setUint16(w.region + I.INFLIGHT_DESC_NUM, 11, true);
    expect(refused(w, 'INFLIGHT_BAD_REGION').detail).toBe(11);
  });

  it('two heads with one counter, an inflight byte other than 0 or 1, a list whose num runs past the ring, used_idx out of range', () => {
    const v = (w: ReturnType<typeof world>) => w.engine.view;
    let w = world();
    popped(w);
    const heads = headsByCounter(w.r());
    v(w).setBigUint64(packedEntry(w.region, heads[2]) + I.IPACKED_D_COUNTER, 0n, true);
    expect(refused(w, 'INFLIGHT_COUNTERS').detail).toBe(3);

    w = world();
    popped(w);
    v(w).setUint8(packedEntry(w.region, headsByCounter(w.r())[1]) + I.IPACKED_D_INFLIGHT, 3);
    refused(w, 'INFLIGHT_RANGE');

    w = world();
    popped(w);
    v(w).setUint16(packedEntry(w.region, headsByCounter(w.r())[0]) + I.IPACKED_D_NUM, Q + 1, true);
    refused(w, 'INFLIGHT_RANGE');

    w = world();
    popped(w);
    v(w).setUint16(w.region + I.IPACKED_OLD_USED_IDX, Q, true);
    v(w).setUint16(w.region + I.IPACKED_USED_IDX, Q, true);
    refused(w, 'INFLIGHT_RANGE');
  });

  it('copies not linked as a list: a NEXT flag that disagrees with num, a last entry that is not the list\'s, two lists with one buffer id, an entry in two lists or on the free list', () => {
    const v = (w: ReturnType<typeof world>) => w.engine.view;
    // Token 1 has 2 descriptors, token 2 has 3 (world: 1 + t % 3).
    let w = world();
    popped(w);
    let r = w.r();
    let h = headsByCounter(r)[1];
    v(w).setUint16(packedEntry(w.region, h) + I.IPACKED_D_FLAGS, r.desc[h].flags & ~P.PDESC_F_NEXT, true);
    expect(refused(w, 'INFLIGHT_COPY').detail).toBe(h);

    w = world();
    popped(w);
    r = w.r();
    h = headsByCounter(r)[2];
    v(w).setUint16(packedEntry(w.region, h) + I.IPACKED_D_LAST, h, true);
    refused(w, 'INFLIGHT_COPY');

    w = world();
    popped(w);
    r = w.r();
    const [a, b] = headsByCounter(r);
    v(w).setUint16(packedEntry(w.region, r.desc[b].last) + I.IPACKED_D_ID, r.desc[r.desc[a].last].id, true);
    expect(refused(w, 'INFLIGHT_COPY').detail).toBe(r.desc[b].last);

    w = world();
    popped(w);
    r = w.r();
    const [, second, third] = headsByCounter(r);
    // The third list's second entry points back into the second list.
    v(w).setUint16(packedEntry(w.region, third) + I.IPACKED_D_NEXT, second, true);
    expect(refused(w, 'INFLIGHT_COPY').detail).toBe(second);

    w = world();
    popped(w);
    r = w.r();
    // The free list starts at an entry of a list in flight.
    v(w).setUint16(w.region + I.IPACKED_FREE_HEAD, r.desc[headsByCounter(r)[2]].last, true);
    v(w).setUint16(w.region + I.IPACKED_OLD_FREE_HEAD, r.desc[headsByCounter(r)[2]].last, true);
    refused(w, 'INFLIGHT_COPY');
  });

  it('pop with a free list naming an entry out of range: the queue is broken (INFLIGHT_INDEX), nothing marked in flight', () => {
    const w = world();
    const d = w.device();
    w.engine.view.setUint16(w.region + I.IPACKED_OLD_FREE_HEAD, 0x7fff, true);
    w.offer([0]);
    let err: unknown;
    try {
      w.pop(d);
    } catch (e) {
      err = e;
    }
    expect((err as VirtqueueError).info.name).toBe('INFLIGHT_INDEX');
    expect((err as VirtqueueError).detail).toBe(0x7fff);
    expect(d.broken).toBe(true);
    expect(d.inFlight).toBe(0);
    expect(w.r().desc.every((e) => e.inflight === 0)).toBe(true);
  });
});

describe('a back-end ring slot holds the largest queue with inflight tracking', () => {
  it.each(['split', 'packed'] as const)('%s, 32768 entries: the device side fits in RING_SLOT_BYTES (head map, resubmission list, staging)', (layout) => {
    const memory = createSharedMemory(16 << 20);
    const engine = loadEngine(memory);
    const plan = new MemoryPlan(memory, { start: 64 * 1024, end: 8 << 20 });
    const ring = allocRing(plan, { layout, queueSize: MAX_VRING_NUM });
    const region = plan.alloc(inflightRegionSize(layout, MAX_VRING_NUM), 64, 'inflight region');
    const slot = new RingSlots(new MemoryPlan(memory, { start: 8 << 20, end: 16 << 20 }), 1);
    const device = createDevice(engine, slot.planFor(0), layout, ring, {
      features: layout === 'packed' ? RING_FEATURES.RING_PACKED | RING_FEATURES.IN_ORDER : RING_FEATURES.IN_ORDER, inflight: { region },
    });
    expect(device.broken).toBe(false);
  });
});
