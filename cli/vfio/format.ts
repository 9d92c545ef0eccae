// Output of `virtqueue vfio`: the summary (text or JSON), with `virtqueue virtio-user`'s counters
// (cli/virtio-user/format.ts summarize()) for a PCI device instead of a socket.
import type { VirtioUserSummary } from '../virtio-user/format.js';

export type VfioSummary = Omit<VirtioUserSummary, 'socket' | 'role' | 'connections' | 'last_error'> & {
  device: string;
  /** The features both sides took. */
  features: string[];
  /** The device asked to be reset (DEVICE_NEEDS_RESET) by the end of the run. */
  needs_reset: boolean;
  /** Times the device was reset and set up again after DEVICE_NEEDS_RESET (--recover). */
  resets: number;
};

const int = (n: number): string => n.toLocaleString('en-US');

export function formatVfioSummary(s: VfioSummary): string {
  const lines = [
    `virtqueue vfio: ${s.device}, ${s.layout} rings, fwd ${s.fwd}, ${s.queues} queue pair${s.queues > 1 ? 's' : ''}, ${s.seconds.toFixed(3)} s`,
    `  features ${s.features.join(' ')}`,
    `  rx (from the device) ${int(s.rx_packets)} frames, ${int(s.rx_bytes)} bytes, ${s.rx_mpps.toFixed(3)} Mpps`,
    `  tx (to the device)   ${int(s.tx_packets)} frames, ${int(s.tx_bytes)} bytes, ${s.tx_mpps.toFixed(3)} Mpps`,
    `  dropped ${int(s.dropped)}, errors ${int(s.errors)}, kicks ${int(s.kicks)} (${s.kicks_per_mframe} per million frames)`,
  ];
  if (s.needs_reset) lines.push('  the device asked to be reset (DEVICE_NEEDS_RESET)');
  if (s.resets > 0) lines.push(`  the device was reset and set up again ${s.resets} time${s.resets > 1 ? 's' : ''} (DEVICE_NEEDS_RESET)`);
  for (const w of s.workers) lines.push(`  worker ${w.worker}: ${w.state}, ${int(w.frames)} frames in ${int(w.busy_polls)} busy of ${int(w.polls)} polls`);
  for (const q of s.per_queue) {
    lines.push(`  queue ${q.queue}: rx ${int(q.rx_packets)}, tx ${int(q.tx_packets)}, tx ring full ${int(q.tx_full)}, no rx buffers ${int(q.rx_no_buffers)}, kicks ${int(q.kicks)}`);
  }
  return lines.join('\n') + '\n';
}
