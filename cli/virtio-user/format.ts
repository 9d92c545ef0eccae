// Output of `virtqueue virtio-user`: the summary (text or JSON), in the shape of `virtqueue vhost`'s.
import type { QueueStats } from '../../src/virtio-user/queue.js';
import type { WorkerStats } from '../../src/dataplane/control.js';

export interface VirtioUserSummary {
  socket: string;
  role: 'server' | 'client';
  layout: 'split' | 'packed';
  fwd: string;
  queues: number;
  seconds: number;
  connections: number;
  rx_packets: number;
  tx_packets: number;
  rx_bytes: number;
  tx_bytes: number;
  rx_mpps: number;
  tx_mpps: number;
  rx_seconds: number;
  tx_seconds: number;
  dropped: number;
  errors: number;
  kicks: number;
  kicks_per_mframe: number;
  /** Why the last connection ended, if one did. */
  last_error?: string;
  /** Dataplane workers and what each did (none with --workers 0). */
  workers: { worker: number; state: string; polls: number; busy_polls: number; frames: number }[];
  per_queue: { queue: number; rx_packets: number; tx_packets: number; rx_bytes: number; tx_bytes: number; rx_dropped: number; rx_no_buffers: number; tx_full: number; kicks: number }[];
}

const mpps = (n: number, s: number): number => (s > 0 ? n / s / 1e6 : 0);
const int = (n: number): string => n.toLocaleString('en-US');

export function summarize(base: Pick<VirtioUserSummary, 'socket' | 'role' | 'layout' | 'fwd' | 'queues' | 'connections'>, seconds: number,
                          per: QueueStats[], dropped: number, errors: number, active: { rx: number; tx: number }, lastError?: string,
                          workers: WorkerStats[] = []): VirtioUserSummary {
  const sum = (f: (q: QueueStats) => number): number => per.reduce((s, q) => s + f(q), 0);
  const span = (s: number): number => (s > 0 ? s : seconds);
  const rx = sum((q) => q.rxPackets);
  const tx = sum((q) => q.txPackets);
  const kicks = sum((q) => q.kicks);
  return {
    ...base, seconds: Math.round(seconds * 1000) / 1000,
    rx_packets: rx, tx_packets: tx, rx_bytes: sum((q) => q.rxBytes), tx_bytes: sum((q) => q.txBytes),
    rx_mpps: mpps(rx, span(active.rx)), tx_mpps: mpps(tx, span(active.tx)),
    rx_seconds: Math.round(active.rx * 1000) / 1000, tx_seconds: Math.round(active.tx * 1000) / 1000,
    dropped: dropped + sum((q) => q.rxDropped), errors, kicks,
    kicks_per_mframe: rx + tx > 0 ? Math.round((kicks / (rx + tx)) * 1e7) / 10 : 0,
    ...(lastError === undefined ? {} : { last_error: lastError }),
    workers: workers.map((w) => ({ worker: w.worker, state: w.state, polls: w.polls, busy_polls: w.busyPolls, frames: w.packets })),
    per_queue: per.map((q, queue) => ({
      queue, rx_packets: q.rxPackets, tx_packets: q.txPackets, rx_bytes: q.rxBytes, tx_bytes: q.txBytes,
      rx_dropped: q.rxDropped, rx_no_buffers: q.rxNoBuffers, tx_full: q.txFull, kicks: q.kicks,
    })),
  };
}

export function formatVirtioUserSummary(s: VirtioUserSummary): string {
  const lines = [
    `virtqueue virtio-user: ${s.role} at ${s.socket}, ${s.layout} rings, fwd ${s.fwd}, ${s.queues} queue pair${s.queues > 1 ? 's' : ''}, ${s.connections} connection${s.connections === 1 ? '' : 's'}, ${s.seconds.toFixed(3)} s`,
    `  rx (from the back-end) ${int(s.rx_packets)} frames, ${int(s.rx_bytes)} bytes, ${s.rx_mpps.toFixed(3)} Mpps`,
    `  tx (to the back-end)   ${int(s.tx_packets)} frames, ${int(s.tx_bytes)} bytes, ${s.tx_mpps.toFixed(3)} Mpps`,
    `  dropped ${int(s.dropped)}, errors ${int(s.errors)}, kicks ${int(s.kicks)} (${s.kicks_per_mframe} per million frames)`,
  ];
  if (s.last_error !== undefined) lines.push(`  last connection ended: ${s.last_error}`);
  for (const w of s.workers) lines.push(`  worker ${w.worker}: ${w.state}, ${int(w.frames)} frames in ${int(w.busy_polls)} busy of ${int(w.polls)} polls`);
  for (const q of s.per_queue) {
    lines.push(`  queue ${q.queue}: rx ${int(q.rx_packets)}, tx ${int(q.tx_packets)}, tx ring full ${int(q.tx_full)}, no rx buffers ${int(q.rx_no_buffers)}, kicks ${int(q.kicks)}`);
  }
  return lines.join('\n') + '\n';
}
