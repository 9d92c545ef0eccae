// `virtqueue virtio-user`: a VirtioUserPort (client, or server with --server), its queue pairs
// forwarded by --workers Dataplane workers (VirtioUserWorkers; --workers 0: a Forwarder polled on
// the main thread, a burst per queue pair per pass), until --duration, SIGINT or SIGTERM; then
// the summary. The port reconnects by itself; each connection that ended because
// the back-end misbehaved or went away is logged and counted as an error.
import { VirtioUserPort } from '../../src/virtio-user/port.js';
import { ActivitySpan } from '../vhost/activity.js';
import { firstLine, untilStopped, type CliIO } from '../common.js';
import type { VirtioUserCommand } from './args.js';
import { summarize, formatVirtioUserSummary } from './format.js';
import { startForwarding } from './forwarding.js';

/** How long one pass of polling may hold the event loop (ms). */
const SLICE_MS = 2;

export async function runVirtioUser(cmd: VirtioUserCommand, io: CliIO): Promise<number> {
  const o = cmd.options;
  const log = (line: string): void => io.stderr(`virtqueue virtio-user: ${line}\n`);
  const layout = o.packed ? 'packed' as const : 'split' as const;
  let port: VirtioUserPort;
  try {
    port = VirtioUserPort.create({ socket: o.socket, server: o.server, queues: o.queues, layout, queueSize: o.queueSize, workers: o.workers, log });
  } catch (e) {
    io.stderr(`virtqueue: cannot set up the port: ${firstLine(e)}\n`);
    return 1;
  }
  let errors = 0;
  port.on('down', () => { errors++; });
  const forwarding = await startForwarding(port, o, io);
  if (!forwarding) return 1;
  const { fwd, workers } = forwarding;
  const started = performance.now();
  const rxSpan = new ActivitySpan(started);
  const txSpan = new ActivitySpan(started);
  const totals = (): { rx: number; tx: number } => port.queues.reduce((t, q) => ({ rx: t.rx + q.stats.rxPackets, tx: t.tx + q.stats.txPackets }), { rx: 0, tx: 0 });
  const sampler = setInterval(() => {
    const t = totals();
    const now = performance.now();
    rxSpan.sample(now, t.rx);
    txSpan.sample(now, t.tx);
  }, 50);
  sampler.unref();

  let stopped = false;
  let firstBurst = o.txFirst;
  const poll = (): void => {
    if (stopped || workers) return;
    if (!port.up) { setTimeout(poll, 10); return; }
    if (firstBurst) {
      firstBurst = false;
      for (let k = 0; k < o.queues; k++) fwd.txBurst(k);
    }
    const until = performance.now() + SLICE_MS;
    try {
      do {
        let moved = 0;
        for (let k = 0; k < o.queues; k++) moved += fwd.poll(k);
        if (moved === 0) break;
      } while (performance.now() < until);
    } catch (e) {
      log(`queue error: ${firstLine(e)}`); // the port ended the connection; it reconnects
    }
    setImmediate(poll);
  };
  port.on('up', () => { firstBurst = o.txFirst; }); // workers send their own first burst (worker-task.ts)

  let setupError: unknown;
  const connected = port.connect().then(() => { poll(); }, (e: unknown) => { setupError = e; });
  if (!o.server) log(`connecting to ${o.socket}`);
  else log(`listening at ${o.socket}`);

  const reason = await untilStopped(o.duration, (done) => {
    void connected.then(() => { if (setupError !== undefined) done('set-up failed'); });
  });
  stopped = true;
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const t = totals();
  rxSpan.sample(performance.now(), t.rx);
  txSpan.sample(performance.now(), t.tx);
  const workerStats = workers?.stats() ?? [];
  await workers?.stop().catch((e: unknown) => log(`stopping the workers: ${firstLine(e)}`));
  const lastError = port.lastError;
  // GET_VRING_BASE first, as DPDK's virtio-user stops: the back-end stops reading the rings.
  // The back-end takes what is still on the transmit rings first (bounded), so GET_VRING_BASE's
  // answer counts every frame sent.
  if (!(await port.drain())) log('the back-end did not take every frame on the transmit rings within 500 ms');
  await port.shutdown().catch((e: unknown) => log(`stopping the rings: ${firstLine(e)}`));
  log(`stopping: ${reason}`);
  if (setupError !== undefined) {
    io.stderr(`virtqueue: ${o.socket}: ${firstLine(setupError)}\n`);
    return 1;
  }
  // Frames a forwarding mode received but could not send back (the ring full) are freed and
  // counted as txFull, by the Forwarder and the workers alike (txonly makes only what fits).
  const per = port.queues.map((q) => ({ ...q.stats }));
  const dropped = per.reduce((n, q) => n + q.txFull, 0);
  const s = summarize({ socket: o.socket, role: o.server ? 'server' : 'client', layout, fwd: o.fwd, queues: o.queues, connections: port.connections },
    seconds, per, dropped, errors, { rx: rxSpan.seconds, tx: txSpan.seconds }, lastError, workerStats);
  io.stdout(cmd.json ? `${JSON.stringify(s)}\n` : formatVirtioUserSummary(s));
  return 0;
}
