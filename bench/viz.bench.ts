// npm run bench:viz: what attaching the live visualizer costs the dataplane. Two modes
// (VIRTQUEUE_BENCH_MODE=toggle|runs): the vhost cases default to toggle; the sim cases always run
// in runs mode (toggle reads the front-end testpmd's periodic counters, which sim has not).
//
// Viewer placements (VIRTQUEUE_BENCH_VIEWERS, comma list; default niced,idle,inline): a viewer
// decodes every frame and draws its snapshot, as the page does (bench/viz-viewer.ts):
//   niced   in a process of its own under `nice -n 19` (still about 1.5% of a busy core);
//   idle    in a process of its own under SCHED_IDLE (`chrt --idle 0`): it runs only when a core
//           has nothing else to, the nearest this 2-core machine, whose cores the dataplane and
//           its peer keep busy, comes to a viewer on another machine;
//   inline  in this process at normal priority: a viewer competing with the dataplane.
// VIRTQUEUE_BENCH_VIEWER_CPUS pins the viewer processes (`taskset -c`); VIRTQUEUE_BENCH_VIZ_RATE
// passes --viz-rate to the back-end (its default, 10 frames a second, when unset), and
// VIRTQUEUE_BENCH_VHOST_IDLE its --idle (adaptive when unset).
//
// Runs mode: each case runs the same command once without a viewer (A: --viz 0, nobody
// connected, no frame read or sent) and once per placement each round, interleaved; the figure
// is the median over rounds of the ratio of the two runs of one round. On a 2-vCPU guest whose
// host moves the vCPUs between near and far placements two runs of one round can differ by 2x,
// which is what toggle mode is for.
//
// Toggle mode (vhost cases): each round is ONE forwarding run per placement, VIRTQUEUE_BENCH_SECONDS
// long (default 60 in this mode), during which the viewer is switched off and on in windows of
// VIRTQUEUE_BENCH_WINDOW seconds (default 6): off, on, off, ..., off, the largest odd number of
// windows that fits, timed from the moment the front-end forwards. One viewer process (or
// LiveClient) for the whole run, told "on"/"off" (it connects or disconnects and acknowledges).
// Two figures per on-window, each against the mean of the off-windows either side:
//   - the rate: the front-end testpmd's cumulative RX-packets between its first sample at least
//     1 s into the window (settle) and its last, over the time between them (this testpmd prints
//     every 1 to 2 s; a window with fewer than 2 samples is skipped, and the output says so);
//     testpmd's own Rx-pps over the same samples is shown as a cross-check. A change of vCPU
//     placement (rates swing 3-fold) spoils the windows it falls into;
//   - the CPU the back-end's worker got (its busiest thread, /proc, over the whole window): the
//     share of its core the viewer left the dataplane, which the placement hardly moves, and the
//     main thread's CPU beyond the off-windows' per frame the viewer got.
// Reported: every window, and per case and placement the median and quartiles of the rate
// ratios, the median worker CPU ratio and main-thread ms per frame, the frames per on-window
// and after a disconnection (should be 0). The JSON carries the front-end's samples too.
//
// Cases (VIRTQUEUE_BENCH_CASES, comma list; default sim-split,sim-packed,vhost-io-64-split):
//   sim-RING          `virtqueue sim --viz 0 --ring RING --workers 2 --idle poll` (driver and NIC
//                     on two busy-polling workers; --viz alone idles adaptively), stopped by
//                     SIGINT after the run's seconds; the figure is its summary's Mpps (frames
//                     delivered over the run's time). Runs mode only.
//   vhost-io-64-RING  `virtqueue vhost --viz PORT --fwd io` against DPDK's testpmd virtio-user
//                     (io --tx-first, 64-byte frames), back-end (main thread and worker) on CPU 0,
//                     front-end on CPU 1, as in bench/vhost.bench.ts; the figure is the
//                     front-end's Rx rate. Needs dpdk-testpmd.
// VIRTQUEUE_BENCH_ROUNDS (3), VIRTQUEUE_BENCH_SECONDS (5 in runs mode, 60 in toggle mode),
// VIRTQUEUE_BENCH_JSON (also write the JSON object to this path). Output: progress on stderr,
// tables and the machine on stdout, and as the last stdout line one JSON object: every run, the
// medians and the ratios (toggle cases: mode "toggle", every window, and the figures under each
// placement's "toggle").
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findTestpmd, median, runForwarding, virtqueueBin } from '../test/helpers/testpmd.js';
import { freePort } from '../test/helpers/free-port.js';
import { LIVE_FRAME_PATH, LIVE_PATH } from '../src/viz/stream.js';
import { threadCpuMs, watch, type Placement, type Viewer, type Watching } from './viz-watch.js';
import { SETTLE_MS, quantile, toggleRun, windowCount, type ToggleRun } from './viz-toggle.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';

const list = (v: string | undefined, dflt: string): string[] => (v ?? dflt).split(',').map((s) => s.trim()).filter(Boolean);
const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.VIRTQUEUE_BENCH_SECONDS ?? 5);
type Mode = 'runs' | 'toggle';
const MODE = (process.env.VIRTQUEUE_BENCH_MODE || 'toggle') as Mode;
if (MODE !== 'runs' && MODE !== 'toggle') throw new Error(`VIRTQUEUE_BENCH_MODE: ${String(MODE)}; known: toggle, runs`);
/** The mode a case runs in: the vhost cases VIRTQUEUE_BENCH_MODE's, the sim cases always runs. */
const modeOf = (c: string): Mode => (c.startsWith('vhost') ? MODE : 'runs');
const TOGGLE_SECONDS = Number(process.env.VIRTQUEUE_BENCH_SECONDS ?? 60);
const WINDOW = Number(process.env.VIRTQUEUE_BENCH_WINDOW ?? 6);
const CASES = list(process.env.VIRTQUEUE_BENCH_CASES, 'sim-split,sim-packed,vhost-io-64-split');
const JSON_PATH = process.env.VIRTQUEUE_BENCH_JSON || undefined;
/** VIRTQUEUE_BENCH_VIZ_RATE: the back-end's --viz-rate (its default when unset). */
const VIZ_RATE_ARGS = process.env.VIRTQUEUE_BENCH_VIZ_RATE ? ['--viz-rate', process.env.VIRTQUEUE_BENCH_VIZ_RATE] : [];
/**
 * VIRTQUEUE_BENCH_VHOST_IDLE: the back-end's --idle (its default, adaptive, when unset). adaptive:
 * the idle worker sleeps and the main thread relays the front-end's kicks to it, so main-thread
 * work can delay a wake-up; poll: the worker never sleeps, and what a viewer costs is the CPU it
 * takes from the worker's core.
 */
const VHOST_IDLE_ARGS = process.env.VIRTQUEUE_BENCH_VHOST_IDLE ? ['--idle', process.env.VIRTQUEUE_BENCH_VHOST_IDLE] : [];
const PLACEMENTS: readonly Placement[] = ['niced', 'idle', 'inline'];
const VIEWERS = list(process.env.VIRTQUEUE_BENCH_VIEWERS, PLACEMENTS.join(',')) as Placement[];
for (const v of VIEWERS) if (!PLACEMENTS.includes(v)) throw new Error(`VIRTQUEUE_BENCH_VIEWERS: unknown placement ${v}; known: ${PLACEMENTS.join(', ')}`);
type ViewerMode = 'none' | Placement;

interface Run {
  round: number;
  viewer: ViewerMode;
  mpps: number | undefined;
  /** What the viewer received (B runs). */
  seen?: Viewer;
  /**
   * sim: CPU the command's main thread used while the run went (percent of one core; /proc, 10 ms
   * ticks), and, with a viewer, the CPU the viewer used: what a viewer costs, in a form the
   * machine's load hardly changes.
   */
  mainThreadCpu?: number;
  viewerCpu?: number;
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fmt = (x: number | undefined, digits = 3): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

type RunResult = Pick<Run, 'mpps' | 'seen' | 'mainThreadCpu' | 'viewerCpu'>;

/** `virtqueue sim --viz 0 ...` for SECONDS, then SIGINT; its summary's Mpps. */
async function simRun(ring: string, viewer: ViewerMode): Promise<RunResult> {
  const child = spawn(process.execPath, [virtqueueBin(), 'sim', '--viz', '0', '--ring', ring, '--workers', '2', '--idle', 'poll', '--packets', '4000000000', '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const closed = new Promise<number | null>((r) => child.on('close', r));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const m = /^viz: (http:\/\/127\.0\.0\.1:\d+\/)/m.exec(out);
      if (m) resolve(m[1]);
    });
    void closed.then(() => reject(new Error(`virtqueue sim exited before printing its address: ${err.trim()}`)));
  });
  const w = viewer === 'none' ? undefined : watch(url, viewer);
  // The run is measured from the viewer's first frame.
  if (w) await w.ready.catch(async (e: Error) => { child.kill('SIGINT'); await closed; throw e; });
  const pid = child.pid!;
  const t0 = performance.now();
  const main0 = threadCpuMs(pid, pid);
  await delay(SECONDS * 1000);
  const ms = performance.now() - t0;
  const mainThreadCpu = ((threadCpuMs(pid, pid) - main0) / ms) * 100;
  const seen = await w?.stop();
  const viewerCpu = seen ? (seen.cpuMs / ms) * 100 : undefined;
  child.kill('SIGINT');
  const code = await closed;
  if (code !== 0) throw new Error(`virtqueue sim exited with ${code}: ${err.trim().slice(-300)}`);
  const summary = JSON.parse(out.trimEnd().split('\n').at(-1)!) as { mpps: number };
  return { mpps: summary.mpps, seen, mainThreadCpu, viewerCpu };
}

/** `virtqueue vhost --viz PORT --fwd io` against testpmd io --tx-first; the front-end's Rx Mpps. */
async function vhostRun(ring: string, viewer: ViewerMode, dir: string, round: number): Promise<RunResult> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/`;
  let w: Watching | undefined;
  let running = true;
  // The viewer connects as soon as the back-end serves (it starts inside runForwarding).
  const connecting = viewer !== 'none' ? (async () => {
    while (running) {
      const ok = await fetch(`${base}${LIVE_FRAME_PATH.slice(1)}`).then((r) => r.ok, () => false);
      if (ok) { w = watch(base, viewer); return; }
      await delay(50);
    }
  })() : Promise.resolve();
  let seen: Viewer | undefined;
  try {
    const r = await runForwarding({
      backend: 'virtqueue', name: `vqviz${process.pid}-${round}-${viewer}`, socket: path.join(dir, `viz${round}${viewer}.sock`),
      seconds: SECONDS, packed: ring === 'packed', backendMode: 'io', frontendMode: 'io', txFirst: true, txpkts: 64,
      backendCpus: '0', virtqueueArgs: ['--viz', String(port), ...VIZ_RATE_ARGS, ...VHOST_IDLE_ARGS],
    });
    running = false;
    await connecting;
    seen = await w?.stop();
    w = undefined;
    return { mpps: r.frontendRxMpps, seen };
  } finally {
    running = false;
    await connecting;
    await w?.stop().catch(() => undefined);
  }
}

/** Toggle mode: one `virtqueue vhost --viz PORT --fwd io` run with the viewer switched on and off in windows. */
async function vhostToggleRun(ring: string, placement: Placement, dir: string, round: number): Promise<ToggleRun> {
  const port = await freePort();
  return toggleRun({
    round, placement, url: `http://127.0.0.1:${port}${LIVE_PATH}`, seconds: TOGGLE_SECONDS, windowSeconds: WINDOW,
    forward: async (onForwarding) => {
      const r = await runForwarding({
        backend: 'virtqueue', name: `vqviz${process.pid}-${round}-t${placement}`, socket: path.join(dir, `viz${round}t${placement}.sock`),
        seconds: TOGGLE_SECONDS, packed: ring === 'packed', backendMode: 'io', frontendMode: 'io', txFirst: true, txpkts: 64,
        backendCpus: '0', virtqueueArgs: ['--viz', String(port), ...VIZ_RATE_ARGS, ...VHOST_IDLE_ARGS], onForwarding,
      });
      return r.front.samples;
    },
  });
}

/** One line per window for the progress: its state, its rate (Mpps) and, on, the frames the viewer got. */
function describeToggleRun(r: ToggleRun): string {
  const ws = r.windows.map((w) => `${w.on ? 'on' : 'off'} ${w.mpps === undefined ? 'skipped' : w.mpps.toFixed(3)}${w.on ? ` (${w.seen?.frames ?? '-'} frames)` : ''}`);
  const ratios = r.ratios.map((x) => x.toFixed(3)).join(' ');
  return `${ws.join(' | ')}; ratios ${ratios || '-'}, median ${r.medianRatio === undefined ? '-' : `${r.medianRatio.toFixed(3)}x`}` +
    r.warnings.map((x) => `\n    ${x}`).join('');
}

async function main(): Promise<void> {
  for (const c of CASES) if (!/^(sim-(split|packed)|vhost-io-64-(split|packed))$/.test(c)) throw new Error(`VIRTQUEUE_BENCH_CASES: unknown case ${c}`);
  const hasRuns = CASES.some((c) => modeOf(c) === 'runs');
  const hasToggle = CASES.some((c) => modeOf(c) === 'toggle');
  if (!(ROUNDS >= 1) || (hasRuns && !(SECONDS >= 2))) throw new Error('VIRTQUEUE_BENCH_ROUNDS must be >= 1 and VIRTQUEUE_BENCH_SECONDS >= 2');
  if (hasToggle && (!(WINDOW >= 2) || !(TOGGLE_SECONDS >= 3 * WINDOW))) {
    throw new Error('toggle mode: VIRTQUEUE_BENCH_WINDOW must be >= 2 and VIRTQUEUE_BENCH_SECONDS at least 3 windows (off, on, off)');
  }
  if (process.env.VIRTQUEUE_BENCH_MODE === 'toggle' && hasRuns) process.stderr.write('note: the sim cases run in runs mode (toggle mode is for the vhost cases)\n');
  const testpmd = findTestpmd();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vq-bench-viz-'));
  const runs = new Map<string, Run[]>(CASES.map((c) => [c, []]));
  const toggles = new Map<string, ToggleRun[]>(CASES.map((c) => [c, []]));
  // Failures per case and placement: a placement that fails stops only its own runs; a failed
  // baseline (no viewer) stops its case, which then has nothing to compare with.
  const missing = new Map<string, string>();
  const key = (c: string, v: ViewerMode): string => `${c}:${v}`;
  const why = (c: string, v: ViewerMode): string | undefined => missing.get(key(c, v)) ?? missing.get(key(c, 'none'));
  const modes: ViewerMode[] = ['none', ...VIEWERS];
  const label: Record<ViewerMode, string> = { none: 'A (no viewer)', niced: 'B (niced viewer)', idle: 'B (idle viewer)', inline: 'C (inline viewer)' };
  const stepsPerRound = CASES.reduce((n, c) => n + (modeOf(c) === 'runs' ? modes.length : VIEWERS.length), 0);
  const total = ROUNDS * stepsPerRound;
  const windows = windowCount(TOGGLE_SECONDS, WINDOW);
  let done = 0;
  const failed = (c: string, viewer: ViewerMode, e: unknown): void => {
    const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);
    missing.set(key(c, viewer), reason);
    process.stderr.write(`failed: ${reason}\n`);
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of CASES) {
        const ring = c.endsWith('packed') ? 'packed' : 'split';
        if (modeOf(c) === 'toggle') {
          for (const placement of VIEWERS) {
            done++;
            if (why(c, placement) !== undefined) continue;
            process.stderr.write(`[${done}/${total}] round ${round + 1} ${c} toggle, ${placement} viewer, ${windows} windows of ${WINDOW} s ... `);
            try {
              if (!testpmd) throw new Error('dpdk-testpmd not found (Debian: apt-get install dpdk-dev)');
              const r = await vhostToggleRun(ring, placement, dir, round);
              toggles.get(c)!.push(r);
              process.stderr.write(`${describeToggleRun(r)}\n`);
            } catch (e) {
              failed(c, placement, e);
            }
          }
          continue;
        }
        for (const viewer of modes) {
          done++;
          if (why(c, viewer) !== undefined) continue;
          process.stderr.write(`[${done}/${total}] round ${round + 1} ${c} ${label[viewer]} ... `);
          try {
            if (c.startsWith('vhost') && !testpmd) throw new Error('dpdk-testpmd not found (Debian: apt-get install dpdk-dev)');
            const r = c.startsWith('sim') ? await simRun(ring, viewer) : await vhostRun(ring, viewer, dir, round);
            runs.get(c)!.push({ round, viewer, ...r });
            process.stderr.write(`${fmt(r.mpps)} Mpps${r.seen ? `, viewer got ${r.seen.frames} frames (${r.seen.framesPerSecond.toFixed(1)}/s, ${(r.seen.bytesPerFrame / 1024).toFixed(1)} KiB each)` : ''}` +
              `${r.mainThreadCpu !== undefined ? `, main thread ${fmt(r.mainThreadCpu, 1)}% of a core${r.viewerCpu === undefined ? '' : `, viewer ${fmt(r.viewerCpu, 1)}%`}` : ''}\n`);
          } catch (e) {
            failed(c, viewer, e);
          }
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const rows: string[][] = [];
  const toggleRows: string[][] = [];
  const windowRows: string[][] = [];
  const med = (xs: (number | undefined)[]): number | undefined => {
    const d = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
    return d.length ? median(d) : undefined;
  };
  const results = CASES.map((c) => {
    if (modeOf(c) === 'toggle') return toggleResult(c);
    const rs = runs.get(c)!;
    const a = rs.filter((r) => r.viewer === 'none');
    const viewers = VIEWERS.map((v) => {
      const b = rs.filter((r) => r.viewer === v);
      const ratios = b.flatMap((rb) => {
        const ra = a.find((x) => x.round === rb.round);
        return ra?.mpps && rb.mpps !== undefined ? [rb.mpps / ra.mpps] : [];
      });
      const ratio = med(ratios);
      rows.push([c, v, fmt(med(a.map((r) => r.mpps))), fmt(med(b.map((r) => r.mpps))), ratio === undefined ? '-' : `${ratio.toFixed(3)}x`,
        fmt(med(b.map((r) => r.seen?.framesPerSecond)), 1), fmt(med(b.map((r) => r.seen && r.seen.bytesPerFrame / 1024)), 1),
        fmt(med(a.map((r) => r.mainThreadCpu)), 1), fmt(med(b.map((r) => r.mainThreadCpu)), 1), fmt(med(b.map((r) => r.viewerCpu)), 1),
        why(c, v) !== undefined ? `missing: ${why(c, v)}` : '']);
      return { placement: v, viewerMpps: med(b.map((r) => r.mpps)) ?? null, viewerOverNoViewer: ratio ?? null, ratios, missing: why(c, v) ?? null };
    });
    return { case: c, mode: 'runs' as Mode, seconds: SECONDS, noViewerMpps: med(a.map((r) => r.mpps)) ?? null, viewers, runs: rs, missing: missing.get(key(c, 'none')) ?? null };
  });

  function toggleResult(c: string) {
    const trs = toggles.get(c)!;
    for (const r of trs) {
      const t0 = r.windows[0].startMs;
      for (const w of r.windows) {
        windowRows.push([c, String(r.round + 1), r.placement, String(w.index), w.on ? 'on' : 'off', ((w.startMs - t0) / 1000).toFixed(1),
          String(w.samples), fmt(w.mpps), fmt(w.rxPpsMpps), w.ratio === undefined ? '' : `${w.ratio.toFixed(3)}x`,
          w.on ? String(w.seen?.frames ?? '-') : '', w.on && w.seen ? (w.seen.frames / w.seen.seconds).toFixed(1) : '',
          w.index > 0 ? fmt(w.switchMs, 0) : '', w.on ? fmt(w.seen?.firstFrameMs ?? undefined, 0) : '', w.on || w.index === 0 ? '' : String(w.lateFrames ?? '-'),
          fmt(w.workerCpuPct, 1), w.workerCpuRatio === undefined ? '' : `${w.workerCpuRatio.toFixed(4)}x`, fmt(w.mainCpuPct, 2), fmt(w.mainMsPerFrame, 3),
          w.skipped ? `skipped: ${w.skipped}` : '']);
      }
      windowRows.push([c, String(r.round + 1), r.placement, '', 'median', '', '', '', '', r.medianRatio === undefined ? '-' : `${r.medianRatio.toFixed(3)}x`, '', '', '', '', '',
        '', r.medianWorkerCpuRatio === undefined ? '-' : `${r.medianWorkerCpuRatio.toFixed(4)}x`, '', fmt(r.medianMainMsPerFrame, 3), '']);
    }
    const offOf = (rs: ToggleRun[]): number[] => rs.flatMap((r) => r.windows.filter((w) => !w.on && w.mpps !== undefined).map((w) => w.mpps!));
    const viewers = VIEWERS.map((p) => {
      const rs = trs.filter((r) => r.placement === p);
      const ratios = rs.flatMap((r) => r.ratios);
      const all = rs.flatMap((r) => r.windows);
      const on = all.filter((w) => w.on);
      const frames = on.map((w) => w.seen?.frames ?? 0);
      const fps = on.map((w) => (w.seen && w.seen.seconds > 0 ? w.seen.frames / w.seen.seconds : 0));
      const late = all.reduce((n, w) => n + (w.lateFrames ?? 0), 0);
      const skipped = all.filter((w) => w.skipped).length;
      const [q1, q2, q3] = [0.25, 0.5, 0.75].map((q) => quantile(ratios, q));
      const offMpps = med(offOf(rs));
      const onMpps = med(on.map((w) => w.mpps));
      const cpuRatios = rs.flatMap((r) => r.workerCpuRatios);
      const msPerFrame = on.flatMap((w) => (w.mainMsPerFrame === undefined ? [] : [w.mainMsPerFrame]));
      toggleRows.push([c, p, String(rs.length), fmt(offMpps), fmt(onMpps), q2 === undefined ? '-' : `${q2.toFixed(3)}x`,
        q1 === undefined ? '-' : `${q1.toFixed(3)}-${q3!.toFixed(3)}`, `${ratios.length}/${on.length}`, `${all.length}${skipped ? ` (${skipped} skipped)` : ''}`,
        frames.length ? `${median(frames)} (${Math.min(...frames)}-${Math.max(...frames)})` : '-', fmt(med(fps), 1), String(late),
        cpuRatios.length ? `${median(cpuRatios).toFixed(4)}x` : '-', fmt(med(msPerFrame), 3),
        why(c, p) !== undefined ? `missing: ${why(c, p)}` : '']);
      return {
        placement: p, viewerMpps: onMpps ?? null, viewerOverNoViewer: q2 ?? null, ratios, missing: why(c, p) ?? null,
        toggle: {
          noViewerMpps: offMpps ?? null, quartiles: [q1 ?? null, q2 ?? null, q3 ?? null], ratioCount: ratios.length, windows: all.length,
          onWindows: on.length, skippedWindows: skipped, framesPerOnWindow: frames, framesPerSecondPerOnWindow: fps, lateFrames: late,
          medianRatioPerRun: rs.map((r) => r.medianRatio ?? null),
          workerCpuRatios: cpuRatios, medianWorkerCpuRatio: med(cpuRatios) ?? null,
          mainMsPerFrame: msPerFrame, medianMainMsPerFrame: med(msPerFrame) ?? null,
        },
      };
    });
    return {
      case: c, mode: 'toggle' as Mode, seconds: TOGGLE_SECONDS, windowSeconds: WINDOW, settleMs: SETTLE_MS,
      noViewerMpps: med(offOf(trs)) ?? null, viewers, runs: trs, missing: null,
    };
  }

  const machine = machineInfo();
  if (hasRuns) {
    console.log(`\nLive visualizer attached or not (A), ${SECONDS} s runs, ${ROUNDS} rounds interleaved; viewer / A is the median of per-round ratios`);
    console.log(`Machine: ${describeMachine(machine)}; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
    console.log(table(['case', 'viewer', 'A: no viewer, Mpps', 'with viewer, Mpps', 'viewer / A', 'frames/s seen', 'KiB/frame', 'main thread % A', 'main thread % viewer', 'viewer %', ''], rows));
    console.log('\n(niced: the viewer in its own process under nice 19; idle: under SCHED_IDLE; inline: in this process. main thread %: CPU of the command\'s main thread, which serves the stream, in % of one core, sim cases only; viewer %: the viewer\'s CPU)');
  }
  if (hasToggle) {
    console.log(`\nLive visualizer toggled within one run: ${TOGGLE_SECONDS} s runs, ${windows} windows of ${WINDOW} s (off, on, ..., off), ${ROUNDS} round${ROUNDS === 1 ? '' : 's'}; ` +
      `each window's rate over its samples from ${SETTLE_MS / 1000} s after its start; ratio = on-window / mean of the off-windows either side`);
    if (!hasRuns) console.log(`Machine: ${describeMachine(machine)}; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    console.log('');
    console.log(table(['case', 'round', 'viewer', 'window', 'state', 'start s', 'samples', 'Rx Mpps', 'Rx-pps Mpps', 'ratio', 'frames', 'frames/s', 'switch ms', 'first frame ms', 'late frames', 'worker %', 'worker on/off', 'main %', 'main ms/frame', ''], windowRows));
    console.log('');
    console.log(table(['case', 'viewer', 'runs', 'off Mpps', 'on Mpps', 'on / off (median)', 'quartiles', 'ratios / on-windows', 'windows', 'frames per on-window', 'frames/s', 'frames after off', 'worker CPU on/off (median)', 'main ms/frame (median)', ''], toggleRows));
    console.log('\n(Rx Mpps: front-end RX-packets between the window\'s first and last sample over the time they were read; Rx-pps Mpps: testpmd\'s own rate, mean over the same samples, a cross-check. ' +
      'switch ms: from the order to the viewer\'s acknowledgement; first frame ms: from the viewer connecting to its first frame; late/frames after off: frames a closed connection still delivered, should be 0. ' +
      'worker %: CPU of the back-end\'s busiest thread, the worker, over the window (/proc, 10 ms ticks), % of one core; worker on/off: that of an on-window over the mean of the off-windows either side, ' +
      'the share of its core the viewer left the dataplane, which the vCPU placement hardly moves; main %: the back-end\'s main thread; main ms/frame: its CPU beyond the off-windows\' over the frames the viewer got)');
  }
  const json = {
    bench: 'viz', mode: MODE, seconds: hasRuns ? SECONDS : TOGGLE_SECONDS, ...(hasToggle ? { toggle: { seconds: TOGGLE_SECONDS, windowSeconds: WINDOW, windows, settleMs: SETTLE_MS } } : {}),
    rounds: ROUNDS, machine, loadAverage: os.loadavg(), testpmd: testpmd ?? null, results,
  };
  const line = JSON.stringify(json);
  if (JSON_PATH) writeFileSync(JSON_PATH, `${line}\n`);
  console.log(line);
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
