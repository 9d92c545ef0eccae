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

export async function runSim(cmd: SimCommand, io: CliIO): Promise<number> {
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
