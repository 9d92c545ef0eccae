import { describe, expect, it } from 'vitest';
import { ActivitySpan } from '../cli/vhost/activity.js';
import { summarize } from '../cli/vhost/format.js';
import { zeroNetCounters } from '../src/virtio-net/queue-pair.js';

describe('vhost rates over the time traffic flowed', () => {
  it('spans from the sample before the first movement to the last movement', () => {
    const s = new ActivitySpan(0);
    for (const [t, c] of [[1000, 0], [2000, 0], [3000, 100], [4000, 300], [5000, 300], [6000, 300]] as const) s.sample(t, c);
    expect(s.seconds).toBe(2); // moved in (2000, 3000] and last at 4000
    const idle = new ActivitySpan(0);
    idle.sample(1000, 0);
    expect(idle.seconds).toBe(0);
  });

  it('rates use the active span; the whole run when nothing moved', () => {
    const c = { ...zeroNetCounters(), rxPackets: 10_000_000 };
    const s = summarize({ socket: 's', role: 'server', fwd: 'rxonly', queues: 1, connections: 1 }, 20, c, [c], undefined, { rx: 2, tx: 0 });
    expect(s.rx_mpps).toBe(5);
    expect(s.rx_seconds).toBe(2);
    expect(s.tx_mpps).toBe(0);
    expect(s.seconds).toBe(20);
  });
});
