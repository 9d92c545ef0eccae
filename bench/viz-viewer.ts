// A viewer of the live visualizer's stream in a process of its own, for bench/viz.bench.ts and
// bench/viz-cpu.ts: `node dist/bench/viz-viewer.js URL` reads every frame of URL's stream
// (decoding each, as the page does), prints `ready` on the first frame, and on SIGTERM prints one
// JSON line: frames, bytes, seconds and the CPU it used, and the same from its first frame on
// (sinceFirst: frames after the first, their CPU and time, the server's seq of the first and last).
// The benches start it under `nice -n 19`: a viewer that gives way to the dataplane, as a browser
// on another machine would, so that what is measured is what serving the stream costs the dataplane.
//
// `node dist/bench/viz-viewer.js --toggle URL` (bench/viz.bench.ts's toggle mode): one process for
// a whole run that connects and disconnects on command, so that switching the viewer on or off
// costs no process start inside a measured window. It prints {"ack":"idle"} once it reads its
// stdin, then answers each line with one JSON line:
//   on    connects to URL (one LiveClient, every frame decoded) and answers at once
//         {"ack":"on","lateFrames":N}: N is the frames the previous connection delivered after it
//         was closed (0 unless a closed stream kept delivering);
//   off   closes the connection and answers {"ack":"off","frames","bytes","seconds","cpuMs",
//         "firstFrameMs","error"}: what it received while on, the CPU this process used from `on`
//         to `off`, and how long after `on` the first frame came (null: none came);
//   quit  answers {"ack":"quit","lateFrames":N} and exits (so does the end of stdin or SIGTERM).
import { createInterface } from 'node:readline';
import { LiveClient } from '../test/helpers/sse-client.js';
import { ViewerSwitch, clientMark, ownCpuMs, sinceFirst } from './viz-watch.js';

if (process.argv[2] === '--toggle') toggle(process.argv[3]);
else once(process.argv[2]);

function once(url: string | undefined): void {
  if (!url) {
    console.error('usage: viz-viewer URL | viz-viewer --toggle URL');
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
}

function toggle(url: string | undefined): void {
  if (!url) {
    console.error('usage: viz-viewer --toggle URL');
    process.exit(2);
  }
  const say = (o: object): boolean => process.stdout.write(`${JSON.stringify(o)}\n`);
  const v = new ViewerSwitch(url);
  let ending = false;
  const quit = (): void => {
    if (ending) return;
    ending = true;
    v.off();
    process.stdout.write(`${JSON.stringify({ ack: 'quit', lateFrames: v.lateFrames() })}\n`, () => process.exit(0));
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (raw) => {
    const cmd = raw.trim();
    if (cmd === 'on') {
      if (v.isOn) say({ ack: 'on', lateFrames: v.lateFrames(), error: 'already on' });
      else say({ ack: 'on', ...v.on() });
    } else if (cmd === 'off') {
      say({ ack: 'off', ...(v.off() ?? { frames: 0, bytes: 0, seconds: 0, cpuMs: 0, firstFrameMs: null, error: 'not on' }) });
    } else if (cmd === 'quit') {
      quit();
    } else if (cmd !== '') {
      say({ ack: 'error', error: `unknown command ${JSON.stringify(cmd)}` });
    }
  });
  lines.on('close', quit);
  process.on('SIGTERM', quit);
  say({ ack: 'idle' });
}
