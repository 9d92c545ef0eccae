// Frames as chains of the port's mempool buffers, from the host side: a buffer's data, the buffers
// of a frame (segment records, assembly/layout/virtio-user.ts VUB_*), a copy of a whole frame, and
// a frame copied into fresh buffers. The engine walks the same records (assembly/virtio-user/segments.ts).
import * as M from '../../assembly/layout/mempool.js';
import * as V from '../../assembly/layout/virtio-user.js';
import type { Engine } from '../engine.js';
import type { Mempool } from '../dataplane/mempool.js';
import type { HandleBurst } from '../dataplane/handle-ring.js';

/** A view of one buffer's data (a frame's first buffer: its first segment). */
export function bufferData(engine: Engine, pool: Mempool, handle: number, len = engine.u32[(handle + M.BUF_DATA_LEN) >>> 2]): Uint8Array {
  const at = pool.dataOf(handle);
  return engine.u8.subarray(at, at + len);
}

/** The buffers of the frame that starts at `handle` (a RangeError for a link that is not a buffer of the pool). */
export function frameSegments(engine: Engine, pool: Mempool, handle: number): number[] {
  const out: number[] = [];
  const u32 = engine.u32;
  for (let h = handle; h !== 0 && out.length < pool.size; h = u32[(h + M.BUF_HDR_SIZE + V.VUB_NEXT) >>> 2]) {
    if (pool.indexOf(h) < 0) throw new RangeError(`buffer ${handle}: its chain links to ${h}, not a buffer of the pool`);
    out.push(h);
  }
  return out;
}

/** A copy of the whole frame that starts at `handle` (every segment). */
export function frameCopy(engine: Engine, pool: Mempool, handle: number): Uint8Array {
  const parts = frameSegments(engine, pool, handle).map((h) => bufferData(engine, pool, h));
  if (parts.length === 1) return parts[0].slice();
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/**
 * Copies `frame` into fresh buffers from cache slot 0 (a chain when it is longer than one
 * buffer's data room; at most `maxSegs` buffers): the first buffer's handle, or undefined when
 * the pool is short. `scratch` holds the handles meanwhile.
 */
export function frameAlloc(engine: Engine, pool: Mempool, scratch: HandleBurst, frame: Uint8Array, maxSegs: number): number | undefined {
  const room = pool.dataRoom;
  const n = Math.max(1, Math.ceil(frame.length / room));
  if (n > scratch.capacity || n > maxSegs) throw new RangeError(`a frame of ${frame.length} bytes needs ${n} buffers of ${room}`);
  if (pool.cache(0).get(scratch, n) === 0) return undefined;
  const u32 = engine.u32;
  const off = M.BUF_HDR_SIZE + pool.headroom;
  for (let i = 0; i < n; i++) {
    const h = scratch.handles[i];
    const part = frame.subarray(i * room, Math.min(frame.length, (i + 1) * room));
    u32[(h + M.BUF_DATA_OFF) >>> 2] = off;
    u32[(h + M.BUF_DATA_LEN) >>> 2] = part.length;
    u32[(h + M.BUF_HDR_SIZE + V.VUB_NEXT) >>> 2] = i + 1 < n ? scratch.handles[i + 1] : 0;
    u32[(h + M.BUF_HDR_SIZE + V.VUB_NB_SEGS) >>> 2] = n;
    u32[(h + M.BUF_HDR_SIZE + V.VUB_PKT_LEN) >>> 2] = frame.length;
    engine.u8.set(part, h + off);
  }
  return scratch.handles[0];
}
