// The port's waiting calls, for scripts and for stopping: a frame sent with back-pressure (it
// waits, bounded, while the ring or the pool is full, rather than queueing without limit), the
// received frames as an async iterator, and the transmit rings drained before GET_VRING_BASE.
// Each polls on 1 ms timers (the port has no interrupts).
import type { HandleBurst } from '../dataplane/handle-ring.js';
import type { VirtioUserPort } from './port.js';

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

/** Sends `frame` (copied) on queue pair `k`; rejects after `timeoutMs` without room or when the port closes. */
export async function sendFrame(port: VirtioUserPort, scratch: HandleBurst, frame: Uint8Array, k: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (port.closed) throw new Error('virtio-user: the port is closed');
    const q = port.pair(k);
    if (q && q.txRoom() > 0) {
      const h = port.alloc(frame);
      if (h !== undefined) {
        const b = scratch.fill([h]);
        if (port.txBurst(k, b, 1) === 1) return;
        port.free(b, 1);
      }
    }
    if (performance.now() > deadline) throw new Error(`virtio-user: no room to send on queue ${k} within ${timeoutMs} ms${port.up ? '' : ' (the back-end is away)'}`);
    await tick();
  }
}

/** Received frames of queue pair `k`, copied out (every buffer of each), until the port closes. */
export async function* receiveFrames(port: VirtioUserPort, scratch: HandleBurst, k: number): AsyncGenerator<Uint8Array> {
  while (!port.closed) {
    const n = port.rxBurst(k, scratch);
    if (n === 0) { await tick(); continue; }
    const out = Array.from(scratch.handles.subarray(0, n), (h) => port.frame(h));
    port.free(scratch, n);
    for (const f of out) yield f;
  }
}

/**
 * Waits, at most `timeoutMs`, until the back-end has used every frame on the transmit rings
 * (reaping them as it goes); true when none is left (or the back-end is gone: reclaim took the
 * buffers back). For when nothing sends any more (the workers stopped), before shutdown():
 * GET_VRING_BASE stops a ring with what the back-end has not taken yet still on it.
 */
export async function drainTx(port: VirtioUserPort, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (!port.up) return true;
    let left = 0;
    try {
      for (const q of port.queues) { q.reapTx(); left += q.tx.driver.inFlight; }
    } catch {
      return false; // a broken ring: shutdown() and reclaim take it from here
    }
    if (left === 0) return true;
    if (performance.now() > deadline) return false;
    await tick();
  }
}
