// npm run bench:vfio: `virtqueue vfio` against the Linux kernel's own virtio_net driver, inside
// one QEMU guest, on the same emulated device and the same host-side sink (issue 15's benchmark).
//
// One boot of test/helpers/vfio-guest.ts's guest (TCG q35, intel-iommu, virtio-net-pci with
// iommu_platform=on on `-netdev stream` to a unix socket), with the kernel's virtio_net and
// vqpkt in its initramfs. Each round, in turn:
//   A  kernel: the device moved to virtio-pci (driver_override, unbind, drivers_probe), so the
//      kernel's virtio_net drives it; vqpkt -T floods 64-byte raw frames from an AF_PACKET socket
//      (past the qdisc, as pktgen sends) for SECONDS;
//   B  vfio: the device moved back to vfio-pci; `virtqueue vfio --fwd txonly` (64-byte frames,
//      split rings, the main thread polling) for SECONDS.
// Both send into the same sink: the host end of the stream socket, which counts frames and sends
// nothing back (test/helpers/stream-reflector.ts with echo off). The figure is the rate the sink
// saw, counted at the same place with the same clock for both (bench/sink-windows.ts: the median
// of 250 ms buckets, the first and last left out); each side's own count is shown next to it.
// The ratio B / A (vfio / kernel) is the median of the per-round ratios. Goal: >= 1.0.
//
// TCG bounds both sides (every guest instruction is emulated, and QEMU's device model runs on the
// host), so the absolute rates mean nothing; only the ratio does. The host is shared: the load
// average at start and end is printed with the result.
//
// Case: txonly (64 B). VIRTQUEUE_BENCH_ROUNDS (3), VIRTQUEUE_BENCH_SECONDS (5 s of traffic per
// run), VIRTQUEUE_BENCH_CASES (txonly only, for now), VIRTQUEUE_BENCH_JSON (also write the JSON
// here). Output: progress on stderr, a table and the machine on stdout, and as the last stdout
// line one JSON object with every run and the median ratio. Needs QEMU, as the VFIO guest tests do.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStreamReflector } from '../test/helpers/stream-reflector.js';
import { describeVfioGuest, runVfioGuest } from '../test/helpers/vfio-guest.js';
import { median } from '../test/helpers/testpmd.js';
import { machineInfo, describeMachine } from './machine.js';
import { SinkWindows } from './sink-windows.js';
import { parseBenchLine, readRound, roundSteps, type Round } from './vfio-rounds.js';
import { table } from './table.js';

const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.VIRTQUEUE_BENCH_SECONDS ?? 5);
const ALL = ['txonly'] as const;
const CASES = (process.env.VIRTQUEUE_BENCH_CASES?.split(',') ?? [...ALL]);
for (const c of CASES) if (!(ALL as readonly string[]).includes(c)) throw new Error(`unknown case ${c}; known: ${ALL.join(', ')}`);
const FRAME = 64;

const progress = (s: string): void => { process.stderr.write(`vfio bench: ${s}\n`); };
const load = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');

const kfps = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : (x / 1000).toFixed(1));

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vq-bench-vfio-'));
  const windows = new SinkWindows(250);
  const sink = await startStreamReflector(path.join(dir, 'net.sock'), 0, { echo: false, onFrame: (n) => windows.frame(n) });
  const loadStart = load();
  progress(`one guest, ${ROUNDS} round(s) of kernel virtio_net then virtqueue vfio, ${SECONDS} s each; load average ${loadStart}`);
  const t0 = Date.now();
  try {
    const r = await runVfioGuest({
      netdev: sink.netdev,
      kernelDriver: true,
      node: Array.from({ length: ROUNDS }, (_, i) => roundSteps(i + 1, SECONDS, FRAME)).flat(),
      timeoutMs: 240_000 + ROUNDS * (2 * SECONDS + 120) * 1000,
      onLine: (line) => {
        const at = line.indexOf('VQ-');
        if (at < 0) return;
        const tagged = line.slice(at);
        const b = parseBenchLine(tagged);
        if (b) {
          if (b.what === 'begin') windows.begin(b.label);
          else windows.end(1000);
          progress(`${((Date.now() - t0) / 1000).toFixed(0)} s: round ${b.round}/${ROUNDS} ${b.side} ${b.what === 'begin' ? 'sending' : 'done'}`);
        } else if (/^VQ-(BOOT|VFIO|ERROR|DONE)/.test(tagged)) {
          progress(`${((Date.now() - t0) / 1000).toFixed(0)} s: ${tagged}`);
        }
      },
    });
    windows.close();
    if (r.runs.length === 0) throw new Error(`the guest ran nothing:\n${describeVfioGuest(r)}`);
    const rounds: Round[] = Array.from({ length: ROUNDS }, (_, i) => readRound(i + 1, windows, r));
    const ratios = rounds.flatMap((x) => (x.ratio === undefined ? [] : [x.ratio]));
    const medianRatio = ratios.length ? median(ratios) : undefined;
    const rows = rounds.map((x) => [
      String(x.round), kfps(x.kernel.sink?.steady), kfps(x.vfio.sink?.steady), x.ratio?.toFixed(3) ?? '-',
      kfps(x.kernel.own), kfps(x.vfio.own),
      `${x.kernel.sink?.frameBytes.toFixed(0) ?? '-'} / ${x.vfio.sink?.frameBytes.toFixed(0) ?? '-'}`,
    ]);
    rows.push(['median', kfps(median(rounds.flatMap((x) => x.kernel.sink ? [x.kernel.sink.steady] : []))),
      kfps(median(rounds.flatMap((x) => x.vfio.sink ? [x.vfio.sink.steady] : []))), medianRatio?.toFixed(3) ?? '-', '', '', '']);
    const loadEnd = load();
    const machine = machineInfo();
    process.stdout.write(`${table(['round', 'kernel virtio_net kfps', 'virtqueue vfio kfps', 'vfio/kernel', 'kernel own kfps', 'vfio own kfps', 'bytes/frame'], rows)}\n\n`);
    for (const x of rounds) {
      for (const [name, s] of [['kernel', x.kernel], ['vfio', x.vfio]] as const) if (s.error) process.stdout.write(`round ${x.round} ${name}: ${s.error}\n`);
    }
    process.stdout.write([
      `txonly, ${FRAME}-byte frames, ${SECONDS} s per run, ${ROUNDS} round(s) interleaved (kernel, vfio, kernel, vfio, ...) in one guest.`,
      'Rates are frames per second counted by the host-side sink (the -netdev stream socket), steady state',
      '(median of 250 ms buckets); "own" is each sender\'s count (vqpkt sent / its seconds; virtqueue vfio tx / its seconds).',
      `TCG bounds both drivers: the absolute rates mean nothing, only the ratio (goal >= 1.0). Median ratio: ${medianRatio?.toFixed(3) ?? 'none'}.`,
      `${describeMachine(machine)}; load average ${loadStart} at start, ${loadEnd} at end (shared host); frames outside every run: ${windows.stray}.`,
    ].join('\n') + '\n');
    const out = {
      bench: 'vfio', case: 'txonly', frame_bytes: FRAME, rounds: ROUNDS, seconds: SECONDS, tcg: true,
      machine, load: { start: loadStart, end: loadEnd }, runs: rounds, median_ratio: medianRatio, stray_frames: windows.stray,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    if (process.env.VIRTQUEUE_BENCH_JSON) writeFileSync(process.env.VIRTQUEUE_BENCH_JSON, JSON.stringify(out, null, 2));
    if (ratios.length < ROUNDS) {
      process.stderr.write(`vfio bench: ${ROUNDS - ratios.length} round(s) without a ratio\n${describeVfioGuest(r)}\n`);
      process.exitCode = 1;
    }
  } finally {
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`vfio bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
