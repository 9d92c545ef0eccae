// `virtqueue vfio`: a VfioNetPort on --device, its queue pair forwarded by a Forwarder polled on
// the main thread (a burst per pass), until --duration, SIGINT or SIGTERM; then the summary, in
// the shape of `virtqueue virtio-user`'s. A ring the device wrote that the engine rejects stops
// the port: the error is logged and the run fails.
import { VfioNetPort } from '../../src/vfio/net-port.js';
import { Forwarder } from '../../src/virtio-user/forward.js';
import { featureNames } from '../../src/features.js';
import { ActivitySpan } from '../vhost/activity.js';
import { firstLine, untilStopped, type CliIO } from '../common.js';
import { summarize } from '../virtio-user/format.js';
import type { VfioCommand } from './args.js';
import { formatVfioSummary, type VfioSummary } from './format.js';

/** How long one pass of polling may hold the event loop (ms). */
const SLICE_MS = 2;

export async function runVfio(cmd: VfioCommand, io: CliIO): Promise<number> {
  const o = cmd.options;
  const log = (line: string): void => io.stderr(`virtqueue vfio: ${line}\n`);
  const layout = o.packed ? 'packed' as const : 'split' as const;
  let port: VfioNetPort;
  try {
    port = VfioNetPort.open({ device: o.device, layout, queueSize: o.queueSize });
  } catch (e) {
    io.stderr(`virtqueue: cannot open ${o.device}: ${firstLine(e)}\n`);
    return 1;
  }
  log(`${port.mac}, ${layout} rings, features ${featureNames(port.features).join(' ')}`);
  let failure: unknown;
  let stop: ((why: string) => void) | undefined;
  port.on('down', (why) => {
    failure = new Error(why);
    log(`device error: ${why}`);
    stop?.('device error');
  });
  const fwd = new Forwarder(port, o.fwd, o.burst, o.frameSize);
  const started = performance.now();
  const rxSpan = new ActivitySpan(started);
  const txSpan = new ActivitySpan(started);
  const sample = (): void => {
    const s = port.stats(0);
    const now = performance.now();
    rxSpan.sample(now, s.rxPackets);
    txSpan.sample(now, s.txPackets);
  };
  const sampler = setInterval(sample, 50);
  sampler.unref();

  const poll = (): void => {
    if (failure !== undefined || port.closed || port.failed !== undefined) return;
    const until = performance.now() + SLICE_MS;
    try {
      do {
        if (fwd.poll(0) === 0) break;
      } while (performance.now() < until);
    } catch (e) {
      failure = e;
      log(`queue error: ${firstLine(e)}`);
      stop?.('queue error');
      return;
    }
    setImmediate(poll);
  };
  try {
    if (o.txFirst) fwd.txBurst(0);
  } catch (e) {
    failure = e;
  }
  if (failure === undefined) setImmediate(poll);
  const reason = failure !== undefined ? 'queue error' : await untilStopped(o.duration, (done) => { stop = done; });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  sample();
  const per = [port.stats(0)];
  const needsReset = port.failed === undefined && port.needsReset();
  port.close();
  log(`stopping: ${reason}`);
  if (failure !== undefined) {
    io.stderr(`virtqueue: ${o.device}: ${firstLine(failure)}\n`);
    return 1;
  }
  const { socket, role: _role, connections: _c, workers: _w, ...counts } = summarize(
    { socket: o.device, role: 'client', layout, fwd: o.fwd, queues: 1, connections: 1 },
    seconds, per, per[0].txFull, 0, { rx: rxSpan.seconds, tx: txSpan.seconds });
  const s: VfioSummary = { device: socket, ...counts, features: featureNames(port.features), needs_reset: needsReset };
  io.stdout(cmd.json ? `${JSON.stringify(s)}\n` : formatVfioSummary(s));
  return 0;
}
