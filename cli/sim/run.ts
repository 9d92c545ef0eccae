// `virtqueue sim`: the run in this thread (live progress on a terminal) or on worker threads,
// then the summary (text or JSON). Exit status 0 when nothing was lost, 1 when frames were lost
// or the run failed, 2 when the simulator refused an option.
import { runSimulation, type SimResult } from '../../sim/run.js';
import { runSimulationOnWorkers } from '../../sim/workers/run.js';
import { SimOptionError } from '../../sim/options.js';
import { loadEngine } from '../../src/node.js';
import { firstLine, type CliIO } from '../common.js';
import { flagFor, type SimCommand } from './args.js';
import { formatSummary } from './format.js';
import { ProgressLine } from './progress.js';
import { runSimLive } from '../live/sim-live.js';
import { runReplay } from './replay.js';

export async function runSim(cmd: SimCommand, io: CliIO): Promise<number> {
  if (cmd.replay !== undefined) return runReplay(cmd.replay, cmd.json, io);
  if (cmd.viz !== undefined && cmd.threads) return runSimViz(cmd, cmd.threads, cmd.viz, io);
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

/**
 * --viz: the run with the live visualizer. A run stopped early by SIGINT or SIGTERM prints its
 * summary and exits 0 unless a frame arrived corrupt or twice (the frames still in flight are
 * not lost, they were never finished).
 */
async function runSimViz(cmd: SimCommand, threads: NonNullable<SimCommand['threads']>, port: number, io: CliIO): Promise<number> {
  let out;
  try {
    out = await runSimLive(cmd, threads, port, io);
  } catch (e) {
    if (e instanceof SimOptionError) { io.stderr(`virtqueue: ${flagFor(e.option)} ${e.problem}\n`); return 2; }
    io.stderr(`virtqueue: error: ${firstLine(e)}\n`);
    return 1;
  }
  const { reason, result } = out;
  io.stdout(cmd.json ? `${JSON.stringify(result)}\n` : formatSummary(result));
  if (reason.startsWith('error: ')) { io.stderr(`virtqueue: ${reason}\n`); return 1; }
  if (reason !== 'finished') return result.corrupt === 0 && result.duplicate === 0 ? 0 : 1;
  return result.lost === 0 ? 0 : 1;
}
