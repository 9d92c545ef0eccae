// `--viz PORT` of `virtqueue sim` and `virtqueue vhost`: the visualizer's server (cli/viz/server.ts)
// on 127.0.0.1 with the live stream mounted, its address printed on stdout, and at the end the
// summary sent to the viewers before the server closes.
import { startVizServer, type VizServer } from '../viz/server.js';
import { LiveStream, type FrameSample } from './live-stream.js';
import { LIVE_PAGE_QUERY, type LiveEnd, type LiveHello } from '../../src/viz/stream.js';
import type { CliIO } from '../common.js';

export interface LiveServer {
  readonly stream: LiveStream;
  readonly server: VizServer;
  /** Tells the viewers the run ended (with the summary) and closes the server. */
  finish(end: LiveEnd): Promise<void>;
}

/** Starts the server; prints `viz: http://127.0.0.1:PORT/?live` (the line tests and people look for). */
export async function serveLive(port: number, hello: LiveHello, sample: () => FrameSample, io: CliIO): Promise<LiveServer> {
  const stream = new LiveStream(hello, sample, hello.rateHz);
  const server = await startVizServer({ port, routes: stream.route });
  io.stdout(`viz: ${server.url}?${LIVE_PAGE_QUERY}\n`);
  return {
    stream, server,
    async finish(end: LiveEnd): Promise<void> {
      stream.end(end);
      await server.close();
    },
  };
}
