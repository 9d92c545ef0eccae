// What the live visualizer's benches share (bench/viz.bench.ts, bench/viz-cpu.ts): a viewer of
// the stream, in the bench's process or niced in a process of its own (bench/viz-viewer.ts), and
// the CPU time of one thread of another process.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LiveClient } from '../test/helpers/sse-client.js';
import { LIVE_PATH } from '../src/viz/stream.js';

const VIEWER_SCRIPT = fileURLToPath(new URL('./viz-viewer.js', import.meta.url));

export type Placement = 'niced' | 'idle' | 'inline';
/** The placements that run the viewer in a process of its own. */
export type ProcessPlacement = Exclude<Placement, 'inline'>;

/**
 * Starts `node viz-viewer.js ...args` in a process of its own: 'niced' under `nice -n 19` (it still
 * gets about 1.5% of a busy core, CFS weight 15 against 1024), 'idle' under SCHED_IDLE (`chrt
 * --idle 0`: it runs only when a core has nothing else to run, weight 3), the nearest this
 * machine, whose two cores the dataplane and its peer keep busy, comes to a viewer elsewhere.
 */
export function spawnViewer(placement: ProcessPlacement, args: string[], stdio: StdioOptions): ChildProcess {
  const node = [process.execPath, VIEWER_SCRIPT, ...args];
  const sched = placement === 'idle' ? ['chrt', '--idle', '0'] : ['nice', '-n', '19'];
  // VIRTQUEUE_BENCH_VIEWER_CPUS: a `taskset -c` list for the viewer (say, off the dataplane's core).
  const cpus = process.env.VIRTQUEUE_BENCH_VIEWER_CPUS;
  const cmd = cpus ? ['taskset', '-c', cpus, ...sched, ...node] : [...sched, ...node];
  return spawn(cmd[0], cmd.slice(1), { stdio });
}

export interface Viewer {
  frames: number;
  /** Frames a second the viewer received, and the mean frame size. */
  framesPerSecond: number;
  bytesPerFrame: number;
}

/** What a viewer saw and used from its first frame on (that frame excluded): frames, CPU ms, and the server's seq of the first and last. */
export interface SinceFirst { frames: number; cpuMs: number; seconds: number; firstSeq: number; lastSeq: number }

export interface Watching {
  /** Resolves once the viewer has its first frame (rejects after 60 s). */
  ready: Promise<void>;
  /** Ends the viewer: what it saw, and the CPU it used (ms). */
  stop(): Promise<Viewer & { cpuMs: number; sinceFirst: SinceFirst }>;
}

/** The LiveClient's state now, to diff against its state at its first frame. */
export function clientMark(client: LiveClient, cpuMs: number): { count: number; cpuMs: number; at: number; seq: number } {
  return { count: client.count, cpuMs, at: performance.now(), seq: client.frames.at(-1)?.seq ?? 0 };
}

export function sinceFirst(first: ReturnType<typeof clientMark>, last: ReturnType<typeof clientMark>): SinceFirst {
  return { frames: last.count - first.count, cpuMs: last.cpuMs - first.cpuMs, seconds: (last.at - first.at) / 1000, firstSeq: first.seq, lastSeq: last.seq };
}

/** Connects a viewer to `base` (in this process, or in its own: spawnViewer) and keeps it reading until stop(). */
export function watch(base: string, mode: Placement): Watching {
  const url = `${base}${LIVE_PATH.slice(1)}`;
  if (mode === 'inline') {
    const client = new LiveClient(url, 2);
    let first = clientMark(client, ownCpuMs());
    return {
      ready: client.until(() => client.count > 0, 'the first frame', 60_000).then(() => { first = clientMark(client, ownCpuMs()); }),
      stop: async () => {
        client.close();
        const since = sinceFirst(first, clientMark(client, ownCpuMs()));
        return { frames: client.count, framesPerSecond: client.count / since.seconds, bytesPerFrame: client.count ? client.bytes / client.count : 0, cpuMs: since.cpuMs, sinceFirst: since };
      },
    };
  }
  const child = spawnViewer(mode, [url], ['ignore', 'pipe', 'pipe']);
  let out = '';
  let err = '';
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the viewer process had no frame within 60 s: ${err.trim().slice(-300)}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (t: string) => {
      out += t;
      if (/^ready$/m.test(out)) { clearTimeout(timer); resolve(); }
    });
    void closed.then(() => { clearTimeout(timer); reject(new Error(`the viewer process ended: ${err.trim().slice(-300)}`)); });
  });
  child.stderr!.setEncoding('utf8').on('data', (t: string) => { err += t; });
  return {
    ready,
    stop: async () => {
      await ready.catch(() => undefined);
      child.kill('SIGTERM');
      await closed;
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
      if (!line) throw new Error(`the viewer process printed no report: ${err.trim().slice(-300)}`);
      const r = JSON.parse(line) as { frames: number; bytes: number; seconds: number; cpuMs: number; sinceFirst: SinceFirst; error: string | null };
      if (r.error) throw new Error(`the viewer process: ${r.error}`);
      return { frames: r.frames, framesPerSecond: r.frames / r.seconds, bytesPerFrame: r.frames ? r.bytes / r.frames : 0, cpuMs: r.cpuMs, sinceFirst: r.sinceFirst };
    },
  };
}

/** CPU time of thread `tid` of process `pid` so far, ms (utime + stime from /proc). */
export function threadCpuMs(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND;
}
const TICKS_PER_SECOND = 100;
export const ownCpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };


/** What a viewer saw while switched on (ViewerSwitch). */
export interface OnWindowSeen {
  frames: number;
  bytes: number;
  /** From the order to connect to the order to disconnect, as the viewer timed it. */
  seconds: number;
  /** CPU the viewer's process used meanwhile. */
  cpuMs: number;
  /** ms from the order to connect to the first frame; null: none came. */
  firstFrameMs: number | null;
  error: string | null;
}

/**
 * A viewer connected and disconnected on command (bench:viz's toggle mode, in the bench's process
 * or in viz-viewer.js --toggle): one LiveClient per connection, every frame decoded.
 */
export class ViewerSwitch {
  private current: { client: LiveClient; at: number; cpuMs: number; firstFrameMs: number | null } | undefined;
  /** The last closed connection and its count when closed: frames after that are "late". */
  private last: { client: LiveClient; count: number } | undefined;

  constructor(private readonly url: string) {}

  get isOn(): boolean {
    return this.current !== undefined;
  }

  /** Frames the last closed connection delivered after its close (0 unless a closed stream kept delivering). */
  lateFrames(): number {
    return this.last ? this.last.client.count - this.last.count : 0;
  }

  /** Connects; the late frames of the connection before. */
  on(): { lateFrames: number } {
    if (this.current) throw new Error('the viewer is already on');
    const lateFrames = this.lateFrames();
    const client = new LiveClient(this.url, 2);
    const w = { client, at: performance.now(), cpuMs: ownCpuMs(), firstFrameMs: null as number | null };
    this.current = w;
    client.until(() => client.count > 0, 'the first frame', 600_000).then(() => { w.firstFrameMs = performance.now() - w.at; }, () => undefined);
    return { lateFrames };
  }

  /** Disconnects: what the connection received; undefined when it was off. */
  off(): OnWindowSeen | undefined {
    const w = this.current;
    if (!w) return undefined;
    this.current = undefined;
    // Taken before closing: what close() itself brings (an abort) is no error.
    const error = w.client.error?.message ?? (w.client.closed ? 'the stream closed' : null);
    w.client.close();
    this.last = { client: w.client, count: w.client.count };
    return { frames: w.client.count, bytes: w.client.bytes, seconds: (performance.now() - w.at) / 1000, cpuMs: ownCpuMs() - w.cpuMs, firstFrameMs: w.firstFrameMs, error };
  }
}
