// Dataplane task (test): consumes handles from a HandleRing and returns them to a mempool; calls
// ctx.finish() once `expected` handles came. Sleeps (adaptive idle) with the ring's wake flag.
// Runs the built package (dist/).
import { HandleRing, HandleBurst } from '../../dist/src/dataplane/handle-ring.js';
import { Mempool } from '../../dist/src/dataplane/mempool.js';
import { RingWake } from '../../dist/src/dataplane/handle-ring-wake.js';

export function createTask(c, ctx) {
  const ring = HandleRing.attach(ctx.engine, c.ring);
  const cache = Mempool.attach(ctx.engine, c.pool).cache(c.cache);
  const burst = new HandleBurst(ctx.engine, c.burstAt, c.burstCap);
  const wake = new RingWake(ctx.memory, c.wake, ctx.worker, ctx.ringDoorbell);
  let consumed = 0;
  return {
    poll(max) {
      const n = ring.dequeueBurst(burst, Math.min(max, c.burstCap));
      if (n === 0) return 0;
      cache.put(burst);
      consumed += n;
      if (consumed === c.expected) ctx.finish();
      return n;
    },
    arm: () => wake.arm(ring),
    disarm: () => wake.disarm(),
    stop: () => ({ consumed, flushed: cache.flush() }),
  };
}
