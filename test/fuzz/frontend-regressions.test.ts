// Regressions found by the front-end fuzz targets (frontend-ring-*.fuzz, vhost-user-frontend.fuzz),
// each the minimal input written out by hand, with the seed that found it (seeds replay only with
// the generators as they were then).
import { afterAll, describe, expect, it } from 'vitest';
import { RawSplitRing } from '../../sim/raw-split.js';
import { RawPackedRing } from '../../sim/raw-packed.js';
import * as PK from '../../assembly/layout/packed.js';
import * as M from '../../assembly/layout/mempool.js';
import * as V from '../../assembly/layout/virtio-user.js';
import { VirtqueueError } from '../../src/index.js';
import { frontendRingWorld, closeFrontendRingWorlds, type FrontendRingWorld } from './frontend-ring-world.js';
import { join } from 'node:path';
import * as P from '../../src/vhost-user/protocol.js';
import { VirtioUserPort } from '../../src/virtio-user/port.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { socketDir, removeSocketDir } from '../helpers/vhost-user-rig.js';

afterAll(() => {
  closeFrontendRingWorlds();
  removeSocketDir();
});

/** The queue pair of Queue Size 8 afresh, without MRG_RXBUF, its receive ring full. */
function filledReceiveRing(layout: 'split' | 'packed', inOrder = false): FrontendRingWorld {
  const w = frontendRingWorld(layout, 8, { inOrder, eventIdx: false });
  w.restart();
  w.q.setMergeable(false);
  w.q.refill();
  return w;
}

describe('virtio-user front-end fuzz regressions', () => {
  // Front-end bug (buffers lost). frontend-ring-split.fuzz, seed 1013904227: a used ring whose
  // first entry is good and whose second names an id not in flight. The collect hands the good
  // one over and breaks the ring; vuqRxBurst then refilled the broken ring, got the error and
  // returned it, dropping the frame it had already taken off the ring: one buffer neither in the
  // pool, nor in flight, nor the caller's, for good (reclaim could not find it). Now the frames
  // come back and the next call reports the broken ring.
  it('split receive: a bad used entry after a good one: the good frame is delivered, the next burst names the fault, the pool whole after reclaim', () => {
    const w = filledReceiveRing('split');
    const { q, pool, out, engine } = w;
    expect(pool.freeCount).toBe(pool.size - 8);
    const a = q.rx.areas;
    const raw = new RawSplitRing(engine.view, { ...a, avail: a.driver, used: a.device });
    // Descriptor 0 completed with a header and 50 bytes, then id 9 (>= Queue Size): not in flight.
    raw.setUsedElem(0, 0, 12 + 50);
    raw.setUsedElem(1, 9, 12);
    raw.usedIdx = 2;
    expect(q.rxBurst(out, 8)).toBe(1);
    const frame = out.handles[0]!;
    expect(pool.indexOf(frame)).toBeGreaterThanOrEqual(0);
    let err: unknown;
    try { q.rxBurst(out, 8); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(VirtqueueError);
    expect((err as Error).message).toMatch(/USED_ID_OUT_OF_RANGE.*queue is broken/);
    q.reclaim();
    engine.check(engine.exports.vuqFree(q.block, out.fill([frame]).ptr, 1), pool.addr, 'free');
    expect(pool.freeCount).toBe(pool.size);
    w.restart();
  });

  // Front-end bug (wrong spec section). frontend-ring-packed.fuzz, seed 1013904227: a packed
  // receive ring's used descriptor naming an id out of range was reported as breaking VIRTIO 1.2
  // §2.7.8, the split ring's rule: VirtqueueError names a packed ring's own section only when the
  // message starts with "packed", and the queue pair's did not. Its messages now start with the layout.
  it('packed receive: a used descriptor with an id out of range names 2.8.22, the packed ring\'s rule', () => {
    const w = filledReceiveRing('packed');
    const { q, pool, out, engine } = w;
    const raw = new RawPackedRing(engine.view, q.rx.areas);
    // Slot 0 marked used (wrap counter 1: AVAIL and USED set) with id 5000, past Queue Size.
    raw.writeDesc(0, { ...raw.readDesc(0), id: 5000, len: 30, flags: RawPackedRing.used(1) | PK.PDESC_F_WRITE });
    let err: unknown;
    try { q.rxBurst(out, 8); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(VirtqueueError);
    expect((err as Error).message).toMatch(/^packed virtio-user queue pair 0 rx burst: .*\(VIRTIO 1\.2 §2\.8\.22\) \[USED_ID_/);
    q.reclaim();
    w.restart();
    expect(pool.freeCount).toBe(pool.size);
  });

  // Front-end bug (a burst limit turned into a dead port). frontend-ring-split.fuzz seed
  // 2027808453, frontend-ring-packed.fuzz seed 1013904227, once the targets drew IN_ORDER: with
  // VIRTIO_F_IN_ORDER one used entry may stand for a run of buffers (2.7.9, 2.8.8), and our own
  // device writes one entry for a run of fully used chains. A run longer than the caller's max
  // made the driver's collect refuse with SEGMENTS_FULL (the caller's limit), the port returned
  // that, and every later burst as small failed the same way: the port received nothing again.
  // The run is now collected whole into the pair's stash and handed out over the next calls.
  for (const layout of ['split', 'packed'] as const) {
    it(`${layout} receive with IN_ORDER: one used entry for a run of 8 buffers, bursts of 3 get 3, 3, 2; a reclaim with frames still stashed loses nothing`, () => {
      const w = filledReceiveRing(layout, true);
      const { q, pool, out, engine } = w;
      const room = engine.u32[(q.block + V.VUQ_ROOM) >>> 2]!; // what a receive buffer offers: header and data room
      const markRun = (): void => {
        // One used entry for id 7, the last buffer made available: ids 0..6 used whole before it.
        if (layout === 'split') {
          const a = q.rx.areas;
          const raw = new RawSplitRing(engine.view, { ...a, avail: a.driver, used: a.device });
          raw.setUsedElem(raw.usedIdx & 7, 7, room);
          raw.usedIdx = raw.usedIdx + 8;
        } else {
          const raw = new RawPackedRing(engine.view, q.rx.areas);
          raw.writeDesc(0, { ...raw.readDesc(0), id: 7, len: room, flags: RawPackedRing.used(1) | PK.PDESC_F_WRITE });
        }
      };
      markRun();
      const got: number[] = [];
      const frames: number[] = [];
      for (let i = 0; i < 4; i++) {
        const n = q.rxBurst(out, 3);
        got.push(n);
        frames.push(...out.handles.slice(0, n));
      }
      expect(got).toEqual([3, 3, 2, 0]);
      expect(new Set(frames).size).toBe(8);
      for (const h of frames) expect(engine.u32[(h + M.BUF_DATA_LEN) >>> 2]).toBe(room - 12);
      engine.check(engine.exports.vuqFree(q.block, out.fill(frames).ptr, 8), pool.addr, 'free');
      // Again, and the pair reclaimed with 5 records still stashed: all 8 buffers come back.
      if (layout === 'packed') { q.reclaim(); w.restart(); q.refill(); }
      markRun();
      expect(q.rxBurst(out, 3)).toBe(3);
      const held = out.handles.slice(0, 3);
      expect(engine.u32[(q.block + V.VUQ_STASH_LEFT) >>> 2]).toBe(5);
      q.reclaim();
      engine.check(engine.exports.vuqFree(q.block, out.fill(held).ptr, 3), pool.addr, 'free');
      expect(engine.u32[(q.block + V.VUQ_STASH_LEFT) >>> 2]).toBe(0);
      expect(pool.freeCount).toBe(pool.size);
      w.restart();
    });
  }

  // Front-end bug (a listener per failed attempt). vhost-user-frontend.fuzz, every CI run: each
  // connect() that failed (reconnect off) left its 'up' listener on the port, so a client that
  // retries by hand grew one per attempt (Node's MaxListenersExceededWarning after 10), and a
  // later 'up' resolved every stale promise. A failed attempt now removes its listener.
  it("a port whose connect() fails keeps no 'up' listener, and the next connect() still comes up", async () => {
    const path = join(socketDir(), 'regress-up-listener.sock');
    const refusing = new ScriptedBackend(path, { [P.Request.SET_OWNER]: 'refuse' });
    const port = VirtioUserPort.create({ socket: path, queueSize: 8, poolSize: 64, reconnect: false, replyTimeoutMs: 300 });
    try {
      for (let i = 0; i < 3; i++) await expect(port.connect()).rejects.toThrow(/SET_OWNER: the back-end refused it/);
      expect(port.listenerCount('up')).toBe(0);
      refusing.close();
      const good = new ScriptedBackend(path);
      try {
        await port.connect();
        expect(port.up).toBe(true);
        expect(port.listenerCount('up')).toBe(0);
      } finally {
        good.close();
      }
    } finally {
      port.close();
      refusing.close();
    }
  });
});
