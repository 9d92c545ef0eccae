// A front-end that shrinks its guest memory file (an unsealed memfd) after SET_MEM_TABLE: the
// next touch of a page cut off, from the back-end's main thread (JS or Wasm) or from a Dataplane
// worker in Wasm, used to kill the back-end with SIGBUS (issue 11). Now the page reads zeros, the
// session ends with the reason (which region, where), everything is let go, and the next
// front-end is served: by the same workers, for the net device.
import { afterAll, describe, expect, it } from 'vitest';
import { ftruncateSync } from 'node:fs';
import { ChainBatch, MemoryPlan } from '../src/index.js';
import { mappings, memoryFaultCount, memoryFaults, memoryBaseAddress } from '../src/native/index.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { nextEvent, sleep } from './helpers/within.js';
import { RawFrontEnd } from './helpers/vhost-user-frontend.js';
import { rig, guest, removeSocketDir, MiB, WINDOW, type Guest, type Rig } from './helpers/vhost-user-rig.js';
import { negotiate, setMemTable, setupRings, closeRings } from './helpers/vhost-user-setup.js';
import { expectServesNext } from './helpers/vhost-user-session.js';
import { netDevice, type NetServer } from './helpers/vhost-net-rig.js';
import { setupPair, testFrame, type GuestPair } from './helpers/vhost-net-frontend.js';

checkFdLeaks();
afterAll(removeSocketDir);

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * The reason the session must end with: region 0 at gpa `g.gpa` of `g.size` bytes, SIGBUS at
 * some offset at or past `cut` (the file's new size).
 */
function expectShrankReason(reason: string, g: Guest, cut: number): number {
  const m = /^guest memory region 0 \(gpa (0x[0-9a-f]+), size (0x[0-9a-f]+)\) shrank under its mapping: SIGBUS at offset (0x[0-9a-f]+) \(gpa (0x[0-9a-f]+)\): the front-end truncated the file it sent for it \(memfd without F_SEAL_SHRINK\)$/.exec(reason);
  expect(m, reason).not.toBeNull();
  const [gpa, size, offset, faultGpa] = m!.slice(1).map(Number);
  expect([gpa, size]).toEqual([g.gpa, g.size]);
  expect(offset).toBeGreaterThanOrEqual(cut);
  expect(offset).toBeLessThan(g.size);
  expect(faultGpa).toBe(g.gpa + offset);
  return offset;
}

/** The back-end's faults since `before` (not the test's own guest-side mapping of the same file). */
function backendFaults(r: Rig, before: number) {
  const base = memoryBaseAddress(r.memory);
  return memoryFaults(before).filter((f) => f.base === base);
}

/** The guest's first 2 MiB left unused: rings and buffers come after, past either cut. */
function skipTwoMiB(g: Guest): void {
  g.plan.alloc(2 * MiB, 4096, 'below the rings');
}

/** A session on a RecordingDevice rig over an unsealed 4 MiB guest, with both rings started (past 2 MiB). */
async function shrinkableSession(r: Rig) {
  const g = guest(4 * MiB, 0);
  skipTwoMiB(g);
  const fe = RawFrontEnd.connect(r.path);
  await negotiate(fe);
  expect(await setMemTable(fe, g)).toBe(0n);
  expect(r.log.join('\n')).toContain('SET_MEM_TABLE: warning: fd of a memory region is a memfd without F_SEAL_SHRINK');
  const rings = await setupRings(fe, g);
  expect([...r.ready.keys()]).toEqual([0, 1]);
  return { g, fe, rings };
}

describe.each([
  ['to 0', 0],
  ['to 1 MiB', MiB],
])('the front-end truncates its guest memory %s after SET_MEM_TABLE', (_, cut) => {
  it('the back-end\'s main thread reads it (JS): zeros, the session ends with the reason, everything let go, the next front-end served', async () => {
    const r = rig();
    const { g, fe, rings } = await shrinkableSession(r);
    try {
      const before = memoryFaultCount();
      const ended = nextEvent<[string]>(r.server, 'sessionEnd');
      ftruncateSync(g.fd, cut);
      // Below the cut the file is still there; past it the page is gone.
      const u8 = new Uint8Array(r.memory.buffer);
      if (cut > 0) expect(u8[WINDOW.offset + cut - 1]).toBe(0);
      expect(backendFaults(r, before)).toEqual([]);
      expect(u8[WINDOW.offset + cut + 3 * 4096 + 5]).toBe(0);
      const [reason] = await ended;
      expect(expectShrankReason(reason, g, cut)).toBe(cut + 3 * 4096 + 5);
      expect(r.log).toContain(`connection ended: ${reason}`);
      expect(backendFaults(r, before)).toEqual([expect.objectContaining({ offset: WINDOW.offset, length: g.size, address: cut + 3 * 4096 + 5, thread: process.pid, replaced: true })]);
      await fe.closedByBackend();
      expect(r.server.session).toBeUndefined();
      expect(r.events.slice(-2).map((e) => e.kind)).toEqual(['stopped', 'stopped']);
      expect(mappings(r.memory)).toEqual([]);
      await expectServesNext(r);
    } finally {
      fe.close();
      closeRings(rings);
      r.close();
      g.close();
    }
    expect(mappings(r.memory)).toEqual([]);
  });

  it('the back-end\'s main thread pops a ring in Wasm: the engine reads zeros, nothing is popped, the session ends with the reason', async () => {
    const r = rig();
    const { g, fe, rings } = await shrinkableSession(r);
    try {
      const ring0 = r.ready.get(0)!;
      const before = memoryFaultCount();
      const ended = nextEvent<[string]>(r.server, 'sessionEnd');
      ftruncateSync(g.fd, cut);
      const plan = new MemoryPlan(r.memory, { start: 9 * MiB, end: 10 * MiB });
      expect(ring0.device.pop(new ChainBatch(r.engine, plan, 8, 16))).toBe(0); // avail.idx reads 0: nothing new
      const [reason] = await ended;
      const offset = expectShrankReason(reason, g, 2 * MiB); // in ring 0's areas, past 2 MiB
      expect(backendFaults(r, before)).toEqual([expect.objectContaining({ address: offset, thread: process.pid, replaced: true })]);
      await fe.closedByBackend();
      expect(mappings(r.memory)).toEqual([]);
      await expectServesNext(r);
    } finally {
      fe.close();
      closeRings(rings);
      r.close();
      g.close();
    }
  });
});

/** A session with the net device (io), one queue pair set up; `seals` 0: an unsealed guest, its rings past 2 MiB. */
async function netSession(s: NetServer, seals?: number): Promise<{ g: Guest; fe: RawFrontEnd; pair: GuestPair; close(): void }> {
  const g = guest(8 * MiB, seals);
  if (seals === 0) skipTwoMiB(g);
  const fe = RawFrontEnd.connect(s.r.path);
  await negotiate(fe);
  expect(await setMemTable(fe, g)).toBe(0n);
  const pair = await setupPair(fe, g, 0);
  return { g, fe, pair, close: () => { fe.close(); pair.close(); g.close(); } };
}

/** io forwarding works: 40 frames transmitted come back on the receive queue. */
async function expectForwards(s: NetServer): Promise<void> {
  const next = await netSession(s);
  try {
    const frames = Array.from({ length: 40 }, (_, i) => testFrame(60 + i * 30, i));
    next.pair.postRx(64);
    next.pair.send(frames);
    expect((await next.pair.receive(40)).map((f) => f.frame)).toEqual(frames);
  } finally {
    const ended = nextEvent(s.r.server, 'sessionEnd');
    next.close();
    await ended;
  }
}

describe.each([
  ['to 0', 0],
  ['to 1 MiB', MiB],
])('virtio-net on Dataplane workers, guest memory truncated %s', (_, cut) => {
  it('a worker reads it in Wasm (a kick after the cut): the worker lives, the session ends with the reason, the next front-end is forwarded', async () => {
    const s = await netDevice({ mode: 'io' });
    try {
      const w = await netSession(s, 0);
      try {
        // Frames flow first, so the rings and buffers are in use.
        const frames = Array.from({ length: 8 }, (_, i) => testFrame(100, i));
        w.pair.postRx(64);
        w.pair.send(frames);
        expect((await w.pair.receive(8)).length).toBe(8);
        const before = memoryFaultCount();
        const ended = nextEvent<[string]>(s.r.server, 'sessionEnd');
        ftruncateSync(w.g.fd, cut);
        await sleep(20);
        w.pair.txq.kick.signal(); // the worker reads the transmit queue's avail ring: gone
        const [reason] = await ended;
        expectShrankReason(reason, w.g, 2 * MiB);
        const faults = backendFaults(s.r, before);
        expect(faults.length).toBe(1);
        expect(faults[0].thread).not.toBe(process.pid); // a worker thread, not the main one
        await w.fe.closedByBackend();
        expect(s.device.failures).toBe(0); // no worker died
        expect(s.device.runningVrings()).toEqual([]);
        expect(mappings(s.r.memory)).toEqual([]);
      } finally {
        w.close();
      }
      await expectForwards(s);
    } finally {
      await s.close();
    }
    expect(mappings(s.r.memory)).toEqual([]);
  });

  it('while the device forwards traffic: the session ends with the reason, no worker is lost, the next front-end is forwarded', async () => {
    const s = await netDevice({ mode: 'io' });
    try {
      const w = await netSession(s, 0);
      // The test's driver keeps the rings busy, round after round of 64 frames, until told to
      // stop or until the cut reaches its own view of the file (it reads zeros and gives up).
      let stop = false;
      let rounds = 0;
      let gaveUp: string | undefined;
      const frames = Array.from({ length: 32 }, (_, i) => testFrame(200, i));
      const pump = (async () => {
        try {
          while (!stop) {
            w.pair.postRx(64);
            w.pair.send(frames);
            w.pair.send(frames);
            let got = 0;
            while (!stop && (got < 64 || w.pair.txDone < (rounds + 1) * 64)) {
              w.pair.collect();
              got += w.pair.received.splice(0).length;
              await sleep(1);
            }
            if (!stop) rounds++;
          }
        } catch (e) {
          gaveUp = (e as Error).message;
        }
      })();
      try {
        while (rounds < 3 && gaveUp === undefined) await sleep(1);
        expect(gaveUp).toBeUndefined();
        const before = memoryFaultCount();
        const ended = nextEvent<[string]>(s.r.server, 'sessionEnd');
        ftruncateSync(w.g.fd, cut);
        // The worker may be mid-burst and fault at once; or idle, if the test's driver met the
        // cut first and stopped: a kick (the eventfd is not guest memory) wakes it anyway.
        await sleep(5);
        w.pair.txq.kick.signal();
        const [reason] = await ended;
        expectShrankReason(reason, w.g, 2 * MiB);
        expect(backendFaults(s.r, before).length).toBe(1);
        await w.fe.closedByBackend();
        expect(s.device.failures).toBe(0);
        expect(s.device.runningVrings()).toEqual([]);
        expect(mappings(s.r.memory)).toEqual([]);
      } finally {
        stop = true;
        await pump;
        w.close();
      }
      await expectForwards(s);
    } finally {
      await s.close();
    }
  });
});
