// `virtqueue viz`: serve the page until SIGINT or SIGTERM, printing its address first.
import { firstLine, untilStopped, type CliIO } from '../common.js';
import { startVizServer } from './server.js';
import type { VizCommand } from './args.js';

export async function runViz(cmd: VizCommand, io: CliIO): Promise<number> {
  let server;
  try {
    server = await startVizServer({ port: cmd.port });
  } catch (e) {
    io.stderr(`virtqueue: cannot serve the visualizer on 127.0.0.1:${cmd.port}: ${firstLine(e)}\n`);
    return 1;
  }
  io.stdout(`virtqueue viz: ${server.url}\n`);
  const why = await untilStopped(undefined);
  await server.close();
  io.stderr(`virtqueue viz: stopped (${why})\n`);
  return 0;
}
