// `virtqueue vhost`: one shared memory (private state below privateBytes, then the window for
// inflight regions, the dirty log's window, then the guest memory window), the inflight state file (--state), the
// vhost-user server (or client) with the virtio-net device model (its queues on Dataplane
// workers), live rates on a terminal, and the summary at the end (--duration, SIGINT or SIGTERM).
import { openSync, closeSync } from 'node:fs';
import { createSharedMemory, MemoryPlan } from '../../src/index.js';
import { loadEngine } from '../../src/node.js';
import { VhostUserServer } from '../../src/vhost-user/server.js';
import { RING_SLOT_BYTES } from '../../src/vhost-user/ring-slots.js';
import { InflightStateFile } from '../../src/vhost-user/inflight-state.js';
import { inflightWindowBytes } from '../../src/vhost-user/inflight.js';
import { NetDevice } from '../../src/vhost-user/net/device.js';
import type { NetCounters } from '../../src/virtio-net/queue-pair.js';
import { ERASE_LINE, firstLine, untilStopped, type CliIO } from '../common.js';
import type { VhostCommand } from './args.js';
import { ActivitySpan } from './activity.js';
import { summarize, formatVhostSummary, formatRates } from './format.js';
import { serveLive, type LiveServer } from '../live/serve.js';
import { vhostSampler } from '../live/vhost-live.js';
import { LIVE_RATE_HZ } from '../../src/viz/stream.js';

const MiB = 1 << 20;
/** Ring state (one slot per vring, after the first 64 KiB; at least 32 MiB), in whole MiB. */
const ringStateBytes = (vrings: number): number => Math.max(32 * MiB, Math.ceil((64 * 1024 + vrings * RING_SLOT_BYTES) / MiB) * MiB);
/** The device's burst arrays, after the ring state. */
const DEVICE_BYTES = 32 * MiB;

/** Window for inflight regions, in whole MiB. */
const inflightBytes = (vrings: number): number => Math.ceil(inflightWindowBytes(vrings) / MiB) * MiB;
/** Window for the dirty log (migration): 1 MiB covers guest addresses below 32 GiB. */
const LOG_BYTES = MiB;

export async function runVhost(cmd: VhostCommand, io: CliIO): Promise<number> {
  const o = cmd.options;
  const log = (line: string): void => io.stderr(`${live ? ERASE_LINE : ''}virtqueue vhost: ${line}\n`);
  let live = false;
  const inflight = inflightBytes(2 * o.queues);
  const ringState = ringStateBytes(2 * o.queues);
  const privateBytes = ringState + DEVICE_BYTES;
  const memory = createSharedMemory(privateBytes + inflight + LOG_BYTES + o.guestMem * MiB);
  const engine = loadEngine(memory);
  if (o.pcap !== undefined) {
    try {
      closeSync(openSync(o.pcap, 'w'));
    } catch (e) {
      io.stderr(`virtqueue: --pcap ${o.pcap}: ${firstLine(e)}\n`);
      return 1;
    }
  }
  let state: InflightStateFile | undefined;
  try {
    state = o.state === undefined ? undefined : InflightStateFile.open(o.state, 2 * o.queues);
  } catch (e) {
    io.stderr(`virtqueue: --state: ${firstLine(e)}\n`);
    return 1;
  }
  let device: NetDevice;
  try {
    device = await NetDevice.start({
      engine, plan: new MemoryPlan(memory, { start: ringState, end: privateBytes }), pairs: o.queues, mode: o.fwd, burst: o.burst,
      workers: o.workers, idle: o.idle, pcap: o.pcap === undefined ? undefined : { path: o.pcap, maxFrames: o.pcapMax }, log,
    });
  } catch (e) {
    state?.close();
    io.stderr(`virtqueue: cannot start the dataplane: ${firstLine(e)}\n`);
    return 1;
  }
  const serverOpts = {
    engine, plan: new MemoryPlan(memory, { start: 64 * 1024, end: ringState }),
    window: { offset: privateBytes + inflight + LOG_BYTES, size: o.guestMem * MiB }, device, log, socketMode: o.socketMode,
    messageTimeoutMs: o.messageTimeoutMs, messageRate: o.messageRate,
    inflight: { window: { offset: privateBytes, size: inflight }, state },
    dirtyLog: { window: { offset: privateBytes + inflight, size: LOG_BYTES } },
    iommu: o.iommu,
  };
  let server: VhostUserServer;
  try {
    server = o.client ? VhostUserServer.connect(o.socket, serverOpts) : VhostUserServer.listen(o.socket, serverOpts);
  } catch (e) {
    await device.close();
    state?.close();
    io.stderr(`virtqueue: ${o.socket}: ${firstLine(e)}\n`);
    return 1;
  }
  let sessions = 0;
  server.on('session', () => {
    sessions++;
    log(`front-end connected (session ${sessions})`);
  });
  server.on('sessionEnd', (reason) => log(`session ended: ${reason}; the device is reset`));
  if (!o.client) log(`listening at ${o.socket}`);
  let viz: LiveServer | undefined;
  if (o.viz !== undefined) {
    try {
      viz = await serveLive(o.viz, { version: 1, source: 'vhost', rateHz: o.vizRate ?? LIVE_RATE_HZ, options: { ...o } }, vhostSampler(engine, device), io);
    } catch (e) {
      server.close();
      await device.close();
      state?.close();
      io.stderr(`virtqueue: --viz ${o.viz}: ${firstLine(e)}\n`);
      return 1;
    }
  }
  const started = performance.now();

  let prev: NetCounters[] = device.perPair();
  let prevAt = started;
  const ticker = io.stderrIsTTY && !cmd.json ? setInterval(() => {
    const now = performance.now();
    const cur = device.perPair();
    io.stderr(ERASE_LINE + formatRates(prev, cur, (now - prevAt) / 1000));
    live = true;
    prev = cur;
    prevAt = now;
  }, 1000) : undefined;

  // Sample the counters every 50 ms to know when traffic flowed (ActivitySpan).
  const rxSpan = new ActivitySpan(started);
  const txSpan = new ActivitySpan(started);
  const sampleActivity = (): void => {
    const t = device.totals();
    const now = performance.now();
    rxSpan.sample(now, t.rxPackets);
    txSpan.sample(now, t.txPackets);
  };
  const sampler = setInterval(sampleActivity, 50);
  sampler.unref();

  const reason = await untilStopped(o.duration);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  sampleActivity();
  if (ticker) clearInterval(ticker);
  if (live) io.stderr(ERASE_LINE);
  live = false;
  server.close();
  state?.close();
  const results = await device.close();
  log(`stopping: ${reason}`);
  const s = summarize({ socket: o.socket, role: o.client ? 'client' : 'server', fwd: o.fwd, queues: o.queues, connections: sessions },
    seconds, device.totals(), device.perPair(), o.pcap === undefined ? undefined : results.pcapFrames, { rx: rxSpan.seconds, tx: txSpan.seconds }, results.workers);
  await viz?.finish({ reason, summary: s });
  io.stdout(cmd.json ? `${JSON.stringify(s)}\n` : formatVhostSummary(s));
  return 0;
}
