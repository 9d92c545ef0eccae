// The port's waiting calls, for scripts and for stopping: a frame sent with back-pressure (it
// waits, bounded, while the ring or the pool is full, rather than queueing without limit), the
// received frames as an async iterator, and the transmit rings drained before GET_VRING_BASE.
//
// A script's wait sleeps on the ring's call eventfd (`parked`): it turns the ring's used buffer
// notifications on (2.7.10: used_event, or avail.flags without EVENT_IDX), and the back-end
// signals the eventfd the ring was set up with (SET_VRING_CALL) when it uses a buffer. A ring
// that cannot be armed, or a signal that does not come (the back-end went away, the rings were
// set up anew), falls back to waking every PARK_MS. drainTx, for shutdown only, polls on 1 ms
// timers.
import type { HandleBurst } from '../dataplane/handle-ring.js';
import type { EventFd } from '../native/eventfd.js';
import type { DriverQueue } from '../virtqueue/queue-side.js';
import type { VirtioUserPort } from './port.js';

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

/** The longest a parked wait sleeps without a signal. */
export const PARK_MS = 100;

/**
 * Sleeps until the device uses a buffer of `ring` (its call eventfd is signalled) or PARK_MS
 * pass. Returns at once when a used buffer came in while notifications were being turned on
 * (the driver's check after publishing its request, 2.7.10.1). Notifications are off again on return.
 */
async function parked(ring: { call: EventFd; driver: DriverQueue }): Promise<void> {
  let armed: boolean;
  try {
    armed = !ring.driver.enableInterrupts();
  } catch {
    return tick(); // a broken ring: the caller's next call reports it
  }
  if (armed) {
    await new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); ring.call.unwatch(); resolve(); };
      const timer = setTimeout(done, PARK_MS);
      try {
        ring.call.watch(done, done);
      } catch {
        // The eventfd is closed (the port is closing): the timer ends the wait.
      }
    });
  }
  try { ring.driver.disableInterrupts(); } catch { /* reported by the caller's next call */ }
}

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
    // Room comes back when the back-end uses transmit chains (they carry the pool's buffers too).
    if (q) await parked(q.tx); else await tick();
  }
}

/** Received frames of queue pair `k`, copied out (every buffer of each), until the port closes. */
export async function* receiveFrames(port: VirtioUserPort, scratch: HandleBurst, k: number): AsyncGenerator<Uint8Array> {
  while (!port.closed) {
    const n = port.rxBurst(k, scratch);
    if (n === 0) {
      const q = port.pair(k);
      if (q) await parked(q.rx); else await tick();
      continue;
    }
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
