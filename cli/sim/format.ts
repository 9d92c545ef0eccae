// Human-readable output of a simulation: the summary and the live progress line.
import type { SimResult, SimProgress } from '../../sim/run.js';

const int = (n: number): string => n.toLocaleString('en-US');

function features(r: SimResult): string {
  const f = [r.eventIdx ? 'event-idx' : '', r.indirect ? 'indirect' : '', r.inOrder ? 'in-order' : ''].filter(Boolean);
  return f.length ? f.join(' + ') : 'no ring features';
}

function timing(r: SimResult): string {
  const parts = [`latency ${r.latency}`];
  if (r.jitter) parts.push(`jitter ${r.jitter}`);
  if (r.outOfOrder) parts.push('out of order');
  if (r.drop) parts.push(`drop ${r.drop}`);
  return parts.join(', ');
}

/** What stopped a run on workers before its end (WorkerSimResult.stopped), or null. */
const stoppedBy = (r: SimResult): { stopped: string; sent: number } | null => {
  const t = r as SimResult & { stopped?: string | null; sent?: number };
  return typeof t.stopped === 'string' && t.sent !== undefined ? { stopped: t.stopped, sent: t.sent } : null;
};

/** A few lines: setup, counts, notifications, speed. */
export function formatSummary(r: SimResult): string {
  const w = Math.max(int(r.packets).length, 9);
  const row = (label: string, n: number, note = ''): string => `  ${label.padEnd(11)}${int(n).padStart(w)}${note}`;
  const s = stoppedBy(r);
  // A run stopped early: what it sent and delivered; the rest was never sent or on its way, not lost.
  const counts = s
    ? [
      `  stopped by ${s.stopped} before its end: frames not delivered are not counted lost`,
      row('packets', r.packets, '  (asked for)'),
      row('sent', s.sent),
      row('delivered', r.delivered, r.reordered ? `  (${int(r.reordered)} out of order)` : ''),
      row('in flight', s.sent - r.delivered, '  (sent, not delivered when stopped)'),
    ]
    : [row('packets', r.packets), row('delivered', r.delivered, r.reordered ? `  (${int(r.reordered)} out of order)` : '')];
  const bad = r.corrupt || r.duplicate || r.malformed ? `  (corrupt ${int(r.corrupt)}, duplicate ${int(r.duplicate)}, malformed chains ${int(r.malformed)})` : '';
  return [
    `virtqueue sim: ${r.ring} ring, queue size ${r.queueSize}, ${r.mode}, batch ${r.batch}, seed ${r.seed}`,
    `  ${r.frameSize}-byte frames in ${r.segments}-segment chains, ${features(r)}, ${timing(r)}`,
    ...counts,
    row('dropped', r.dropped, '  (on purpose)'),
    row('lost', r.lost, r.lost || s ? bad : ''),
    `  kicks ${int(r.kicks)}, interrupts ${int(r.interrupts)}, ${int(r.ticks)} ticks, order checksum ${r.orderChecksum}`,
    `  ${r.seconds.toFixed(3)} s, ${r.mpps.toFixed(2)} Mpps`,
    ...threads(r),
    '',
  ].join('\n');
}

/** For a run on worker threads: the layout and each worker's counters. */
function threads(r: SimResult): string[] {
  const t = r as SimResult & { workers?: number; topology?: string; idle?: string; workerStats?: { worker: number; polls: number; busyPolls: number; sleeps: number; wakeups: number }[] };
  if (t.workers === undefined) return [];
  return [
    `  ${t.workers} workers, ${t.topology} topology, ${t.idle} idle`,
    ...(t.workerStats ?? []).map((w) => `    worker ${w.worker}: ${int(w.polls)} polls (${int(w.busyPolls)} busy), ${int(w.sleeps)} sleeps, ${int(w.wakeups)} wakeups`),
  ];
}

/** One progress line (no newline). */
export function formatProgress(p: SimProgress): string {
  const pct = p.packets ? (100 * p.done) / p.packets : 0;
  return `  sim  ${int(p.done)} / ${int(p.packets)} packets  ${pct.toFixed(1)}%  ${p.mpps.toFixed(2)} Mpps`;
}
