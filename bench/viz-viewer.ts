// A viewer of the live visualizer's stream in a process of its own, for bench/viz.bench.ts and
// bench/viz-cpu.ts: `node dist/bench/viz-viewer.js URL` reads every frame of URL's stream
// (decoding each, as the page does), prints `ready` on the first frame, and on SIGTERM prints one
// JSON line: frames, bytes, seconds and the CPU it used, and the same from its first frame on
// (sinceFirst: frames after the first, their CPU and time, the server's seq of the first and last).
// The benches start it under `nice -n 19`: a viewer that gives way to the dataplane, as a browser
// on another machine would, so that what is measured is what serving the stream costs the dataplane.
import { LiveClient } from '../test/helpers/sse-client.js';
import { clientMark, ownCpuMs, sinceFirst } from './viz-watch.js';

const url = process.argv[2];
if (!url) {
  console.error('usage: viz-viewer URL');
  process.exit(2);
}
const started = performance.now();
const cpu0 = ownCpuMs();
const client = new LiveClient(url, 2);
let first = clientMark(client, cpu0);
client.until(() => client.count > 0, 'the first frame', 60_000).then(() => {
  first = clientMark(client, ownCpuMs());
  process.stdout.write('ready\n');
}, () => undefined);
// Alive until told to stop, even after the stream ends or fails (the report says so).
const alive = setInterval(() => undefined, 1 << 30);
process.on('SIGTERM', () => {
  clearInterval(alive);
  client.close();
  const cpuMs = ownCpuMs();
  const seconds = (performance.now() - started) / 1000;
  const error = client.error?.message ?? (client.closed && client.count === 0 ? 'the stream closed before any frame' : null);
  const report = { frames: client.count, bytes: client.bytes, seconds, cpuMs: cpuMs - cpu0, sinceFirst: sinceFirst(first, clientMark(client, cpuMs)), error };
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
});
