// Output of `virtqueue vhost`: the summary (text or JSON) and the live per-queue rates line.
import type { PairCounters } from '../vhost-user/net/queue-pair.js';

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
  per_queue: { queue: number; rx_packets: number; tx_packets: number; dropped: number; errors: number }[];
}

const mpps = (n: number, s: number): number => (s > 0 ? n / s / 1e6 : 0);
const int = (n: number): string => n.toLocaleString('en-US');

/**
 * `seconds` is the whole run; `active` the time traffic flowed each way (see ActivitySpan), over
 * which the rates are computed (the whole run when a span is unknown or too short to measure).
 */
export function summarize(base: Pick<VhostSummary, 'socket' | 'role' | 'fwd' | 'queues' | 'connections'>, seconds: number,
                          total: PairCounters, per: PairCounters[], pcapFrames?: number,
                          active: { rx: number; tx: number } = { rx: seconds, tx: seconds }): VhostSummary {
  const span = (s: number): number => (s > 0 ? s : seconds);
  return {
    ...base, seconds: Math.round(seconds * 1000) / 1000,
    rx_seconds: Math.round(active.rx * 1000) / 1000, tx_seconds: Math.round(active.tx * 1000) / 1000,
    rx_packets: total.rxPackets, tx_packets: total.txPackets, rx_bytes: total.rxBytes, tx_bytes: total.txBytes,
    rx_mpps: mpps(total.rxPackets, span(active.rx)), tx_mpps: mpps(total.txPackets, span(active.tx)),
    dropped: total.dropped, errors: total.errors,
    ...(pcapFrames === undefined ? {} : { pcap_frames: pcapFrames }),
    per_queue: per.map((c, queue) => ({ queue, rx_packets: c.rxPackets, tx_packets: c.txPackets, dropped: c.dropped, errors: c.errors })),
  };
}

export function formatVhostSummary(s: VhostSummary): string {
  const lines = [
    `virtqueue vhost: ${s.role} at ${s.socket}, fwd ${s.fwd}, ${s.queues} queue pair${s.queues > 1 ? 's' : ''}, ${s.connections} connection${s.connections === 1 ? '' : 's'}, ${s.seconds.toFixed(3)} s`,
    `  rx (from the front-end) ${int(s.rx_packets)} frames, ${int(s.rx_bytes)} bytes, ${s.rx_mpps.toFixed(3)} Mpps`,
    `  tx (to the front-end)   ${int(s.tx_packets)} frames, ${int(s.tx_bytes)} bytes, ${s.tx_mpps.toFixed(3)} Mpps`,
    `  dropped ${int(s.dropped)}, errors ${int(s.errors)}${s.pcap_frames === undefined ? '' : `, ${int(s.pcap_frames)} frames in the pcap file`}`,
  ];
  for (const q of s.per_queue) {
    if (q.rx_packets || q.tx_packets || q.dropped || q.errors) {
      lines.push(`  queue ${q.queue}: rx ${int(q.rx_packets)}, tx ${int(q.tx_packets)}, dropped ${int(q.dropped)}, errors ${int(q.errors)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** One line of per-queue rates over the last interval (no newline). */
export function formatRates(prev: PairCounters[], now: PairCounters[], seconds: number): string {
  const parts = now.map((c, q) => {
    const rx = (c.rxPackets - (prev[q]?.rxPackets ?? 0)) / seconds / 1e6;
    const tx = (c.txPackets - (prev[q]?.txPackets ?? 0)) / seconds / 1e6;
    return `q${q} rx ${rx.toFixed(2)} tx ${tx.toFixed(2)}`;
  });
  return `  vhost  ${parts.join(' | ')}  Mpps`;
}
