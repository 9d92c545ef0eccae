// One round of bench/vfio.bench.ts: what the guest runs (A: the kernel's virtio_net with vqpkt,
// B: `virtqueue vfio --fwd txonly`, each bracketed by VQ-BENCH lines for the sink's windows), and
// what came of it (the sink's rates, each sender's own count, the ratio).
import type { VfioGuestResult, ShellStep } from '../test/helpers/vfio-guest.js';
import { windowRate, type SinkWindows, type WindowRate } from './sink-windows.js';

/** The guest's steps of round `round`: A (kernel) then B (vfio), `seconds` of traffic each. */
export function roundSteps(round: number, seconds: number, frameBytes: number): (string[] | ShellStep)[] {
  return [
    { sh: [
      'vq_rebind "$VQ_VFIO_DEVICE" virtio-pci && ifc=$(vq_netif "$VQ_VFIO_DEVICE") && ip link set "$ifc" up &&',
      `{ echo "VQ-BENCH begin kernel ${round}"; vqpkt -i "$ifc" -n 1000000000 -s ${frameBytes} -T ${seconds} -t kernel-${round}; }`,
      `echo "VQ-BENCH end kernel ${round}"`,
    ].join('\n') },
    { sh: `vq_rebind "$VQ_VFIO_DEVICE" vfio-pci; echo "VQ-BENCH begin vfio ${round}"` },
    ['test/helpers/vfio-cli.mjs', 'vfio', '--fwd', 'txonly', '--frame-size', String(frameBytes), '--duration', String(seconds), '--json'],
    { sh: `echo "VQ-BENCH end vfio ${round}"` },
  ];
}

/** A VQ-BENCH line: a run begins or ends; its window's label ("kernel 1"). */
export function parseBenchLine(line: string): { what: 'begin' | 'end'; label: string; side: string; round: number } | undefined {
  const m = /VQ-BENCH (begin|end) (kernel|vfio) (\d+)/.exec(line);
  return m ? { what: m[1] as 'begin' | 'end', label: `${m[2]} ${m[3]}`, side: m[2], round: Number(m[3]) } : undefined;
}

export interface Side {
  /** At the sink. */
  sink?: WindowRate & { frames: number };
  /** The sender's own count: frames it sent per second of its run. */
  own?: number;
  error?: string;
}

export interface Round { round: number; kernel: Side; vfio: Side; ratio?: number }

/**
 * Round `round` (1-based) out of the sink's windows and the guest's output: vqpkt's VQPKT line
 * (tag kernel-N) and the round's `virtqueue vfio --json` (the node runs are the rounds' vfio runs, in order).
 */
export function readRound(round: number, windows: SinkWindows, r: VfioGuestResult): Round {
  const side = (label: string): Side => {
    const w = windows.get(label);
    if (!w || w.frames === 0) return { error: `the sink saw no frames from ${label}` };
    return { sink: { ...windowRate(w), frames: w.frames } };
  };
  const kernel = side(`kernel ${round}`);
  const pkt = r.guest.vqpkt.find((v) => v.tag === `kernel-${round}`);
  if (pkt && pkt.seconds > 0) kernel.own = pkt.sent / pkt.seconds;
  else kernel.error ??= 'no VQPKT line';
  const vfio = side(`vfio ${round}`);
  const run = r.runs[round - 1];
  try {
    const j = JSON.parse(run?.stdout.trimEnd().split('\n').pop() ?? '') as { tx_packets: number; seconds: number };
    if (!(j.seconds > 0)) throw new Error('no seconds');
    vfio.own = j.tx_packets / j.seconds;
  } catch {
    vfio.error ??= `virtqueue vfio: status ${run?.status}: ${run?.stderr.trim().split('\n').slice(-3).join(' / ')}`;
  }
  const ratio = kernel.sink && vfio.sink && kernel.sink.steady > 0 ? vfio.sink.steady / kernel.sink.steady : undefined;
  return { round, kernel, vfio, ratio };
}
