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
// VIRTQUEUE_BENCH_PROBES (200) round trips per run, VIRTQUEUE_BENCH_ROUNDS (3) runs per placement.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { virtqueueBin } from '../test/helpers/testpmd.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';

const PROBES = Number(process.env.VIRTQUEUE_BENCH_PROBES ?? 200);
const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 3);
const frontend = fileURLToPath(new URL('../test/helpers/frontend-process.js', import.meta.url));

interface Probe { ms: number[]; frames: number; workerBusy: number; sleeps: number }

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

async function run(dir: string, pin: string | undefined, layout: 'split' | 'packed', idle = 'poll', feArgs = ['--probe', String(PROBES)], key = 'probe'): Promise<Probe> {
  const socket = path.join(dir, 'c.sock');
  rmSync(socket, { force: true });
  const args = [virtqueueBin(), 'vhost', '--socket', socket, '--fwd', 'io', '--idle', idle, '--json', '--duration', '60'];
  const back = pin ? spawn('taskset', ['-c', pin, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  back.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  back.stderr!.resume();
  const exited = new Promise((r) => back.once('exit', r));
  try {
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
    const fe = spawn(process.execPath, [frontend, socket, layout, ...feArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
    const probe = await new Promise<Record<string, number[]>>((resolve, reject) => {
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
    return { ms: probe[key], frames: j.rx_packets, workerBusy: w.polls ? w.busy_polls / w.polls : 0, sleeps: w.sleeps };
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
  try {
    for (const [placement, pin] of [['both cores', undefined], ['one core (worker and main thread share it)', '0']] as const) {
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
    for (const idle of ['adaptive', 'poll']) {
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const machine = machineInfo();
  console.log('\nGET_FEATURES round trips while the worker forwards io traffic (ms)');
  console.log(`Machine: ${describeMachine(machine)}\n`);
  console.log(table(['back-end placement', 'probes', 'p50', 'p99', 'max', 'frames forwarded', 'worker busy polls'], rows));
  console.log('\nEcho of a lone frame every 2 ms (ms, front-end kick to echoed frame collected)\n');
  console.log(table(['worker idle mode', 'frames', 'p50', 'p99', 'max', 'worker sleeps'], pingRows));
  console.log(JSON.stringify({ bench: 'vhost-control', probes: PROBES, rounds: ROUNDS, machine, results, loneFrames: pings }));
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
