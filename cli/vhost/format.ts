// Output of `virtqueue vhost`: the summary (text or JSON) and the live per-queue rates line.
import type { NetCounters } from '../../src/virtio-net/queue-pair.js';
import type { WorkerStats } from '../../src/dataplane/control.js';

export interface VhostSummary {
  socket: string;
  role: 'server' | 'client';
  fwd: string;
  queues: number;
  seconds: number;
  /** Connections served (a probe that connects and goes, like a second server checking the socket, counts). */
  connections: number;
  rx_packets: number;
  tx_packets: number;
  rx_bytes: number;
  tx_bytes: number;
  rx_mpps: number;
  tx_mpps: number;
  dropped: number;
  errors: number;
  /** Seconds traffic flowed from (rx) and to (tx) the front-end; the Mpps figures are over these. */
  rx_seconds: number;
  tx_seconds: number;
  pcap_frames?: number;
  /** Kicks from the front-end and interrupts (calls) to it, all queues, and per million frames moved. */
  kicks: number;
  calls: number;
  kicks_per_mframe: number;
  calls_per_mframe: number;
  /** Dataplane workers and what each did. */
  workers: { worker: number; state: string; polls: number; busy_polls: number; frames: number; sleeps: number; wakeups: number }[];
  per_queue: {
    queue: number; rx_packets: number; tx_packets: number; rx_bytes: number; tx_bytes: number; dropped: number; errors: number;
    tx_kicks: number; rx_kicks: number; tx_calls: number; rx_calls: number;
  }[];
}

const errorsOf = (c: NetCounters): number => c.txErrors + c.rxErrors;

const mpps = (n: number, s: number): number => (s > 0 ? n / s / 1e6 : 0);
const int = (n: number): string => n.toLocaleString('en-US');

/**
 * `seconds` is the whole run; `active` the time traffic flowed each way (see ActivitySpan), over
 * which the rates are computed (the whole run when a span is unknown or too short to measure).
 */
export function summarize(base: Pick<VhostSummary, 'socket' | 'role' | 'fwd' | 'queues' | 'connections'>, seconds: number,
                          total: NetCounters, per: NetCounters[], pcapFrames?: number,
                          active: { rx: number; tx: number } = { rx: seconds, tx: seconds }, workers: WorkerStats[] = []): VhostSummary {
  const span = (s: number): number => (s > 0 ? s : seconds);
  const kicks = total.txKicks + total.rxKicks;
  const calls = total.txCalls + total.rxCalls;
  const moved = total.rxPackets + total.txPackets;
  const perM = (n: number): number => (moved > 0 ? Math.round((n / moved) * 1e6 * 10) / 10 : 0);
  return {
    ...base, seconds: Math.round(seconds * 1000) / 1000,
    rx_seconds: Math.round(active.rx * 1000) / 1000, tx_seconds: Math.round(active.tx * 1000) / 1000,
    rx_packets: total.rxPackets, tx_packets: total.txPackets, rx_bytes: total.rxBytes, tx_bytes: total.txBytes,
    rx_mpps: mpps(total.rxPackets, span(active.rx)), tx_mpps: mpps(total.txPackets, span(active.tx)),
    dropped: total.dropped, errors: errorsOf(total),
    ...(pcapFrames === undefined ? {} : { pcap_frames: pcapFrames }),
    kicks, calls, kicks_per_mframe: perM(kicks), calls_per_mframe: perM(calls),
    workers: workers.map((w) => ({
      worker: w.worker, state: w.state, polls: w.polls, busy_polls: w.busyPolls, frames: w.packets, sleeps: w.sleeps, wakeups: w.wakeups,
    })),
    per_queue: per.map((c, queue) => ({
      queue, rx_packets: c.rxPackets, tx_packets: c.txPackets, rx_bytes: c.rxBytes, tx_bytes: c.txBytes, dropped: c.dropped,
      errors: errorsOf(c), tx_kicks: c.txKicks, rx_kicks: c.rxKicks, tx_calls: c.txCalls, rx_calls: c.rxCalls,
    })),
  };
}

export function formatVhostSummary(s: VhostSummary): string {
  const lines = [
    `virtqueue vhost: ${s.role} at ${s.socket}, fwd ${s.fwd}, ${s.queues} queue pair${s.queues > 1 ? 's' : ''}, ${s.connections} connection${s.connections === 1 ? '' : 's'}, ${s.seconds.toFixed(3)} s`,
    `  rx (from the front-end) ${int(s.rx_packets)} frames, ${int(s.rx_bytes)} bytes, ${s.rx_mpps.toFixed(3)} Mpps`,
    `  tx (to the front-end)   ${int(s.tx_packets)} frames, ${int(s.tx_bytes)} bytes, ${s.tx_mpps.toFixed(3)} Mpps`,
    `  dropped ${int(s.dropped)}, errors ${int(s.errors)}${s.pcap_frames === undefined ? '' : `, ${int(s.pcap_frames)} frames in the pcap file`}`,
    `  kicks ${int(s.kicks)} (${s.kicks_per_mframe} per million frames), calls ${int(s.calls)} (${s.calls_per_mframe} per million frames)`,
  ];
  for (const w of s.workers) {
    lines.push(`  worker ${w.worker}: ${w.state}, ${int(w.frames)} frames in ${int(w.busy_polls)} busy of ${int(w.polls)} polls, ${int(w.sleeps)} sleeps`);
  }
  for (const q of s.per_queue) {
    if (q.rx_packets || q.tx_packets || q.dropped || q.errors) {
      lines.push(`  queue ${q.queue}: rx ${int(q.rx_packets)}, tx ${int(q.tx_packets)}, dropped ${int(q.dropped)}, errors ${int(q.errors)}, ` +
        `kicks ${int(q.tx_kicks)}/${int(q.rx_kicks)}, calls ${int(q.tx_calls)}/${int(q.rx_calls)} (transmitq/receiveq)`);
    }
  }
  return lines.join('\n') + '\n';
}

/** One line of per-queue rates over the last interval (no newline). */
export function formatRates(prev: NetCounters[], now: NetCounters[], seconds: number): string {
  const parts = now.map((c, q) => {
    const rx = (c.rxPackets - (prev[q]?.rxPackets ?? 0)) / seconds / 1e6;
    const tx = (c.txPackets - (prev[q]?.txPackets ?? 0)) / seconds / 1e6;
    return `q${q} rx ${rx.toFixed(2)} tx ${tx.toFixed(2)}`;
  });
  return `  vhost  ${parts.join(' | ')}  Mpps`;
}
