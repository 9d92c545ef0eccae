// `virtqueue sim --workers/--topology/--idle`, spawned as a user runs it.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { requireDist } from './helpers/dataplane-world.js';
import { sleep, within } from './helpers/within.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../bin/virtqueue.js', import.meta.url));

function virtqueue(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return r;
}
const lastLine = (s: string): string => s.trimEnd().split('\n').at(-1) ?? '';

beforeAll(requireDist);

describe('virtqueue sim on worker threads', () => {
  it('--workers 2 (rtc, poll by default): lost 0 and a rate', () => {
    const r = virtqueue('sim', '--workers', '2', '--ring', 'packed', '--packets', '20000', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(lastLine(r.stdout));
    expect(j).toMatchObject({ workers: 2, topology: 'rtc', idle: 'poll', ring: 'packed', delivered: 20000, lost: 0 });
    expect(j.mpps).toBeGreaterThan(0);
    expect(j.workerStats).toHaveLength(2);
  });

  it('--topology pipeline --idle adaptive', () => {
    const r = virtqueue('sim', '--workers', '2', '--topology', 'pipeline', '--idle', 'adaptive', '--packets', '20000', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(lastLine(r.stdout))).toMatchObject({ topology: 'pipeline', idle: 'adaptive', delivered: 20000, lost: 0 });
  });

  it('without --workers the single-thread run is unchanged (no thread fields)', () => {
    const r = virtqueue('sim', '--packets', '10000', '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(lastLine(r.stdout));
    expect(j.lost).toBe(0);
    expect(j).not.toHaveProperty('workers');
  });

  it('SIGINT stops a run on workers early with its summary: stopped, frames sent and delivered, none lost (as sim --viz)', async () => {
    const child = spawn(process.execPath, [bin, 'sim', '--workers', '2', '--queue-size', '16', '--batch', '8', '--packets', '2000000000', '--json'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const closed = within<number | null>(30_000, 'virtqueue sim --workers 2 exiting after SIGINT', (r) => child.on('close', r));
    try {
      await sleep(1500); // the workers started and moving (nothing is printed before the end)
      child.kill('SIGINT');
      expect(await closed, err).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    const j = JSON.parse(lastLine(out));
    expect(j).toMatchObject({ workers: 2, finished: false, stopped: 'SIGINT', lost: 0, corrupt: 0, duplicate: 0, packets: 2_000_000_000 });
    expect(j.sent).toBeGreaterThanOrEqual(j.delivered);
    expect(j.sent - j.delivered).toBeLessThanOrEqual(2 * 16);
    expect(j.sent).toBeLessThan(j.packets);
  });

  it.each([
    [['--workers', '3'], '--topology rtc runs on at most 2 workers, got --workers 3'],
    [['--workers', '4', '--topology', 'pipeline'], '--topology pipeline runs on at most 3 workers, got --workers 4'],
    [['--topology', 'pipeline'], '--topology and --idle need --workers 2 or more (--workers 1 is the single-thread run)'],
    [['--workers', '2', '--idle', 'nap'], "--idle must be one of poll, adaptive, got 'nap'"],
    [['--workers', '2', '--topology', 'ring'], "--topology must be one of rtc, pipeline, got 'ring'"],
    [['--workers', '0'], '--workers must be at least 1, got 0'],
    [['--workers', '2', '--mode', 'sink'], '--workers 2 needs --mode loopback'],
    [['--workers', '2', '--topology', 'pipeline', '--latency', '3'], '--latency is not supported by --topology pipeline'],
  ])('%j: one-line error, exit 2', (args, message) => {
    const r = virtqueue('sim', ...args, '--packets', '100');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`virtqueue: ${message}\n`);
  });
});
