// npm run bench:vhost: DPDK's testpmd virtio-user front-end against two vhost-user back-ends,
//   A: DPDK's own (testpmd with --vdev net_vhost0,iface=SOCK,queues=N, in the case's mode), and
//   B: ours (`virtqueue vhost --socket SOCK --fwd MODE --queues N`),
// interleaved A B A B A B on the same sockets, CPUs and front-end command line. Back-end on CPU 0
// (testpmd's main and forwarding lcores share it; ours runs under `taskset -c 0`, with every
// thread it starts), front-end on CPU 1.
//
// Cases (VIRTQUEUE_BENCH_CASES, comma list; default all of these):
//   io-64, io-1518            front-end io --tx-first, back-end io: the front-end sends one burst per
//                             queue (testpmd's burst, 32 frames) and then both sides forward what
//                             they receive back, so those frames circulate.
//   macswap-64, macswap-1518  the same with both sides in macswap (MACs swapped at each hop).
//   txonly-64                 back-end txonly into the front-end's rxonly.
//   rxonly-64                 front-end txonly into the back-end's rxonly.
//   io-64-2q                  io-64 with 2 queue pairs on both sides, split ring only; also
//                             reported against the 1-queue-pair io-64 run of the same round for
//                             each back-end (io-64 split is added to the plan when not selected).
// The general form is MODE-BYTES[-Nq][-split|-packed]: a ring suffix pins the ring; without one a
// 1-queue-pair case runs on each ring of VIRTQUEUE_BENCH_RING and a multi-queue case on split only.
//
// Frame sizes are testpmd's --txpkts, the frame from the destination MAC to the end of the payload
// WITHOUT the 4-byte FCS (testpmd's txonly generator builds Ethernet/IPv4/UDP frames of exactly that
// length; virtio carries no FCS). So "64" is a 64-byte frame (68 B on a wire with FCS), which is
// also testpmd's default and what `virtqueue vhost --fwd txonly` sends (64 bytes without FCS, the
// only size it sends, hence txonly-64 only); "1518" is a 1518-byte frame, 4 bytes more than the
// largest MTU-1500 frame (1514 B without FCS): no virtio-user or vhost path here enforces the MTU,
// so it passes (ask for io-1514 for the RFC 2544 1518-with-FCS frame).
//
// The figure of each run is the front-end's per-second rate from testpmd's statistics, the same
// yardstick for either back-end: its Rx-pps for io, macswap (frames that came back) and txonly
// (frames the back-end delivered), its Tx-pps for rxonly (frames it put on the ring). It is the
// median of the per-second readings from the first non-zero one on (testpmd's first reading is
// always 0, having nothing to take a difference from, and the front-end's traffic starts when its
// forwarding does, so the first non-zero reading covers a whole second); readings without traffic
// after that count (a circulating burst that died out shows as 0). A run of S seconds gives S - 1
// readings. With several queue pairs on the one port testpmd's per-port figure is already the sum
// over the queues. Each back-end's own Rx/Tx figures are kept next to it. The B / A ratio is the
// median of the ratios of runs taken side by side (same round); likewise the Nq / 1q ratio.
//
// VIRTQUEUE_BENCH_ROUNDS (3), VIRTQUEUE_BENCH_SECONDS (5 s of traffic per run),
// VIRTQUEUE_BENCH_RING (split,packed), VIRTQUEUE_BENCH_BACKENDS (dpdk,virtqueue),
// VIRTQUEUE_BENCH_VQ_ARGS (space-separated, appended to our CLI's arguments on every run),
// VIRTQUEUE_BENCH_WORKERS (N, or `queues` for one per queue pair: `--workers N` on our multi-queue
// runs; not passed when unset), VIRTQUEUE_BENCH_FWD_LCORES (forwarding lcores of each testpmd in
// multi-queue runs, --nb-cores; default one per queue pair, all on that side's CPU),
// VIRTQUEUE_BENCH_JSON (also write the JSON object to this path).
// Output: progress on stderr, a table and the machine on stdout, and as the last stdout line one
// JSON object with every run, median and ratio. Needs dpdk-testpmd (Debian: dpdk-dev). When our
// back-end fails in a case it is reported as missing with the reason and that case goes on
// without it; a failure of DPDK's side ends the run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  findTestpmd, median, runForwarding, type Backend, type ForwardMode, type ForwardingResult, type TestpmdResult,
  type VhostCliResult, type VhostFwd,
} from '../test/helpers/testpmd.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';

type Ring = 'split' | 'packed';

const list = (v: string | undefined, dflt: string): string[] =>
  (v ?? dflt).split(',').map((s) => s.trim()).filter(Boolean);

const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.VIRTQUEUE_BENCH_SECONDS ?? 5);
const RINGS = list(process.env.VIRTQUEUE_BENCH_RING, 'split,packed') as Ring[];
const BACKENDS = list(process.env.VIRTQUEUE_BENCH_BACKENDS, 'dpdk,virtqueue') as Backend[];
const DEFAULT_CASES = 'io-64,io-1518,macswap-64,macswap-1518,txonly-64,rxonly-64,io-64-2q';
const CASE_NAMES = list(process.env.VIRTQUEUE_BENCH_CASES, DEFAULT_CASES);
const VQ_ARGS = (process.env.VIRTQUEUE_BENCH_VQ_ARGS ?? '').split(/\s+/).filter(Boolean);
const WORKERS = process.env.VIRTQUEUE_BENCH_WORKERS?.trim() || undefined;
const FWD_LCORES = process.env.VIRTQUEUE_BENCH_FWD_LCORES ? Number(process.env.VIRTQUEUE_BENCH_FWD_LCORES) : undefined;
const JSON_PATH = process.env.VIRTQUEUE_BENCH_JSON || undefined;

interface Case {
  name: string;
  mode: VhostFwd;
  bytes: number;
  queues: number;
  /** Rings it runs on (before VIRTQUEUE_BENCH_RING for unpinned 1-queue cases). */
  rings: Ring[];
  frontendMode: ForwardMode;
  txFirst: boolean;
  /** Which of the front-end's rates is the figure. */
  yardstick: 'rx' | 'tx';
  /** For a multi-queue case: the 1-queue-pair case it is compared with. */
  baseline?: string;
}

const FRONTEND: Record<VhostFwd, { mode: ForwardMode; txFirst: boolean; yardstick: 'rx' | 'tx' }> = {
  io: { mode: 'io', txFirst: true, yardstick: 'rx' },
  macswap: { mode: 'macswap', txFirst: true, yardstick: 'rx' },
  txonly: { mode: 'rxonly', txFirst: false, yardstick: 'rx' },
  rxonly: { mode: 'txonly', txFirst: false, yardstick: 'tx' },
};

function parseCase(name: string): Case {
  const m = /^(io|macswap|txonly|rxonly)-(\d+)(?:-(\d+)q)?(?:-(split|packed))?$/.exec(name);
  if (!m) throw new Error(`VIRTQUEUE_BENCH_CASES: cannot read "${name}" (MODE-BYTES[-Nq][-split|-packed], MODE one of io, macswap, txonly, rxonly)`);
  const mode = m[1] as VhostFwd;
  const bytes = Number(m[2]);
  const queues = m[3] ? Number(m[3]) : 1;
  if (bytes < 42 || bytes > 2048) throw new Error(`${name}: frame length ${bytes} outside 42..2048 (Ethernet/IPv4/UDP headers .. one mbuf)`);
  if (mode === 'txonly' && bytes !== 64) throw new Error(`${name}: virtqueue vhost --fwd txonly sends 64-byte frames only`);
  if (queues < 1) throw new Error(`${name}: queue pairs must be at least 1`);
  const pinned = m[4] as Ring | undefined;
  const rings = pinned ? [pinned] : queues > 1 ? RINGS.filter((r) => r === 'split') : [...RINGS];
  const f = FRONTEND[mode];
  return {
    name, mode, bytes, queues, rings, frontendMode: f.mode, txFirst: f.txFirst, yardstick: f.yardstick,
    baseline: queues > 1 ? `${mode}-${bytes}` : undefined,
  };
}

interface Run {
  round: number;
  /** The case's figure: the front-end's Rx or Tx rate, Mpps. */
  mpps: number | undefined;
  frontendRxMpps: number | undefined;
  frontendTxMpps: number | undefined;
  backendRxMpps: number | undefined;
  backendTxMpps: number | undefined;
  frontendRx: number;
  frontendTx: number;
  backendRx: number;
  backendTx: number;
  /** Dropped as the back-end counted them (testpmd RX-dropped + TX-dropped, or the CLI's dropped). */
  backendDropped: number | undefined;
  /** The CLI's errors (ours only). */
  backendErrors?: number;
  /** The front-end's per-second readings: [port, ms since it was spawned, Rx-pps, Tx-pps]. */
  frontendSamples: [number, number, number, number][];
}

const fmt = (x: number | undefined, digits = 2): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
const medianOf = (xs: (number | undefined)[]): number | undefined => {
  const d = defined(xs);
  return d.length ? median(d) : undefined;
};
const firstLines = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n').slice(0, 2).join(' ').slice(0, 300);

/** Median over rounds of num_i / den_i, where both runs of round i have a figure. */
function pairwise(num: (Run | undefined)[], den: (Run | undefined)[]): number | undefined {
  return medianOf(num.map((r, i) => {
    const d = den[i]?.mpps;
    return r?.mpps !== undefined && d !== undefined && d > 0 ? r.mpps / d : undefined;
  }));
}

function toRun(round: number, c: Case, r: ForwardingResult): Run {
  const isCli = !('output' in r.back);
  const cli = r.back as VhostCliResult;
  const pmd = r.back as TestpmdResult;
  return {
    round,
    mpps: c.yardstick === 'rx' ? r.frontendRxMpps : r.frontendTxMpps,
    frontendRxMpps: r.frontendRxMpps, frontendTxMpps: r.frontendTxMpps,
    backendRxMpps: r.backendRxMpps, backendTxMpps: r.backendTxMpps,
    frontendRx: r.frontendRx, frontendTx: r.frontendTx, backendRx: r.backendRx, backendTx: r.backendTx,
    backendDropped: isCli
      ? (typeof cli.dropped === 'number' ? cli.dropped : undefined)
      : (pmd.totals ? pmd.totals.rxDropped + pmd.totals.txDropped : undefined),
    ...(isCli ? { backendErrors: cli.errors } : {}),
    frontendSamples: r.front.samples.map((s) => [s.port, s.atMs, s.rxPps, s.txPps]),
  };
}

function ourArgs(c: Case): string[] {
  const args = [...VQ_ARGS];
  if (WORKERS !== undefined && c.queues > 1) args.push('--workers', WORKERS === 'queues' ? String(c.queues) : WORKERS);
  return args;
}

async function main(): Promise<void> {
  const testpmd = findTestpmd();
  if (!testpmd) throw new Error('dpdk-testpmd not found (Debian/Ubuntu: apt-get install dpdk-dev)');
  if (!(ROUNDS >= 1) || !(SECONDS >= 2)) throw new Error('VIRTQUEUE_BENCH_ROUNDS must be >= 1 and VIRTQUEUE_BENCH_SECONDS >= 2');
  if (WORKERS !== undefined && WORKERS !== 'queues' && !/^[1-9]\d*$/.test(WORKERS)) {
    throw new Error(`VIRTQUEUE_BENCH_WORKERS: a positive integer or "queues", not "${WORKERS}"`);
  }
  if (FWD_LCORES !== undefined && !(Number.isInteger(FWD_LCORES) && FWD_LCORES >= 1)) {
    throw new Error('VIRTQUEUE_BENCH_FWD_LCORES: a positive integer');
  }

  // The plan: cases with their rings; a multi-queue case brings its 1-queue baseline along.
  const cases: Case[] = [];
  const byName = new Map<string, Case>();
  const add = (c: Case): void => {
    const had = byName.get(c.name);
    if (had) { for (const r of c.rings) if (!had.rings.includes(r)) had.rings.push(r); return; }
    byName.set(c.name, c);
    cases.push(c);
  };
  for (const name of CASE_NAMES) {
    const c = parseCase(name);
    if (c.rings.length === 0) {
      process.stderr.write(`${name}: skipped, none of its rings is in VIRTQUEUE_BENCH_RING (${RINGS.join(',')})\n`);
      continue;
    }
    add(c);
  }
  for (const c of [...cases]) {
    if (!c.baseline) continue;
    const b = byName.get(c.baseline);
    const need = c.rings.filter((r) => !b?.rings.includes(r));
    if (need.length) {
      process.stderr.write(`${c.name}: adding ${c.baseline} (${need.join(',')}) as its 1-queue-pair baseline\n`);
      add({ ...parseCase(c.baseline), rings: need });
    }
  }
  // Baselines run before the multi-queue case within each round.
  cases.sort((x, y) => x.queues - y.queues);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'vq-bench-vhost-'));
  // runs.get(`${case}/${ring}/${backend}`)[round]
  const runs = new Map<string, (Run | undefined)[]>();
  const missing = new Map<string, string>();
  const total = ROUNDS * cases.reduce((n, c) => n + c.rings.length, 0) * BACKENDS.length;
  let done = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        for (const ring of c.rings) {
          for (const backend of BACKENDS) {
            const key = `${c.name}/${ring}/${backend}`;
            done++;
            if (missing.has(key)) continue;
            const queues = c.queues;
            let r: ForwardingResult;
            try {
              r = await runForwarding({
                backend, name: 'vq-bench', socket: path.join(dir, `${c.name}-${ring}.sock`), seconds: SECONDS,
                packed: ring === 'packed', queues, backendMode: c.mode, frontendMode: c.frontendMode,
                txFirst: c.txFirst, txpkts: c.bytes,
                forwardingLcores: queues > 1 && FWD_LCORES !== undefined ? Math.min(FWD_LCORES, queues) : undefined,
                backendCpus: '0', virtqueueArgs: ourArgs(c),
              });
            } catch (e) {
              if (backend === 'dpdk') throw e;
              const reason = firstLines(e);
              missing.set(key, reason);
              process.stderr.write(`  [${done}/${total}] round ${round + 1}/${ROUNDS} ${key}: missing: ${reason}\n`);
              continue;
            }
            const run = toRun(round, c, r);
            const perRound = runs.get(key) ?? [];
            perRound[round] = run;
            runs.set(key, perRound);
            process.stderr.write(
              `  [${done}/${total}] round ${round + 1}/${ROUNDS} ${key}: ${fmt(run.mpps)} Mpps ` +
              `(front-end ${c.yardstick === 'rx' ? 'Rx' : 'Tx'}; front-end rx ${fmt(run.frontendRxMpps)} tx ${fmt(run.frontendTxMpps)}, ` +
              `back-end rx ${fmt(run.backendRxMpps)} tx ${fmt(run.backendTxMpps)} Mpps; counted front-end rx ${run.frontendRx} ` +
              `tx ${run.frontendTx}, back-end rx ${run.backendRx} tx ${run.backendTx}` +
              `${run.backendDropped ? `, back-end dropped ${run.backendDropped}` : ''}` +
              `${run.backendErrors ? `, errors ${run.backendErrors}` : ''})\n`,
            );
          }
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const notRun = (backend: Backend): string | undefined =>
    BACKENDS.includes(backend) ? undefined : 'not run (VIRTQUEUE_BENCH_BACKENDS)';
  const rows: (string | number)[][] = [];
  const mqRows: (string | number)[][] = [];
  const results = [];
  for (const c of cases) {
    for (const ring of c.rings) {
      const get = (name: string, b: Backend): (Run | undefined)[] => runs.get(`${name}/${ring}/${b}`) ?? [];
      const a = get(c.name, 'dpdk');
      const b = get(c.name, 'virtqueue');
      const aMpps = medianOf(a.map((r) => r?.mpps));
      const bMpps = medianOf(b.map((r) => r?.mpps));
      const ratio = pairwise(b, a);
      const whyA = notRun('dpdk');
      const whyB = missing.get(`${c.name}/${ring}/virtqueue`) ?? notRun('virtqueue');
      const side = (rs: (Run | undefined)[], mpps: number | undefined, why: string | undefined) => ({
        ...(why ? { missing: why } : {}),
        mpps: mpps ?? null,
        backendRxMpps: medianOf(rs.map((r) => r?.backendRxMpps)) ?? null,
        backendTxMpps: medianOf(rs.map((r) => r?.backendTxMpps)) ?? null,
        runs: rs.filter((r): r is Run => r !== undefined),
      });
      let vsOneQueue: { baseline: string; dpdk: number | null; virtqueue: number | null } | undefined;
      if (c.baseline) {
        const da = pairwise(a, get(c.baseline, 'dpdk'));
        const db = whyB || missing.has(`${c.baseline}/${ring}/virtqueue`) ? undefined : pairwise(b, get(c.baseline, 'virtqueue'));
        vsOneQueue = { baseline: c.baseline, dpdk: da ?? null, virtqueue: db ?? null };
        mqRows.push([
          c.name, ring, `${c.queues}`, whyA ? '-' : `${fmt(da)}x`, db === undefined ? (whyB ? 'missing' : '-') : `${fmt(db)}x`,
        ]);
      }
      rows.push([
        c.name, ring, `front-end ${c.yardstick === 'rx' ? 'Rx' : 'Tx'}`,
        whyA ? '-' : fmt(aMpps), whyB ? 'missing' : fmt(bMpps), ratio === undefined ? '-' : `${ratio.toFixed(2)}x`,
      ]);
      results.push({
        case: c.name, ring, mode: c.mode, frameBytes: c.bytes, queues: c.queues,
        frontend: { mode: c.frontendMode, txFirst: c.txFirst, yardstick: c.yardstick },
        dpdk: side(a, aMpps, whyA),
        virtqueue: side(b, bMpps, whyB),
        virtqueueVsDpdk: ratio ?? null,
        ...(vsOneQueue ? { vsOneQueue } : {}),
      });
    }
  }

  const machine = machineInfo();
  console.log(
    `\nvhost-user back-ends against testpmd virtio-user, ${SECONDS} s runs, median of ${ROUNDS} interleaved runs, Mpps ` +
    `(frame bytes without FCS; back-end on CPU 0, front-end on CPU 1)`,
  );
  console.log(`Machine: ${describeMachine(machine)}; ${testpmd}\n`);
  console.log(table(['case', 'ring', 'measured at', 'DPDK net_vhost', 'virtqueue vhost', 'virtqueue / DPDK'], rows));
  if (mqRows.length) {
    console.log('\nQueue pairs: aggregate rate with N queue pairs over the same back-end with 1 (median of per-round ratios)\n');
    console.log(table(['case', 'ring', 'N', 'DPDK N/1', 'virtqueue N/1'], mqRows));
  }
  for (const [key, why] of missing) console.log(`${key}: missing: ${why}`);
  const json = {
    bench: 'vhost', seconds: SECONDS, rounds: ROUNDS, machine, testpmd,
    config: {
      cases: cases.map((c) => c.name), rings: RINGS, backends: BACKENDS, virtqueueArgs: VQ_ARGS,
      workers: WORKERS ?? null, forwardingLcores: FWD_LCORES ?? null, backendCpu: 0, frontendCpu: 1,
    },
    results,
  };
  const line = JSON.stringify(json);
  if (JSON_PATH) writeFileSync(JSON_PATH, `${line}\n`);
  console.log(line);
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
