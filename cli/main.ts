// `virtqueue` command line: picks the command and runs it. Returns the exit status instead of
// exiting, so output written to a pipe is flushed before the process ends (bin/virtqueue.js
// sets process.exitCode).
//
//   0  the run finished and lost nothing (every frame delivered or dropped on purpose)
//   1  frames were lost, or the run failed (engine error, stall, socket)
//   2  bad command line, or something asked for that is not implemented yet
import { UsageError, type CliIO } from './common.js';
import { MAIN_USAGE } from './usage.js';
import { parseSim, type SimCommand } from './sim/args.js';
import { SIM_USAGE } from './sim/usage.js';
import { runSim } from './sim/run.js';
import { parseVhost, type VhostCommand } from './vhost/args.js';
import { VHOST_USAGE } from './vhost/usage.js';
import { runVhost } from './vhost/run.js';
import { parseVirtioUser, type VirtioUserCommand } from './virtio-user/args.js';
import { VIRTIO_USER_USAGE } from './virtio-user/usage.js';
import { runVirtioUser } from './virtio-user/run.js';
import { parseVfio, type VfioCommand } from './vfio/args.js';
import { VFIO_USAGE } from './vfio/usage.js';
import { runVfio } from './vfio/run.js';
import { parseViz, type VizCommand } from './viz/args.js';
import { VIZ_USAGE } from './viz/usage.js';
import { runViz } from './viz/run.js';

export type Command =
  | { kind: 'help'; topic: 'main' | 'sim' | 'vhost' | 'virtio-user' | 'vfio' | 'viz' }
  | SimCommand
  | VhostCommand
  | VirtioUserCommand
  | VfioCommand
  | VizCommand;

export function parseCommandLine(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError("missing command (try 'virtqueue --help')");
  if (first === '--help' || first === '-h' || first === 'help') {
    if (rest.length === 0) return { kind: 'help', topic: 'main' };
    if (rest.length === 1 && rest[0] === 'sim') return { kind: 'help', topic: 'sim' };
    if (rest.length === 1 && rest[0] === 'vhost') return { kind: 'help', topic: 'vhost' };
    if (rest.length === 1 && rest[0] === 'virtio-user') return { kind: 'help', topic: 'virtio-user' };
    if (rest.length === 1 && rest[0] === 'vfio') return { kind: 'help', topic: 'vfio' };
    if (rest.length === 1 && rest[0] === 'viz') return { kind: 'help', topic: 'viz' };
    throw new UsageError(`no help on '${rest.join(' ')}' (try 'virtqueue --help')`);
  }
  if (first === 'sim') return parseSim(rest);
  if (first === 'vhost') return parseVhost(rest);
  if (first === 'virtio-user') return parseVirtioUser(rest);
  if (first === 'vfio') return parseVfio(rest);
  if (first === 'viz') return parseViz(rest);
  if (first.startsWith('-')) throw new UsageError(`unknown option '${first}' before the command (try 'virtqueue --help')`);
  throw new UsageError(`unknown command '${first}' (try 'virtqueue --help')`);
}

const processIO = (): CliIO => ({
  stdout: (s) => { process.stdout.write(s); },
  stderr: (s) => { process.stderr.write(s); },
  stderrIsTTY: process.stderr.isTTY === true,
});

const USAGE = { main: MAIN_USAGE, sim: SIM_USAGE, vhost: VHOST_USAGE, 'virtio-user': VIRTIO_USER_USAGE, vfio: VFIO_USAGE, viz: VIZ_USAGE };

export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommandLine(argv);
  } catch (e) {
    if (e instanceof UsageError) { io.stderr(`virtqueue: ${e.message}\n`); return 2; }
    throw e;
  }
  if (cmd.kind === 'help') { io.stdout(USAGE[cmd.topic]); return 0; }
  if (cmd.kind === 'virtio-user') return runVirtioUser(cmd, io);
  if (cmd.kind === 'vfio') return runVfio(cmd, io);
  if (cmd.kind === 'viz') return runViz(cmd, io);
  return cmd.kind === 'sim' ? runSim(cmd, io) : runVhost(cmd, io);
}
