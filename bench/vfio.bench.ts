// npm run bench:vfio: `virtqueue vfio` against the Linux kernel's own virtio_net driver, inside
// one QEMU guest, on the same emulated device and the same host-side sink (issue 15's benchmark).
//
// One boot of test/helpers/vfio-guest.ts's guest (TCG q35, intel-iommu, virtio-net-pci with
// iommu_platform=on on `-netdev stream` to a unix socket), with the kernel's virtio_net and
// vqpkt in its initramfs. Each round, for each case, in turn (bench/vfio-rounds.ts):
//   A  kernel: the device moved to virtio-pci (driver_override, unbind, drivers_probe), so the
//      kernel's virtio_net drives it; vqpkt -T floods 64-byte raw frames from an AF_PACKET socket
//      (past the qdisc, as pktgen sends) for SECONDS;
//   B  vfio: the device moved back to vfio-pci; `virtqueue vfio --fwd txonly` (64-byte frames,
//      split rings, the main thread polling) for SECONDS.
// Both send into the same sink: the host end of the stream socket (test/helpers/stream-reflector.ts),
// which counts the frames. The figure is the rate the sink saw, counted at the same place with
// the same clock for both (bench/sink-windows.ts: frames over the time from the first to the
// last, start-up included: Node's warm-up counts against vfio); each side's own counts are shown
// next to it, and the JSON also has the steady rate (the median of 250 ms buckets), which on a
// loaded host swings with the scheduling more than the mean does. The ratio B / A (vfio / kernel)
// is the median of the per-round ratios. Goal: >= 1.0.
//
// Cases: txonly (the sink sends nothing back) and echo (the sink sends each frame back, MACs
// swapped, so each sender also takes in a frame for each one out; the figure is still the rate
// out, at the sink).
//
// TCG bounds both sides (every guest instruction is emulated, and QEMU's device model runs on the
// host), so the absolute rates mean nothing; only the ratio does. The host is shared: the load
// average at start and end is printed with the result.
//
// VIRTQUEUE_BENCH_ROUNDS (3), VIRTQUEUE_BENCH_SECONDS (5 s of traffic per run),
// VIRTQUEUE_BENCH_CASES (comma list, default txonly,echo), VIRTQUEUE_BENCH_JSON (also write the
// JSON here). Output: progress on stderr, a table and the machine on stdout, and as the last
// stdout line one JSON object with every run and the median ratio per case. Needs QEMU, as the
// VFIO guest tests do.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStreamReflector } from '../test/helpers/stream-reflector.js';
import { describeVfioGuest, runVfioGuest } from '../test/helpers/vfio-guest.js';
import { median } from '../test/helpers/testpmd.js';
import { machineInfo, describeMachine } from './machine.js';
import { SinkWindows } from './sink-windows.js';
import { CASES as ALL_CASES, parseBenchLine, readRound, roundSteps, type Case, type Round } from './vfio-rounds.js';
import { table } from './table.js';

const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.VIRTQUEUE_BENCH_SECONDS ?? 5);
const CASES = (process.env.VIRTQUEUE_BENCH_CASES?.split(',') ?? [...ALL_CASES]) as Case[];
for (const c of CASES) if (!(ALL_CASES as readonly string[]).includes(c)) throw new Error(`unknown case ${c}; known: ${ALL_CASES.join(', ')}`);
const FRAME = 64;

const progress = (s: string): void => { process.stderr.write(`vfio bench: ${s}\n`); };
const load = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const kfps = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : (x / 1000).toFixed(1));
const medianOf = (xs: (number | undefined)[]): number | undefined => {
  const v = xs.filter((x): x is number => x !== undefined);
  return v.length ? median(v) : undefined;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vq-bench-vfio-'));
  const windows = new SinkWindows(250);
  const sink = await startStreamReflector(path.join(dir, 'net.sock'), 0, { echo: false, onFrame: (n) => windows.frame(n) });
  const loadStart = load();
  progress(`one guest, ${ROUNDS} round(s) of ${CASES.join(', ')}: kernel virtio_net then virtqueue vfio, ${SECONDS} s each; load average ${loadStart}`);
  const t0 = Date.now();
  const order: { kase: Case; round: number }[] = [];
  for (let round = 1; round <= ROUNDS; round++) for (const kase of CASES) order.push({ kase, round });
  try {
    const r = await runVfioGuest({
      netdev: sink.netdev,
      kernelDriver: true,
      node: order.flatMap((o) => roundSteps(o.kase, o.round, SECONDS, FRAME)),
      timeoutMs: 240_000 + order.length * (2 * SECONDS + 120) * 1000,
      onLine: (line) => {
        const at = line.indexOf('VQ-');
        if (at < 0) return;
        const tagged = line.slice(at);
        const b = parseBenchLine(tagged);
        if (b) {
          if (b.what === 'begin') {
            sink.echo = b.kase === 'echo';
            windows.begin(b.label);
          } else {
            windows.end(1000);
          }
          progress(`${((Date.now() - t0) / 1000).toFixed(0)} s: round ${b.round}/${ROUNDS} ${b.kase} ${b.side} ${b.what === 'begin' ? 'sending' : 'done'}`);
        } else if (/^VQ-(BOOT|VFIO|ERROR|DONE)/.test(tagged)) {
          progress(`${((Date.now() - t0) / 1000).toFixed(0)} s: ${tagged}`);
        }
      },
    });
    windows.close();
    if (r.runs.length === 0) throw new Error(`the guest ran nothing:\n${describeVfioGuest(r)}`);
    const rounds: Round[] = order.map((o, i) => readRound(o.kase, o.round, i, windows, r));
    const summary: Record<string, { kernel_fps?: number; vfio_fps?: number; median_ratio?: number }> = {};
    const rows: string[][] = [];
    for (const kase of CASES) {
      const rs = rounds.filter((x) => x.kase === kase);
      const m = {
        kernel_fps: medianOf(rs.map((x) => x.kernel.sink?.mean)),
        vfio_fps: medianOf(rs.map((x) => x.vfio.sink?.mean)),
        median_ratio: medianOf(rs.map((x) => x.ratio)),
      };
      summary[kase] = m;
      for (const x of rs) {
        rows.push([kase, String(x.round), kfps(x.kernel.sink?.mean), kfps(x.vfio.sink?.mean), x.ratio?.toFixed(3) ?? '-',
          `${kfps(x.kernel.own)} / ${kfps(x.vfio.own)}`, `${kfps(x.kernel.rx)} / ${kfps(x.vfio.rx)}`,
          `${x.kernel.sink?.frameBytes.toFixed(0) ?? '-'} / ${x.vfio.sink?.frameBytes.toFixed(0) ?? '-'}`]);
      }
      rows.push([kase, 'median', kfps(m.kernel_fps), kfps(m.vfio_fps), m.median_ratio?.toFixed(3) ?? '-', '', '', '']);
    }
    const loadEnd = load();
    const machine = machineInfo();
    process.stdout.write(`${table(['case', 'round', 'kernel virtio_net kfps', 'virtqueue vfio kfps', 'vfio/kernel',
      'own tx kfps (kernel / vfio)', 'own rx kfps (kernel / vfio)', 'bytes/frame'], rows)}\n\n`);
    for (const x of rounds) {
      for (const [name, s] of [['kernel', x.kernel], ['vfio', x.vfio]] as const) if (s.error) process.stdout.write(`${x.kase} round ${x.round} ${name}: ${s.error}\n`);
    }
    process.stdout.write([
      `${FRAME}-byte frames, ${SECONDS} s per run, ${ROUNDS} round(s), the runs interleaved (kernel, vfio, kernel, vfio, ...) in one guest;`,
      'txonly: the sink sends nothing back; echo: it sends every frame back (each sender also receives).',
      'Rates are frames per second out of the guest, counted by the host-side sink (the -netdev stream socket) from each run\'s',
      'first frame to its last; "own" are each sender\'s counts (vqpkt; virtqueue vfio --json) per second of its run.',
      `TCG bounds both drivers: the absolute rates mean nothing, only the ratio (goal >= 1.0). Median ratio: ${CASES.map((c) => `${c} ${summary[c].median_ratio?.toFixed(3) ?? 'none'}`).join(', ')}.`,
      `${describeMachine(machine)}; load average ${loadStart} at start, ${loadEnd} at end (shared host); frames outside every run: ${windows.stray}.`,
    ].join('\n') + '\n');
    const out = {
      bench: 'vfio', cases: CASES, frame_bytes: FRAME, rounds: ROUNDS, seconds: SECONDS, tcg: true,
      machine, load: { start: loadStart, end: loadEnd }, runs: rounds, summary, stray_frames: windows.stray,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    if (process.env.VIRTQUEUE_BENCH_JSON) writeFileSync(process.env.VIRTQUEUE_BENCH_JSON, JSON.stringify(out, null, 2));
    const missing = rounds.filter((x) => x.ratio === undefined).length;
    if (missing > 0) {
      process.stderr.write(`vfio bench: ${missing} run pair(s) without a ratio\n${describeVfioGuest(r)}\n`);
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
