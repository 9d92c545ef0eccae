// A vhost-user front-end in a process of its own (compiled to dist/test/helpers/, run with
// node), for tests that kill it with SIGKILL mid-traffic and for the control-plane latency
// benchmark. It brings up one queue pair of split or packed rings in a memfd it maps, then runs
// a virtio-net driver in a loop: receive buffers always posted, 32-frame bursts transmitted,
// everything collected. It prints one JSON line when frames flow ({"flowing": n}) and, with
// --probe, round trips of GET_FEATURES measured while the traffic runs ({"probe": [...ms]}).
// With --ping N it sends no stream but N lone frames, one every --gap ms (default 2, long enough
// for an adaptive worker to fall asleep), kicking for each, and times each echo ({"ping": [...ms]}).
// With --measure S it counts the frames that come back over S seconds once traffic flows
// ({"rate": {frames, seconds, fps, control}}); --flood W meanwhile keeps W harmless control
// requests (GET_FEATURES, GET_QUEUE_NUM, GET_PROTOCOL_FEATURES, GET_MAX_MEM_SLOTS) in flight on
// the vhost-user socket, sending another for each reply (control: replies in the window).
//
//   node dist/test/helpers/frontend-process.js SOCKET split|packed [--probe N] [--ping N [--gap MS]]
//     [--measure S [--flood W]] [--seconds S]
import { createSharedMemory, MemoryPlan, allocRing, createDriver, ChainBatch, UsedBatch, FEATURES, type RingLayout } from '../../src/index.js';
import { loadEngine } from '../../src/node.js';
import { memfdCreate, mapIntoMemory, EventFd } from '../../src/native/index.js';
import * as P from '../../src/vhost-user/protocol.js';
import { RawFrontEnd } from './vhost-user-frontend.js';
import { bringUp, setupVring } from './vhost-user-bringup.js';

const MiB = 1 << 20;
const [socket, layoutArg, ...rest] = process.argv.slice(2);
const layout = (layoutArg === 'packed' ? 'packed' : 'split') as RingLayout;
const flag = (name: string): number | undefined => {
  const i = rest.indexOf(name);
  return i >= 0 ? Number(rest[i + 1]) : undefined;
};
const probes = flag('--probe') ?? 0;
const pings = flag('--ping') ?? 0;
const gapMs = flag('--gap') ?? 2;
const seconds = flag('--seconds') ?? 3600;
const measureS = flag('--measure') ?? 0;
const floodW = flag('--flood') ?? 0;
const FLOOD = [P.Request.GET_FEATURES, P.Request.GET_QUEUE_NUM, P.Request.GET_PROTOCOL_FEATURES, P.Request.GET_MAX_MEM_SLOTS];
const NUM = 256;
const BUF = 2048;
const HDR = 12;

const out = (o: unknown): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
const fail = (e: unknown): never => {
  process.stderr.write(`frontend-process: ${(e as Error).message}\n`);
  process.exit(1);
};

async function main(): Promise<void> {
  const memory = createSharedMemory(48 * MiB);
  const engine = loadEngine(memory);
  const gpa = 16 * MiB;
  const size = 16 * MiB;
  const fd = memfdCreate('frontend-guest', size);
  mapIntoMemory(memory, gpa, fd, 0, size);
  const gplan = new MemoryPlan(memory, { start: gpa, end: gpa + size });
  const pplan = new MemoryPlan(memory, { start: 64 * 1024, end: gpa });
  const uaddr = (off: number): bigint => 0x7f00_0000_0000n + BigInt(off - gpa);
  let features = FEATURES.VERSION_1 | (1n << 30n);
  if (layout === 'packed') features |= FEATURES.RING_PACKED;

  const fe = RawFrontEnd.connect(socket);
  await bringUp(fe, features, { gpa: BigInt(gpa), size: BigInt(size), uaddr: uaddr(gpa), mmapOffset: 0n }, fd);

  const queues = [0, 1].map((index) => {
    const areas = allocRing(gplan, { layout, queueSize: NUM });
    const driver = createDriver(engine, pplan, layout, areas, { features });
    return { index, areas, driver, kick: EventFd.create(), call: EventFd.create(), batch: new ChainBatch(engine, pplan, NUM, NUM), used: new UsedBatch(engine, pplan, NUM), bufs: gplan.alloc(NUM * BUF, 64) };
  });
  for (const q of queues) {
    await setupVring(fe, {
      index: q.index, num: NUM, base: layout === 'packed' ? 0x8000_8000 : 0,
      desc: uaddr(q.areas.desc), avail: uaddr(q.areas.driver), used: uaddr(q.areas.device), call: q.call.fd, kick: q.kick.fd,
    });
  }
  const [rx, tx] = queues;
  const u8 = engine.u8;
  const frame = new Uint8Array(64);
  frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]);
  // Receive buffers: ids 0..NUM-1, each posted again as soon as it comes back.
  rx.batch.clear();
  for (let id = 0; id < NUM; id++) rx.batch.single(id, rx.bufs + id * BUF, BUF, true);
  rx.driver.add(rx.batch);
  rx.kick.signal();
  const freeTx: number[] = Array.from({ length: NUM }, (_, i) => i);
  let received = 0;
  let flowingSaid = false;
  const deadline = Date.now() + seconds * 1000;
  const probeMs: number[] = [];
  let probing = false;
  let lastProbe = 0;
  // --measure: the window starts half a second after traffic flows.
  let windowStart = 0;
  let windowFrames = 0;
  let inFlight = 0;
  let floodSent = 0;
  let answered = 0;

  if (pings > 0) {
    // Lone frames: kick for each (the device asked for kicks before it slept), wait for the echo.
    const rtt: number[] = [];
    const one = (): void => {
      const id = freeTx.pop()!;
      const at = tx.bufs + id * BUF;
      u8.fill(0, at, at + HDR);
      u8.set(frame, at + HDR);
      tx.batch.clear();
      tx.batch.single(id, at, HDR + frame.length, false);
      const t0 = performance.now();
      tx.driver.add(tx.batch);
      if (tx.driver.kickNeeded()) tx.kick.signal();
      for (;;) {
        const nr = rx.driver.collect(rx.used);
        if (nr > 0) {
          rtt.push(performance.now() - t0);
          rx.batch.clear();
          for (let i = 0; i < nr; i++) rx.batch.single(rx.used.id(i), rx.bufs + rx.used.id(i) * BUF, BUF, true);
          rx.driver.add(rx.batch);
          if (rx.driver.kickNeeded()) rx.kick.signal();
          break;
        }
        if (performance.now() - t0 > 1000) fail(new Error('no echo within 1 s'));
      }
      const nt = tx.driver.collect(tx.used);
      for (let i = 0; i < nt; i++) freeTx.push(tx.used.id(i));
      if (rtt.length === pings) {
        out({ ping: rtt });
        process.exit(0);
      }
      setTimeout(one, gapMs);
    };
    setTimeout(one, 50);
    return;
  }

  const turn = (): void => {
    // Transmit a burst.
    tx.batch.clear();
    for (let k = 0; k < 32 && freeTx.length > 0; k++) {
      const id = freeTx.pop()!;
      const at = tx.bufs + id * BUF;
      u8.fill(0, at, at + HDR);
      u8.set(frame, at + HDR);
      tx.batch.single(id, at, HDR + frame.length, false);
    }
    if (tx.batch.count > 0) {
      tx.driver.add(tx.batch);
      if (tx.driver.kickNeeded()) tx.kick.signal();
    }
    // Collect both queues; post the receive buffers again.
    const nt = tx.driver.collect(tx.used);
    for (let i = 0; i < nt; i++) freeTx.push(tx.used.id(i));
    const nr = rx.driver.collect(rx.used);
    if (nr > 0) {
      received += nr;
      rx.batch.clear();
      for (let i = 0; i < nr; i++) rx.batch.single(rx.used.id(i), rx.bufs + rx.used.id(i) * BUF, BUF, true);
      rx.driver.add(rx.batch);
      if (rx.driver.kickNeeded()) rx.kick.signal();
    }
    if (!flowingSaid && received >= 1000) {
      flowingSaid = true;
      out({ flowing: received });
    }
    if (measureS > 0 && flowingSaid) {
      const now = performance.now();
      if (windowStart === 0) windowStart = now + 500;
      else if (now >= windowStart) {
        windowFrames += nr;
        const got = fe.drain();
        inFlight -= got;
        answered += got;
        for (; inFlight < floodW; inFlight++) void fe.send(FLOOD[floodSent++ % FLOOD.length]).catch(fail);
        if (now - windowStart >= measureS * 1000) {
          const s = (now - windowStart) / 1000;
          out({ rate: { frames: windowFrames, seconds: s, fps: windowFrames / s, control: answered, flood: floodW } });
          process.exit(0);
        }
      }
    }
    if (flowingSaid && probeMs.length < probes && !probing && performance.now() - lastProbe >= 5) {
      probing = true;
      const t0 = performance.now();
      lastProbe = t0;
      void fe.getU64(P.Request.GET_FEATURES).then(() => {
        probeMs.push(performance.now() - t0);
        probing = false;
        if (probeMs.length === probes) out({ probe: probeMs, received });
      }, fail);
    }
    if (Date.now() > deadline || fe.ended) {
      out({ done: received });
      process.exit(0);
    }
    setImmediate(turn);
  };
  turn();
}

main().catch(fail);
