// Test frames that carry who sent them: frame `seq` of queue pair `q`, checked byte for byte
// after a trip through a back-end (our own or DPDK's) and a virtio-user port.
import type { VirtioUserPort } from '../../src/virtio-user/port.js';
import { until } from './within.js';

/** Frame `seq` of queue `q`: MACs, type 0x88b5, then (q, seq) stamped and a pattern of them. */
export function stamped(q: number, seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5, q, seq & 0xff, (seq >> 8) & 0xff, (seq >> 16) & 0xff]);
  for (let i = 18; i < len; i++) f[i] = (i * 31 + seq * 7 + q) & 0xff;
  return f;
}

/**
 * Sends stamped frames 0.. of the given lengths on queue pair 0 of `port` and collects what
 * comes back (bounded by `ms`): each frame copied whole, and how many buffers it came in.
 */
export async function echoStamped(port: VirtioUserPort, lens: readonly number[], what: string, ms = 10_000): Promise<{ got: Uint8Array[]; segs: number[] }> {
  const out = port.burst(32);
  const got: Uint8Array[] = [];
  const segs: number[] = [];
  for (let i = 0; i < lens.length; i++) await port.send(stamped(0, i, lens[i]));
  await until(() => {
    const n = port.rxBurst(0, out);
    for (let i = 0; i < n; i++) { got.push(port.frame(out.handles[i])); segs.push(port.segments(out.handles[i]).length); }
    port.free(out, n);
    return got.length >= lens.length;
  }, `${lens.length} frames ${what}`, ms);
  return { got, segs };
}

/**
 * The receive buffers a device that fills each one (mergeable receive buffers, 5.1.6.4) puts a
 * `len`-byte frame in, with `room` data bytes a buffer: the first holds `room` after the 12-byte
 * header, each next one room + 12.
 */
export const mergedBuffers = (len: number, room: number): number => (len <= room ? 1 : 1 + Math.ceil((len - room) / (room + 12)));
