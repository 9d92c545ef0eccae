// A port's waiting calls (any QueuePairPort: VirtioUserPort, VfioNetPort), for scripts and for
// stopping (virtio-user): a frame sent with back-pressure (it
// waits, bounded, while the ring or the pool is full, rather than queueing without limit), the
// received frames as an async iterator, and the transmit rings drained before GET_VRING_BASE.
//
// A script's wait sleeps on the ring's call eventfd (`parked`): it turns the ring's used buffer
// notifications on (2.7.10: used_event, or avail.flags without EVENT_IDX), and the device
// signals the eventfd the ring was set up with (vhost-user: SET_VRING_CALL; VFIO: the ring's
// MSI-X vector) when it uses a buffer. A ring
// that cannot be armed, or a signal that does not come (the back-end went away, the rings were
// set up anew), falls back to waking every PARK_MS. drainTx, for shutdown only, polls on 1 ms
// timers.
import type { HandleBurst } from '../dataplane/handle-ring.js';
import type { EventFd } from '../native/eventfd.js';
import type { DriverQueue } from '../virtqueue/queue-side.js';
import type { QueuePairPort } from './queue-pair-port.js';
import type { VirtioUserPort } from './port.js';

/** What the waits use of a port (any QueuePairPort). */
export type WaitingPort = Pick<QueuePairPort, 'portName' | 'closed' | 'up' | 'awayReason' | 'pair' | 'alloc' | 'txBurst' | 'rxBurst' | 'free' | 'frame'>;

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

/** The longest a parked wait sleeps without a signal. */
export const PARK_MS = 100;

/** How parked waits ended, for tests and diagnostics: by the ring's signal, by their timer, or at once. */
export const parkCounts = { signalled: 0, timedOut: 0, ready: 0 };

interface Ring { call: EventFd; driver: DriverQueue }

/**
 * The waiters parked on each ring's call eventfd. An eventfd has one watch, so the first waiter
 * of a ring starts it and the signal wakes them all (two senders on one full ring, or a sender
 * and a receiver iterator); notifications stay on until the last one leaves.
 */
const parks = new WeakMap<EventFd, Set<(signalled: boolean) => void>>();

function wakeAll(call: EventFd): void {
  const waiters = parks.get(call);
  if (waiters) for (const w of [...waiters]) w(true);
}

/**
 * Sleeps until the device uses a buffer of `ring` (its call eventfd is signalled) or `maxMs`
 * pass (PARK_MS by default). Returns at once when a used buffer came in while notifications were
 * being turned on (the driver's check after publishing its request, 2.7.10.1). The last waiter
 * of the ring to return turns notifications off again.
 */
export async function parked(ring: Ring, maxMs = PARK_MS): Promise<void> {
  let ready: boolean;
  try {
    // Each waiter re-arms and re-checks: used_event moves to the driver's current position.
    ready = ring.driver.enableInterrupts();
  } catch {
    return tick(); // a broken ring: the caller's next call reports it
  }
  if (ready) {
    parkCounts.ready++;
    if ((parks.get(ring.call)?.size ?? 0) > 0) return; // others still wait: notifications stay on
  } else {
    let set = parks.get(ring.call);
    if (!set) {
      set = new Set();
      parks.set(ring.call, set);
    }
    const waiters = set;
    const last = await new Promise<boolean>((resolve) => {
      const done = (signalled: boolean): void => {
        clearTimeout(timer);
        if (!waiters.delete(done)) return;
        if (signalled) parkCounts.signalled++; else parkCounts.timedOut++;
        if (waiters.size === 0) {
          ring.call.unwatch();
          if (parks.get(ring.call) === waiters) parks.delete(ring.call);
        }
        resolve(waiters.size === 0);
      };
      const timer = setTimeout(() => done(false), Math.max(0, maxMs));
      waiters.add(done);
      if (waiters.size === 1) {
        try {
          ring.call.watch(() => wakeAll(ring.call), () => wakeAll(ring.call));
        } catch {
          // The eventfd is closed (the port is closing): the timer ends the wait.
        }
      }
    });
    // Others still wait (or one came along since): notifications stay on.
    if (!last || (parks.get(ring.call)?.size ?? 0) > 0) return;
  }
  try { ring.driver.disableInterrupts(); } catch { /* reported by the caller's next call */ }
}

/** Sends `frame` (copied) on queue pair `k`; rejects after `timeoutMs` without room or when the port closes. */
export async function sendFrame(port: WaitingPort, scratch: HandleBurst, frame: Uint8Array, k: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (port.closed) throw new Error(`${port.portName}: the port is closed`);
    const q = port.pair(k);
    if (q && q.txRoom() > 0) {
      const h = port.alloc(frame);
      if (h !== undefined) {
        const b = scratch.fill([h]);
        if (port.txBurst(k, b, 1) === 1) return;
        port.free(b, 1);
      }
    }
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`${port.portName}: no room to send on queue ${k} within ${timeoutMs} ms${port.up ? '' : ` (${port.awayReason})`}`);
    // Room comes back when the back-end uses transmit chains (they carry the pool's buffers too).
    if (q) await parked(q.tx, Math.min(left, PARK_MS)); else await tick();
  }
}

/** Received frames of queue pair `k`, copied out (every buffer of each), until the port closes. */
export async function* receiveFrames(port: WaitingPort, scratch: HandleBurst, k: number): AsyncGenerator<Uint8Array> {
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
