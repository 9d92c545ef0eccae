// `virtqueue` command line. Returns the exit status instead of exiting, so output written to a
// pipe is flushed before the process ends (bin/virtqueue.js sets process.exitCode).
//
//   0  the run finished and lost nothing (every frame delivered or dropped on purpose)
//   1  frames were lost, or the run failed (engine error, stall)
//   2  bad command line, or something asked for that is not implemented yet
import { parseCommandLine, flagFor, UsageError, type Command } from './args.js';
import { MAIN_USAGE, SIM_USAGE } from './usage.js';
import { VHOST_USAGE } from './vhost-usage.js';
import { runVhost } from './vhost-run.js';
import { formatSummary } from './format.js';
import { ProgressLine } from './progress.js';
import { runSimulation, type SimResult } from '../sim/run.js';
import { runSimulationOnWorkers } from '../sim/workers/run.js';
import { SimOptionError } from '../sim/options.js';
import { loadEngine } from '../src/node.js';

export interface CliIO {
  stdout(s: string): void;
  stderr(s: string): void;
  /** Whether stderr is a terminal (live progress goes there). */
  stderrIsTTY: boolean;
}

const processIO = (): CliIO => ({
  stdout: (s) => { process.stdout.write(s); },
  stderr: (s) => { process.stderr.write(s); },
  stderrIsTTY: process.stderr.isTTY === true,
});

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommandLine(argv);
  } catch (e) {
    if (e instanceof UsageError) { io.stderr(`virtqueue: ${e.message}\n`); return 2; }
    throw e;
  }
  if (cmd.kind === 'help') {
    io.stdout(cmd.topic === 'sim' ? SIM_USAGE : cmd.topic === 'vhost' ? VHOST_USAGE : MAIN_USAGE);
    return 0;
  }
  if (cmd.kind === 'vhost') return runVhost(cmd, io);

  const progress = io.stderrIsTTY && !cmd.json ? new ProgressLine(io.stderr) : undefined;
  let result: SimResult;
  try {
    result = cmd.threads
      ? await runSimulationOnWorkers({ ...cmd.options, ...cmd.threads, loadEngine })
      : runSimulation({ ...cmd.options, loadEngine }, progress?.update);
  } catch (e) {
    progress?.clear();
    if (e instanceof SimOptionError) { io.stderr(`virtqueue: ${flagFor(e.option)} ${e.problem}\n`); return 2; }
    io.stderr(`virtqueue: error: ${firstLine(e)}\n`);
    return 1;
  }
  progress?.clear();
  io.stdout(cmd.json ? `${JSON.stringify(result)}\n` : formatSummary(result));
  return result.lost === 0 ? 0 : 1;
}
