// The port's transmit burst refuses frames it cannot add (vuqTxBurst, assembly/virtio-user/tx.ts
// checkFrames) before anything is added: the driver's own check pass is skipped for the port's
// chain records (splitDriverAddPrechecked, packedDriverAddPrechecked), so checkFrames is the one
// guard. Each bad frame: a VirtqueueError ERR_BAD_ARGUMENT whose detail is the frame's position,
// the transmit ring and the pool as they were (the caller still holds every frame), and the ring
// still taking good frames afterwards.
import { afterAll, describe, expect, it } from 'vitest';
import { VirtqueueError, type RingLayout } from '../src/index.js';
import * as M from '../assembly/layout/mempool.js';
import * as V from '../assembly/layout/virtio-user.js';
import { ERR_BAD_ARGUMENT } from '../assembly/layout/errors.js';
import { FrontendRingWorld } from './fuzz/frontend-ring-world.js';

// The header room, data end and descriptor count rules. A frame of 2^32 bytes or more needs a link
// loop (the pool is under 4 GiB), which the descriptor count rule refuses too when the length rule
// does not come first, so the length rule has no case of its own here.
const worlds: FrontendRingWorld[] = [];
afterAll(() => { for (const w of worlds) w.close(); });

function world(layout: RingLayout, num: number): FrontendRingWorld {
  const w = FrontendRingWorld.create(layout, num, { inOrder: true, eventIdx: true });
  worlds.push(w);
  w.restart();
  return w;
}

/** Takes `segs` buffers and links them as one frame of `len` bytes a buffer at data offset `off` (default: past the headroom). */
function frame(w: FrontendRingWorld, segs: number, len: number, off = M.BUF_HDR_SIZE + w.pool.headroom): number[] {
  expect(w.pool.cache(0).get(w.spare, segs)).toBe(segs);
  const hs = Array.from(w.spare.handles.subarray(0, segs));
  const u32 = w.engine.u32;
  hs.forEach((h, j) => {
    u32[(h + M.BUF_DATA_OFF) >>> 2] = off;
    u32[(h + M.BUF_DATA_LEN) >>> 2] = len;
    u32[(h + M.BUF_HDR_SIZE + V.VUB_NEXT) >>> 2] = j + 1 < segs ? hs[j + 1]! : 0;
  });
  return hs;
}

/** Sends [good, bad] and expects the refusal naming position 1, with nothing added or freed; then the good frame alone goes. */
function refused(w: FrontendRingWorld, bad: number[]): void {
  const good = frame(w, 1, 60);
  const free = w.q.tx.driver.numFree;
  const pooled = w.pool.freeCount;
  w.send.fill([good[0]!, bad[0]!]);
  let err: unknown;
  try { w.q.txBurst(w.send, 2); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(VirtqueueError);
  expect((err as VirtqueueError).code).toBe(ERR_BAD_ARGUMENT);
  expect((err as VirtqueueError).detail).toBe(1);
  expect(w.q.tx.driver.numFree).toBe(free);
  expect(w.pool.freeCount).toBe(pooled);
  w.send.fill([good[0]!]);
  expect(w.q.txBurst(w.send, 1)).toBe(1);
}

describe.each(['split', 'packed'] as const)('virtio-user transmit: frames refused before anything is added (%s)', (layout) => {
  it('a first buffer with no room for the virtio_net_hdr before its data', () => {
    const w = world(layout, 8);
    refused(w, frame(w, 1, 60, M.BUF_HDR_SIZE + V.VUQ_NET_HDR_SIZE - 1));
  });

  it('a buffer whose data passes its end', () => {
    const w = world(layout, 8);
    refused(w, frame(w, 2, w.pool.dataRoom + 1));
  });

  it('a frame of more buffers than the queue has descriptors (a link back to itself)', () => {
    const w = world(layout, 8);
    const [h] = frame(w, 1, 60);
    w.engine.u32[(h! + M.BUF_HDR_SIZE + V.VUB_NEXT) >>> 2] = h!;
    refused(w, [h!]);
  });

});
