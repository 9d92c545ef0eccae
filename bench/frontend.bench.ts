// npm run bench:frontend: our vhost-user front-end (`virtqueue virtio-user`) against DPDK's
// (testpmd's net_virtio_user), interleaved A B A B A B, the back-end on CPU 0 and the front-end
// on CPU 1 (ours under `taskset -c 1`, testpmd's lcores there).
//
// Cases:
//   txonly     front-end txonly into DPDK net_vhost rxonly. Figure: net_vhost's steady Rx-pps
//              (frames the back-end took off the rings), the same yardstick for both front-ends.
//   io         front-end io --tx-first against net_vhost io: one burst per queue circulates.
//              Figure: net_vhost's steady Rx-pps.
//   node-64, node-1518   our front-end txonly (--frame-size) into our back-end (`virtqueue vhost
//              --fwd rxonly`): two Node processes. Figure: the back-end's rx_mpps; next to it the
//              CPU each process used over the run (a side near 100% of its core is what limits).
// The B / A ratio (ours / DPDK's) is the median of the ratios of runs taken side by side (same
// round). Goal: >= 1.0 for txonly and io.
//
// VIRTQUEUE_BENCH_ROUNDS (3), VIRTQUEUE_BENCH_SECONDS (4 s of traffic per run),
// VIRTQUEUE_BENCH_CASES (comma list, default all), VIRTQUEUE_BENCH_JSON (also write the JSON here).
// Output: progress on stderr, a table and the machine on stdout, and as the last stdout line one
// JSON object with every run, median and ratio. Needs dpdk-testpmd.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  findTestpmd, median, startTestpmd, startVirtqueueVhost, steadyPps, totalPps, type ForwardMode, type Testpmd, type VhostFwd,
} from '../test/helpers/testpmd.js';
import { startVirtioUser, cpuSeconds } from '../test/helpers/virtio-user-cli.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';

const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.VIRTQUEUE_BENCH_SECONDS ?? 4);
const ALL = ['txonly', 'io', 'node-64', 'node-1518'] as const;
type Case = (typeof ALL)[number];
const CASES = (process.env.VIRTQUEUE_BENCH_CASES?.split(',') ?? [...ALL]) as Case[];
for (const c of CASES) if (!(ALL as readonly string[]).includes(c)) throw new Error(`unknown case ${c}; known: ${ALL.join(', ')}`);

const progress = (s: string): void => { process.stderr.write(`frontend bench: ${s}\n`); };
const dir = mkdtempSync(path.join(os.tmpdir(), 'vq-bench-fe-'));
let serial = 0;

function netVhost(socket: string, mode: VhostFwd): Promise<Testpmd> {
  return startTestpmd({ name: `vq-bfe-${process.pid}-${serial++}`, vdev: `net_vhost0,iface=${socket},queues=1`, forwardMode: mode, lcores: '0@0,1@0', timeoutMs: 60_000 });
}

/** net_vhost's steady Rx Mpps with `front` feeding it for SECONDS. */
async function againstNetVhost(backMode: VhostFwd, front: (socket: string) => Promise<{ stop(): Promise<unknown> }>): Promise<number> {
  const socket = path.join(dir, `s${serial}.sock`);
  const back = await netVhost(socket, backMode);
  let fe: { stop(): Promise<unknown> } | undefined;
  try {
    fe = await front(socket);
    await delay(SECONDS * 1000);
    await fe.stop();
    fe = undefined;
  } finally {
    await fe?.stop().catch(() => undefined);
  }
  const r = await back.stop();
  const pps = totalPps(r.samples, 'rx', steadyPps);
  if (pps === undefined) throw new Error(`net_vhost saw no traffic:\n${r.output.split('\n').slice(-20).join('\n')}`);
  return pps / 1e6;
}

const dpdkFront = (mode: ForwardMode, txFirst: boolean) => (socket: string): Promise<Testpmd> =>
  startTestpmd({ name: `vq-bfe-${process.pid}-${serial++}`, vdev: `net_virtio_user0,path=${socket}`, forwardMode: mode, txFirst, lcores: '0@1,1@1', timeoutMs: 60_000 });

/** Our CLI on CPU 1, resolved once it has set the back-end up (the clock starts then, as testpmd's does at forwarding). */
const ourFront = (args: string[]) => async (socket: string): Promise<{ stop(): Promise<unknown> }> => {
  const cli = startVirtioUser(socket, args, '1');
  const deadline = Date.now() + 30_000;
  while (!/back-end set up/.test(cli.output())) {
    if (Date.now() > deadline) {
      await cli.stop().catch(() => undefined);
      throw new Error(`virtqueue virtio-user did not set up net_vhost within 30 s:\n${cli.output()}`);
    }
    await delay(20);
  }
  return cli;
};

interface NodeRun { mpps: number; frontCpu: number; backCpu: number }

async function nodeToNode(frameSize: number): Promise<NodeRun> {
  const socket = path.join(dir, `n${serial++}.sock`);
  const back = await startVirtqueueVhost({ socket, fwd: 'rxonly', duration: SECONDS + 60, cpus: '0', extraArgs: ['--guest-mem', '256'] });
  const fe = await ourFront(['--fwd', 'txonly', '--frame-size', String(frameSize)])(socket) as ReturnType<typeof startVirtioUser>;
  const cpu0 = { f: cpuSeconds(fe.pid) ?? 0, b: cpuSeconds(back.pid) ?? 0 };
  await delay(SECONDS * 1000);
  const cpu1 = { f: cpuSeconds(fe.pid) ?? 0, b: cpuSeconds(back.pid) ?? 0 };
  await fe.stop();
  await back.stop();
  const r = await back.result;
  return { mpps: r.rx_mpps, frontCpu: (cpu1.f - cpu0.f) / SECONDS, backCpu: (cpu1.b - cpu0.b) / SECONDS };
}

async function main(): Promise<void> {
  if (findTestpmd() === undefined) throw new Error('dpdk-testpmd not found (Debian: dpdk-dev; or set VIRTQUEUE_TESTPMD)');
  const runs: Record<string, { round: number; dpdk?: number; ours?: number; ratio?: number; node?: NodeRun }[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of CASES) {
      runs[c] ??= [];
      if (c === 'txonly' || c === 'io') {
        const backMode: VhostFwd = c === 'txonly' ? 'rxonly' : 'io';
        progress(`round ${round + 1}/${ROUNDS} ${c}: DPDK virtio-user`);
        const dpdk = await againstNetVhost(backMode, dpdkFront(c, c === 'io'));
        progress(`round ${round + 1}/${ROUNDS} ${c}: virtqueue virtio-user`);
        const ours = await againstNetVhost(backMode, ourFront(['--fwd', c, ...(c === 'io' ? ['--tx-first'] : [])]));
        runs[c].push({ round, dpdk, ours, ratio: ours / dpdk });
      } else {
        progress(`round ${round + 1}/${ROUNDS} ${c}: virtqueue virtio-user -> virtqueue vhost`);
        runs[c].push({ round, node: await nodeToNode(c === 'node-64' ? 64 : 1518) });
      }
    }
  }
  const rows: (string | number)[][] = [];
  const summary: Record<string, unknown> = {};
  for (const c of CASES) {
    const r = runs[c];
    if (c === 'txonly' || c === 'io') {
      const m = { dpdk_mpps: median(r.map((x) => x.dpdk!)), ours_mpps: median(r.map((x) => x.ours!)), ratio: median(r.map((x) => x.ratio!)) };
      summary[c] = m;
      rows.push([c, m.dpdk_mpps.toFixed(3), m.ours_mpps.toFixed(3), m.ratio.toFixed(3), 'net_vhost Rx']);
    } else {
      const m = { mpps: median(r.map((x) => x.node!.mpps)), front_cpu: median(r.map((x) => x.node!.frontCpu)), back_cpu: median(r.map((x) => x.node!.backCpu)) };
      const bytes = c === 'node-64' ? 64 : 1518;
      summary[c] = { ...m, gbps: (m.mpps * bytes * 8) / 1000 };
      const limit = m.front_cpu >= m.back_cpu ? 'front-end' : 'back-end';
      rows.push([c, '-', m.mpps.toFixed(3), '-', `vhost rx; CPU front ${(m.front_cpu * 100).toFixed(0)}%, back ${(m.back_cpu * 100).toFixed(0)}% (${limit} busier)`]);
    }
  }
  const out = { rounds: ROUNDS, seconds: SECONDS, machine: machineInfo(), runs, summary };
  process.stdout.write(`${table(['case', 'DPDK Mpps', 'ours Mpps', 'ours/DPDK (median of pairs)', 'figure'], rows)}\n\n${describeMachine(out.machine)}\n`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  if (process.env.VIRTQUEUE_BENCH_JSON) writeFileSync(process.env.VIRTQUEUE_BENCH_JSON, JSON.stringify(out, null, 2));
}

main().then(() => rmSync(dir, { recursive: true, force: true }), (e: unknown) => {
  rmSync(dir, { recursive: true, force: true });
  process.stderr.write(`frontend bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
