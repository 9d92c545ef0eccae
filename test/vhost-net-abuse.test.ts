// Abuse limits of the virtio-net device behind the vhost-user back-end (issue 11, item 4), on
// split and packed rings, against the real device on its worker with a driver in the test:
// - a front-end that floods harmless control messages while frames flow: every frame arrives
//   intact and every reply is well-formed and in order (the rate is bench:vhost-control's);
// - the device never writes into a device-readable buffer (VIRTIO 1.2 §2.7.5.1: "A device MUST
//   NOT write to a device-readable buffer"): receive buffers that are device-readable, wholly or
//   in part, or in the wrong order (§2.7.4.2), and transmit chains after forwarding, are left
//   byte for byte as the driver wrote them.
import { afterAll, describe, expect, it } from 'vitest';
import type { RingLayout } from '../src/index.js';
import * as S from '../assembly/layout/split.js';
import * as PK from '../assembly/layout/packed.js';
import * as P from '../src/vhost-user/protocol.js';
import { configPayload } from '../src/vhost-user/message.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { until, sleep } from './helpers/within.js';
import { removeSocketDir } from './helpers/vhost-user-rig.js';
import { netWorld, expectLogged, type NetWorld } from './helpers/vhost-net-rig.js';
import { testFrame, HDR, type GuestPair } from './helpers/vhost-net-frontend.js';

checkFdLeaks();
afterAll(removeSocketDir);

const R = P.Request;


/** A copy of guest memory [from, to). */
const bytes = (w: NetWorld, from: number, to: number): Uint8Array => w.g.engine.u8.slice(from, to);

/** Where `after` first differs from `before` (-1: nowhere), for a readable failure. */
function firstChange(before: Uint8Array, after: Uint8Array): number {
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) return i;
  return -1;
}

/** Chains the device used on queue `q`, collected straight from the ring (no frame parsing). */
function usedOn(q: GuestPair['rxq']): { id: number; len: number }[] {
  const n = q.driver.collect(q.used);
  return Array.from({ length: n }, (_, i) => ({ id: q.used.id(i), len: q.used.len(i) }));
}

/** Waits until `n` chains came back used on `q` (GuestPair.collect would parse receive buffers as frames). */
async function usedChains(q: GuestPair['rxq'], n: number, what: string): Promise<{ id: number; len: number }[]> {
  const used: { id: number; len: number }[] = [];
  await until(() => { used.push(...usedOn(q)); return used.length >= n; }, what);
  return used;
}

describe.each<RingLayout>(['split', 'packed'])('%s rings', (layout) => {
  describe('a front-end that floods control messages during traffic', () => {
    it('every frame arrives intact and in order, every reply is well-formed, in order and right', async () => {
      const w = await netWorld({ mode: 'io', layout });
      try {
        const { fe } = w;
        const p = w.pairs[0];
        // What each harmless request answers (none of them stops a ring: no GET_VRING_BASE).
        const expected = new Map<number, Uint8Array>();
        for (const request of [R.GET_FEATURES, R.GET_PROTOCOL_FEATURES, R.GET_QUEUE_NUM, R.GET_MAX_MEM_SLOTS, R.GET_STATUS]) {
          expected.set(request, (await fe.call(request)).payload);
        }
        expect(await fe.getU64(R.GET_QUEUE_NUM)).toBe(4n);
        const config = configPayload(0, 0, new Uint8Array(12));
        expected.set(R.GET_CONFIG, (await fe.call(R.GET_CONFIG, config)).payload);
        const flood = [...expected.keys()];
        const ROUNDS = 60;
        const BURST = 32;
        const PER_ROUND = 120;
        let answered = 0;
        const frames: Uint8Array[] = [];
        p.postRx(BURST);
        for (let round = 0; round < ROUNDS; round++) {
          // The flood goes into the socket first, then the frames: the control plane answers
          // while the worker forwards.
          const sent: Promise<void>[] = [];
          const asked: number[] = [];
          for (let i = 0; i < PER_ROUND; i++) {
            const request = flood[(round + i) % flood.length];
            // Half of them with NEED_REPLY: a request with a reply of its own still gets one reply.
            const flags = P.VERSION | (i % 2 === 0 ? P.FLAG_NEED_REPLY : 0);
            sent.push(fe.send(request, request === R.GET_CONFIG ? config : undefined, [], flags));
            asked.push(request);
          }
          const burst = Array.from({ length: BURST }, (_, i) => testFrame(60 + ((round * BURST + i) % 1455), round * BURST + i));
          frames.push(...burst);
          p.send(burst);
          const got = await p.receive(BURST);
          expect(got.map((f) => f.frame)).toEqual(burst);
          p.postRx(BURST);
          await Promise.all(sent);
          for (const request of asked) {
            const m = await fe.next();
            expect(m, `reply ${answered}`).toBeDefined();
            expect({ request: P.requestName(m!.request), flags: m!.flags }).toEqual({ request: P.requestName(request), flags: P.VERSION | P.FLAG_REPLY });
            expect(m!.fds).toEqual([]);
            expect(m!.payload).toEqual(expected.get(request));
            answered++;
          }
        }
        expect(answered).toBe(ROUNDS * PER_ROUND);
        expect(fe.drain()).toBe(0); // not one reply more than asked for
        await until(() => w.device.totals().txPackets === frames.length, 'the counters');
        expect(w.device.totals()).toMatchObject({ rxPackets: frames.length, txPackets: frames.length, dropped: 0, txErrors: 0, rxErrors: 0 });
        expect(w.r.server.session).toBeDefined();
        expect(w.r.log.filter((l) => l.startsWith('connection ended'))).toEqual([]);
      } finally {
        await w.close();
      }
    });
  });

  describe('the device never writes into a device-readable buffer (VIRTIO 1.2 §2.7.5.1)', () => {
    it('receive buffers that are wholly device-readable: returned used with length 0 and counted, never written; the frames dropped; the queue goes on', async () => {
      const w = await netWorld({ mode: 'io', layout });
      try {
        const p = w.pairs[0];
        const q = p.rxq;
        w.g.engine.u8.fill(0x5a, q.buf(0), q.buf(4));
        const before = bytes(w, q.buf(0), q.buf(4));
        q.batch.clear();
        for (let id = 0; id < 4; id++) q.batch.single(id, q.buf(id), q.bufSize, false);
        expect(q.driver.add(q.batch)).toBe(4);
        q.kick.signal();
        p.send([testFrame(100, 1), testFrame(200, 2)]);
        await usedChains(p.txq, 2, 'both transmit chains back');
        await until(() => w.device.totals().dropped === 2, 'both frames dropped');
        const used = await usedChains(q, 4, 'the four receive buffers back');
        expect(used.sort((a, b) => a.id - b.id)).toEqual([0, 1, 2, 3].map((id) => ({ id, len: 0 })));
        expect(w.device.totals()).toMatchObject({ rxPackets: 2, txPackets: 0, dropped: 2, rxErrors: 4 });
        expect(firstChange(before, bytes(w, q.buf(0), q.buf(4)))).toBe(-1);
        // Writable buffers after them are used as ever.
        p.postRx(4, 4);
        const frame = testFrame(300, 3);
        p.send([frame]);
        expect((await p.receive(1))[0].frame).toEqual(frame);
      } finally {
        await w.close();
      }
    });

    it('txonly: receive buffers that are wholly device-readable get no frame written into them', async () => {
      const w = await netWorld({ mode: 'txonly', layout });
      try {
        const p = w.pairs[0];
        const q = p.rxq;
        w.g.engine.u8.fill(0xa7, q.buf(0), q.buf(8));
        const before = bytes(w, q.buf(0), q.buf(8));
        q.batch.clear();
        for (let id = 0; id < 8; id++) q.batch.single(id, q.buf(id), q.bufSize, false);
        expect(q.driver.add(q.batch)).toBe(8);
        q.kick.signal();
        const used = await usedChains(q, 8, 'the eight receive buffers back');
        expect(used.every((u) => u.len === 0)).toBe(true);
        expect(firstChange(before, bytes(w, q.buf(0), q.buf(8)))).toBe(-1);
        await until(() => w.device.totals().rxErrors === 8, 'the eight counted');
        expect(w.device.totals().txPackets).toBe(0);
      } finally {
        await w.close();
      }
    });

    it('a receive chain with a device-readable part before its writable one: the frame goes into the writable part only', async () => {
      const w = await netWorld({ mode: 'io', layout });
      try {
        const p = w.pairs[0];
        const q = p.rxq;
        const at = q.buf(0);
        const READ = 256;
        w.g.engine.u8.fill(0x3c, at, at + q.bufSize);
        const before = bytes(w, at, at + q.bufSize);
        q.batch.clear();
        q.batch.begin(0);
        q.batch.read(at, READ);
        q.batch.write(at + READ, q.bufSize - READ);
        q.batch.end();
        expect(q.driver.add(q.batch)).toBe(1);
        q.kick.signal();
        const frame = testFrame(500, 4);
        p.send([frame]);
        await usedChains(p.txq, 1, 'the transmit chain back');
        const used = await usedChains(q, 1, 'the receive buffer back');
        expect(used).toEqual([{ id: 0, len: HDR + frame.length }]);
        const after = bytes(w, at, at + q.bufSize);
        // The readable part as it was; the header and frame at the start of the writable part; the rest as it was.
        expect(firstChange(before.subarray(0, READ), after.subarray(0, READ))).toBe(-1);
        expect([...after.subarray(READ, READ + HDR)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        expect(after.subarray(READ + HDR, READ + HDR + frame.length)).toEqual(frame);
        expect(firstChange(before.subarray(READ + HDR + frame.length), after.subarray(READ + HDR + frame.length))).toBe(-1);
      } finally {
        await w.close();
      }
    });

    it('a receive chain with a device-readable descriptor after a writable one (§2.7.4.2): the ring stops with WRITABLE_BEFORE_READABLE, neither buffer is written', async () => {
      const w = await netWorld({ mode: 'io', layout });
      try {
        const p = w.pairs[0];
        const q = p.rxq;
        const at = q.buf(0);
        w.g.engine.u8.fill(0x96, at, at + q.bufSize);
        const before = bytes(w, at, at + q.bufSize);
        q.batch.clear();
        q.batch.begin(0);
        q.batch.write(at, 1024);
        q.batch.write(at + 1024, q.bufSize - 1024);
        q.batch.end();
        expect(q.driver.add(q.batch)).toBe(1);
        // The driver in the test refuses to build such a chain, so a hostile one rewrites the
        // second descriptor's flags in the ring before the device reads it (it reads receive
        // buffers only when a frame comes).
        dropWriteFlagOfSecond(w, p, layout);
        q.kick.signal();
        p.send([testFrame(100, 5)]);
        await expectLogged(w, /vring 0: device-readable descriptor after a device-writable one \(VIRTIO 1\.2 §2\.(7\.4\.2|8\.17)\) \[WRITABLE_BEFORE_READABLE\]/);
        await usedChains(p.txq, 1, 'the transmit chain back');
        await sleep(20);
        expect(usedOn(q)).toEqual([]);
        expect(firstChange(before, bytes(w, at, at + q.bufSize))).toBe(-1);
        expect(w.device.totals()).toMatchObject({ txPackets: 0 });
      } finally {
        await w.close();
      }
    });

    for (const mode of ['io', 'macswap'] as const) {
      it(`${mode}: transmit chains are left byte for byte as the driver wrote them, their writable segments too (used length 0)`, async () => {
        const w = await netWorld({ mode, layout });
        try {
          const p = w.pairs[0];
          const q = p.txq;
          const n = 16;
          p.postRx(n);
          const frames = Array.from({ length: n }, (_, i) => testFrame(64 + i * 90, 20 + i));
          // Each chain: the header and frame device-readable, then 64 device-writable bytes.
          w.g.engine.u8.fill(0xe1, q.buf(0), q.buf(n));
          q.batch.clear();
          frames.forEach((f, i) => {
            const at = q.buf(i);
            w.g.engine.u8.fill(0, at, at + HDR);
            w.g.engine.u8.set(f, at + HDR);
            q.batch.begin(i);
            q.batch.read(at, HDR + f.length);
            q.batch.write(at + 8192, 64);
            q.batch.end();
          });
          const before = bytes(w, q.buf(0), q.buf(n));
          expect(q.driver.add(q.batch)).toBe(n);
          q.kick.signal();
          const txUsed = await usedChains(q, n, `${n} transmit chains back`);
          expect(txUsed.every((u) => u.len === 0)).toBe(true);
          const got = await p.receive(n);
          for (const [i, f] of got.entries()) {
            const want = mode === 'io' ? frames[i] : new Uint8Array([...frames[i].subarray(6, 12), ...frames[i].subarray(0, 6), ...frames[i].subarray(12)]);
            expect(f.frame).toEqual(want);
          }
          expect(firstChange(before, bytes(w, q.buf(0), q.buf(n)))).toBe(-1);
        } finally {
          await w.close();
        }
      });
    }
  });
});

/**
 * Makes the second descriptor of the receive chain just added device-readable, as a hostile
 * driver could: in the split descriptor table (found through the available ring) or, on a
 * packed ring, in slot 1 (the chain was the first added: slots 0 and 1).
 */
function dropWriteFlagOfSecond(w: NetWorld, p: GuestPair, layout: RingLayout): void {
  const { u16 } = w.g.engine;
  const ring = p.rxq.ring;
  if (layout === 'split') {
    const idx = u16[(ring.driver + S.AVAIL_IDX) >>> 1];
    const head = u16[(ring.driver + S.AVAIL_RING + ((idx - 1) % p.rxq.num) * S.AVAIL_ELEM_SIZE) >>> 1];
    const first = ring.desc + head * S.DESC_SIZE;
    expect(u16[(first + S.DESC_FLAGS) >>> 1] & (S.DESC_F_NEXT | S.DESC_F_WRITE)).toBe(S.DESC_F_NEXT | S.DESC_F_WRITE);
    const second = ring.desc + u16[(first + S.DESC_NEXT) >>> 1] * S.DESC_SIZE;
    u16[(second + S.DESC_FLAGS) >>> 1] &= ~S.DESC_F_WRITE;
  } else {
    const flags = (slot: number): number => ring.desc + slot * PK.PDESC_SIZE + PK.PDESC_FLAGS;
    expect(u16[flags(0) >>> 1] & (PK.PDESC_F_NEXT | PK.PDESC_F_WRITE)).toBe(PK.PDESC_F_NEXT | PK.PDESC_F_WRITE);
    expect(u16[flags(1) >>> 1] & PK.PDESC_F_WRITE).toBe(PK.PDESC_F_WRITE);
    u16[flags(1) >>> 1] &= ~PK.PDESC_F_WRITE;
  }
}
