// `virtqueue vfio`: a VfioNetPort on --device with --queues queue pairs, forwarded by --workers
// Dataplane workers (VirtioUserWorkers, as `virtqueue virtio-user` runs them; --workers 0: a
// Forwarder polled on the main thread, a burst per queue pair per pass), until --duration,
// SIGINT or SIGTERM; then the summary, in the shape of `virtqueue virtio-user`'s. A ring the
// device wrote that the engine rejects stops the port: the error is logged and the run fails.
import { VfioNetPort } from '../../src/vfio/net-port.js';
import { featureNames } from '../../src/features.js';
import { ActivitySpan } from '../vhost/activity.js';
import { firstLine, untilStopped, type CliIO } from '../common.js';
import { summarize } from '../virtio-user/format.js';
import { startForwarding } from '../virtio-user/forwarding.js';
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
    port = VfioNetPort.open({ device: o.device, layout, queueSize: o.queueSize, queues: o.queues, workers: o.workers, recover: o.recover, log });
  } catch (e) {
    io.stderr(`virtqueue: cannot open ${o.device}: ${firstLine(e)}\n`);
    return 1;
  }
  log(`${port.mac}, ${layout} rings, ${o.queues} queue pair${o.queues > 1 ? 's' : ''}, MSI-X ${port.vectors}, features ${featureNames(port.features).join(' ')}`);
  let failure: unknown;
  let stop: ((why: string) => void) | undefined;
  port.on('down', (why) => {
    failure = new Error(why);
    log(`device error: ${why}`);
    stop?.('device error');
  });
  const forwarding = await startForwarding(port, o, io);
  if (!forwarding) return 1;
  const { fwd, workers } = forwarding;
  const started = performance.now();
  const rxSpan = new ActivitySpan(started);
  const txSpan = new ActivitySpan(started);
  const sample = (): void => {
    const s = port.queues.reduce((t, q) => { const x = q.stats; return { rx: t.rx + x.rxPackets, tx: t.tx + x.txPackets }; }, { rx: 0, tx: 0 });
    const now = performance.now();
    rxSpan.sample(now, s.rx);
    txSpan.sample(now, s.tx);
  };
  const sampler = setInterval(sample, 50);
  sampler.unref();

  const poll = (): void => {
    if (failure !== undefined || port.closed || port.failed !== undefined) return;
    const until = performance.now() + SLICE_MS;
    try {
      do {
        let moved = 0;
        for (let k = 0; k < o.queues; k++) moved += fwd.poll(k);
        if (moved === 0) break;
      } while (performance.now() < until);
    } catch (e) {
      failure = e;
      log(`queue error: ${firstLine(e)}`);
      stop?.('queue error');
      return;
    }
    setImmediate(poll);
  };
  // Workers send their own first burst (worker-task.ts).
  if (!workers) {
    try {
      if (o.txFirst) for (let k = 0; k < o.queues; k++) fwd.txBurst(k);
    } catch (e) {
      failure = e;
    }
    if (failure === undefined) setImmediate(poll);
  }
  const reason = failure !== undefined ? 'queue error' : await untilStopped(o.duration, (done) => { stop = done; });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const workerStats = workers?.stats() ?? [];
  await workers?.stop().catch((e: unknown) => log(`stopping the workers: ${firstLine(e)}`));
  sample();
  const per = port.queues.map((q) => ({ ...q.stats }));
  const needsReset = port.failed === undefined && port.needsReset();
  port.close();
  log(`stopping: ${reason}`);
  if (failure !== undefined) {
    io.stderr(`virtqueue: ${o.device}: ${firstLine(failure)}\n`);
    return 1;
  }
  const { socket, role: _role, connections: _c, ...counts } = summarize(
    { socket: o.device, role: 'client', layout, fwd: o.fwd, queues: o.queues, connections: 1 },
    seconds, per, per.reduce((n, q) => n + q.txFull, 0), 0, { rx: rxSpan.seconds, tx: txSpan.seconds }, undefined, workerStats);
  const s: VfioSummary = { device: socket, ...counts, features: featureNames(port.features), needs_reset: needsReset, resets: port.resets };
  io.stdout(cmd.json ? `${JSON.stringify(s)}\n` : formatVfioSummary(s));
  return 0;
}
