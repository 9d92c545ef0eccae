// npm run bench:viz-cpu: the CPU one live frame costs on each side of a live attach (issue 13,
// "keep the page light"), per frame, from each viewer's first frame on:
//   server   `virtqueue sim --viz 0` (ring split, Queue Size 256, 2 workers, adaptive idle, under
//            `nice -n 19` so that its busy workers give way to the rest of the machine): the CPU
//            of its main thread (which samples, encodes and writes the frames; /proc, 10 ms ticks)
//            over the frames it made meanwhile (the server's seq, as the viewer saw it);
//   node     a viewer in a process of its own (bench/viz-viewer.ts, niced): its CPU over the frames
//            it decoded;
//   browser  the page in live mode (/?live) in headless Chromium (test/helpers/chromium.ts): its
//            renderer process's CPU (CDP SystemInfo.getProcessInfo) over the frames it received,
//            and the main thread's task, script, layout and style time (CDP Performance.getMetrics).
// Each viewer watches a run of its own (one viewer a run); the server's row comes from each.
// VIZ_CPU_VIEWERS (comma list of server, node, browser; default all), VIZ_CPU_SECONDS (10).
// Output: progress on stderr, a table and the machine on stdout, and as the last stdout line one
// JSON object with every figure.
import os from 'node:os';
import { launchChromium } from '../test/helpers/chromium.js';
import { startVizCli } from '../test/helpers/viz-cli.js';
import { sleep, untilAsync } from '../test/helpers/within.js';
import { threadCpuMs, watch } from './viz-watch.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';

const SIDES = ['server', 'node', 'browser'] as const;
type Side = (typeof SIDES)[number];
const VIEWERS = (process.env.VIZ_CPU_VIEWERS ?? SIDES.join(',')).split(',').map((s) => s.trim()).filter(Boolean) as Side[];
for (const v of VIEWERS) if (!SIDES.includes(v)) throw new Error(`VIZ_CPU_VIEWERS: unknown side ${v}; known: ${SIDES.join(', ')}`);
const SECONDS = Number(process.env.VIZ_CPU_SECONDS ?? 10);
const SIM_ARGS = ['sim', '--viz', '0', '--packets', '4000000000'];

interface Figure {
  side: Side;
  /** Which viewer drove the run (for the server's rows). */
  viewer: 'node' | 'browser';
  frames: number;
  seconds: number;
  cpuMs: number;
  msPerFrame: number;
  /** Extra per-frame figures (ms), by name. */
  detail: Record<string, number>;
}

const perFrame = (ms: number, frames: number): number => (frames > 0 ? ms / frames : NaN);

/** The server's main thread from `cpu0` (ms) on, over the frames from seq `first` to `last`. */
function serverFigure(pid: number, cpu0: number, t0: number, first: number, last: number, viewer: Figure['viewer']): Figure {
  const cpuMs = threadCpuMs(pid, pid) - cpu0;
  const frames = last - first;
  return { side: 'server', viewer, frames, seconds: (performance.now() - t0) / 1000, cpuMs, msPerFrame: perFrame(cpuMs, frames), detail: {} };
}

/** One `sim --viz` run watched by `viewer` for SECONDS from its first frame; the figures of the sides asked for. */
async function run(viewer: Figure['viewer']): Promise<Figure[]> {
  const sim = startVizCli(SIM_ARGS, 60_000, 19);
  try {
    const base = await sim.url;
    const pid = sim.child.pid!;
    const figures = viewer === 'node' ? await nodeRun(base, pid) : await browserRun(base, pid);
    sim.child.kill('SIGINT');
    const done = await sim.done;
    if (done.status !== 0) throw new Error(`virtqueue sim exited with ${done.status}: ${done.stderr.trim().slice(-300)}`);
    return figures;
  } finally {
    sim.child.kill('SIGKILL');
  }
}

async function nodeRun(base: string, pid: number): Promise<Figure[]> {
  const w = watch(base, 'niced');
  await w.ready;
  const t0 = performance.now();
  const cpu0 = threadCpuMs(pid, pid);
  await sleep(SECONDS * 1000);
  const seen = await w.stop();
  const s = seen.sinceFirst;
  return [
    serverFigure(pid, cpu0, t0, s.firstSeq, s.lastSeq, 'node'),
    { side: 'node', viewer: 'node', frames: s.frames, seconds: s.seconds, cpuMs: s.cpuMs, msPerFrame: perFrame(s.cpuMs, s.frames), detail: {} },
  ];
}

interface PageMark {
  frames: number;
  renders: number;
  seq: number;
  rendererCpuMs: number;
  metrics: Record<string, number>;
  at: number;
}

async function browserRun(base: string, pid: number): Promise<Figure[]> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const bcdp = await browser.newBrowserCDPSession();
    const mark = async (): Promise<PageMark> => {
      const { processInfo } = await bcdp.send('SystemInfo.getProcessInfo') as { processInfo: { type: string; cpuTime: number }[] };
      const { metrics } = await cdp.send('Performance.getMetrics');
      // data-frames: frames received; data-renders: renders (absent before renders were coalesced: one a frame).
      const p = await page.evaluate(() => {
        const view = document.getElementById('view')!;
        return { frames: Number(view.dataset.frames ?? 0), renders: Number(view.dataset.renders ?? view.dataset.frames ?? 0), mode: document.getElementById('mode')!.textContent ?? '' };
      });
      return {
        frames: p.frames, renders: p.renders, seq: Number(/frame (\d+)/.exec(p.mode)?.[1] ?? NaN),
        rendererCpuMs: processInfo.filter((x) => x.type === 'renderer').reduce((a, x) => a + x.cpuTime * 1000, 0),
        metrics: Object.fromEntries(metrics.map((m) => [m.name, m.value])), at: performance.now(),
      };
    };
    await page.goto(`${base}?live`);
    await untilAsync(async () => (await page.evaluate(() => Number(document.getElementById('view')?.dataset.frames ?? 0))) > 0, 'the page\'s first frame', 60_000)
      .catch((e: Error) => { throw new Error(`${e.message}; page errors: ${errors.join('; ') || 'none'}`); });
    const a = await mark();
    const t0 = performance.now();
    const cpu0 = threadCpuMs(pid, pid);
    await sleep(SECONDS * 1000);
    const b = await mark();
    const server = serverFigure(pid, cpu0, t0, a.seq, b.seq, 'browser');
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    const frames = b.frames - a.frames;
    const metric = (name: string): number => perFrame((b.metrics[name] - a.metrics[name]) * 1000, frames);
    const cpuMs = b.rendererCpuMs - a.rendererCpuMs;
    return [server, {
      side: 'browser', viewer: 'browser', frames, seconds: (b.at - a.at) / 1000, cpuMs, msPerFrame: perFrame(cpuMs, frames),
      detail: {
        task: metric('TaskDuration'), script: metric('ScriptDuration'), layout: metric('LayoutDuration'), style: metric('RecalcStyleDuration'),
        rendersPerFrame: (b.renders - a.renders) / frames,
      },
    }];
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  if (!(SECONDS >= 2)) throw new Error('VIZ_CPU_SECONDS must be >= 2');
  const runs: Figure['viewer'][] = [];
  if (VIEWERS.includes('node') || (VIEWERS.includes('server') && !VIEWERS.includes('browser'))) runs.push('node');
  if (VIEWERS.includes('browser')) runs.push('browser');
  const figures: Figure[] = [];
  const missing: Record<string, string> = {};
  for (const viewer of runs) {
    process.stderr.write(`sim --viz with a ${viewer} viewer, ${SECONDS} s ... `);
    try {
      const fs = (await run(viewer)).filter((f) => VIEWERS.includes(f.side));
      figures.push(...fs);
      process.stderr.write(`${fs.map((f) => `${f.side} ${f.msPerFrame.toFixed(2)} ms/frame`).join(', ')}\n`);
    } catch (e) {
      missing[viewer] = (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);
      process.stderr.write(`failed: ${missing[viewer]}\n`);
    }
  }
  const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const rows = figures.map((f) => [f.side, f.viewer, String(f.frames), fmt(f.seconds, 1), fmt(f.frames / f.seconds, 1), fmt(f.cpuMs, 0), fmt(f.msPerFrame),
    fmt((f.cpuMs / (f.seconds * 1000)) * 100, 1), Object.entries(f.detail).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')]);
  for (const [v, why] of Object.entries(missing)) rows.push([v, v, '-', '-', '-', '-', '-', '-', `missing: ${why}`]);
  const machine = machineInfo();
  console.log(`\nCPU per live frame on each side of \`virtqueue sim --viz\` (${SIM_ARGS.slice(1).join(' ')}, niced), ${SECONDS} s from each viewer's first frame`);
  console.log(`Machine: ${describeMachine(machine)}; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  console.log(table(['side', 'run watched by', 'frames', 's', 'frames/s', 'CPU ms', 'CPU ms/frame', '% of a core', 'per frame (ms) / renders'], rows));
  console.log('\n(server: the sim\'s main thread over the frames it made; node: the viewer process; browser: the renderer process, and the main thread\'s task/script/layout/style time from CDP Performance.getMetrics)');
  console.log(JSON.stringify({ bench: 'viz-cpu', seconds: SECONDS, viewers: VIEWERS, simArgs: SIM_ARGS, machine, loadAverage: os.loadavg(), figures, missing }));
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
