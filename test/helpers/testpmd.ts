// DPDK's testpmd as a peer for interop tests and benchmarks (Node only).
//
// startTestpmd() spawns dpdk-testpmd without hugepages and without PCI, with a --file-prefix of its
// own (its runtime directory is removed after it exits), and resolves once the peer is usable:
//   - a vhost-user socket it listens on (net_vhost iface=... without client=1, or net_virtio_user
//     path=... with server=1) exists, or
//   - otherwise (a virtio-user front-end that connects), forwarding has started.
// stop() sends SIGINT, waits a bounded time for testpmd to print its final statistics and exit,
// and SIGKILLs it after that. Every wait is bounded; a failure carries the last lines of testpmd's
// output. Any testpmd still running when this process exits is killed.
//
// startVirtqueueVhost() starts our own back-end (`virtqueue vhost`) the same way, so an interop
// test swaps DPDK's net_vhost for ours with one call. runForwarding() runs a front-end against
// either back-end in any pair of forwarding modes for a number of seconds (runPair() is its
// txonly -> rxonly case) and stops both.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ForwardMode = 'rxonly' | 'txonly' | 'io' | 'macswap' | 'mac' | 'flowgen' | 'csum';

export interface TestpmdOptions {
  /** Base of the --file-prefix; a per-run suffix makes it unique. */
  name: string;
  /** The --vdev argument, e.g. `net_vhost0,iface=/tmp/x.sock,queues=1`. */
  vdev: string;
  forwardMode: ForwardMode;
  /** The --lcores argument, e.g. `0@0,1@0` (main lcore first, then the forwarding lcores). */
  lcores: string;
  /** Rx and Tx queues per port (--rxq/--txq); 1 when omitted. */
  queues?: number;
  /** --tx-first: send one burst per forwarding stream before forwarding (io, macswap: it then circulates). */
  txFirst?: boolean;
  /**
   * --txpkts: the length of the frames testpmd generates (txonly, and the --tx-first burst), bytes
   * from the destination MAC to the end of the payload, without the 4-byte FCS; testpmd's default is 64.
   */
  txpkts?: number;
  /** --nb-cores: forwarding lcores used; testpmd's default is every forwarding lcore in `lcores`. */
  nbCores?: number;
  /** Application arguments added after the ones above (after `--`). */
  extraArgs?: string[];
  /** EAL arguments added before `--`. */
  ealArgs?: string[];
  /** Memory for --no-huge mode, MB (-m); 1024 when omitted. */
  memoryMb?: number;
  /** Mbufs in the pool (--total-num-mbufs); 16384 when omitted. */
  mbufs?: number;
  /** --stats-period in seconds; 1 when omitted (0 turns the periodic statistics off). */
  statsPeriod?: number;
  /** How long start-up may take before startTestpmd rejects (and kills testpmd). */
  timeoutMs: number;
  /** The testpmd binary; findTestpmd() when omitted. */
  binary?: string;
}

export interface PortStats {
  port: number;
  rxPackets: number;
  rxDropped: number;
  txPackets: number;
  txDropped: number;
}

/** One periodic "Throughput (since last show)" reading of one port. */
export interface PpsSample {
  port: number;
  /** Milliseconds since testpmd was spawned, when the line was read. */
  atMs: number;
  rxPps: number;
  txPps: number;
  /** The port's cumulative RX-packets and TX-packets (its driver's counters) printed with the rates. */
  rxPackets?: number;
  txPackets?: number;
}

export interface TestpmdResult {
  pid: number;
  /** The --file-prefix it ran with (its runtime directory is gone by now). */
  prefix: string;
  /** Exit code, or null when it ended on a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when SIGINT was not enough and it had to be killed. */
  killed: boolean;
  /** Final per-port forward statistics ("Forward statistics for port N"). */
  ports: PortStats[];
  /** The "Accumulated forward statistics for all ports" block; undefined when it was not printed. */
  totals: Omit<PortStats, 'port'> | undefined;
  samples: PpsSample[];
  /** Everything testpmd wrote (stdout and stderr), escapes stripped, capped at the first 4 MB. */
  output: string;
}

export interface Testpmd {
  readonly pid: number;
  readonly prefix: string;
  /** Date.now() when it was spawned: the origin of its samples' atMs (atMs = Date.now() - startedAt when read). */
  readonly startedAt: number;
  /** The vhost-user socket named in the vdev, if any. */
  readonly socket: string | undefined;
  /** The periodic samples read so far. */
  samples(): PpsSample[];
  /** The last `n` lines of output (escapes stripped). */
  tail(n?: number): string;
  /** Whether the process is still running. */
  running(): boolean;
  /** SIGINT, then SIGKILL after `timeoutMs` (default 15 s); resolves with the parsed statistics. */
  stop(timeoutMs?: number): Promise<TestpmdResult>;
  /** Resolves when the process has exited, whoever ended it. */
  readonly exited: Promise<TestpmdResult>;
}

// ---------------------------------------------------------------------------------------------
// Finding testpmd, and whether tests that need it may be skipped.

const isExecutable = (p: string): boolean => {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/** The path of dpdk-testpmd ($VIRTQUEUE_TESTPMD, else on $PATH), or undefined. */
export function findTestpmd(): string | undefined {
  const forced = process.env.VIRTQUEUE_TESTPMD;
  if (forced) return isExecutable(forced) ? forced : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const name of ['dpdk-testpmd', 'testpmd']) {
      const p = path.join(dir, name);
      if (isExecutable(p)) return p;
    }
  }
  return undefined;
}

/** Whether this run must have its peers (CI sets VIRTQUEUE_REQUIRE_PEERS=1). */
export const peersRequired = (): boolean => process.env.VIRTQUEUE_REQUIRE_PEERS === '1';

const MISSING =
  'dpdk-testpmd not found (Debian/Ubuntu: apt-get install dpdk-dev; or set VIRTQUEUE_TESTPMD to its path)';

/**
 * For `describe.skipIf(...)`: true only when testpmd is missing AND peers are not required. With
 * VIRTQUEUE_REQUIRE_PEERS=1 nothing is skipped, and requirePeers() makes the tests fail.
 */
export const skipWithoutPeers = (): boolean => !peersRequired() && findTestpmd() === undefined;

/** The testpmd binary; throws (fails the test) when it is missing. */
export function requirePeers(): string {
  const bin = findTestpmd();
  if (bin === undefined) {
    throw new Error(peersRequired() ? `${MISSING}; VIRTQUEUE_REQUIRE_PEERS=1 forbids skipping` : MISSING);
  }
  return bin;
}

// ---------------------------------------------------------------------------------------------
// Output parsing.

// CSI sequences (the screen clear testpmd prints before each statistics block) and other escapes.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]/g;
export const stripAnsi = (s: string): string => s.replace(ANSI, '');

const num = (line: string, label: string): number | undefined => {
  const m = new RegExp(`${label}:\\s*(\\d+)`).exec(line);
  return m ? Number(m[1]) : undefined;
};

/** Parses testpmd output line by line: periodic pps samples and the final forward statistics. */
export class TestpmdOutputParser {
  readonly samples: PpsSample[] = [];
  readonly ports: PortStats[] = [];
  totals: Omit<PortStats, 'port'> | undefined;
  private nicPort = -1;
  private pendingRx: number | undefined;
  private pendingTotals: { rxPackets?: number; txPackets?: number } = {};
  private block: { port: number | 'all'; stats: Omit<PortStats, 'port'> } | undefined;

  line(raw: string, atMs: number): void {
    const line = stripAnsi(raw);
    let m: RegExpExecArray | null;
    if ((m = /NIC statistics for port (\d+)/.exec(line))) {
      this.nicPort = Number(m[1]);
      this.pendingRx = undefined;
      this.pendingTotals = {};
      return;
    }
    if ((m = /Forward statistics for port (\d+)/.exec(line))) {
      this.block = { port: Number(m[1]), stats: { rxPackets: 0, rxDropped: 0, txPackets: 0, txDropped: 0 } };
      return;
    }
    if (/Accumulated forward statistics for all ports/.test(line)) {
      this.block = { port: 'all', stats: { rxPackets: 0, rxDropped: 0, txPackets: 0, txDropped: 0 } };
      return;
    }
    if (this.nicPort >= 0) {
      const rxTotal = num(line, 'RX-packets');
      if (rxTotal !== undefined) { this.pendingTotals.rxPackets = rxTotal; return; }
      const txTotal = num(line, 'TX-packets');
      if (txTotal !== undefined) { this.pendingTotals.txPackets = txTotal; return; }
      const rx = num(line, 'Rx-pps');
      if (rx !== undefined) { this.pendingRx = rx; return; }
      const tx = num(line, 'Tx-pps');
      if (tx !== undefined && this.pendingRx !== undefined) {
        this.samples.push({ port: this.nicPort, atMs, rxPps: this.pendingRx, txPps: tx, ...this.pendingTotals });
        this.nicPort = -1;
        this.pendingRx = undefined;
        return;
      }
    }
    if (this.block) {
      const b = this.block;
      if (/RX-packets:/.test(line)) {
        b.stats.rxPackets = num(line, 'RX-packets') ?? 0;
        b.stats.rxDropped = num(line, 'RX-dropped') ?? 0;
      } else if (/TX-packets:/.test(line)) {
        b.stats.txPackets = num(line, 'TX-packets') ?? 0;
        b.stats.txDropped = num(line, 'TX-dropped') ?? 0;
        if (b.port === 'all') this.totals = b.stats;
        else this.ports.push({ port: b.port, ...b.stats });
        this.block = undefined;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Processes.

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
const installExitHook = (): void => {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Never leave a peer running behind a crashed or interrupted test run.
  process.on('exit', () => {
    for (const c of live) {
      try { c.kill('SIGKILL'); } catch { /* already gone */ }
    }
  });
};

let runCounter = 0;

/** DPDK's runtime directory for a file prefix (root: /var/run/dpdk; others: $XDG_RUNTIME_DIR or /tmp). */
export function dpdkRuntimeDir(prefix: string): string {
  const base = process.getuid?.() === 0 ? '/var/run' : (process.env.XDG_RUNTIME_DIR ?? '/tmp');
  return path.join(base, 'dpdk', prefix);
}

const devarg = (vdev: string, key: string): string | undefined => {
  for (const part of vdev.split(',').slice(1)) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === key) return part.slice(eq + 1).trim();
  }
  return undefined;
};

/** The vhost-user socket in a vdev, and whether the process itself listens on it. */
export function vdevSocket(vdev: string): { socket: string | undefined; listens: boolean } {
  const driver = vdev.split(',')[0];
  if (driver.startsWith('net_vhost') || driver.startsWith('eth_vhost')) {
    const socket = devarg(vdev, 'iface');
    return { socket, listens: socket !== undefined && devarg(vdev, 'client') !== '1' };
  }
  if (driver.startsWith('net_virtio_user') || driver.startsWith('virtio_user')) {
    const socket = devarg(vdev, 'path');
    return { socket, listens: socket !== undefined && devarg(vdev, 'server') === '1' };
  }
  return { socket: undefined, listens: false };
}

const FORWARDING_STARTED = /packet forwarding - ports=(\d+)/;
// Start-up failures after which testpmd keeps running (with no port) instead of exiting.
const NO_PORT = /No probed ethernet devices|Bus \(vdev\) probe failed|packet forwarding - ports=0\b/;

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `p`'s value, or undefined if it has not settled within `ms` (the timer does not outlive the race). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

function tailOf(lines: string[], n: number): string {
  return lines.slice(-n).join('\n');
}

/** Spawns testpmd and resolves when it is ready (see the top of this file). */
export async function startTestpmd(opts: TestpmdOptions): Promise<Testpmd> {
  const binary = opts.binary ?? requirePeers();
  const prefix = `${opts.name}-${process.pid}-${++runCounter}`;
  const runtimeDir = dpdkRuntimeDir(prefix);
  rmSync(runtimeDir, { recursive: true, force: true });
  const { socket, listens } = vdevSocket(opts.vdev);
  if (socket && listens) rmSync(socket, { force: true });
  const queues = opts.queues ?? 1;
  const args = [
    '--no-huge', '-m', String(opts.memoryMb ?? 1024), '--no-pci', `--lcores=${opts.lcores}`,
    `--file-prefix=${prefix}`, '--vdev', opts.vdev, ...(opts.ealArgs ?? []),
    '--',
    `--total-num-mbufs=${opts.mbufs ?? 16384}`, `--forward-mode=${opts.forwardMode}`,
    '--auto-start', `--stats-period=${opts.statsPeriod ?? 1}`,
    ...(queues !== 1 ? [`--rxq=${queues}`, `--txq=${queues}`] : []),
    ...(opts.nbCores !== undefined ? [`--nb-cores=${opts.nbCores}`] : []),
    ...(opts.txpkts !== undefined ? [`--txpkts=${opts.txpkts}`] : []),
    ...(opts.txFirst ? ['--tx-first'] : []),
    ...(opts.extraArgs ?? []),
  ];
  installExitHook();
  const t0 = Date.now();
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);

  const parser = new TestpmdOutputParser();
  const lines: string[] = [];
  const MAX_LINES = 400;
  const chunks: string[] = [];
  let kept = 0;
  const MAX_OUTPUT = 4 << 20;
  let forwarding = false;
  let failure: string | undefined;
  const partial = { out: '', err: '' };
  const feed = (which: 'out' | 'err', data: string): void => {
    const text = partial[which] + data;
    const parts = text.split('\n');
    partial[which] = parts.pop() ?? '';
    for (const raw of parts) {
      const line = stripAnsi(raw).replace(/\r$/, '');
      parser.line(line, Date.now() - t0);
      if (FORWARDING_STARTED.test(line)) forwarding = true;
      if (failure === undefined && NO_PORT.test(line)) failure = line.trim();
      lines.push(line);
      if (lines.length > MAX_LINES * 2) lines.splice(0, lines.length - MAX_LINES);
      if (kept < MAX_OUTPUT) { chunks.push(line); kept += line.length + 1; }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => feed('out', d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => feed('err', d));

  let killed = false;
  let spawnError: Error | undefined;
  const exited = new Promise<TestpmdResult>((resolve) => {
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      live.delete(child);
      for (const w of ['out', 'err'] as const) if (partial[w]) { feed(w, '\n'); }
      rmSync(runtimeDir, { recursive: true, force: true });
      // testpmd removes its vhost socket when it closes the port; after SIGKILL nothing did.
      if (killed && socket && listens) rmSync(socket, { force: true });
      resolve({
        pid: child.pid ?? -1, prefix, code, signal, killed,
        ports: parser.ports, totals: parser.totals, samples: parser.samples,
        output: chunks.join('\n'),
      });
    };
    child.on('error', (e) => { spawnError = e; finish(null, null); });
    child.on('close', finish);
  });
  let exitedNow = false;
  void exited.then(() => { exitedNow = true; });

  const stop = async (timeoutMs = 15_000): Promise<TestpmdResult> => {
    if (!exitedNow && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const first = await within(exited, timeoutMs);
      if (first === undefined) {
        killed = true;
        child.kill('SIGKILL');
        const second = await within(exited, 5_000);
        if (second === undefined) throw new Error(`testpmd ${prefix} (pid ${child.pid}) survived SIGKILL for 5 s`);
      }
    }
    return exited;
  };

  const handle: Testpmd = {
    pid: child.pid ?? -1,
    prefix,
    startedAt: t0,
    socket,
    samples: () => [...parser.samples],
    tail: (n = 40) => tailOf(lines, n),
    running: () => !exitedNow,
    stop,
    exited,
  };

  // Wait until ready, the process ends, or the deadline passes.
  const deadline = t0 + opts.timeoutMs;
  for (;;) {
    if (spawnError) throw new Error(`could not run ${binary}: ${spawnError.message}`);
    if (exitedNow) {
      const r = await exited;
      throw new Error(
        `testpmd ${prefix} exited during start-up (code ${r.code}, signal ${r.signal}); last output:\n${tailOf(lines, 30)}`,
      );
    }
    if (failure !== undefined) {
      await stop(5_000).catch(() => undefined);
      throw new Error(`testpmd ${prefix} failed to start (${failure}); last output:\n${tailOf(lines, 30)}`);
    }
    const ready = socket && listens ? existsSync(socket) : forwarding;
    if (ready) return handle;
    if (Date.now() >= deadline) {
      await stop(5_000).catch(() => undefined);
      throw new Error(
        `testpmd ${prefix} not ready after ${opts.timeoutMs} ms (waiting for ${
          socket && listens ? `socket ${socket}` : 'forwarding to start'
        }); last output:\n${tailOf(lines, 30)}`,
      );
    }
    await delay(50);
  }
}

/** Waits until `pred(samples)` holds or `timeoutMs` passes; returns whether it held. */
export async function waitForSamples(
  pmd: Testpmd,
  pred: (samples: PpsSample[]) => boolean,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pred(pmd.samples())) return true;
    if (!pmd.running()) return pred(pmd.samples());
    await delay(100);
  }
  return pred(pmd.samples());
}

/** Whether any process with this pid is still alive (signal 0 probe). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The median of a list of numbers (NaN for an empty list). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * The steady-state rate of one direction of one port: the median of the non-zero per-period
 * samples, leaving out the first non-zero one (traffic started part-way through that period).
 * Undefined when there are fewer than two non-zero samples.
 */
export function steadyPps(samples: PpsSample[], port: number, dir: 'rx' | 'tx'): number | undefined {
  const v = samples.filter((s) => s.port === port).map((s) => (dir === 'rx' ? s.rxPps : s.txPps));
  const first = v.findIndex((x) => x > 0);
  if (first < 0) return undefined;
  const steady = v.slice(first + 1).filter((x) => x > 0);
  return steady.length ? median(steady) : undefined;
}

/**
 * The rate of one direction of one port while a testpmd forwarded, for the side whose forwarding
 * started with the traffic (a front-end): the median of its samples from the first non-zero one
 * on, zeros included. The samples before it are left out: testpmd's first reading of a port is
 * always 0 (it has no earlier one to take the difference from), so the first non-zero reading
 * already covers a whole period. Zeros after it count: traffic that stopped (an io/macswap burst
 * that died out, a stalled peer) pulls the figure down instead of being left out.
 */
export function flowPps(samples: PpsSample[], port: number, dir: 'rx' | 'tx'): number | undefined {
  const v = samples.filter((s) => s.port === port).map((s) => (dir === 'rx' ? s.rxPps : s.txPps));
  const first = v.findIndex((x) => x > 0);
  return first < 0 ? undefined : median(v.slice(first));
}

/** `rate` summed over every port with samples (undefined when no port has a figure). */
export function totalPps(
  samples: PpsSample[],
  dir: 'rx' | 'tx',
  rate: (s: PpsSample[], port: number, dir: 'rx' | 'tx') => number | undefined = steadyPps,
): number | undefined {
  const figures = [...new Set(samples.map((s) => s.port))].map((p) => rate(samples, p, dir));
  const known = figures.filter((x): x is number => x !== undefined);
  return known.length ? known.reduce((a, b) => a + b, 0) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Our own back-end: `virtqueue vhost --socket PATH --fwd MODE --json --duration S`.

/** The last line `virtqueue vhost --json` prints. */
export interface VhostCliResult {
  rx_packets: number;
  tx_packets: number;
  rx_mpps: number;
  tx_mpps: number;
  seconds: number;
  errors: number;
  [key: string]: unknown;
}

/** The forwarding modes of `virtqueue vhost --fwd`. */
export type VhostFwd = 'rxonly' | 'txonly' | 'io' | 'macswap';

export interface VirtqueueVhostOptions {
  socket: string;
  fwd: VhostFwd;
  /** --duration, seconds. */
  duration: number;
  queues?: number;
  extraArgs?: string[];
  /** Run it under `taskset -c CPUS` (every thread it starts inherits the affinity); not pinned when omitted. */
  cpus?: string;
  /** How long start-up (until the socket exists) may take. */
  timeoutMs?: number;
}

export interface VirtqueueVhost {
  readonly pid: number;
  /** Resolves with the final JSON line once the CLI exits after --duration; rejects on failure. */
  readonly result: Promise<VhostCliResult>;
  tail(n?: number): string;
  /** SIGINT (then SIGKILL after `timeoutMs`), for tests that end early; resolves when it exited. */
  stop(timeoutMs?: number): Promise<void>;
  /** `result`, but stops the CLI and rejects if it has not exited within `timeoutMs`. */
  finish(timeoutMs: number): Promise<VhostCliResult>;
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/** bin/virtqueue.js, found from this file in test/helpers/ or in dist/test/helpers/. */
export function virtqueueBin(): string {
  // A snapshot of bin/, dist/ and build/ (long campaigns: a rebuild in the tree meanwhile would
  // break the back-ends they start).
  if (process.env.VIRTQUEUE_BIN) return process.env.VIRTQUEUE_BIN;
  for (const up of ['../../bin/virtqueue.js', '../../../bin/virtqueue.js']) {
    const p = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(p)) return p;
  }
  return path.join(repoRoot, 'bin/virtqueue.js');
}

const REQUIRED_FIELDS = ['rx_packets', 'tx_packets', 'rx_mpps', 'tx_mpps', 'seconds', 'errors'] as const;

/** Parses the CLI's last non-empty stdout line as its result; throws when it is not one. */
export function parseVhostCliResult(stdout: string): VhostCliResult {
  const last = stdout.trimEnd().split('\n').pop()?.trim() ?? '';
  let j: unknown;
  try {
    j = JSON.parse(last);
  } catch {
    throw new Error(`last line of virtqueue vhost output is not JSON: ${JSON.stringify(last.slice(0, 200))}`);
  }
  if (typeof j !== 'object' || j === null) throw new Error(`virtqueue vhost result is not an object: ${last.slice(0, 200)}`);
  for (const k of REQUIRED_FIELDS) {
    if (typeof (j as Record<string, unknown>)[k] !== 'number') {
      throw new Error(`virtqueue vhost result lacks numeric ${k}: ${last.slice(0, 200)}`);
    }
  }
  return j as VhostCliResult;
}

/**
 * Spawns `node bin/virtqueue.js vhost ...` and resolves once its socket exists (so a front-end
 * can connect); `result` then resolves with the final JSON line. Rejects if the CLI exits first
 * (for instance while the `vhost` command does not exist yet), with its output in the message.
 */
export async function startVirtqueueVhost(opts: VirtqueueVhostOptions): Promise<VirtqueueVhost> {
  rmSync(opts.socket, { force: true });
  const args = [
    virtqueueBin(), 'vhost', '--socket', opts.socket, '--fwd', opts.fwd, '--json',
    '--duration', String(opts.duration),
    ...(opts.queues !== undefined ? ['--queues', String(opts.queues)] : []),
    ...(opts.extraArgs ?? []),
  ];
  installExitHook();
  // taskset execs node, so the child's pid (and the signals sent to it) are node's.
  const child = opts.cpus !== undefined
    ? spawn('taskset', ['-c', opts.cpus, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < 1 << 20) stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 1 << 20) stderr += d; });
  const tail = (n = 30): string => `${stderr}\n${stdout}`.trim().split('\n').slice(-n).join('\n');
  let spawnError: Error | undefined;
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (e) => { spawnError = e; live.delete(child); resolve({ code: null, signal: null }); });
    child.on('close', (code, signal) => { live.delete(child); resolve({ code, signal }); });
  });
  let done = false;
  void closed.then(() => { done = true; });
  const result = closed.then(({ code, signal }) => {
    if (spawnError) throw new Error(`could not run virtqueue vhost: ${spawnError.message}`);
    if (code !== 0 && code !== 1) {
      throw new Error(`virtqueue vhost exited with code ${code}, signal ${signal}; last output:\n${tail()}`);
    }
    try {
      return parseVhostCliResult(stdout);
    } catch (e) {
      throw new Error(`${(e as Error).message} (exit code ${code}); last output:\n${tail()}`);
    }
  });
  result.catch(() => undefined); // the caller may never look at it when start-up fails
  const stop = async (timeoutMs = 10_000): Promise<void> => {
    if (done) return;
    child.kill('SIGINT');
    if ((await within(closed, timeoutMs)) === undefined) {
      child.kill('SIGKILL');
      await within(closed, 5_000);
    }
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    if (done) {
      const { code, signal } = await closed;
      throw new Error(
        `virtqueue vhost exited before its socket appeared (code ${code}, signal ${signal}): ${tail(10)}`,
      );
    }
    if (existsSync(opts.socket)) break;
    if (Date.now() >= deadline) {
      await stop(5_000);
      throw new Error(`virtqueue vhost: no socket ${opts.socket} after ${opts.timeoutMs ?? 15_000} ms; last output:\n${tail()}`);
    }
    await delay(50);
  }
  const finish = async (timeoutMs: number): Promise<VhostCliResult> => {
    if ((await within(closed, timeoutMs)) === undefined) {
      await stop(5_000);
      throw new Error(`virtqueue vhost did not exit within ${timeoutMs} ms; last output:\n${tail()}`);
    }
    return result;
  };
  return { pid: child.pid ?? -1, result, tail, stop, finish };
}

// ---------------------------------------------------------------------------------------------
// A front-end testpmd (virtio-user, txonly) feeding a back-end: DPDK's net_vhost or ours.

export type Backend = 'dpdk' | 'virtqueue';

export interface PairOptions {
  backend: Backend;
  /** Names the --file-prefix of both testpmds. */
  name: string;
  socket: string;
  /** Seconds of traffic, counted from the moment the front-end starts forwarding. */
  seconds: number;
  packed?: boolean;
  queues?: number;
  /** More virtio-user devargs, e.g. `mrg_rxbuf=0,in_order=0`. */
  frontendDevargs?: string;
  /** CPU pinning; the back-end on CPU 0 and the front-end on CPU 1 by default. */
  backendLcores?: string;
  frontendLcores?: string;
  /** Start-up bound for each side. */
  timeoutMs?: number;
}

export interface PairResult {
  backend: Backend;
  /** What the back-end counted as received (testpmd's accumulated RX, or the CLI's rx_packets). */
  backendRx: number;
  /** What the front-end transmitted (accumulated TX; packets it could not enqueue are not counted). */
  frontendTx: number;
  /** Steady-state Mpps at the front-end's TX (the same yardstick for either back-end). */
  frontendMpps: number | undefined;
  /** The back-end's own figure: steady Rx-pps of net_vhost, or the CLI's rx_mpps. */
  backendMpps: number | undefined;
  front: TestpmdResult;
  back: TestpmdResult | VhostCliResult;
}

const lcoresFor = (queues: number, cpu: number): string =>
  [`0@${cpu}`, ...Array.from({ length: queues }, (_, i) => `${i + 1}@${cpu}`)].join(',');

/** Runs one pair for `seconds` and stops both sides (front-end first); never leaves either running. */
export async function runPair(o: PairOptions): Promise<PairResult> {
  const r = await runForwarding({ ...o, backendMode: 'rxonly', frontendMode: 'txonly' });
  const fpps = steadyPps(r.front.samples, 0, 'tx');
  return {
    backend: o.backend, backendRx: r.backendRx, frontendTx: r.frontendTx,
    frontendMpps: fpps === undefined ? undefined : fpps / 1e6, backendMpps: r.backendRxMpps, front: r.front, back: r.back,
  };
}

// ---------------------------------------------------------------------------------------------
// Any forwarding mode on either side: a front-end testpmd (virtio-user) and a back-end (DPDK's
// net_vhost in testpmd, or ours).

export interface ForwardingOptions extends PairOptions {
  /** The back-end's mode: testpmd's --forward-mode for net_vhost, --fwd for ours. */
  backendMode: VhostFwd;
  /** The front-end testpmd's --forward-mode. */
  frontendMode: ForwardMode;
  /** --tx-first for the front-end (one burst per stream, which then circulates in io/macswap). */
  txFirst?: boolean;
  /**
   * --txpkts for each testpmd that generates frames (the front-end in txonly or with --tx-first;
   * DPDK's back-end in txonly): frame length without FCS. testpmd's default (64) when omitted.
   */
  txpkts?: number;
  /** Forwarding lcores of each testpmd (--nb-cores); one per queue pair when omitted. */
  forwardingLcores?: number;
  /** `taskset -c` CPU list for our back-end (DPDK's is pinned by its lcores); not pinned when omitted. */
  backendCpus?: string;
  /** More arguments for `virtqueue vhost` (after --socket, --fwd, --json, --duration, --queues). */
  virtqueueArgs?: string[];
  /**
   * Called once the front-end forwards, just before the `seconds` of traffic are counted from
   * (not awaited: what it starts runs alongside; its samples' clock is Date.now() - front.startedAt),
   * with the back-end's pid.
   */
  onForwarding?: (front: Testpmd, backendPid: number) => void;
}

export interface ForwardingResult {
  backend: Backend;
  /** The front-end's accumulated forward statistics (TX: what it put on the ring). */
  frontendRx: number;
  frontendTx: number;
  /**
   * The front-end's Rx-pps and Tx-pps while it forwarded, Mpps, summed over its ports (flowPps:
   * readings from the first non-zero one on, later ones without traffic counted).
   */
  frontendRxMpps: number | undefined;
  frontendTxMpps: number | undefined;
  /** What the back-end counted (testpmd's accumulated statistics, or the CLI's rx_packets/tx_packets). */
  backendRx: number;
  backendTx: number;
  /** The back-end's own rates: net_vhost's steady Rx-pps/Tx-pps (steadyPps), or the CLI's rx_mpps/tx_mpps. */
  backendRxMpps: number | undefined;
  backendTxMpps: number | undefined;
  front: TestpmdResult;
  back: TestpmdResult | VhostCliResult;
}

const mpps = (pps: number | undefined): number | undefined => (pps === undefined ? undefined : pps / 1e6);

/**
 * Starts the back-end, then the front-end; after `seconds` of forwarding stops the front-end, then
 * the back-end (ours with SIGINT, on which it prints its summary; its --duration is only a
 * backstop). Never leaves either running.
 */
export async function runForwarding(o: ForwardingOptions): Promise<ForwardingResult> {
  const queues = o.queues ?? 1;
  const fwdLcores = o.forwardingLcores ?? queues;
  const nbCores = o.forwardingLcores; // --nb-cores only when asked for
  const timeoutMs = o.timeoutMs ?? 60_000;
  const backstop = 60; // seconds our back-end may take beyond `seconds` before its --duration ends it
  let back: Testpmd | VirtqueueVhost | undefined;
  let front: Testpmd | undefined;
  try {
    if (o.backend === 'dpdk') {
      back = await startTestpmd({
        name: `${o.name}-be`, forwardMode: o.backendMode, queues, timeoutMs, nbCores,
        txpkts: o.backendMode === 'txonly' ? o.txpkts : undefined,
        vdev: `net_vhost0,iface=${o.socket},queues=${queues}`,
        lcores: o.backendLcores ?? lcoresFor(fwdLcores, 0),
      });
    } else {
      back = await startVirtqueueVhost({
        socket: o.socket, fwd: o.backendMode, duration: o.seconds + backstop, queues, timeoutMs,
        cpus: o.backendCpus, extraArgs: o.virtqueueArgs,
      });
    }
    const devargs = [
      `path=${o.socket}`, ...(o.packed ? ['packed_vq=1'] : []), ...(queues !== 1 ? [`queues=${queues}`] : []),
      ...(o.frontendDevargs ? [o.frontendDevargs] : []),
    ].join(',');
    const generates = o.frontendMode === 'txonly' || o.txFirst === true;
    front = await startTestpmd({
      name: `${o.name}-fe`, forwardMode: o.frontendMode, queues, timeoutMs, nbCores, txFirst: o.txFirst,
      txpkts: generates ? o.txpkts : undefined,
      vdev: `net_virtio_user0,${devargs}`,
      lcores: o.frontendLcores ?? lcoresFor(fwdLcores, 1),
    });
    o.onForwarding?.(front, back.pid);
    await delay(o.seconds * 1000);
    // The reading due at `seconds` (one per second with the default --stats-period) may come a
    // little after it: wait for it, briefly, so the run has all its samples.
    await waitForSamples(front, (s) => s.filter((x) => x.port === 0).length >= Math.floor(o.seconds), 1_500);
    const f = await front.stop();
    front = undefined;
    let b: TestpmdResult | VhostCliResult;
    let backendRx: number;
    let backendTx: number;
    let backendRxMpps: number | undefined;
    let backendTxMpps: number | undefined;
    if ('exited' in back) {
      const r = await back.stop();
      back = undefined;
      b = r;
      backendRx = r.totals?.rxPackets ?? NaN;
      backendTx = r.totals?.txPackets ?? NaN;
      backendRxMpps = mpps(totalPps(r.samples, 'rx'));
      backendTxMpps = mpps(totalPps(r.samples, 'tx'));
    } else {
      const cli = back;
      back = undefined;
      await cli.stop(15_000);
      const r = await cli.result;
      b = r;
      backendRx = r.rx_packets;
      backendTx = r.tx_packets;
      backendRxMpps = r.rx_mpps;
      backendTxMpps = r.tx_mpps;
    }
    return {
      backend: o.backend,
      frontendRx: f.totals?.rxPackets ?? NaN, frontendTx: f.totals?.txPackets ?? NaN,
      frontendRxMpps: mpps(totalPps(f.samples, 'rx', flowPps)), frontendTxMpps: mpps(totalPps(f.samples, 'tx', flowPps)),
      backendRx, backendTx, backendRxMpps, backendTxMpps, front: f, back: b,
    };
  } finally {
    // On any failure: nothing keeps running.
    await front?.stop().catch(() => undefined);
    await back?.stop().catch(() => undefined);
  }
}
