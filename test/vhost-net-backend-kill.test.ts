// The back-end killed with SIGKILL in the middle of io traffic, again and again, on split and on
// packed rings (VIRTQUEUE_BACKEND_KILL_RUNS, default 10 per layout): each time a new
// `virtqueue vhost` process takes the same socket and state file, and the front-end (this test's
// driver, a virtio-net driver in guest memory it keeps) sets the rings up again as QEMU does
// after a back-end crash: split rings at the used index it reads back from guest memory, packed
// rings at the position of their first start (QEMU keeps no packed position). It goes on
// transmitting while the back-end is dead, so frames wait in the transmit ring across the kill.
//
// What is checked: every frame transmitted comes back at least once (io echoes it), unchanged; no
// chain is completed twice (the engine's driver refuses a used id that is not in flight, which
// breaks its queue); none is left dangling (at the end every transmit chain is back and every
// receive buffer posted is the driver's or the device's, none lost); and the duplicates stay
// within the bound: a frame may come back twice only when the kill fell after the device
// published the receive buffer it was copied into and before it published its transmit chain,
// at most one transmit burst (32) per kill. The packed back-ends say in their log that they
// resumed from the state file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocRing, createDriver, ChainBatch, UsedBatch, FEATURES, type RingLayout, type DriverQueue, type RingAreas } from '../src/index.js';
import { EventFd } from '../src/native/index.js';
import * as S from '../assembly/layout/split.js';
import { RawFrontEnd } from './helpers/vhost-user-frontend.js';
import { bringUp, setupVring } from './helpers/vhost-user-bringup.js';
import { guest, MiB, type Guest } from './helpers/vhost-user-rig.js';
import { startBackend, type Backend } from './helpers/qemu.js';
import { until, within } from './helpers/within.js';

const RUNS = Number(process.env.VIRTQUEUE_BACKEND_KILL_RUNS ?? 10);
const NUM = 256;
const BURST = 32;
const BUF = 2048;
const HDR = 12;
const FRAME = 64;
const PACKED_FIRST_BASE = 0x8000_8000; // slot 0, both wrap counters 1

interface Queue {
  index: number;
  areas: RingAreas;
  driver: DriverQueue;
  kick: EventFd;
  call: EventFd;
  batch: ChainBatch;
  used: UsedBatch;
  bufs: number;
}

/** A virtio-net driver (one queue pair) in guest memory that outlives every back-end. */
class Driver {
  readonly rx: Queue;
  readonly tx: Queue;
  private readonly freeTx: number[] = [];
  sent = 0;
  /** How many times each sequence number came back. */
  readonly seen = new Map<number, number>();
  corrupt = 0;
  received = 0;
  running = false;
  failure: Error | undefined;

  constructor(readonly g: Guest, readonly layout: RingLayout) {
    const features = FEATURES.VERSION_1 | (layout === 'packed' ? FEATURES.RING_PACKED : 0n);
    const make = (index: number): Queue => {
      const areas = allocRing(g.plan, { layout, queueSize: NUM });
      return {
        index, areas, driver: createDriver(g.engine, g.privatePlan, layout, areas, { features }), kick: EventFd.create(), call: EventFd.create(),
        batch: new ChainBatch(g.engine, g.privatePlan, NUM, NUM), used: new UsedBatch(g.engine, g.privatePlan, NUM), bufs: g.plan.alloc(NUM * BUF, 64),
      };
    };
    this.rx = make(0);
    this.tx = make(1);
    for (let id = 0; id < NUM; id++) this.freeTx.push(id);
    // Every receive buffer posted once; each goes back as soon as it returns.
    this.rx.batch.clear();
    for (let id = 0; id < NUM; id++) this.rx.batch.single(id, this.rx.bufs + id * BUF, BUF, true);
    expect(this.rx.driver.add(this.rx.batch)).toBe(NUM);
  }

  /** The base QEMU sends for a ring after a back-end crash. */
  base(q: Queue): number {
    if (this.layout === 'packed') return PACKED_FIRST_BASE;
    return this.g.engine.u16[(q.areas.device + S.USED_IDX) >>> 1];
  }

  private frame(seq: number, at: number): void {
    const u8 = this.g.engine.u8;
    u8.fill(0, at, at + HDR);
    const f = at + HDR;
    u8.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5], f);
    new DataView(u8.buffer).setUint32(f + 14, seq, true);
    for (let i = 18; i < FRAME; i++) u8[f + i] = (seq + i) & 0xff;
  }

  private check(at: number, len: number): number | undefined {
    const u8 = this.g.engine.u8;
    const f = at + HDR;
    if (len !== HDR + FRAME) return undefined;
    const seq = new DataView(u8.buffer).getUint32(f + 14, true);
    for (let i = 18; i < FRAME; i++) if (u8[f + i] !== ((seq + i) & 0xff)) return undefined;
    return seq;
  }

  /** One turn: a burst out (while `sending`), everything used collected, receive buffers posted again. */
  turn(sending: boolean): void {
    const { rx, tx } = this;
    if (sending && this.freeTx.length > 0) {
      tx.batch.clear();
      for (let k = 0; k < BURST && this.freeTx.length > 0; k++) {
        const id = this.freeTx.pop()!;
        this.frame(this.sent++, tx.bufs + id * BUF);
        tx.batch.single(id, tx.bufs + id * BUF, HDR + FRAME, false);
      }
      expect(tx.driver.add(tx.batch)).toBe(tx.batch.count);
      if (tx.driver.kickNeeded()) tx.kick.signal();
    }
    const nt = tx.driver.collect(tx.used);
    for (let i = 0; i < nt; i++) this.freeTx.push(tx.used.id(i));
    const nr = rx.driver.collect(rx.used);
    if (nr > 0) {
      rx.batch.clear();
      for (let i = 0; i < nr; i++) {
        const id = rx.used.id(i);
        const seq = this.check(rx.bufs + id * BUF, rx.used.len(i));
        if (seq === undefined) this.corrupt++;
        else this.seen.set(seq, (this.seen.get(seq) ?? 0) + 1);
        rx.batch.single(id, rx.bufs + id * BUF, BUF, true);
      }
      this.received += nr;
      expect(rx.driver.add(rx.batch)).toBe(nr);
      if (rx.driver.kickNeeded()) rx.kick.signal();
    }
  }

  /** Turns until stopped (or a turn throws: `failure`). */
  start(): void {
    this.running = true;
    this.sending = true;
    const loop = (): void => {
      if (!this.running) return;
      try {
        this.turn(this.sending);
      } catch (e) {
        this.failure = e as Error;
        this.running = false;
        return;
      }
      setImmediate(loop);
    };
    setImmediate(loop);
  }

  sending = true;

  get txInFlight(): number {
    return this.tx.driver.inFlight;
  }

  close(): void {
    for (const q of [this.rx, this.tx]) {
      q.kick.close();
      q.call.close();
    }
  }
}

/** The session a front-end brings up (as QEMU does when it connects, or reconnects after a crash). */
async function connect(socket: string, d: Driver): Promise<RawFrontEnd> {
  const fe = RawFrontEnd.connect(socket);
  const g = d.g;
  await bringUp(fe, FEATURES.VERSION_1 | (1n << 30n) | (d.layout === 'packed' ? FEATURES.RING_PACKED : 0n), g.region, g.fd);
  for (const q of [d.rx, d.tx]) {
    await setupVring(fe, {
      index: q.index, num: NUM, base: d.base(q),
      desc: g.uaddr(q.areas.desc), avail: g.uaddr(q.areas.driver), used: g.uaddr(q.areas.device), call: q.call.fd, kick: q.kick.fd,
    });
    q.kick.signal();
  }
  return fe;
}

describe('the back-end killed mid-traffic and started again on the same socket and state file', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'vq-bekill-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const layout of ['split', 'packed'] as const) {
    it(`${RUNS} SIGKILLs, ${layout} rings: every frame back at least once and unchanged, none completed twice or left dangling`, async () => {
      const socket = join(dir, `${layout}.sock`);
      const g = guest(8 * MiB);
      const d = new Driver(g, layout);
      let backend: Backend | undefined;
      let fe: RawFrontEnd | undefined;
      const logs: string[] = [];
      const start = (): Promise<Backend> => startBackend({ socket, fwd: 'io', guestMemMb: 64, duration: 120, extraArgs: ['--state', `${socket}.inflight`] });
      try {
        for (let run = 0; run <= RUNS; run++) {
          backend = await start();
          fe = await connect(socket, d);
          if (run === 0) d.start();
          // Frames flow through this back-end...
          const from = d.received;
          await until(() => d.failure !== undefined || d.received >= from + 500, `run ${run}: 500 frames through the back-end`, 10_000)
            .catch((e: Error) => { throw new Error(`${e.message}\nits log:\n${backend!.log()}\nthe one before:\n${logs.at(-1) ?? ''}`); });
          if (d.failure) throw d.failure;
          if (run === RUNS) break;
          // ... and it dies in the middle of them, at a varying point.
          await new Promise((r) => setTimeout(r, run % 5));
          await backend.kill();
          logs.push(backend.log());
          await within<void>(5_000, `run ${run}: the front-end sees the hang-up`, (done) => {
            const poll = (): void => { if (fe!.ended) done(); else setTimeout(poll, 5); };
            poll();
          });
          fe.close();
          // The driver keeps transmitting into the ring while nobody serves it.
          await new Promise((r) => setTimeout(r, 20));
        }
        // Drain: stop sending; every chain comes back, every frame has been seen.
        d.sending = false;
        await until(() => d.failure !== undefined || (d.txInFlight === 0 && d.seen.size === d.sent), 'every transmitted frame echoed and its chain back', 15_000);
        if (d.failure) throw d.failure;
        d.running = false;
        const summary = await backend!.stop();
        logs.push(backend!.log());
        const duplicates = [...d.seen.values()].reduce((s, n) => s + n - 1, 0);
        // Chains the restarted back-ends found in flight in their regions (popped again): the kill
        // fell inside a burst (rare: between bursts the device holds nothing).
        const inflightAtKill = logs.reduce((s, l) => s + [...l.matchAll(/(\d+) chains? in flight/g)].reduce((t, m) => t + Number(m[1]), 0), 0);
        const report = { layout, kills: RUNS, sent: d.sent, received: d.received, distinct: d.seen.size, duplicates, corrupt: d.corrupt, inflightAtKill };
        console.log(`vhost-net-backend-kill: ${JSON.stringify(report)}`);
        expect(d.corrupt).toBe(0);
        for (let seq = 0; seq < d.sent; seq++) expect(d.seen.get(seq) ?? 0, `frame ${seq}`).toBeGreaterThanOrEqual(1);
        expect(d.received).toBe(d.sent + duplicates);
        expect(duplicates).toBeLessThanOrEqual(BURST * RUNS);
        // Nothing dangling: the transmit ring is empty, every receive buffer is posted (the driver's view).
        expect([d.tx.driver.inFlight, d.rx.driver.inFlight, d.tx.driver.broken, d.rx.driver.broken]).toEqual([0, NUM, false, false]);
        expect(summary.errors).toBe(0);
        // Every back-end after the first resumed both rings from the state file.
        for (const [i, log] of logs.slice(1).entries()) {
          const resumed = [...log.matchAll(/vring (\d): resumed from the state file/g)].map((m) => m[1]).sort();
          expect(resumed, `back-end ${i + 1}:\n${log}`).toEqual(['0', '1']);
        }
      } finally {
        d.running = false;
        fe?.close();
        await backend?.kill();
        d.close();
        g.close();
      }
    }, 240_000);
  }
});
