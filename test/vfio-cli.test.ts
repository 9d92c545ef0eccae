// `virtqueue vfio`'s command line: flags parsed into options, each bad one refused with a
// one-line message (exit status 2), the help text, and a device that cannot be opened refused in
// one line (exit status 1). Runs on a real device are in vfio-port-guest.test.ts.
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCommandLine, main } from '../cli/main.js';
import { UsageError } from '../cli/common.js';
import { VFIO_USAGE } from '../cli/vfio/usage.js';

const parse = (...args: string[]): unknown => parseCommandLine(['vfio', ...args]);

function run(args: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  return main(args, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, stderrIsTTY: false }).then((status) => ({ status, out, err }));
}

describe('virtqueue vfio arguments', () => {
  it('every flag reaches the options, with the defaults', () => {
    expect(parse('--device', '0000:00:03.0', '--packed', '--queues', '4', '--workers', '2', '--recover', '--fwd', 'macswap', '--tx-first',
      '--duration', '2.5', '--burst', '64', '--queue-size', '128', '--frame-size', '1000', '--json')).toEqual({
      kind: 'vfio', json: true,
      options: { device: '0000:00:03.0', packed: true, queues: 4, workers: 2, recover: true, fwd: 'macswap', txFirst: true, duration: 2.5, burst: 64, queueSize: 128, frameSize: 1000 },
    });
    expect(parse('--device', '00:03.0')).toMatchObject({ json: false, options: { packed: false, queues: 1, workers: 0, recover: false, fwd: 'io', txFirst: false, duration: undefined, burst: 32, queueSize: 256, frameSize: 64 } });
  });

  const bad: [string[], RegExp][] = [
    [[], /--device BDF is required/],
    [['--device', 'd', '--fwd', 'flood'], /--fwd must be one of txonly, rxonly, io, macswap, got 'flood'/],
    [['--device', 'd', '--queues', '0'], /--queues must be 1 to 16, got 0/],
    [['--device', 'd', '--queues', '17'], /--queues must be 1 to 16, got 17/],
    [['--device', 'd', '--workers', '2'], /--workers 2 is more than the 1 queue pair to poll/],
    [['--device', 'd', '--queues', '2', '--workers', '3'], /--workers 3 is more than the 2 queue pairs to poll/],
    [['--device', 'd', '--fwd', 'rxonly', '--tx-first'], /--tx-first goes with --fwd io or macswap/],
    [['--device', 'd', '--queue-size', '96'], /--queue-size 96 is not a power of two/],
    [['--device', 'd', '--queue-size', '512'], /--queue-size must be 2 to 256, got 512/],
    [['--device', 'd', '--duration', '0'], /--duration expects a positive number of seconds, got '0'/],
    [['--device', 'd', '--bogus'], /unknown option '--bogus'/i],
  ];
  for (const [args, message] of bad) {
    it(`refuses ${args.join(' ') || 'no flags'} with one line and status 2`, async () => {
      expect(() => parse(...args)).toThrow(UsageError);
      expect(() => parse(...args)).toThrow(message);
      const r = await run(['vfio', ...args]);
      expect(r.status).toBe(2);
      expect(r.err).toMatch(/^virtqueue: [^\n]+\n$/);
    });
  }

  it('has help', async () => {
    const r = await run(['vfio', '--help']);
    expect([r.status, r.out]).toEqual([0, VFIO_USAGE]);
    expect((await run(['help', 'vfio'])).out).toBe(VFIO_USAGE);
    expect(VFIO_USAGE).toMatch(/--device BDF/);
  });
});

describe('virtqueue vfio on a device it cannot open: one line, status 1', () => {
  it('not a PCI address', async () => {
    const r = await run(['vfio', '--device', 'eth0', '--duration', '1']);
    expect(r.status).toBe(1);
    expect(r.err).toBe("virtqueue: cannot open eth0: eth0 is not a PCI address (domain:bus:device.function, e.g. 0000:00:01.0)\n");
  });

  it.skipIf(!existsSync('/sys/bus/pci/devices'))('no such device', async () => {
    const r = await run(['vfio', '--device', '0000:fe:1f.7', '--duration', '1']);
    expect(r.status).toBe(1);
    expect(r.err).toBe('virtqueue: cannot open 0000:fe:1f.7: no PCI device 0000:fe:1f.7 (nothing at /sys/bus/pci/devices/0000:fe:1f.7)\n');
  });

  // A device of this machine not bound to vfio-pci (the first one that is not, if any).
  const unbound = existsSync('/sys/bus/pci/devices') ? readdirSync('/sys/bus/pci/devices').find((d) => {
    try { return !readlinkSync(`/sys/bus/pci/devices/${d}/driver`).endsWith('/vfio-pci'); } catch { return true; }
  }) : undefined;
  it.skipIf(unbound === undefined)('a device bound to another driver, or to none: how to bind it', async () => {
    const r = await run(['vfio', '--device', unbound!, '--duration', '1']);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(new RegExp(`^virtqueue: cannot open ${unbound!.replace(/\./g, '\\.')}: PCI device ${unbound!.replace(/\./g, '\\.')} is bound to [^\\n]*, not vfio-pci: echo vfio-pci > [^\\n]+\\n$`));
  });
});
