// `virtqueue virtio-user`'s command line: flags parsed into options, each bad one refused with a
// one-line message (exit status 2), and the help text. (Runs against real back-ends are in
// virtio-user-dpdk.test.ts.)
import { describe, expect, it } from 'vitest';
import { parseCommandLine, main } from '../cli/main.js';
import { UsageError } from '../cli/common.js';
import { VIRTIO_USER_USAGE } from '../cli/virtio-user/usage.js';

const parse = (...args: string[]): unknown => parseCommandLine(['virtio-user', ...args]);

function run(args: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  return main(args, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, stderrIsTTY: false }).then((status) => ({ status, out, err }));
}

describe('virtqueue virtio-user arguments', () => {
  it('every flag reaches the options', () => {
    expect(parse('--socket', '/tmp/x', '--server', '--queues', '4', '--packed', '--workers', '2', '--fwd', 'macswap', '--tx-first',
      '--duration', '1.5', '--burst', '64', '--queue-size', '100', '--frame-size', '1518', '--json')).toEqual({
      kind: 'virtio-user', json: true,
      options: { socket: '/tmp/x', server: true, queues: 4, packed: true, workers: 2, fwd: 'macswap', txFirst: true, duration: 1.5, burst: 64, queueSize: 100, frameSize: 1518 },
    });
    expect(parse('--socket', 's')).toMatchObject({ options: { server: false, queues: 1, workers: 1, fwd: 'io', txFirst: false, duration: undefined, queueSize: 256, frameSize: 64 } });
  });

  const bad: [string[], RegExp][] = [
    [[], /--socket PATH is required/],
    [['--socket', 's', '--fwd', 'flood'], /--fwd must be one of txonly, rxonly, io, macswap, got 'flood'/],
    [['--socket', 's', '--queues', '0'], /--queues must be 1 to 16, got 0/],
    [['--socket', 's', '--queues', '2', '--workers', '3'], /--workers 3 is more than the 2 queue pairs/],
    [['--socket', 's', '--fwd', 'txonly', '--tx-first'], /--tx-first goes with --fwd io or macswap/],
    [['--socket', 's', '--queue-size', '100'], /--queue-size 100 is not a power of two \(split rings/],
    [['--socket', 's', '--duration', '0'], /--duration expects a positive number of seconds, got '0'/],
    [['--socket', 's', '--frame-size', '32'], /--frame-size must be 64 to 2048, got 32/],
    [['--socket', 's', '--bogus'], /unknown option '--bogus'/i],
  ];
  for (const [args, message] of bad) {
    it(`refuses ${args.join(' ') || 'no flags'}`, async () => {
      expect(() => parse(...args)).toThrow(UsageError);
      expect(() => parse(...args)).toThrow(message);
      const r = await run(['virtio-user', ...args]);
      expect(r.status).toBe(2);
      expect(r.err).toMatch(message);
    });
  }

  it('--help and help virtio-user print the usage', async () => {
    for (const args of [['virtio-user', '--help'], ['help', 'virtio-user']]) {
      const r = await run(args);
      expect(r.status).toBe(0);
      expect(r.out).toBe(VIRTIO_USER_USAGE);
    }
    expect(VIRTIO_USER_USAGE).toMatch(/--fwd MODE/);
  });
});
