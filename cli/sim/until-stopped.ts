// A simulation on worker threads, run until it reaches its end or SIGINT or SIGTERM stops it
// early: `virtqueue sim --workers N` and `virtqueue sim --viz PORT`. A stopped run's summary says
// what stopped it (WorkerSimResult.stopped) and counts the frames sent and delivered; the frames
// it did not deliver are not lost (never sent, or on their way when it stopped).
import type { WorkerSimResult, WorkerSimRun } from '../../sim/workers/run.js';
import { firstLine, untilStopped } from '../common.js';

export interface WorkerSimOutcome {
  /** 'finished', a signal name, or 'error: ...'. */
  reason: string;
  result: WorkerSimResult;
}

/** Waits for the end of the run, a signal or a failure, then stops the workers. */
export async function runUntilStopped(run: WorkerSimRun): Promise<WorkerSimOutcome> {
  const reason = await untilStopped(undefined, (done) => {
    run.finished().then(() => done('finished'), (e: unknown) => done(`error: ${firstLine(e)}`));
  });
  return { reason, result: await run.stop(reason) };
}

/**
 * Exit status: 1 for a failed run; for one stopped early, 1 only when a frame arrived corrupt
 * or twice; for one that reached its end, 1 when frames were lost. Else 0.
 */
export function workerSimStatus({ reason, result }: WorkerSimOutcome): number {
  if (reason.startsWith('error: ')) return 1;
  if (result.stopped !== null) return result.corrupt === 0 && result.duplicate === 0 ? 0 : 1;
  return result.lost === 0 ? 0 : 1;
}
