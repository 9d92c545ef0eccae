// The `virtqueue` command, run as a child process exactly as a user runs it (bin/virtqueue.js,
// which loads the compiled CLI from dist/).
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../bin/virtqueue.js', import.meta.url));
const compiledCli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const engineWasm = fileURLToPath(new URL('../build/virtqueue.wasm', import.meta.url));

interface Run { status: number | null; stdout: string; stderr: string }

function virtqueue(...args: string[]): Run {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const lastLine = (s: string): string => s.trimEnd().split('\n').at(-1) ?? '';

const RESULT_FIELDS = [
  'ring', 'queueSize', 'packets', 'delivered', 'lost', 'dropped', 'corrupt', 'mpps', 'seconds',
  'batch', 'seed', 'mode', 'kicks', 'interrupts',
];

beforeAll(() => {
  for (const f of [compiledCli, engineWasm]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` first (npm test does it in pretest)`);
  }
});

describe('virtqueue sim', () => {
  it('--json: the last stdout line is the result, with nothing lost', () => {
    const r = virtqueue('sim', '--ring', 'split', '--queue-size', '64', '--packets', '20000', '--batch', '16', '--seed', '7', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const result = JSON.parse(lastLine(r.stdout));
    for (const f of RESULT_FIELDS) expect(result).toHaveProperty(f);
    expect(result).toMatchObject({
      ring: 'split', mode: 'loopback', queueSize: 64, batch: 16, seed: 7,
      packets: 20000, delivered: 20000, lost: 0, dropped: 0, corrupt: 0,
    });
    expect(result.mpps).toBeGreaterThan(0);
    expect(result.seconds).toBeGreaterThan(0);
  });

  it('--ring packed --in-order --event-idx --indirect: nothing lost', () => {
    const r = virtqueue('sim', '--ring', 'packed', '--queue-size', '100', '--packets', '20000', '--in-order', '--event-idx', '--indirect', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(lastLine(r.stdout))).toMatchObject({
      ring: 'packed', queueSize: 100, inOrder: true, eventIdx: true, indirect: true, delivered: 20000, lost: 0,
    });
  });

  it('passes every option through', () => {
    const r = virtqueue('sim', '--packets', '20000', '--mode', 'sink', '--latency', '3', '--jitter', '2', '--drop', '0.1',
      '--out-of-order', '--event-idx', '--indirect', '--frame-size', '100', '--json');
    expect(r.status).toBe(0);
    const result = JSON.parse(lastLine(r.stdout));
    expect(result).toMatchObject({
      mode: 'sink', latency: 3, jitter: 2, drop: 0.1, outOfOrder: true, eventIdx: true, indirect: true,
      frameSize: 100, lost: 0,
    });
    expect(result.dropped).toBeGreaterThan(0);
    expect(result.delivered + result.dropped).toBe(20000);
  });

  it('is deterministic: the same seed gives the same delivery order', () => {
    const args = ['sim', '--packets', '20000', '--latency', '2', '--out-of-order', '--seed', '99', '--json'];
    const a = JSON.parse(lastLine(virtqueue(...args).stdout));
    const b = JSON.parse(lastLine(virtqueue(...args).stdout));
    expect(b.orderChecksum).toBe(a.orderChecksum);
    expect(b.ticks).toBe(a.ticks);
  });

  it('without --json prints a short summary and, without a terminal, no progress', () => {
    const r = virtqueue('sim', '--packets', '10000');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toContain('\r');
    expect(r.stdout).toMatch(/delivered\s+10,000/);
    expect(r.stdout).toMatch(/lost\s+0/);
    expect(r.stdout).toMatch(/Mpps/);
    expect(r.stdout.trimEnd().split('\n').length).toBeLessThanOrEqual(10);
  });
});

describe('bad arguments: one line on stderr, exit status 2', () => {
  it.each([
    ['unknown flag', ['sim', '--bogus']],
    ['non-numeric packets', ['sim', '--packets', 'lots']],
    ['fractional packets', ['sim', '--packets', '2.5']],
    ['packets in exponent form (digits only, as every integer flag)', ['sim', '--packets', '1e4']],
    ['missing value', ['sim', '--packets']],
    ['queue size not a power of two', ['sim', '--queue-size', '300']],
    ['queue size above 32768', ['sim', '--queue-size', '65536']],
    ['zero packets', ['sim', '--packets', '0']],
    ['negative packets', ['sim', '--packets=-3']],
    ['zero batch', ['sim', '--batch', '0']],
    ['batch above the queue size', ['sim', '--queue-size', '64', '--batch', '128']],
    ['drop probability 1', ['sim', '--drop', '1']],
    ['negative drop probability', ['sim', '--drop=-0.5']],
    ['non-numeric drop probability', ['sim', '--drop', 'half']],
    ['unknown mode', ['sim', '--mode', 'bridge']],
    ['unknown ring', ['sim', '--ring', 'circular']],
    ['unknown command', ['simulate']],
    ['no command', []],
    ['stray positional argument', ['sim', 'fast']],
    ['in-order with out-of-order', ['sim', '--in-order', '--out-of-order']],
  ])('%s', (_name, args) => {
    const r = virtqueue(...args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.endsWith('\n')).toBe(true);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^virtqueue: /);
  });

  it('names the flag and the rule', () => {
    expect(virtqueue('sim', '--queue-size', '300').stderr).toMatch(/--queue-size .*power of two/);
    expect(virtqueue('sim', '--in-order', '--jitter', '2').stderr).toMatch(/--in-order .*out-of-order/);
    expect(virtqueue('sim', '--bogus').stderr).toMatch(/--bogus/);
  });
});

describe('help', () => {
  it.each([[['--help']], [['-h']], [['help']]])('%j prints the commands', (args) => {
    const r = virtqueue(...args);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: virtqueue <command>/);
    expect(r.stdout).toContain('sim');
  });

  it('sim --help lists every option', () => {
    const r = virtqueue('sim', '--help');
    expect(r.status).toBe(0);
    for (const flag of ['--ring', '--queue-size', '--packets', '--batch', '--seed', '--mode', '--latency', '--drop',
      '--out-of-order', '--event-idx', '--indirect', '--json']) {
      expect(r.stdout).toContain(flag);
    }
  });
});
