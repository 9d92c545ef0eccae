// `virtqueue sim`: the run in this thread (live progress on a terminal) or on worker threads,
// then the summary (text or JSON). Exit status 0 when nothing was lost, 1 when frames were lost
// or the run failed, 2 when the simulator refused an option.
import { runSimulation, type SimResult } from '../../sim/run.js';
import { startSimulationOnWorkers } from '../../sim/workers/run.js';
import { SimOptionError } from '../../sim/options.js';
import { loadEngine } from '../../src/node.js';
import { firstLine, type CliIO } from '../common.js';
import { flagFor, type SimCommand } from './args.js';
import { formatSummary } from './format.js';
import { ProgressLine } from './progress.js';
import { runSimLive } from '../live/sim-live.js';
import { runReplay } from './replay.js';
import { runUntilStopped, workerSimStatus } from './until-stopped.js';

export async function runSim(cmd: SimCommand, io: CliIO): Promise<number> {
  if (cmd.replay !== undefined) return runReplay(cmd.replay, cmd.json, io);
  if (cmd.threads) return runSimWorkers(cmd, cmd.threads, io);
  const progress = io.stderrIsTTY && !cmd.json ? new ProgressLine(io.stderr) : undefined;
  let result: SimResult;
  try {
    result = runSimulation({ ...cmd.options, loadEngine }, progress?.update);
  } catch (e) {
    progress?.clear();
    return failed(e, io);
  }
  progress?.clear();
  io.stdout(cmd.json ? `${JSON.stringify(result)}\n` : formatSummary(result));
  return result.lost === 0 ? 0 : 1;
}

/**
 * --workers N and --viz PORT: the run on worker threads (with the live visualizer for --viz).
 * SIGINT or SIGTERM stops it early with its summary (frames sent and delivered, what stopped
 * it; the frames not delivered are not counted lost): until-stopped.ts has the exit status.
 */
async function runSimWorkers(cmd: SimCommand, threads: NonNullable<SimCommand['threads']>, io: CliIO): Promise<number> {
  let out;
  try {
    out = cmd.viz !== undefined
      ? await runSimLive(cmd, threads, cmd.viz, io)
      : await runUntilStopped(await startSimulationOnWorkers({ ...cmd.options, ...threads, loadEngine }));
  } catch (e) {
    return failed(e, io);
  }
  io.stdout(cmd.json ? `${JSON.stringify(out.result)}\n` : formatSummary(out.result));
  if (out.reason.startsWith('error: ')) io.stderr(`virtqueue: ${out.reason}\n`);
  return workerSimStatus(out);
}

/** A run that could not start or failed: 2 for an option the simulator refused, else 1. */
function failed(e: unknown, io: CliIO): number {
  if (e instanceof SimOptionError) { io.stderr(`virtqueue: ${flagFor(e.option)} ${e.problem}\n`); return 2; }
  io.stderr(`virtqueue: error: ${firstLine(e)}\n`);
  return 1;
}
