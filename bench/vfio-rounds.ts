// One round of bench/vfio.bench.ts: what the guest runs for a case (A: the kernel's virtio_net
// with vqpkt, B: `virtqueue vfio --fwd txonly`, each bracketed by VQ-BENCH lines for the sink's
// windows), and what came of it (the sink's rates, each sender's own counts, the ratio).
//
// Cases: txonly (the sink sends nothing back) and echo (the sink sends every frame back, MACs
// swapped: the same senders, now also taking a frame in for each one out: vqpkt reads them from its
// socket every 1024 frames, virtqueue vfio's txonly on its receive turn, every 4th burst).
import type { VfioGuestResult, ShellStep } from '../test/helpers/vfio-guest.js';
import { windowRate, type SinkWindows, type WindowRate } from './sink-windows.js';

export const CASES = ['txonly', 'echo'] as const;
export type Case = (typeof CASES)[number];

/** The guest's steps of round `round` of case `kase`: A (kernel) then B (vfio), `seconds` of traffic each. */
export function roundSteps(kase: Case, round: number, seconds: number, frameBytes: number): (string[] | ShellStep)[] {
  const run = (side: string): string => `${kase} ${side} ${round}`;
  return [
    { sh: [
      'vq_rebind "$VQ_VFIO_DEVICE" virtio-pci && ifc=$(vq_netif "$VQ_VFIO_DEVICE") && ip link set "$ifc" up &&',
      `{ echo "VQ-BENCH begin ${run('kernel')}"; vqpkt -i "$ifc" -n 1000000000 -s ${frameBytes} -T ${seconds} -t ${kase}-kernel-${round}; }`,
      `echo "VQ-BENCH end ${run('kernel')}"`,
    ].join('\n') },
    { sh: `vq_rebind "$VQ_VFIO_DEVICE" vfio-pci; echo "VQ-BENCH begin ${run('vfio')}"` },
    ['test/helpers/vfio-cli.mjs', 'vfio', '--fwd', 'txonly', '--frame-size', String(frameBytes), '--duration', String(seconds), '--json'],
    { sh: `echo "VQ-BENCH end ${run('vfio')}"` },
  ];
}

export interface BenchLine { what: 'begin' | 'end'; label: string; kase: Case; side: 'kernel' | 'vfio'; round: number }

/** A VQ-BENCH line: a run begins or ends; its window's label ("txonly kernel 1"). */
export function parseBenchLine(line: string): BenchLine | undefined {
  const m = /VQ-BENCH (begin|end) (txonly|echo) (kernel|vfio) (\d+)/.exec(line);
  return m ? { what: m[1] as BenchLine['what'], label: `${m[2]} ${m[3]} ${m[4]}`, kase: m[2] as Case, side: m[3] as BenchLine['side'], round: Number(m[4]) } : undefined;
}

export interface Side {
  /** At the sink. */
  sink?: WindowRate & { frames: number };
  /** The sender's own count: frames it sent per second of its run. */
  own?: number;
  /** Frames it received per second of its run (the echo). */
  rx?: number;
  error?: string;
}

export interface Round { kase: Case; round: number; kernel: Side; vfio: Side; ratio?: number }

/**
 * Round `round` (1-based) of case `kase` out of the sink's windows and the guest's output: vqpkt's
 * VQPKT line (tag CASE-kernel-N) and the `virtqueue vfio --json` of node run `run` (the guest's
 * node runs are the vfio runs, in the order the steps were given).
 */
export function readRound(kase: Case, round: number, run: number, windows: SinkWindows, r: VfioGuestResult): Round {
  const side = (label: string): Side => {
    const w = windows.get(label);
    if (!w || w.frames === 0) return { error: `the sink saw no frames from ${label}` };
    return { sink: { ...windowRate(w), frames: w.frames } };
  };
  const kernel = side(`${kase} kernel ${round}`);
  const pkt = r.guest.vqpkt.find((v) => v.tag === `${kase}-kernel-${round}`);
  if (pkt && pkt.seconds > 0) {
    kernel.own = pkt.sent / pkt.seconds;
    kernel.rx = pkt.rx / pkt.seconds;
  } else {
    kernel.error ??= 'no VQPKT line';
  }
  const vfio = side(`${kase} vfio ${round}`);
  const n = r.runs[run];
  try {
    const j = JSON.parse(n?.stdout.trimEnd().split('\n').pop() ?? '') as { tx_packets: number; rx_packets: number; seconds: number };
    if (!(j.seconds > 0)) throw new Error('no seconds');
    vfio.own = j.tx_packets / j.seconds;
    vfio.rx = j.rx_packets / j.seconds;
  } catch {
    vfio.error ??= `virtqueue vfio: status ${n?.status}: ${n?.stderr.trim().split('\n').slice(-3).join(' / ')}`;
  }
  const ratio = kernel.sink && vfio.sink && kernel.sink.mean > 0 ? vfio.sink.mean / kernel.sink.mean : undefined;
  return { kase, round, kernel, vfio, ratio };
}
