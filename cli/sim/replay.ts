// `virtqueue sim --replay FILE`: replays a trace exported from the visualizer (sim/stepper/trace.ts)
// on a fresh queue and says whether every operation gave the recorded result and left the same
// queue bytes. Exit status 0 when identical, 1 when it differs (naming the first operation that
// does), 2 when the file cannot be read or is not a valid trace.
import { readFile } from 'node:fs/promises';
import { parseTrace, TraceError, type Trace } from '../../sim/stepper/trace.js';
import { replayTrace, type ReplayReport } from '../../sim/stepper/replay.js';
import { createSharedMemory } from '../../src/memory.js';
import { loadEngine } from '../../src/node.js';
import { ERASE_LINE, firstLine, type CliIO } from '../common.js';

/** Memory for the replayed queue (the page uses the same amount). */
const REPLAY_MEMORY = 8 << 20;

export function formatReplay(file: string, r: ReplayReport): string {
  const head = `replayed ${file}: ${r.layout}, Queue Size ${r.queueSize}, features ${r.features.join(' ')}`;
  const errors = r.errors.length ? `\nengine errors met (as recorded): ${r.errors.join(', ')}` : '';
  if (r.identical) {
    return `${head}\n${r.ops} of ${r.ops} operations identical: same results, same queue bytes after each (final digest ${r.digest})${errors}\n`;
  }
  const m = r.mismatch!;
  return `${head}\nDIFFERS at operation ${m.at + 1} (${m.op}) after ${r.matched} identical: recorded ${JSON.stringify(m.recorded)}, replayed ${JSON.stringify(m.replayed)}\n`;
}

export async function runReplay(file: string, json: boolean, io: CliIO): Promise<number> {
  let trace: Trace;
  try {
    trace = parseTrace(await readFile(file, 'utf8'));
  } catch (e) {
    io.stderr(`virtqueue: --replay ${file}: ${e instanceof TraceError ? 'not a valid trace: ' : ''}${firstLine(e)}\n`);
    return 2;
  }
  const report = replayTrace(loadEngine(createSharedMemory(REPLAY_MEMORY)), trace,
    io.stderrIsTTY && !json ? (done, total) => io.stderr(`\rreplaying ${done}/${total}`) : undefined);
  if (io.stderrIsTTY && !json && trace.ops.length >= 1000) io.stderr(ERASE_LINE);
  io.stdout(json ? `${JSON.stringify({ file, ...report })}\n` : formatReplay(file, report));
  return report.identical ? 0 : 1;
}
