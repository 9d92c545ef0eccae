// npm run bench:viz: what attaching the live visualizer costs the dataplane. Each case runs the
// same command once without a viewer and once per viewer placement each round, interleaved:
//   A: with --viz 0 and no viewer (the server listens; no frame is read or sent);
//   B (niced): a viewer in a process of its own (dist/bench/viz-viewer.js) under `nice -n 19`,
//      connected to /viz/live for the whole run, decoding every frame at the stream's full rate:
//      a viewer that gives way to the dataplane, as a browser on another machine does. B / A is
//      what serving the stream costs the dataplane's process.
//   C (inline): the same viewer in this process at normal priority: on this 2-core machine the
//      viewer's own CPU competes with the dataplane's busy threads, so C / A adds what a viewer
//      on the same machine costs.
// The figures are B / A and C / A, each the median over rounds of the ratio of the two runs of
// one round. The issue asks for the slowdown to stay within 2% (>= 0.98).
// VIRTQUEUE_BENCH_VIEWERS (comma list of niced, inline; default both) picks the placements.
//
// Cases (VIRTQUEUE_BENCH_CASES, comma list; default sim-split,sim-packed,vhost-io-64-split):
//   sim-RING          `virtqueue sim --viz 0 --ring RING --workers 2 --idle poll` (driver and NIC
//                     on two busy-polling workers; --viz alone idles adaptively), stopped by
//                     SIGINT after the run's seconds; the figure is its summary's Mpps (frames
//                     delivered over the run's time).
//   vhost-io-64-RING  `virtqueue vhost --viz PORT --fwd io` against DPDK's testpmd virtio-user
//                     (io --tx-first, 64-byte frames), back-end on CPU 0, front-end on CPU 1, as in
//                     bench/vhost.bench.ts; the figure is the front-end's Rx rate. Needs dpdk-testpmd.
// VIRTQUEUE_BENCH_ROUNDS (3), VIRTQUEUE_BENCH_SECONDS (5), VIRTQUEUE_BENCH_JSON (also write the
// JSON object to this path). Output: progress on stderr, a table and the machine on stdout, and as
// the last stdout line one JSON object with every run, the medians and the ratios.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findTestpmd, median, runForwarding, virtqueueBin } from '../test/helpers/testpmd.js';
import { freePort } from '../test/helpers/free-port.js';
import { LIVE_FRAME_PATH } from '../src/viz/stream.js';
import { threadCpuMs, watch, type Placement, type Viewer, type Watching } from './viz-watch.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';

const list = (v: string | undefined, dflt: string): string[] => (v ?? dflt).split(',').map((s) => s.trim()).filter(Boolean);
const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.VIRTQUEUE_BENCH_SECONDS ?? 5);
const CASES = list(process.env.VIRTQUEUE_BENCH_CASES, 'sim-split,sim-packed,vhost-io-64-split');
const JSON_PATH = process.env.VIRTQUEUE_BENCH_JSON || undefined;
const PLACEMENTS: readonly Placement[] = ['niced', 'inline'];
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
      backendCpus: '0', virtqueueArgs: ['--viz', String(port)],
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

async function main(): Promise<void> {
  if (!(ROUNDS >= 1) || !(SECONDS >= 2)) throw new Error('VIRTQUEUE_BENCH_ROUNDS must be >= 1 and VIRTQUEUE_BENCH_SECONDS >= 2');
  for (const c of CASES) if (!/^(sim-(split|packed)|vhost-io-64-(split|packed))$/.test(c)) throw new Error(`VIRTQUEUE_BENCH_CASES: unknown case ${c}`);
  const testpmd = findTestpmd();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vq-bench-viz-'));
  const runs = new Map<string, Run[]>(CASES.map((c) => [c, []]));
  // Failures per case and placement: a placement that fails stops only its own runs; a failed
  // baseline (no viewer) stops its case, which then has nothing to compare with.
  const missing = new Map<string, string>();
  const key = (c: string, v: ViewerMode): string => `${c}:${v}`;
  const why = (c: string, v: ViewerMode): string | undefined => missing.get(key(c, v)) ?? missing.get(key(c, 'none'));
  const modes: ViewerMode[] = ['none', ...VIEWERS];
  const label: Record<ViewerMode, string> = { none: 'A (no viewer)', niced: 'B (niced viewer)', inline: 'C (inline viewer)' };
  const total = ROUNDS * CASES.length * modes.length;
  let done = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of CASES) {
        for (const viewer of modes) {
          done++;
          if (why(c, viewer) !== undefined) continue;
          const ring = c.endsWith('packed') ? 'packed' : 'split';
          process.stderr.write(`[${done}/${total}] round ${round + 1} ${c} ${label[viewer]} ... `);
          try {
            if (c.startsWith('vhost') && !testpmd) throw new Error('dpdk-testpmd not found (Debian: apt-get install dpdk-dev)');
            const r = c.startsWith('sim') ? await simRun(ring, viewer) : await vhostRun(ring, viewer, dir, round);
            runs.get(c)!.push({ round, viewer, ...r });
            process.stderr.write(`${fmt(r.mpps)} Mpps${r.seen ? `, viewer got ${r.seen.frames} frames (${r.seen.framesPerSecond.toFixed(1)}/s, ${(r.seen.bytesPerFrame / 1024).toFixed(1)} KiB each)` : ''}` +
              `${r.mainThreadCpu !== undefined ? `, main thread ${fmt(r.mainThreadCpu, 1)}% of a core${r.viewerCpu === undefined ? '' : `, viewer ${fmt(r.viewerCpu, 1)}%`}` : ''}\n`);
          } catch (e) {
            const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);
            missing.set(key(c, viewer), reason);
            process.stderr.write(`failed: ${reason}\n`);
          }
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const rows: string[][] = [];
  const med = (xs: (number | undefined)[]): number | undefined => {
    const d = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
    return d.length ? median(d) : undefined;
  };
  const results = CASES.map((c) => {
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
    return { case: c, noViewerMpps: med(a.map((r) => r.mpps)) ?? null, viewers, runs: rs, missing: missing.get(key(c, 'none')) ?? null };
  });
  const machine = machineInfo();
  console.log(`\nLive visualizer attached or not (A), ${SECONDS} s runs, ${ROUNDS} rounds interleaved; viewer / A is the median of per-round ratios`);
  console.log(`Machine: ${describeMachine(machine)}; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  console.log(table(['case', 'viewer', 'A: no viewer, Mpps', 'with viewer, Mpps', 'viewer / A', 'frames/s seen', 'KiB/frame', 'main thread % A', 'main thread % viewer', 'viewer %', ''], rows));
  console.log('\n(niced: the viewer in its own process under nice 19; inline: in this process. main thread %: CPU of the command\'s main thread, which serves the stream, in % of one core, sim cases only; viewer %: the viewer\'s CPU)');
  const json = { bench: 'viz', seconds: SECONDS, rounds: ROUNDS, machine, loadAverage: os.loadavg(), testpmd: testpmd ?? null, results };
  const line = JSON.stringify(json);
  if (JSON_PATH) writeFileSync(JSON_PATH, `${line}\n`);
  console.log(line);
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
