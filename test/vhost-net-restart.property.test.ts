// Stopping and restarting rings at random points of io traffic, split and packed (vhost-user.rst
// "Ring states"): GET_VRING_BASE then SET_VRING_BASE with the value it returned and a new kick,
// and SET_VRING_ENABLE 0 then 1, on either queue, between random sends, receive-buffer posts,
// collections and pauses, while the device's worker forwards. Every buffer comes back exactly
// once (the engine's driver refuses a used entry that is not in flight, and the test checks each
// frame's sequence number), no frame is duplicated or lost (received + dropped = sent), every
// transmit buffer comes back, and a stopped ring's base says the device holds nothing (split:
// base = used.idx in guest memory; packed: the avail half = the used half), even after bursts
// that popped receive buffers and gave some back (frames too big for them are dropped).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as P from '../src/vhost-user/protocol.js';
import { statePayload, readState, u64Payload } from '../src/vhost-user/message.js';
import type { RingLayout } from '../src/index.js';
import { until } from './helpers/within.js';
import { netWorld, type NetWorld } from './helpers/vhost-net-rig.js';

const RUNS = Math.max(5, Math.round(Number(process.env.VIRTQUEUE_PROPERTY_RUNS ?? 200) / 8));
const NUM = 32;
const HDR = 12;
const FRAME = 64;
const BIG = 3000;

type Cmd =
  | { kind: 'send'; n: number; big: boolean }
  | { kind: 'post'; n: number }
  | { kind: 'collect' }
  | { kind: 'restart'; rx: boolean }
  | { kind: 'toggle'; rx: boolean }
  | { kind: 'pause'; ms: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  // Big frames do not fit a receive buffer (no MRG_RXBUF): dropped, the buffer given back.
  { weight: 4, arbitrary: fc.record({ n: fc.integer({ min: 1, max: 8 }), big: fc.boolean() }).map((c) => ({ kind: 'send' as const, ...c })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 8 }).map((n) => ({ kind: 'post' as const, n })) },
  { weight: 3, arbitrary: fc.constant({ kind: 'collect' as const }) },
  { weight: 2, arbitrary: fc.boolean().map((rx) => ({ kind: 'restart' as const, rx })) },
  { weight: 2, arbitrary: fc.boolean().map((rx) => ({ kind: 'toggle' as const, rx })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }).map((ms) => ({ kind: 'pause' as const, ms })) },
);

/** One session's worth of traffic under the commands; throws on any lost, duplicated or stray buffer. */
async function run(w: NetWorld, layout: RingLayout, cmds: Cmd[]): Promise<void> {
  const p = w.pairs[0];
  const { rxq, txq } = p;
  const u8 = w.g.engine.u8;
  const rxFree = Array.from({ length: NUM }, (_, i) => i);
  const txFree = Array.from({ length: NUM }, (_, i) => i);
  const received = new Set<number>();
  let sent = 0;
  const droppedBefore = w.device.totals().dropped;

  const post = (n: number): void => {
    rxq.batch.clear();
    for (const id of rxFree.splice(0, n)) rxq.batch.single(id, rxq.buf(id), rxq.bufSize, true);
    if (rxq.batch.count === 0) return;
    expect(rxq.driver.add(rxq.batch)).toBe(rxq.batch.count);
    rxq.kick.signal();
  };
  const send = (n: number, big: boolean): void => {
    const len = big ? BIG : FRAME;
    txq.batch.clear();
    for (const id of txFree.splice(0, n)) {
      const at = txq.buf(id);
      u8.fill(0, at, at + HDR + len);
      new DataView(u8.buffer).setUint32(at + HDR + 14, sent++, true);
      txq.batch.single(id, at, HDR + len, false);
    }
    if (txq.batch.count === 0) return;
    expect(txq.driver.add(txq.batch)).toBe(txq.batch.count);
    txq.kick.signal();
  };
  const collect = (): void => {
    const nt = txq.driver.collect(txq.used);
    for (let i = 0; i < nt; i++) txFree.push(txq.used.id(i));
    const nr = rxq.driver.collect(rxq.used);
    for (let i = 0; i < nr; i++) {
      const id = rxq.used.id(i);
      expect(rxq.used.len(i)).toBe(HDR + FRAME);
      const seq = new DataView(u8.buffer).getUint32(rxq.buf(id) + HDR + 14, true);
      expect(seq, 'a frame that was sent').toBeLessThan(sent);
      expect(received.has(seq), `frame ${seq} received twice`).toBe(false);
      received.add(seq);
      rxFree.push(id);
    }
  };
  const restart = async (index: number, q: typeof rxq): Promise<void> => {
    const base = readState(await w.fe.call(P.Request.GET_VRING_BASE, statePayload(index, 0))).num;
    // The device holds nothing between bursts: what it took from the ring, it used.
    if (layout === 'split') expect(base).toBe(w.g.engine.u16[(q.ring.used! + 2) >>> 1]);
    else expect(base & 0xffff).toBe(base >>> 16);
    expect(await w.fe.acked(P.Request.SET_VRING_BASE, statePayload(index, base))).toBe(0n);
    expect(await w.fe.acked(P.Request.SET_VRING_KICK, u64Payload(BigInt(index)), [q.kick.fd])).toBe(0n);
  };
  const toggle = async (index: number): Promise<void> => {
    expect(await w.fe.acked(P.Request.SET_VRING_ENABLE, statePayload(index, 0))).toBe(0n);
    expect(await w.fe.acked(P.Request.SET_VRING_ENABLE, statePayload(index, 1))).toBe(0n);
  };

  for (const c of cmds) {
    if (c.kind === 'send') send(c.n, c.big);
    else if (c.kind === 'post') post(c.n);
    else if (c.kind === 'collect') collect();
    else if (c.kind === 'restart') await restart(c.rx ? 0 : 1, c.rx ? rxq : txq);
    else if (c.kind === 'toggle') await toggle(c.rx ? 0 : 1);
    else await new Promise((r) => setTimeout(r, c.ms));
  }
  // Drain: every frame sent is received or was dropped (no receive buffer at the time), and
  // every transmit buffer comes back.
  await until(() => {
    collect();
    post(rxFree.length);
    return txFree.length === NUM && received.size + (w.device.totals().dropped - droppedBefore) === sent;
  }, `all ${sent} frames accounted for (received ${received.size})`);
  expect(w.device.totals().txErrors + w.device.totals().rxErrors).toBe(0);
}

describe.each<RingLayout>(['split', 'packed'])('rings stopped, restarted, disabled and enabled under io traffic, %s', (layout) => {
  it('every buffer comes back exactly once, no frame lost or duplicated', async () => {
    const w = await netWorld({ mode: 'io', num: NUM, layout, devicePairs: 1 });
    try {
      let first = true;
      await fc.assert(fc.asyncProperty(fc.array(cmd, { minLength: 5, maxLength: 40 }), async (cmds) => {
        if (!first) {
          for (const p of w.pairs) p.close();
          w.fe.close();
          await until(() => w.r.server.session === undefined, 'the previous session ended');
          await w.reconnect();
        }
        first = false;
        await run(w, layout, cmds);
      }), { numRuns: RUNS });
      expect(w.r.log.filter((l) => /engine stopped|failure|not started/.test(l))).toEqual([]);
    } finally {
      await w.close();
    }
  }, 120_000);
});
