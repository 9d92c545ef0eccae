// npm run bench:vhost: DPDK's testpmd virtio-user front-end (txonly, 64-byte frames) feeding
//   A: DPDK's own vhost-user back-end (testpmd net_vhost, rxonly), and
//   B: ours (`virtqueue vhost --fwd rxonly`),
// interleaved A B A B A B on the same sockets, CPUs and front-end. The rate of each run is the
// front-end's steady Tx-pps (the median of its per-second samples, the first one with traffic left
// out), the same yardstick for both back-ends; each back-end's own figure is shown next to it. The
// B / A ratio is the median of the ratios of runs taken side by side. Back-end on CPU 0,
// front-end on CPU 1 (each testpmd's main and forwarding lcores share its CPU).
//
// VIRTQUEUE_BENCH_ROUNDS (3), VIRTQUEUE_BENCH_SECONDS (5), VIRTQUEUE_BENCH_RING (split,packed) and
// VIRTQUEUE_BENCH_BACKENDS (dpdk,virtqueue) change what runs.
// Needs dpdk-testpmd (Debian: dpdk-dev). While `virtqueue vhost` does not exist yet, B is reported
// as missing with the reason.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findTestpmd, median, runPair, type Backend, type PairResult } from '../test/helpers/testpmd.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';

const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.VIRTQUEUE_BENCH_SECONDS ?? 5);
const RINGS = (process.env.VIRTQUEUE_BENCH_RING ?? 'split,packed').split(',') as ('split' | 'packed')[];
const BACKENDS = (process.env.VIRTQUEUE_BENCH_BACKENDS ?? 'dpdk,virtqueue').split(',') as Backend[];

interface Run { mpps: number | undefined; backendMpps: number | undefined; rx: number; tx: number }

const fmt = (x: number | undefined, digits = 2): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));

async function main(): Promise<void> {
  const testpmd = findTestpmd();
  if (!testpmd) throw new Error('dpdk-testpmd not found (Debian/Ubuntu: apt-get install dpdk-dev)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vq-bench-vhost-'));
  const runs = new Map<string, Run[]>();
  const missing = new Map<string, string>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const ring of RINGS) {
        for (const backend of BACKENDS) {
          const key = `${ring}/${backend}`;
          if (missing.has(key)) continue;
          let r: PairResult;
          try {
            r = await runPair({
              backend, name: 'vq-bench', socket: path.join(dir, `${ring}.sock`), seconds: SECONDS, packed: ring === 'packed',
            });
          } catch (e) {
            const reason = (e instanceof Error ? e.message : String(e)).split('\n').slice(0, 2).join(' ').slice(0, 300);
            if (backend === 'dpdk') throw e;
            missing.set(key, reason);
            process.stderr.write(`  ${key}: missing: ${reason}\n`);
            continue;
          }
          const run = { mpps: r.frontendMpps, backendMpps: r.backendMpps, rx: r.backendRx, tx: r.frontendTx };
          runs.set(key, [...(runs.get(key) ?? []), run]);
          process.stderr.write(
            `  round ${round + 1}/${ROUNDS} ${key}: ${fmt(run.mpps)} Mpps at the front-end, ` +
            `${fmt(run.backendMpps)} Mpps by the back-end, rx ${run.rx} of tx ${run.tx}\n`,
          );
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const rows: (string | number)[][] = [];
  const results = [];
  for (const ring of RINGS) {
    const a = runs.get(`${ring}/dpdk`) ?? [];
    const b = runs.get(`${ring}/virtqueue`) ?? [];
    const aMpps = median(defined(a.map((r) => r.mpps)));
    const bMpps = b.length ? median(defined(b.map((r) => r.mpps))) : undefined;
    const ratios = defined(b.map((r, i) => (r.mpps !== undefined && a[i]?.mpps ? r.mpps / a[i].mpps! : undefined)));
    const ratio = ratios.length ? median(ratios) : undefined;
    const why = missing.get(`${ring}/virtqueue`) ?? (BACKENDS.includes('virtqueue') ? undefined : 'not run (VIRTQUEUE_BENCH_BACKENDS)');
    rows.push([
      ring, fmt(aMpps), fmt(median(defined(a.map((r) => r.backendMpps)))),
      why ? 'missing' : fmt(bMpps), why ? '-' : fmt(b.length ? median(defined(b.map((r) => r.backendMpps))) : undefined),
      ratio === undefined ? '-' : `${ratio.toFixed(2)}x`,
    ]);
    results.push({
      ring,
      dpdk: { mpps: aMpps, runs: a },
      virtqueue: why ? { missing: why } : { mpps: bMpps, runs: b },
      virtqueueVsDpdk: ratio ?? null,
    });
  }
  const machine = machineInfo();
  console.log(
    `\nvhost-user back-ends fed by testpmd virtio-user txonly (64-byte frames, 1 queue), ${SECONDS} s runs, ` +
    `median of ${ROUNDS} interleaved runs, Mpps`,
  );
  console.log(`Machine: ${describeMachine(machine)}; ${testpmd}\n`);
  console.log(table(
    ['ring', 'DPDK net_vhost', '(its own Rx-pps)', 'virtqueue vhost', '(its own rx_mpps)', 'virtqueue / DPDK'],
    rows,
  ));
  for (const [key, why] of missing) console.log(`${key}: missing: ${why}`);
  console.log(JSON.stringify({ bench: 'vhost', seconds: SECONDS, rounds: ROUNDS, machine, testpmd, results }));
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
