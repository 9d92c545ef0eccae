// The device side handed a ring no correct driver would write (VIRTIO 1.2, 2.7): every case
// must stop with the code of the rule that was broken, mark the queue broken (sticky until
// reset), return in bounded time and write nothing outside the device's control block and the
// pop's batch arrays. Rings are written by hand with RawSplitRing; buffers use the identity
// region, so a guest address is a Wasm offset.
import { afterAll, describe, expect, it } from 'vitest';
import { rig, desc, pop, expectRejected, caller, thrown, type Rig } from './helpers/device-rig.js';
import { RING_FEATURES, VirtqueueError, type Region } from '../src/index.js';
import type { SplitPair } from './helpers/split-pair.js';
import * as E from '../assembly/layout/errors.js';
import * as S from '../assembly/layout/split.js';
import * as Q from '../assembly/layout/queue.js';

const { DESC_F_NEXT: NEXT, DESC_F_WRITE: WRITE, DESC_F_INDIRECT: INDIRECT } = S;
const IND = RING_FEATURES.INDIRECT_DESC;
const U64_MAX = (1n << 64n) - 1n;

afterAll(() => caller.close());

/** A table of indirect descriptors written at Wasm offset `at`; returns its byte length. */
function table(r: Rig, at: number, descs: ReturnType<typeof desc>[]): number {
  descs.forEach((d, i) => r.raw.writeDesc(i, d, at));
  return descs.length * S.DESC_SIZE;
}

describe('split device: chains that break a rule', () => {
  it('a loop a -> b -> a is CHAIN_TOO_LONG', async () => {
    const r = rig();
    r.raw.writeDesc(0, desc(r.buffers, 8, NEXT, 1));
    r.raw.writeDesc(1, desc(r.buffers + 8, 8, NEXT, 0));
    r.raw.publish(0);
    const e = await expectRejected(r, E.ERR_CHAIN_TOO_LONG, '2.7.5.3.1');
    expect(e.detail).toBe(0); // the head
  });

  it('a zero-length descriptor that links to itself is CHAIN_TOO_LONG', async () => {
    // Zero length: no segments, so only the walk bound can stop it (not the segment array).
    const r = rig();
    r.raw.writeDesc(3, desc(r.buffers, 0, NEXT, 3));
    r.raw.publish(3);
    expect((await expectRejected(r, E.ERR_CHAIN_TOO_LONG, '2.7.5.3.1')).detail).toBe(3);
  });

  it.each([16, 0xffff])('next = %d (>= Queue Size 16) is NEXT_OUT_OF_RANGE', async (next) => {
    const r = rig();
    r.raw.writeDesc(0, desc(r.buffers, 8, NEXT, next));
    r.raw.publish(0);
    expect((await expectRejected(r, E.ERR_NEXT_OUT_OF_RANGE, '2.7.5')).detail).toBe(next);
  });

  it('next beyond an indirect table (but inside Queue Size) is NEXT_OUT_OF_RANGE', async () => {
    const r = rig({ features: IND });
    const t = r.buffers + 0x1000;
    const len = table(r, t, [desc(r.buffers, 8, NEXT, 2), desc(r.buffers, 8)]);
    r.raw.writeDesc(0, desc(t, len, INDIRECT));
    r.raw.publish(0);
    expect((await expectRejected(r, E.ERR_NEXT_OUT_OF_RANGE, '2.7.5')).detail).toBe(2);
  });

  it('an indirect descriptor inside an indirect table is INDIRECT_NESTED', async () => {
    const r = rig({ features: IND });
    const inner = r.buffers + 0x2000;
    table(r, inner, [desc(r.buffers, 8)]);
    const t = r.buffers + 0x1000;
    const len = table(r, t, [desc(r.buffers, 8, NEXT, 1), desc(inner, 16, INDIRECT)]);
    r.raw.writeDesc(0, desc(t, len, INDIRECT));
    r.raw.publish(0);
    expect((await expectRejected(r, E.ERR_INDIRECT_NESTED, '2.7.5.3.1')).detail).toBe(1);
  });

  it.each([0, 24, 8, 17])('an indirect table of %d bytes is INDIRECT_BAD_LENGTH', async (len) => {
    const r = rig({ features: IND });
    table(r, r.buffers + 0x1000, [desc(r.buffers, 8), desc(r.buffers, 8)]);
    r.raw.writeDesc(5, desc(r.buffers + 0x1000, len, INDIRECT));
    r.raw.publish(5);
    expect((await expectRejected(r, E.ERR_INDIRECT_BAD_LENGTH, '2.7.5.3')).detail).toBe(5);
  });

  it('INDIRECT together with NEXT is INDIRECT_WITH_NEXT', async () => {
    const r = rig({ features: IND });
    const len = table(r, r.buffers + 0x1000, [desc(r.buffers, 8)]);
    r.raw.writeDesc(0, desc(r.buffers + 0x1000, len, INDIRECT | NEXT, 1));
    r.raw.writeDesc(1, desc(r.buffers, 8));
    r.raw.publish(0);
    await expectRejected(r, E.ERR_INDIRECT_WITH_NEXT, '2.7.5.3.1');
  });

  it('INDIRECT without VIRTIO_F_INDIRECT_DESC is INDIRECT_NOT_NEGOTIATED', async () => {
    const r = rig({ features: RING_FEATURES.EVENT_IDX });
    const len = table(r, r.buffers + 0x1000, [desc(r.buffers, 8)]);
    r.raw.writeDesc(0, desc(r.buffers + 0x1000, len, INDIRECT));
    r.raw.publish(0);
    await expectRejected(r, E.ERR_INDIRECT_NOT_NEGOTIATED, '2.7.5.3.1');
  });

  it.each([
    ['in page 0 (outside the identity region)', () => 0x100],
    ['past the end of memory', (r: Rig) => r.memory.buffer.byteLength],
    ['crossing the end of memory', (r: Rig) => r.memory.buffer.byteLength - 4],
    ['at 2^40', () => 2 ** 40],
  ])('a buffer %s is BUFFER_NOT_IN_REGIONS', async (_what, at) => {
    const r = rig();
    r.raw.writeDesc(2, desc(r.buffers, 8, NEXT, 1));
    r.raw.writeDesc(1, desc(at(r), 8, WRITE));
    r.raw.publish(2);
    expect((await expectRejected(r, E.ERR_BUFFER_NOT_IN_REGIONS, '2.7.5')).detail).toBe(1);
  });

  it('an indirect table outside every region is BUFFER_NOT_IN_REGIONS', async () => {
    const r = rig({ features: IND });
    r.raw.writeDesc(0, desc(0x40, 32, INDIRECT));
    r.raw.publish(0);
    await expectRejected(r, E.ERR_BUFFER_NOT_IN_REGIONS, '2.7.5');
  });

  it.each([
    ['a buffer', 0, 17], // [2^64 - 16, 2^64 + 1): one byte past the top ([.., 2^64) would be fine)
    ['an indirect table', INDIRECT, 32],
  ])('%s whose address + length overflows 64 bits is BUFFER_ADDRESS_OVERFLOW', async (_what, flags, len) => {
    const r = rig({ features: IND });
    r.raw.writeDesc(0, desc(U64_MAX - 15n, len, flags));
    r.raw.publish(0);
    await expectRejected(r, E.ERR_BUFFER_ADDRESS_OVERFLOW, '2.7.5');
  });

  it('a chain through every descriptor and back (longer than Queue Size) is CHAIN_TOO_LONG', async () => {
    const r = rig({ queueSize: 8 });
    for (let i = 0; i < 8; i++) r.raw.writeDesc(i, desc(r.buffers + i * 8, 8, NEXT, (i + 1) % 8));
    r.raw.publish(0);
    await expectRejected(r, E.ERR_CHAIN_TOO_LONG, '2.7.5.3.1');
  });

  it('an indirect chain of 17 descriptors on a queue of 16 is CHAIN_TOO_LONG', async () => {
    const r = rig({ features: IND });
    const t = r.buffers + 0x1000;
    const long = Array.from({ length: 17 }, (_, i) => desc(r.buffers + i * 8, 8, i < 16 ? NEXT : 0, i + 1));
    r.raw.writeDesc(0, desc(t, table(r, t, long), INDIRECT));
    r.raw.publish(0);
    await expectRejected(r, E.ERR_CHAIN_TOO_LONG, '2.7.5.3.1');
  });

  it('a chain longer than a configured maxChain is CHAIN_TOO_LONG; one of exactly maxChain is fine', async () => {
    const r = rig({ maxChain: 4 });
    for (let i = 0; i < 4; i++) r.raw.writeDesc(i, desc(r.buffers + i * 8, 8, i < 3 ? NEXT : 0, i + 1));
    for (let i = 4; i < 9; i++) r.raw.writeDesc(i, desc(r.buffers + i * 8, 8, i < 8 ? NEXT : 0, i + 1));
    r.raw.publish(0, 4);
    const e = await expectRejected(r, E.ERR_CHAIN_TOO_LONG, '2.7.5.3.1', 1);
    expect(e.detail).toBe(4);
    expect(r.popped.id(0)).toBe(0);
    expect(r.popped.descs(0)).toBe(4);
    expect(r.popped.readLen(0)).toBe(32);
  });

  it('an indirect table whose chain loops is CHAIN_TOO_LONG', async () => {
    const r = rig({ features: IND });
    const t = r.buffers + 0x1000;
    const len = table(r, t, [desc(r.buffers, 8, NEXT, 1), desc(r.buffers, 8, NEXT, 2), desc(r.buffers, 8, NEXT, 1), desc(r.buffers, 8)]);
    r.raw.writeDesc(0, desc(t, len, INDIRECT));
    r.raw.publish(0);
    await expectRejected(r, E.ERR_CHAIN_TOO_LONG, '2.7.5.3.1');
  });

  it.each([17, 0xffff, 0x8000])('avail.idx %d ahead of the last seen index (Queue Size 16) is AVAIL_IDX_JUMP', async (idx) => {
    const r = rig();
    r.raw.writeDesc(0, desc(r.buffers, 8));
    r.raw.availIdx = idx;
    expect((await expectRejected(r, E.ERR_AVAIL_IDX_JUMP, '2.7.6')).detail).toBe(idx);
  });

  it('avail.idx exactly Queue Size ahead is fine', async () => {
    const r = rig();
    for (let i = 0; i < 16; i++) r.raw.writeDesc(i, desc(r.buffers + i * 8, 8));
    r.raw.publish(...Array.from({ length: 16 }, (_, i) => i));
    const res = await pop(r);
    expect(res.rc).toBe(16);
    expect(res.strayWrites).toEqual([]);
    expect(r.dev.broken).toBe(false);
  });

  it('a head offered again while the device still holds its chain is HEAD_IN_FLIGHT', async () => {
    const r = rig();
    r.raw.writeDesc(0, desc(r.buffers, 8));
    r.raw.writeDesc(1, desc(r.buffers + 8, 8));
    r.raw.publish(0, 1, 0);
    expect((await expectRejected(r, E.ERR_HEAD_IN_FLIGHT, '2.7.13.1', 2)).detail).toBe(0);
  });

  it.each([16, 0xffff])('an available ring entry %d (>= Queue Size) is HEAD_OUT_OF_RANGE', async (head) => {
    const r = rig();
    r.raw.publish(head);
    expect((await expectRejected(r, E.ERR_HEAD_OUT_OF_RANGE, '2.7.6')).detail).toBe(head);
  });

  it.each([8, 0])('a device-readable descriptor after a device-writable one (of %d bytes) is WRITABLE_BEFORE_READABLE', async (len) => {
    const r = rig();
    r.raw.writeDesc(0, desc(r.buffers, len, WRITE | NEXT, 1));
    r.raw.writeDesc(1, desc(r.buffers + 8, 8));
    r.raw.publish(0);
    expect((await expectRejected(r, E.ERR_WRITABLE_BEFORE_READABLE, '2.7.4.2')).detail).toBe(1);
  });

  it('a readable indirect entry after writable normal descriptors is WRITABLE_BEFORE_READABLE', async () => {
    const r = rig({ features: IND });
    const t = r.buffers + 0x1000;
    r.raw.writeDesc(0, desc(r.buffers, 8, WRITE | NEXT, 1));
    r.raw.writeDesc(1, desc(t, table(r, t, [desc(r.buffers + 8, 8)]), INDIRECT));
    r.raw.publish(0);
    await expectRejected(r, E.ERR_WRITABLE_BEFORE_READABLE, '2.7.4.2');
  });

  it('a chain of 2^32 bytes is CHAIN_TOO_MANY_BYTES (every buffer mapped); 2^32 - 1 is fine', async () => {
    // 64 descriptors of 64 MiB each, all over the same mapped bytes: 2^32 in total.
    const big = 64 << 20;
    const r = rig({ queueSize: 64, memoryBytes: big + (8 << 20) });
    for (let i = 0; i < 64; i++) r.raw.writeDesc(i, desc(0x10000, big, i < 63 ? NEXT : 0, i + 1));
    r.raw.writeDesc(63, desc(0x10000, big - 1));
    r.raw.publish(0);
    const ok = await pop(r);
    expect(ok.rc).toBe(1);
    expect(ok.strayWrites).toEqual([]);
    expect(r.popped.readLen(0)).toBe(0xffff_ffff);
    expect(r.popped.nRead(0)).toBe(64);
    // Return the chain before offering head 0 again (the device refuses a head it still holds).
    r.used.clear();
    r.used.push(0, 0);
    r.dev.push(r.used);
    r.raw.writeDesc(63, desc(0x10000, big));
    r.raw.publish(0);
    expect((await expectRejected(r, E.ERR_CHAIN_TOO_MANY_BYTES, '2.7.5.2')).detail).toBe(0);
  });

  it('a chain whose last descriptor takes it to 2^32 bytes fails before that buffer is translated', async () => {
    const r = rig();
    r.raw.writeDesc(0, desc(r.buffers, 16, NEXT, 1));
    r.raw.writeDesc(1, desc(r.buffers, 0xffff_fff0, WRITE));
    r.raw.publish(0);
    await expectRejected(r, E.ERR_CHAIN_TOO_MANY_BYTES, '2.7.5.2');
  });
});

describe('split device: unusual chains that are valid', () => {
  it('splits a buffer that straddles two adjacent regions into two segments', async () => {
    const G = 0x7_0000_0000n;
    const r = rig({
      regions: (p) => [
        { gpa: G, size: 0x1000n, offset: p.buffers + 0x8000 },
        { gpa: G + 0x1000n, size: 0x1000n, offset: p.buffers + 0x2000 },
        { gpa: G + 0x2000n, size: 0x1000n, offset: p.buffers + 0x5000 },
      ],
    });
    r.raw.writeDesc(0, desc(G + 0xf00n, 0x200, NEXT, 1));
    r.raw.writeDesc(1, desc(G + 0xff0n, 0x1020, WRITE)); // crosses all three
    r.raw.publish(0);
    const res = await pop(r);
    expect(res.rc).toBe(1);
    expect(res.strayWrites).toEqual([]);
    const p = r.popped;
    expect([p.nRead(0), p.nWrite(0), p.readLen(0), p.writeLen(0), p.descs(0)]).toEqual([2, 3, 0x200, 0x1020, 2]);
    const segs = Array.from({ length: 5 }, (_, j) => [p.segOffset(p.firstSeg(0) + j) - r.buffers, p.segLen(p.firstSeg(0) + j)]);
    expect(segs).toEqual([
      [0x8f00, 0x100], [0x2000, 0x100],
      [0x8ff0, 0x10], [0x2000, 0x1000], [0x5000, 0x10],
    ]);
  });

  it('translates buffers in each of several regions with gaps, and rejects one in a gap', async () => {
    const regions = (p: SplitPair): Region[] => [
      { gpa: 0x1000_0000n, size: 0x1000n, offset: p.buffers },
      { gpa: 0x1000_3000n, size: 0x1000n, offset: p.buffers + 0x1000 },
      { gpa: 0x2000_0000n, size: 0x2000n, offset: p.buffers + 0x4000 },
    ];
    const r = rig({ regions });
    r.raw.writeDesc(0, desc(0x1000_0010n, 16, NEXT, 1));
    r.raw.writeDesc(1, desc(0x1000_3ff0n, 16, NEXT, 2));
    r.raw.writeDesc(2, desc(0x2000_1000n, 0x1000, WRITE));
    r.raw.writeDesc(3, desc(0x1000_0ff0n, 0x20)); // runs off region 0 into the gap
    r.raw.writeDesc(4, desc(0x1000_2000n, 8)); // wholly in the gap
    r.raw.publish(0, 3);
    const e = await expectRejected(r, E.ERR_BUFFER_NOT_IN_REGIONS, '2.7.5', 1);
    expect(e.detail).toBe(3);
    const p = r.popped;
    expect([0, 1, 2].map((j) => [p.segOffset(j) - r.buffers, p.segLen(j)])).toEqual([[0x10, 16], [0x1ff0, 16], [0x5000, 0x1000]]);

    const r2 = rig({ regions });
    r2.raw.writeDesc(4, desc(0x1000_2000n, 8));
    r2.raw.publish(4);
    expect((await expectRejected(r2, E.ERR_BUFFER_NOT_IN_REGIONS, '2.7.5')).detail).toBe(4);
  });

  it('accepts zero-length descriptors (no segment, wherever they point)', async () => {
    const r = rig();
    r.raw.writeDesc(0, desc(r.buffers, 0, NEXT, 1));
    r.raw.writeDesc(1, desc(r.buffers + 64, 8, NEXT, 2));
    r.raw.writeDesc(2, desc(0x10, 0, WRITE | NEXT, 3)); // unmapped, but empty
    r.raw.writeDesc(3, desc(r.buffers + 128, 4, WRITE));
    r.raw.writeDesc(4, desc(U64_MAX, 0)); // a chain of one empty descriptor
    r.raw.publish(0, 4);
    const res = await pop(r);
    expect(res.rc).toBe(2);
    expect(res.strayWrites).toEqual([]);
    const p = r.popped;
    expect([p.nRead(0), p.nWrite(0), p.readLen(0), p.writeLen(0), p.descs(0)]).toEqual([1, 1, 8, 4, 4]);
    expect([p.segOffset(0) - r.buffers, p.segOffset(1) - r.buffers]).toEqual([64, 128]);
    expect([p.id(1), p.nRead(1), p.nWrite(1), p.readLen(1), p.descs(1)]).toEqual([4, 0, 0, 0, 1]);
  });

  it('handles normal descriptors followed by one indirect descriptor (2.7.5.3.2)', async () => {
    const r = rig({ features: IND });
    const t = r.buffers + 0x1000;
    const len = table(r, t, [desc(r.buffers + 0x100, 16, NEXT, 1), desc(r.buffers + 0x200, 32, WRITE)]);
    r.raw.writeDesc(7, desc(r.buffers, 8, NEXT, 2));
    r.raw.writeDesc(2, desc(t, len, INDIRECT));
    r.raw.publish(7);
    const res = await pop(r);
    expect(res.rc).toBe(1);
    expect(res.strayWrites).toEqual([]);
    const p = r.popped;
    expect([p.id(0), p.nRead(0), p.nWrite(0), p.readLen(0), p.writeLen(0), p.descs(0)]).toEqual([7, 2, 1, 24, 32, 2]);
    expect([0, 1, 2].map((j) => p.segOffset(j) - r.buffers)).toEqual([0, 0x100, 0x200]);
  });

  it('ignores the WRITE flag of a descriptor that names an indirect table (2.7.5.3.2)', async () => {
    const r = rig({ features: IND });
    const t = r.buffers + 0x1000;
    r.raw.writeDesc(0, desc(t, table(r, t, [desc(r.buffers, 8, NEXT, 1), desc(r.buffers + 8, 8)]), INDIRECT | WRITE));
    r.raw.publish(0);
    const res = await pop(r);
    expect(res.rc).toBe(1);
    expect(res.strayWrites).toEqual([]);
    expect([r.popped.nRead(0), r.popped.nWrite(0), r.popped.readLen(0)]).toEqual([2, 0, 16]);
  });
});

describe('split device: burst semantics', () => {
  it('returns the good chains before a bad one, then fails; works again after repair and reset', async () => {
    const r = rig();
    r.raw.writeDesc(0, desc(r.buffers, 8));
    r.raw.writeDesc(1, desc(r.buffers + 8, 16, WRITE));
    r.raw.writeDesc(2, desc(r.buffers + 32, 8, NEXT, 16)); // bad next
    r.raw.writeDesc(3, desc(r.buffers + 48, 8));
    r.raw.publish(0, 1, 2, 3);
    expect((await expectRejected(r, E.ERR_NEXT_OUT_OF_RANGE, '2.7.5', 2)).detail).toBe(16);
    expect([r.popped.id(0), r.popped.readLen(0), r.popped.id(1), r.popped.writeLen(1)]).toEqual([0, 8, 1, 16]);
    expect(r.popped.segOffset(1)).toBe(r.buffers + 8);
    expect(r.dev.lastAvailIdx).toBe(2);
    expect(r.dev.inFlight).toBe(2);

    r.raw.writeDesc(2, desc(r.buffers + 32, 8));
    r.dev.reset();
    expect(r.dev.broken).toBe(false);
    const res = await pop(r);
    expect(res.rc).toBe(4);
    expect(res.strayWrites).toEqual([]);
    expect([0, 1, 2, 3].map((i) => r.popped.id(i))).toEqual([0, 1, 2, 3]);
  });

  it('a chain that does not fit the segment array is a caller error: the queue stays healthy', async () => {
    const r = rig();
    r.raw.writeDesc(0, desc(r.buffers, 8));
    r.raw.publish(0);
    const before = r.engine.u8.slice();
    const rc = await caller.call(r.memory, 'splitDevicePop', [r.dev.cb, r.popped.chainsPtr, r.popped.segsPtr, 4, 0]);
    expect(rc).toBe(E.ERR_SEGMENTS_FULL);
    expect(r.dev.broken).toBe(false);
    expect(r.dev.lastAvailIdx).toBe(0);
    expect(r.engine.u8.subarray(r.ring.desc, r.ring.used + 128)).toEqual(before.subarray(r.ring.desc, r.ring.used + 128));
    expect((await pop(r)).rc).toBe(1);
  });
});

describe('split device: region table validation', () => {
  const G = 0x1_0000_0000n;
  type Table = (r: Rig) => Region[];
  const bad: [string, Table][] = [
    ['overlapping regions', (r) => [{ gpa: G, size: 0x2000n, offset: r.buffers }, { gpa: G + 0x1fffn, size: 0x1000n, offset: r.buffers + 0x4000 }]],
    ['a region inside another', (r) => [{ gpa: G, size: 0x4000n, offset: r.buffers }, { gpa: G + 0x1000n, size: 0x10n, offset: r.buffers }]],
    ['a zero-size region', (r) => [{ gpa: G, size: 0n, offset: r.buffers }]],
    ['gpa + size wrapping 2^64', (r) => [{ gpa: U64_MAX - 0xfffn, size: 0x1001n, offset: r.buffers }]],
    ['offset + size beyond memory', (r) => [{ gpa: G, size: 0x1000n, offset: r.memory.buffer.byteLength - 0x800 }]],
    ['a size of 2^40', (r) => [{ gpa: G, size: 1n << 40n, offset: r.buffers }]],
  ];

  /** The identity table the rig started with still translates. */
  async function oldTableWorks(r: Rig): Promise<void> {
    r.raw.writeDesc(0, desc(r.buffers + 0x40, 8));
    r.raw.publish(0);
    expect((await pop(r)).rc).toBe(1);
    expect(r.popped.segOffset(0)).toBe(r.buffers + 0x40);
    expect(r.dev.broken).toBe(false);
  }

  it.each(bad)('%s: setRegions throws BAD_CONFIG and the old table still works', async (_what, table) => {
    const r = rig();
    const e = thrown(() => r.dev.setRegions(table(r))) as VirtqueueError;
    expect(e).toBeInstanceOf(VirtqueueError);
    expect(e.code).toBe(E.ERR_BAD_CONFIG);
    expect(e.info.breaksQueue).toBe(false);
    await oldTableWorks(r);
  });

  it(`more than MAX_REGIONS (${Q.MAX_REGIONS}) regions is refused by the host and by the engine`, async () => {
    const r = rig();
    const many = Array.from({ length: Q.MAX_REGIONS + 1 }, (_, i) => ({ gpa: G + BigInt(i) * 0x1000n, size: 0x1000n, offset: r.buffers }));
    expect(() => r.dev.setRegions(many)).toThrow(RangeError);
    const tableAt = r.plan.alloc((Q.MAX_REGIONS + 1) * Q.REGION_SIZE, 64, 'big region table');
    expect(r.engine.exports.splitDeviceSetRegions(r.dev.cb, tableAt, Q.MAX_REGIONS + 1)).toBe(E.ERR_BAD_CONFIG);
    expect(r.engine.exports.splitDeviceSetRegions(r.dev.cb, 0xffff_ff00, 2)).toBe(E.ERR_BAD_CONFIG);
    await oldTableWorks(r);
    r.dev.setRegions(many.slice(0, Q.MAX_REGIONS)); // exactly the maximum is fine
    r.raw.writeDesc(1, desc(G + 0x3f010n, 8));
    r.raw.publish(1);
    expect((await pop(r)).rc).toBe(1);
    expect(r.popped.segOffset(0)).toBe(r.buffers + 0x10);
  });

  it('a valid new table replaces the old one; a region may end exactly at 2^64, and so may buffers in it', async () => {
    const r = rig({ features: IND });
    const top = U64_MAX - 0xfffn; // [2^64 - 4096, 2^64)
    r.dev.setRegions([{ gpa: G, size: 0x1000n, offset: r.buffers }, { gpa: top, size: 0x1000n, offset: r.buffers + 0x1000 }]);
    r.raw.writeDesc(0, desc(G + 0x20n, 8, NEXT, 1));
    r.raw.writeDesc(1, desc(top + 0xf00n, 0x100, WRITE)); // its last byte is 2^64 - 1
    // An indirect table in the last 16 bytes of the address space, naming a buffer at G.
    r.raw.writeDesc(0, desc(G + 0x40n, 4), r.buffers + 0x1ff0);
    r.raw.writeDesc(3, desc(U64_MAX - 15n, 16, INDIRECT));
    r.raw.writeDesc(2, desc(r.buffers, 8)); // the old identity address is no longer mapped
    r.raw.publish(0, 3, 2);
    const e = await expectRejected(r, E.ERR_BUFFER_NOT_IN_REGIONS, '2.7.5', 2);
    expect(e.detail).toBe(2);
    const p = r.popped;
    expect([p.segOffset(0) - r.buffers, p.segOffset(1) - r.buffers, p.segLen(1)]).toEqual([0x20, 0x1f00, 0x100]);
    expect([p.id(1), p.nRead(1), p.segOffset(p.firstSeg(1)) - r.buffers, p.segLen(p.firstSeg(1))]).toEqual([3, 1, 0x40, 4]);
  });
});
