// npm run bench:vhost-control: how fast the control plane answers while the data plane is busy.
// `virtqueue vhost --fwd io` serves a front-end process (test/helpers/frontend-process.ts) that
// keeps io traffic going through its queue pair and, meanwhile, sends GET_FEATURES every 5 ms
// and times each round trip. The worker polls the rings the whole time (it never sleeps while
// frames flow), the main thread answers the socket. Two placements: the back-end free to use
// both cores, and the back-end squeezed onto one core with its busy worker (the worst case).
//
// Then the wake-up path: lone frames 2 ms apart, each echoed by `--fwd io`, timed by the
// front-end. With `--idle adaptive` the worker falls asleep between frames, and the frame's kick
// reaches it through the main thread's eventfd watcher, which rings the worker's doorbell; with
// `--idle poll` it never sleeps. The difference is what the relay through the main thread costs.
//
// Then a control flood during traffic: the io forwarding rate the front-end sees over a window,
// quiet, with a flood of harmless requests (GET_FEATURES and the like, 32 in flight, another sent
// for each reply) on the same socket at the back-end's default message rate limit, and the same
// flood with no limit (--message-rate 0); runs alternate, and for each layout the ratios of the
// medians to the quiet one are printed (target: at least 0.9 at the default rate). A flood costs
// the data path nothing but CPU (the worker shares no lock with the main thread): on 2 cores the
// front-end's driver, the worker and the main thread answering the flood share them, which is
// what the rate limit bounds. Both spinning (worker and driver), the rates swing with anything
// else the machine runs: run it on a quiet machine.
//
// VIRTQUEUE_BENCH_PROBES (200) round trips per run, VIRTQUEUE_BENCH_ROUNDS (3) runs per placement
// (and per flood variant), VIRTQUEUE_BENCH_FLOOD_SECONDS (2) the rate window, VIRTQUEUE_BENCH_CASES
// (probe,ping,flood) which parts to run.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { virtqueueBin } from '../test/helpers/testpmd.js';
import { VHOST_DEFAULTS } from '../cli/vhost/args.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';

const PROBES = Number(process.env.VIRTQUEUE_BENCH_PROBES ?? 200);
const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 3);
const FLOOD_SECONDS = Number(process.env.VIRTQUEUE_BENCH_FLOOD_SECONDS ?? 2);
const FLOOD_IN_FLIGHT = 32;
const CASES = new Set((process.env.VIRTQUEUE_BENCH_CASES ?? 'probe,ping,flood').split(','));
const frontend = fileURLToPath(new URL('../test/helpers/frontend-process.js', import.meta.url));

interface Probe { ms: number[]; frames: number; workerBusy: number; sleeps: number; line: Record<string, unknown> }
interface Rate { frames: number; seconds: number; fps: number; control: number; flood: number }

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
/** The middle value (the mean of the two middle ones for an even count). */
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function run(dir: string, pin: string | undefined, layout: 'split' | 'packed', idle = 'poll', feArgs = ['--probe', String(PROBES)], key = 'probe', backArgs: string[] = []): Promise<Probe> {
  const socket = path.join(dir, 'c.sock');
  rmSync(socket, { force: true });
  const args = [virtqueueBin(), 'vhost', '--socket', socket, '--fwd', 'io', '--idle', idle, '--json', '--duration', '60', ...backArgs];
  const back = pin ? spawn('taskset', ['-c', pin, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  back.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  back.stderr!.resume();
  const exited = new Promise((r) => back.once('exit', r));
  try {
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
    const fe = spawn(process.execPath, [frontend, socket, layout, ...feArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
    const probe = await new Promise<Record<string, unknown>>((resolve, reject) => {
      let line = '';
      fe.stdout!.setEncoding('utf8').on('data', (d: string) => {
        line += d;
        const m = line.split('\n').find((l) => l.includes(`"${key}"`));
        if (m) resolve(JSON.parse(m));
      });
      fe.once('exit', (code) => { if (!line.includes(`"${key}"`)) reject(new Error(`front-end exited (${code}) before its ${key}s: ${line}`)); });
    });
    fe.kill('SIGKILL');
    back.kill('SIGINT');
    await exited;
    const j = JSON.parse(out.trim().split('\n').pop()!);
    const w = j.workers[0];
    return { ms: probe[key] as number[], frames: j.rx_packets, workerBusy: w.polls ? w.busy_polls / w.polls : 0, sleeps: w.sleeps, line: probe };
  } finally {
    back.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vq-bench-control-'));
  const rows: (string | number)[][] = [];
  const results = [];
  const pingRows: (string | number)[][] = [];
  const pings = [];
  const floodRows: (string | number)[][] = [];
  const floods: { layout: string; variant: string; rates: Rate[]; medianFps: number; ratio: number }[] = [];
  try {
    for (const [placement, pin] of CASES.has('probe') ? [['both cores', undefined], ['one core (worker and main thread share it)', '0']] as const : []) {
      const all: number[] = [];
      let frames = 0;
      let busy = 0;
      for (let r = 0; r < ROUNDS; r++) {
        const p = await run(dir, pin, r % 2 === 0 ? 'split' : 'packed');
        all.push(...p.ms);
        frames += p.frames;
        busy += p.workerBusy / ROUNDS;
        process.stderr.write(`  ${placement} round ${r + 1}/${ROUNDS}: p50 ${quantile(p.ms, 0.5).toFixed(3)} ms, max ${Math.max(...p.ms).toFixed(3)} ms, ${p.frames} frames\n`);
      }
      const s = { p50: quantile(all, 0.5), p99: quantile(all, 0.99), max: Math.max(...all) };
      rows.push([placement, all.length, s.p50.toFixed(3), s.p99.toFixed(3), s.max.toFixed(3), frames, `${(busy * 100).toFixed(0)}%`]);
      results.push({ placement, probes: all.length, ...s, frames, workerBusyPollFraction: busy, samples: all });
    }
    for (const idle of CASES.has('ping') ? ['adaptive', 'poll'] : []) {
      const all: number[] = [];
      let sleeps = 0;
      for (let r = 0; r < ROUNDS; r++) {
        const p = await run(dir, undefined, r % 2 === 0 ? 'split' : 'packed', idle, ['--ping', String(PROBES)], 'ping');
        all.push(...p.ms);
        sleeps += p.sleeps;
        process.stderr.write(`  lone frames, --idle ${idle}, round ${r + 1}/${ROUNDS}: p50 ${quantile(p.ms, 0.5).toFixed(3)} ms, ${p.sleeps} worker sleeps\n`);
      }
      const s = { p50: quantile(all, 0.5), p99: quantile(all, 0.99), max: Math.max(...all) };
      pingRows.push([`--idle ${idle}`, all.length, s.p50.toFixed(3), s.p99.toFixed(3), s.max.toFixed(3), sleeps]);
      pings.push({ idle, frames: all.length, ...s, workerSleeps: sleeps, samples: all });
    }
    if (CASES.has('flood')) {
      // Runs alternate (quiet, flood, unlimited flood, quiet, ...) so a drift of the machine hits
      // all three; split and packed forward at different rates, so each layout has its own ratios.
      const variants = [
        { variant: 'no control traffic', fe: [], back: [] },
        { variant: `flood, --message-rate ${VHOST_DEFAULTS.messageRate} (default)`, fe: ['--flood', String(FLOOD_IN_FLIGHT)], back: [] },
        { variant: 'flood, --message-rate 0 (no limit)', fe: ['--flood', String(FLOOD_IN_FLIGHT)], back: ['--message-rate', '0'] },
      ];
      for (const layout of ['split', 'packed'] as const) {
        const rates: Rate[][] = variants.map(() => []);
        for (let r = 0; r < ROUNDS; r++) {
          for (const [k, v] of variants.entries()) {
            const rate = (await run(dir, undefined, layout, 'poll', ['--measure', String(FLOOD_SECONDS), ...v.fe], 'rate', v.back)).line.rate as Rate;
            rates[k].push(rate);
            process.stderr.write(`  io forwarding, ${layout}, ${v.variant}, round ${r + 1}/${ROUNDS}: ${(rate.fps / 1e6).toFixed(3)} Mframes/s, ${rate.control} control replies\n`);
          }
        }
        const quiet = median(rates[0].map((x) => x.fps));
        for (const [k, v] of variants.entries()) {
          const rs = rates[k];
          const medianFps = median(rs.map((x) => x.fps));
          const control = rs.reduce((a, x) => a + x.control / x.seconds, 0) / rs.length;
          floodRows.push([layout, v.variant, rs.length, (medianFps / 1e6).toFixed(3), rs.map((x) => (x.fps / 1e6).toFixed(3)).join(' '), Math.round(control), (medianFps / quiet).toFixed(3)]);
          floods.push({ layout, variant: v.variant, rates: rs, medianFps, ratio: medianFps / quiet });
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const machine = machineInfo();
  console.log(`\nMachine: ${describeMachine(machine)}`);
  if (rows.length) {
    console.log('\nGET_FEATURES round trips while the worker forwards io traffic (ms)\n');
    console.log(table(['back-end placement', 'probes', 'p50', 'p99', 'max', 'frames forwarded', 'worker busy polls'], rows));
  }
  if (pingRows.length) {
    console.log('\nEcho of a lone frame every 2 ms (ms, front-end kick to echoed frame collected)\n');
    console.log(table(['worker idle mode', 'frames', 'p50', 'p99', 'max', 'worker sleeps'], pingRows));
  }
  if (floods.length) {
    console.log(`\nio forwarding rate seen by the front-end over ${FLOOD_SECONDS} s, with and without a control flood on the same socket (Mframes/s)\n`);
    console.log(table(['layout', 'control traffic', 'runs', 'median', 'runs (Mframes/s)', 'control replies/s', 'median / quiet'], floodRows));
    for (const layout of ['split', 'packed']) {
      const [limited, unlimited] = floods.filter((f) => f.layout === layout).slice(1);
      console.log(`${layout}: flood / quiet at the default message rate ${limited.ratio.toFixed(3)} (target: at least 0.9); with no limit ${unlimited.ratio.toFixed(3)}`);
    }
  }
  console.log(JSON.stringify({
    bench: 'vhost-control', probes: PROBES, rounds: ROUNDS, machine, results, loneFrames: pings,
    controlFlood: floods.length ? {
      seconds: FLOOD_SECONDS, inFlight: FLOOD_IN_FLIGHT,
      ratios: Object.fromEntries(['split', 'packed'].map((l) => [l, floods.filter((f) => f.layout === l).slice(1).map((f) => ({ variant: f.variant, ratio: f.ratio }))])),
      variants: floods,
    } : undefined,
  }));
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
