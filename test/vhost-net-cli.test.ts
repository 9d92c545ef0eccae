// `virtqueue vhost` as a user runs it (bin/virtqueue.js, compiled CLI in dist/), with the test's
// raw front-end connecting to it: counts in the JSON summary, --pcap, signals, a live socket
// not replaced, bad flags.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FEATURES } from '../src/index.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { until, within } from './helpers/within.js';
import { isListening } from './helpers/unix-listening.js';
import { RawFrontEnd } from './helpers/vhost-user-frontend.js';
import { UnixServer, type UnixSocket } from '../src/native/index.js';
import { guest, socketDir, removeSocketDir, MiB } from './helpers/vhost-user-rig.js';
import { negotiate, setMemTable, F_PROTOCOL } from './helpers/vhost-user-setup.js';
import { setupPair, testFrame, frontEndOn } from './helpers/vhost-net-frontend.js';
import { readPcap } from './helpers/pcap-read.js';

checkFdLeaks();
afterAll(removeSocketDir);

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../bin/virtqueue.js', import.meta.url));
const compiledCli = fileURLToPath(new URL('../dist/cli/vhost/run.js', import.meta.url));

beforeAll(() => {
  if (!existsSync(compiledCli)) throw new Error(`${compiledCli} is missing: run \`npm run build\` first (npm test does it in pretest)`);
});

interface Done { status: number | null; signal: string | null; stdout: string; stderr: string }

function start(...args: string[]): { child: ChildProcess; done: Promise<Done> } {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const done = within<Done>(30_000, `virtqueue ${args.join(' ')} exiting`, (resolve) => {
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
  return { child, done };
}

const lastLine = (s: string): string => s.trimEnd().split('\n').at(-1) ?? '';
let n = 0;
const sockPath = (): string => join(socketDir(), `cli${n++}.sock`);

/** Connects a front-end with one queue pair and sends `count` frames round trip (io). */
async function roundTrip(path: string, count: number): Promise<Uint8Array[]> {
  await until(() => isListening(path), `${path} listening`, 20_000);
  const g = guest(8 * MiB);
  const fe = RawFrontEnd.connect(path);
  let pair;
  try {
    await negotiate(fe, FEATURES.VERSION_1 | F_PROTOCOL);
    expect(await setMemTable(fe, g)).toBe(0n);
    pair = await setupPair(fe, g, 0, 64, 2048);
    const frames = Array.from({ length: count }, (_, i) => testFrame(64 + (i % 50), i));
    pair.postRx(64);
    for (let i = 0; i < count; i += 32) {
      pair.send(frames.slice(i, i + 32));
      const got = await pair.receive(Math.min(32, count - i));
      expect(got.map((f) => f.frame)).toEqual(frames.slice(i, i + 32));
      pair.postRx(got.length, 0); // ids were used in order: post the same ids again
    }
    return frames;
  } finally {
    fe.close();
    pair?.close();
    g.close();
  }
}

describe('virtqueue vhost', () => {
  it('--duration 2 --json: counts the frames a front-end sent round trip, then exits 0', async () => {
    const path = sockPath();
    const run = start('vhost', '--socket', path, '--duration', '2', '--json', '--guest-mem', '64');
    try {
      await roundTrip(path, 96);
      const r = await run.done;
      expect(r.status).toBe(0);
      const s = JSON.parse(lastLine(r.stdout));
      expect(s).toMatchObject({ rx_packets: 96, tx_packets: 96, dropped: 0, errors: 0, connections: 1, fwd: 'io', role: 'server' });
      expect(s.seconds).toBeGreaterThanOrEqual(2);
      expect(s.rx_mpps).toBeGreaterThan(0);
      expect(s.tx_mpps).toBeGreaterThan(0);
      expect(s.per_queue).toEqual([expect.objectContaining({ queue: 0, rx_packets: 96, tx_packets: 96, dropped: 0, errors: 0 })]);
      // One worker took the 96 transmit chains (the frames it forwarded went back in the same calls).
      expect(s.workers).toEqual([expect.objectContaining({ worker: 0, state: 'stopped', frames: 96 })]);
      expect(r.stderr).toContain('front-end connected');
      expect(existsSync(path)).toBe(false);
    } finally {
      run.child.kill('SIGKILL');
      await run.done.catch(() => undefined);
    }
  });

  it('serves one front-end after another, refuses to replace its live socket, writes --pcap, exits on SIGTERM with the summary', async () => {
    const path = sockPath();
    const pcapPath = join(socketDir(), 'cli.pcap');
    const run = start('vhost', '--socket', path, '--json', '--queues', '4', '--pcap', pcapPath, '--pcap-max', '10', '--guest-mem', '64');
    try {
      const first = await roundTrip(path, 32);
      await roundTrip(path, 40);
      const clash = spawnSync(process.execPath, [bin, 'vhost', '--socket', path, '--duration', '1', '--guest-mem', '16'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
      expect(clash.status).toBe(1);
      expect(clash.stderr).toMatch(/a server is accepting there/);
      // The second server's probe of the socket (is a server accepting there?) was a connection too.
      run.child.kill('SIGTERM');
      const r = await run.done;
      expect(r.status).toBe(0);
      const s = JSON.parse(lastLine(r.stdout));
      expect(s).toMatchObject({ rx_packets: 72, tx_packets: 72, connections: 3, queues: 4, pcap_frames: 10, errors: 0 });
      expect(s.per_queue).toHaveLength(4);
      expect(r.stderr).toContain('stopping: SIGTERM');
      const p = readPcap(pcapPath);
      expect(p.records.map((x) => x.data)).toEqual(first.slice(0, 10));
    } finally {
      run.child.kill('SIGKILL');
      await run.done.catch(() => undefined);
    }
  });

  it('--client --fwd txonly: connects to a listening front-end and fills its receive buffers', async () => {
    const path = sockPath();
    const listener = UnixServer.listen(path);
    const accepted = within<UnixSocket>(20_000, 'the back-end connecting', (done) => listener.once('connection', done));
    const run = start('vhost', '--socket', path, '--client', '--fwd', 'txonly', '--json', '--guest-mem', '64');
    const g = guest(8 * MiB);
    let fe: RawFrontEnd | undefined;
    let pair;
    try {
      fe = frontEndOn(await accepted);
      listener.close();
      await negotiate(fe, FEATURES.VERSION_1 | F_PROTOCOL);
      expect(await setMemTable(fe, g)).toBe(0n);
      pair = await setupPair(fe, g, 0, 64, 2048);
      pair.postRx(32);
      const got = await pair.receive(32);
      expect(got.every((f) => f.frame.length === 64 && f.numBuffers === 1)).toBe(true);
      run.child.kill('SIGINT');
      const r = await run.done;
      expect(r.status).toBe(0);
      expect(JSON.parse(lastLine(r.stdout))).toMatchObject({ role: 'client', fwd: 'txonly', tx_packets: 32, rx_packets: 0, dropped: 0, errors: 0 });
      expect(r.stderr).toContain('stopping: SIGINT');
    } finally {
      listener.close();
      fe?.close();
      pair?.close();
      g.close();
      run.child.kill('SIGKILL');
      await run.done.catch(() => undefined);
    }
  });

  it('bad flags: one line on stderr, exit status 2', () => {
    for (const args of [['--socket'], [], ['--socket', 'x', '--fwd', 'loop'], ['--socket', 'x', '--queues', '17'], ['--socket', 'x', '--duration', '-1'], ['--socket', 'x', '--pcap-max', '5'], ['--socket', 'x', '--socket-mode', '999'], ['--socket', 'x', '--client', '--socket-mode', '600']]) {
      const r = spawnSync(process.execPath, [bin, 'vhost', ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^virtqueue: /);
    }
  });

  it('--help names the counters\' direction', () => {
    const r = spawnSync(process.execPath, [bin, 'vhost', '--help'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('rx = frames the device received from the front-end');
    expect(r.stdout).toContain('--fwd MODE');
  });
});
