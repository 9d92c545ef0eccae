// The vhost-user IOTLB (vhost-user.rst "IOMMU support"; src/vhost-user/iotlb.ts): with
// VIRTIO_F_ACCESS_PLATFORM ring and descriptor addresses are IOVAs. First the IOTLB itself (pure):
// updates, merges, invalidations, permissions, the IOVA-keyed region table the engine gets, and
// every message a front-end must not send. Then a session: a front-end that gives the back-end
// its request channel (SET_BACKEND_REQ_FD) and rings at IOVAs; the back-end asks for what it lacks
// (MISS on that channel), starts the rings when the UPDATEs come, leaves a chain whose buffer
// misses available (the queue stays healthy) and takes it after the UPDATE; hostile IOTLB
// messages are refused (a nack naming what was wrong) and change nothing.
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { ChainBatch, UsedBatch, MemoryPlan, FEATURES, allocRing, createDriver, VirtqueueError, type RingAreas, type DriverQueue } from '../src/index.js';
import { EventFd, UnixSocket, mappings } from '../src/native/index.js';
import * as P from '../src/vhost-user/protocol.js';
import { statePayload, addrPayload, memTablePayload, u64Payload, iotlbPayload, readIotlb, type IotlbMsg } from '../src/vhost-user/message.js';
import { MessageReader } from '../src/vhost-user/reader.js';
import { Iotlb, iotlbMsgProblem, updateOutsideMemory, MAX_DEVICE_REGIONS } from '../src/vhost-user/iotlb.js';
import type { PlacedRegion } from '../src/vhost-user/memory-table.js';
import { parseVhost } from '../cli/vhost/args.js';
import { VHOST_USAGE } from '../cli/vhost/usage.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { nextEvent, until } from './helpers/within.js';
import { RawFrontEnd } from './helpers/vhost-user-frontend.js';
import { rig, guest, removeSocketDir, socketDir, MiB, UADDR, type Rig, type Guest } from './helpers/vhost-user-rig.js';
import { negotiate, F_PROTOCOL } from './helpers/vhost-user-setup.js';

checkFdLeaks();
afterAll(removeSocketDir);

const R = P.Request;
const T = P.IotlbType;
const RW = P.IotlbPerm.RW;
const PF = P.ProtocolFeature;
const PAGE = 0x1000n;

const msg = (o: Partial<IotlbMsg>): IotlbMsg => ({ iova: 0x1000n, size: PAGE, uaddr: 0x7000_0000n, perm: RW, type: T.UPDATE, ...o });

describe('IOTLB (pure)', () => {
  const memory: PlacedRegion[] = [
    { gpa: 0n, size: 0x10_0000n, uaddr: 0x7000_0000n, mmapOffset: 0n, offset: 0x100_0000 },
    { gpa: 0x10_0000n, size: 0x10_0000n, uaddr: 0x7010_0000n, mmapOffset: 0n, offset: 0x200_0000 },
  ];

  it('refuses every message a front-end must not send, naming what is wrong', () => {
    expect(iotlbMsgProblem(msg({}))).toBeNull();
    expect(iotlbMsgProblem(msg({ type: T.INVALIDATE, perm: 0, uaddr: 0n }))).toBeNull();
    expect(iotlbMsgProblem(msg({ type: T.MISS }))).toMatch(/^MISS: a front-end sends only UPDATE \(2\) and INVALIDATE \(3\)/);
    expect(iotlbMsgProblem(msg({ type: T.ACCESS_FAIL }))).toMatch(/^ACCESS_FAIL: a front-end sends only/);
    expect(iotlbMsgProblem(msg({ type: 9 }))).toMatch(/^type 9: a front-end sends only/);
    expect(iotlbMsgProblem(msg({ perm: 0 }))).toBe('UPDATE of IOVAs [0x1000, +0x1000) with permission 0; expected RO (1), WO (2) or RW (3)');
    expect(iotlbMsgProblem(msg({ perm: 4 }))).toMatch(/with permission 4; expected RO/);
    expect(iotlbMsgProblem(msg({ size: 0n }))).toBe('UPDATE of an empty range at IOVA 0x1000');
    expect(iotlbMsgProblem(msg({ type: T.INVALIDATE, size: 0n }))).toBe('INVALIDATE of an empty range at IOVA 0x1000');
    expect(iotlbMsgProblem(msg({ iova: 2n ** 64n - PAGE, size: 2n * PAGE }))).toMatch(/^UPDATE of IOVAs \[0xfffffffffffff000, \+0x2000\) reaches past 2\^64$/);
    expect(iotlbMsgProblem(msg({ iova: 2n ** 64n - PAGE, size: PAGE }))).toBeNull(); // ends exactly at 2^64
    expect(iotlbMsgProblem(msg({ uaddr: 2n ** 64n - PAGE, size: 2n * PAGE }))).toMatch(/user addresses 0xfffffffffffff000 \+ size reach past 2\^64$/);
  });

  it('an UPDATE must map guest memory, every byte of it (two regions next to each other may share it)', () => {
    expect(updateOutsideMemory(msg({ uaddr: 0x7000_0000n, size: 0x20_0000n }), memory)).toBeNull();
    expect(updateOutsideMemory(msg({ uaddr: 0x700f_f000n, size: 0x2000n }), memory)).toBeNull();
    expect(updateOutsideMemory(msg({ uaddr: 0x6fff_f000n, size: 0x2000n }), memory)).toMatch(/but 0x6ffff000 is outside every memory region \(2 mapped\)$/);
    expect(updateOutsideMemory(msg({ uaddr: 0x701f_f000n, size: 0x2000n }), memory)).toMatch(/but 0x70200000 is outside every memory region/);
    expect(updateOutsideMemory(msg({ uaddr: 0x9000_0000n }), [])).toMatch(/outside every memory region \(0 mapped\)/);
  });

  it('updates merge with neighbours that continue them; a new one replaces what it overlaps; invalidations cut entries', () => {
    const t = new Iotlb();
    t.update(msg({ iova: 0x1000n, uaddr: 0x7000_1000n }));
    t.update(msg({ iova: 0x3000n, uaddr: 0x7000_3000n }));
    t.update(msg({ iova: 0x2000n, uaddr: 0x7000_2000n }));
    expect(t.entries.map((e) => [e.iova, e.size, e.uaddr])).toEqual([[0x1000n, 0x3000n, 0x7000_1000n]]);
    // Not contiguous in user addresses: a separate entry. Another permission: separate too.
    t.update(msg({ iova: 0x4000n, uaddr: 0x7008_0000n }));
    t.update(msg({ iova: 0x5000n, uaddr: 0x7008_1000n, perm: P.IotlbPerm.RO }));
    expect(t.entries.length).toBe(3);
    expect(t.translate(0x1800n, 0x1000)).toBe(0x7000_1800n);
    expect(t.translate(0x3800n, 0x1000)).toBeUndefined(); // crosses into the next entry
    expect(t.translate(0x5000n, 8)).toBeUndefined(); // RO: not RW
    expect(t.translate(0x5000n, 8, P.IotlbPerm.RO)).toBe(0x7008_1000n);
    // A remap of 0x2000 elsewhere splits the merged entry.
    t.update(msg({ iova: 0x2000n, uaddr: 0x7009_0000n }));
    expect(t.entries.map((e) => [e.iova, e.size])).toEqual([[0x1000n, 0x1000n], [0x2000n, 0x1000n], [0x3000n, 0x1000n], [0x4000n, 0x1000n], [0x5000n, 0x1000n]]);
    expect(t.translate(0x2004n, 4)).toBe(0x7009_0004n);
    // Invalidating [0x1800, 0x3800) leaves the head of the first entry and the tail of the third.
    expect(t.invalidate(0x1800n, 0x2000n)).toBe(true);
    expect(t.entries.map((e) => [e.iova, e.size, e.uaddr])).toEqual([
      [0x1000n, 0x800n, 0x7000_1000n], [0x3800n, 0x800n, 0x7000_3800n], [0x4000n, 0x1000n, 0x7008_0000n], [0x5000n, 0x1000n, 0x7008_1000n],
    ]);
    expect(t.invalidate(0x10_0000n, PAGE)).toBe(false);
  });

  it('the engine\'s table: RW entries intersected with guest memory, keyed by IOVA, neighbours merged, the newest first when they do not all fit', () => {
    const t = new Iotlb();
    // IOVA 0x100000.. maps the end of region 0 and the start of region 1: two ranges, one per region.
    t.update(msg({ iova: 0x10_0000n, uaddr: 0x700f_f000n, size: 0x2000n }));
    t.update(msg({ iova: 0x20_0000n, uaddr: 0x7000_0000n, size: PAGE, perm: P.IotlbPerm.RO }));
    const { regions, left } = t.deviceRegions(memory);
    expect(left).toBe(0);
    expect(regions).toEqual([
      { gpa: 0x10_0000n, size: PAGE, offset: 0x100_0000 + 0xf_f000 },
      { gpa: 0x10_1000n, size: PAGE, offset: 0x200_0000 },
    ]);
    // Pages every other one (nothing to merge): more than the table holds.
    const big: PlacedRegion[] = [{ gpa: 0n, size: 0x100_0000n, uaddr: 0x8000_0000n, mmapOffset: 0n, offset: 0x100_0000 }];
    const many = new Iotlb();
    for (let i = 0; i < MAX_DEVICE_REGIONS + 6; i++) many.update(msg({ iova: BigInt(i) * 2n * PAGE, uaddr: 0x8000_0000n + BigInt(i) * 2n * PAGE }));
    const d = many.deviceRegions(big);
    expect([d.regions.length, d.left]).toEqual([MAX_DEVICE_REGIONS, 6]);
    expect(d.regions[0].gpa).toBe(6n * 2n * PAGE); // the six oldest left out
    many.touch(0n);
    expect(many.deviceRegions(big).regions[0].gpa).toBe(0n);
  });
});

// ------------------------------------------------------------------------------------------------
// A session.

const IOVA = 0x1_0000_0000n;
const iovaOf = (g: Guest, offset: number): bigint => IOVA + BigInt(offset - g.gpa);
const uaddrOf = (g: Guest, offset: number): bigint => UADDR + BigInt(offset - g.gpa);
const PROTOCOL = [PF.MQ, PF.REPLY_ACK, PF.STATUS, PF.BACKEND_REQ].reduce((s, b) => s | (1n << BigInt(b)), 0n);

/** The front-end's end of the back-end request channel: the MISS messages the back-end sent. */
class BackendReqPeer {
  readonly misses: IotlbMsg[] = [];
  readonly requests: number[] = [];
  private readonly server: net.Server;
  private conn: net.Socket | undefined;
  private readonly reader = new MessageReader();

  private constructor(readonly path: string) {
    this.server = net.createServer((c) => {
      this.conn = c;
      c.on('data', (d: Buffer) => {
        for (const m of this.reader.push(new Uint8Array(d), [], () => undefined)) {
          this.requests.push(m.request);
          if (m.request === P.BackendRequest.IOTLB_MSG) this.misses.push(readIotlb(m));
        }
      });
    });
  }

  static async start(name: string): Promise<BackendReqPeer> {
    const p = new BackendReqPeer(`${socketDir()}/${name}`);
    await new Promise<void>((resolve) => p.server.listen(p.path, resolve));
    return p;
  }

  /** A connected socket's fd for SET_BACKEND_REQ_FD; `close` after sending it (the back-end has its own). */
  connect(): UnixSocket {
    return UnixSocket.connect(this.path);
  }

  close(): void {
    this.conn?.destroy();
    this.server.close();
  }
}

interface Setup {
  r: Rig;
  g: Guest;
  fe: RawFrontEnd;
  peer: BackendReqPeer;
  ring: RingAreas;
  driver: DriverQueue;
  kick: EventFd;
  call: EventFd;
}

/** Negotiates ACCESS_PLATFORM and BACKEND_REQ, gives the request channel and the memory table, sets vring 1 up at IOVAs. */
async function setUp(r: Rig, g: Guest, fe: RawFrontEnd, peer: BackendReqPeer, layout: 'split' | 'packed'): Promise<Setup> {
  const packed = layout === 'packed' ? FEATURES.RING_PACKED : 0n;
  const offered = await negotiate(fe, FEATURES.VERSION_1 | FEATURES.ACCESS_PLATFORM | packed | F_PROTOCOL, PROTOCOL);
  expect(offered & FEATURES.ACCESS_PLATFORM).toBe(FEATURES.ACCESS_PLATFORM);
  const s = peer.connect();
  try {
    expect(await fe.acked(R.SET_BACKEND_REQ_FD, new Uint8Array(0), [s.fd])).toBe(0n);
  } finally {
    s.close();
  }
  expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload([g.region]), [g.fd])).toBe(0n);
  const num = 64;
  const ring = allocRing(g.plan, { layout, queueSize: num });
  // The driver's descriptors carry IOVAs: Wasm offset + (IOVA - gpa).
  const driver = createDriver(g.engine, g.privatePlan, layout, ring, { features: FEATURES.VERSION_1 | FEATURES.ACCESS_PLATFORM | packed, addressBase: IOVA - BigInt(g.gpa) });
  const kick = EventFd.create();
  const call = EventFd.create();
  expect(await fe.acked(R.SET_VRING_NUM, statePayload(1, num))).toBe(0n);
  // Packed: both wrap counters 1 (bits 15 and 31), at slot 0.
  expect(await fe.acked(R.SET_VRING_BASE, statePayload(1, packed ? 0x8000_8000 : 0))).toBe(0n);
  expect(await fe.acked(R.SET_VRING_ADDR, addrPayload({
    index: 1, flags: 0, desc: iovaOf(g, ring.desc), avail: iovaOf(g, ring.driver), used: iovaOf(g, ring.device), log: 0n,
  }))).toBe(0n);
  expect(await fe.acked(R.SET_VRING_CALL, u64Payload(1n), [call.fd])).toBe(0n);
  expect(await fe.acked(R.SET_VRING_KICK, u64Payload(1n), [kick.fd])).toBe(0n);
  expect(await fe.acked(R.SET_VRING_ENABLE, statePayload(1, 1))).toBe(0n);
  return { r, g, fe, peer, ring, driver, kick, call };
}

/** UPDATE of the guest pages holding Wasm offsets [from, to) (RW), acked. */
async function update(s: Setup, from: number, to: number, perm: number = RW): Promise<bigint> {
  const start = from - (from % 4096);
  const end = Math.ceil(to / 4096) * 4096;
  return s.fe.acked(R.IOTLB_MSG, iotlbPayload({ iova: iovaOf(s.g, start), size: BigInt(end - start), uaddr: uaddrOf(s.g, start), perm, type: T.UPDATE }));
}

async function withIommuSession(body: (s: Setup) => Promise<void>, layout: 'split' | 'packed' = 'split'): Promise<void> {
  const r = rig({ iommu: true });
  const g = guest(2 * MiB);
  const fe = RawFrontEnd.connect(r.path);
  const peer = await BackendReqPeer.start(`req${Math.random().toString(36).slice(2, 8)}.sock`);
  let s: Setup | undefined;
  try {
    s = await setUp(r, g, fe, peer, layout);
    await body(s);
  } finally {
    fe.close();
    if (r.server.session) await nextEvent(r.server, 'sessionEnd');
    r.close();
    s?.kick.close();
    s?.call.close();
    peer.close();
    g.close();
    expect(mappings(r.memory)).toEqual([]);
  }
}

describe('vhost-user back-end with an IOMMU (ACCESS_PLATFORM, IOTLB_MSG, BACKEND_REQ)', () => {
  it('offers ACCESS_PLATFORM and PROTOCOL_F_BACKEND_REQ only when asked to (iommu), and takes no IOTLB message without them', async () => {
    for (const iommu of [false, true]) {
      const r = rig({ iommu });
      const fe = RawFrontEnd.connect(r.path);
      try {
        const f = await fe.getU64(R.GET_FEATURES);
        const pf = await fe.getU64(R.GET_PROTOCOL_FEATURES);
        expect(f & FEATURES.ACCESS_PLATFORM).toBe(iommu ? FEATURES.ACCESS_PLATFORM : 0n);
        expect(pf & (1n << BigInt(PF.BACKEND_REQ))).toBe(iommu ? 1n << BigInt(PF.BACKEND_REQ) : 0n);
        await fe.setU64(R.SET_PROTOCOL_FEATURES, pf & PROTOCOL);
        expect(await fe.acked(R.SET_FEATURES, u64Payload(FEATURES.VERSION_1 | F_PROTOCOL))).toBe(0n);
        // Without ACCESS_PLATFORM negotiated (or offered), an IOTLB_MSG is refused.
        expect(await fe.acked(R.IOTLB_MSG, iotlbPayload(msg({})))).toBe(1n);
        expect(r.log.at(-1)).toMatch(iommu
          ? /^IOTLB_MSG: failed: vhost-user IOTLB_MSG: VIRTIO_F_ACCESS_PLATFORM was not negotiated/
          : /^IOTLB_MSG: refused: not supported by this back-end/);
      } finally {
        fe.close();
        if (r.server.session) await nextEvent(r.server, 'sessionEnd');
        r.close();
      }
    }
  });

  it.each(['split', 'packed'] as const)('%s: rings at IOVAs start once their translations come (asked for with MISS); a buffer that misses stays available, the queue healthy, and is taken after its UPDATE', async (layout) => {
    await withIommuSession(async (s) => {
      const { r, g, ring, peer } = s;
      // Nothing translates the ring yet: it waits, and the back-end asked for its areas.
      expect(r.ready.has(1)).toBe(false);
      await until(() => peer.misses.length >= 1, 'MISS requests for the ring areas');
      expect(peer.misses.every((m) => m.type === T.MISS && m.perm === RW && m.size === 0n)).toBe(true);
      expect(peer.misses.map((m) => m.iova)).toContain(iovaOf(g, ring.desc));
      // The pages of the ring come: it starts. (allocRing puts the three areas together, in this order.)
      expect(await update(s, ring.desc, ring.device + 64 * 8 + 8)).toBe(0n);
      expect(r.ready.has(1)).toBe(true);
      expect(r.server.session!.iotlb.entries.length).toBe(1);

      // Three chains whose buffers are in a page the back-end has no translation for.
      const add = new ChainBatch(g.engine, g.privatePlan, 8, 16);
      const buffers = g.plan.alloc(3 * 512, 4096, 'buffers');
      for (let i = 0; i < 3; i++) {
        g.engine.u8.set(Buffer.from(`frame ${i}`), buffers + i * 512);
        add.begin(10 + i);
        add.read(buffers + i * 512, 7);
        add.end();
      }
      expect(s.driver.add(add)).toBe(3);
      const plan = new MemoryPlan(r.memory, { start: 9 * MiB, end: 10 * MiB });
      const batch = new ChainBatch(r.engine, plan, 8, 16);
      const dev = r.ready.get(1)!.device;
      let err: unknown;
      try {
        dev.pop(batch);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(VirtqueueError);
      expect((err as VirtqueueError).message).toMatch(/IOTLB has no translation for yet.*\[IOTLB_MISS, detail 0\]$/);
      expect(dev.missIova).toBe(iovaOf(g, buffers));
      expect([dev.broken, dev.status, dev.inFlight]).toEqual([false, 0, 0]);

      // Its UPDATE: the ring is rebuilt (quiesced: stopped, then started) and the chains come out whole.
      r.events.length = 0;
      expect(await update(s, buffers, buffers + 3 * 512)).toBe(0n);
      expect(r.events).toEqual([{ kind: 'stopped', index: 1 }, { kind: 'ready', index: 1 }]);
      const again = r.ready.get(1)!.device;
      expect(again.pop(batch)).toBe(3);
      for (let i = 0; i < 3; i++) {
        const seg = batch.firstSeg(i);
        expect(Buffer.from(r.engine.u8.subarray(batch.segOffset(seg), batch.segOffset(seg) + 7)).toString()).toBe(`frame ${i}`);
      }
      const used = new UsedBatch(r.engine, plan, 8);
      for (let i = 0; i < 3; i++) used.push(batch.id(i), 0);
      expect(again.push(used)).toBe(3);
      const collected = new UsedBatch(g.engine, g.privatePlan, 8);
      expect(s.driver.collect(collected)).toBe(3);
      expect([0, 1, 2].map((i) => collected.id(i))).toEqual([10, 11, 12]);

      // INVALIDATE of the ring's page: the ring stops and waits for it again (asking with a MISS).
      const before = peer.misses.length;
      r.events.length = 0;
      const page = ring.desc - (ring.desc % 4096);
      expect(await s.fe.acked(R.IOTLB_MSG, iotlbPayload({ iova: iovaOf(g, page), size: PAGE, uaddr: 0n, perm: 0, type: T.INVALIDATE }))).toBe(0n);
      expect(r.events).toEqual([{ kind: 'stopped', index: 1 }]);
      await until(() => peer.misses.length > before, 'MISS after the invalidation');
      // An INVALIDATE of nothing mapped changes nothing (no restart).
      r.events.length = 0;
      expect(await s.fe.acked(R.IOTLB_MSG, iotlbPayload({ iova: 0x9_0000_0000n, size: PAGE, uaddr: 0n, perm: 0, type: T.INVALIDATE }))).toBe(0n);
      expect(r.events).toEqual([]);
      // The device stops (GET_VRING_BASE of its last running ring): every translation goes with it
      // (the guest may reuse the IOVAs meanwhile, with no INVALIDATE for that).
      expect(await update(s, page, page + 4096)).toBe(0n);
      expect(r.ready.has(1)).toBe(true);
      expect(r.server.session!.iotlb.entries.length).toBeGreaterThan(0);
      await s.fe.send(R.GET_VRING_BASE, statePayload(1, 0));
      expect((await s.fe.next())?.request).toBe(R.GET_VRING_BASE);
      expect(r.server.session!.iotlb.entries.length).toBe(0);
    }, layout);
  });

  it('hostile IOTLB messages are refused with the reason, and change nothing', async () => {
    await withIommuSession(async (s) => {
      const { r, g } = s;
      const entries = (): number => r.server.session!.iotlb.entries.length;
      const cases: [Partial<IotlbMsg>, RegExp][] = [
        [{ type: T.MISS }, /MISS: a front-end sends only UPDATE \(2\) and INVALIDATE \(3\)/],
        [{ type: T.ACCESS_FAIL }, /ACCESS_FAIL: a front-end sends only UPDATE/],
        [{ type: 0 }, /type 0: a front-end sends only UPDATE/],
        [{ perm: 0 }, /with permission 0; expected RO \(1\), WO \(2\) or RW \(3\)/],
        [{ perm: 7 }, /with permission 7; expected RO/],
        [{ size: 0n }, /UPDATE of an empty range at IOVA/],
        [{ iova: 2n ** 64n - PAGE, size: 2n * PAGE }, /reaches past 2\^64/],
        [{ uaddr: 2n ** 64n - PAGE, size: 2n * PAGE }, /user addresses 0xfffffffffffff000 \+ size reach past 2\^64/],
        // Outside every memory region: before the region, and running past its end.
        [{ uaddr: UADDR - PAGE, size: PAGE }, /is outside every memory region \(1 mapped\)/],
        [{ uaddr: uaddrOf(g, g.gpa + g.size - 4096), size: 2n * PAGE }, /but 0x7f0000200000 is outside every memory region/],
      ];
      for (const [bad, why] of cases) {
        expect(await s.fe.acked(R.IOTLB_MSG, iotlbPayload(msg({ iova: IOVA, uaddr: UADDR, ...bad })))).toBe(1n);
        expect(r.log.at(-1)).toMatch(new RegExp(`^IOTLB_MSG: failed: vhost-user IOTLB_MSG: .*${why.source}`));
        expect(entries()).toBe(0);
      }
      expect(r.ready.has(1)).toBe(false);
      // A payload of the wrong size ends the session (the stream cannot be trusted after it).
      const ended = nextEvent(r.server, 'sessionEnd');
      await s.fe.send(R.IOTLB_MSG, new Uint8Array(31), [], P.VERSION | P.FLAG_NEED_REPLY);
      const [reason] = await ended;
      expect(reason).toMatch(/IOTLB_MSG: payload of 31 bytes, expected 32/);
    });
  });

  it('virtqueue vhost --iommu turns it on (off by default), and --help says what it does', () => {
    const on = parseVhost(['--socket', 's', '--iommu']);
    const off = parseVhost(['--socket', 's']);
    expect(on.kind === 'vhost' && on.options.iommu).toBe(true);
    expect(off.kind === 'vhost' && off.options.iommu).toBe(false);
    expect(VHOST_USAGE).toMatch(/--iommu {15}a device behind the front-end's IOMMU/);
  });

  it('SET_BACKEND_REQ_FD takes exactly one socket', async () => {
    const r = rig({ iommu: true });
    const fe = RawFrontEnd.connect(r.path);
    const e = EventFd.create();
    try {
      await negotiate(fe, FEATURES.VERSION_1 | FEATURES.ACCESS_PLATFORM | F_PROTOCOL, PROTOCOL);
      expect(await fe.acked(R.SET_BACKEND_REQ_FD, new Uint8Array(0), [])).toBe(1n);
      expect(r.log.at(-1)).toMatch(/SET_BACKEND_REQ_FD: failed: .*0 file descriptors, expected 1 \(a unix socket\)/);
      expect(await fe.acked(R.SET_BACKEND_REQ_FD, new Uint8Array(0), [e.fd])).toBe(1n);
      expect(r.log.at(-1)).toMatch(/SET_BACKEND_REQ_FD: failed: .*the back-end request fd is a eventfd, not a socket/);
    } finally {
      e.close();
      fe.close();
      if (r.server.session) await nextEvent(r.server, 'sessionEnd');
      r.close();
    }
  });
});
