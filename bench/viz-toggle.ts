// bench/viz.bench.ts's toggle mode: a viewer switched on and off in windows during one forwarding
// run, and each window's rate from the front-end testpmd's periodic counters (see the header of
// bench/viz.bench.ts for how the figure is computed).
import { readdirSync } from 'node:fs';
import { median, type PpsSample, type Testpmd } from '../test/helpers/testpmd.js';
import { ViewerSwitch, spawnViewer, threadCpuMs, type OnWindowSeen, type Placement, type ProcessPlacement } from './viz-watch.js';

export type { OnWindowSeen };

/** What is left out at the start of each window (the switch and its after-effects). */
export const SETTLE_MS = 1000;

/** Switches one viewer on and off. on()/off() resolve when the viewer has acted on the order. */
interface Toggler {
  /** Resolves with the frames the previous connection delivered after its close. */
  on(): Promise<{ lateFrames: number }>;
  off(): Promise<OnWindowSeen>;
  /** Ends the viewer (closing an open connection); resolves with the last connection's late frames. */
  close(): Promise<{ lateFrames: number }>;
}

/** A ViewerSwitch in this process (its CPU is all of this process's). */
function inlineToggler(url: string): Toggler {
  const v = new ViewerSwitch(url);
  return {
    on: async () => v.on(),
    off: async () => {
      const seen = v.off();
      if (!seen) throw new Error('the inline viewer is not on');
      return seen;
    },
    close: async () => {
      v.off();
      // Late frames, if any, would have arrived by now: a moment for the socket's last reads.
      await new Promise((r) => setTimeout(r, 100));
      return { lateFrames: v.lateFrames() };
    },
  };
}

/** One viewer process for the whole run (`node viz-viewer.js --toggle URL`, niced or idle: spawnViewer); resolves once it listens. */
async function processToggler(placement: ProcessPlacement, url: string): Promise<Toggler> {
  const child = spawnViewer(placement, ['--toggle', url], ['pipe', 'pipe', 'pipe']);
  let err = '';
  let buf = '';
  let ended: Error | undefined;
  const replies: { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  let idle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  const idled = new Promise<void>((resolve, reject) => { idle = { resolve, reject }; });
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  child.stderr!.setEncoding('utf8').on('data', (t: string) => { err += t; });
  child.stdout!.setEncoding('utf8').on('data', (t: string) => {
    buf += t;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const m = JSON.parse(line) as Record<string, unknown>;
      if (m.ack === 'idle') idle?.resolve();
      else replies.shift()?.resolve(m);
    }
  });
  child.stdin!.on('error', () => undefined); // a viewer that died: reported by `closed`
  void closed.then(() => {
    ended = new Error(`the viewer process ended: ${err.trim().slice(-300) || `code ${child.exitCode}`}`);
    idle?.reject(ended);
    for (const r of replies.splice(0)) r.reject(ended);
  });
  const timer = setTimeout(() => idle?.reject(new Error('the viewer process did not start within 30 s')), 30_000);
  try {
    await idled;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  const ask = (cmd: string): Promise<Record<string, unknown>> => {
    if (ended) return Promise.reject(ended);
    return new Promise((resolve, reject) => {
      replies.push({ resolve, reject });
      child.stdin!.write(`${cmd}\n`);
    });
  };
  let closing: Promise<{ lateFrames: number }> | undefined;
  return {
    on: async () => {
      const m = await ask('on');
      if (m.error) throw new Error(`the viewer process: ${String(m.error)}`);
      return { lateFrames: Number(m.lateFrames) };
    },
    off: async () => {
      const m = await ask('off');
      return m as unknown as OnWindowSeen;
    },
    close: () => closing ??= (async () => {
      let lateFrames = NaN;
      if (!ended) {
        const quit = ask('quit').then((m) => { lateFrames = Number(m.lateFrames); }, () => undefined);
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await quit;
        await closed;
        clearTimeout(t);
      }
      return { lateFrames };
    })(),
  };
}

export interface ToggleWindow {
  index: number;
  on: boolean;
  /** Start and end on the front-end's sample clock (ms since it was spawned). */
  startMs: number;
  endMs: number;
  /** Samples used (from SETTLE_MS after the start to the end). */
  samples: number;
  /** The first and last of them (atMs), and the RX-packets between them. */
  fromMs?: number;
  toMs?: number;
  packets?: number;
  /** packets / (toMs - fromMs), Mpps; undefined when skipped. */
  mpps?: number;
  /** testpmd's own Rx-pps (TSC-timed), mean over the samples after the first, Mpps: a cross-check. */
  rxPpsMpps?: number;
  skipped?: string;
  /** on-windows: viewer / mean of the neighbouring off-windows. */
  ratio?: number;
  /** on-windows: what the viewer got; ms from the order to the viewer's acknowledgement. */
  seen?: OnWindowSeen;
  /** ms from the order to connect or disconnect to the viewer's acknowledgement (on: plus its first frame below). */
  switchMs?: number;
  /** off-windows: frames the connection closed at its start delivered after the close (should be 0). */
  lateFrames?: number;
  /**
   * The back-end's CPU over the whole window (/proc, 10 ms ticks), % of one core: its main thread
   * (which serves the stream) and its busiest thread (the worker polling the vring).
   */
  mainCpuPct?: number;
  workerCpuPct?: number;
  /** on-windows: the worker's CPU / the mean of the off-windows either side (what the viewer left it). */
  workerCpuRatio?: number;
  /** on-windows: the main thread's CPU beyond the mean of the off-windows either side, ms per frame the viewer got. */
  mainMsPerFrame?: number;
}

export interface ToggleRun {
  round: number;
  placement: Placement;
  seconds: number;
  windowSeconds: number;
  windows: ToggleWindow[];
  ratios: number[];
  medianRatio: number | undefined;
  /** Windows skipped, switches slower than the settle time (their figure may include the switch), viewer errors. */
  warnings: string[];
  /** The on-windows' workerCpuRatio and mainMsPerFrame, and their medians. */
  workerCpuRatios: number[];
  medianWorkerCpuRatio: number | undefined;
  medianMainMsPerFrame: number | undefined;
  /** The front-end's samples of port 0 (atMs, cumulative RX-packets, testpmd's Rx-pps), to recompute from. */
  samples: [number, number | null, number][];
}

/** The largest odd number of `windowSeconds` windows that fits in `seconds`. */
export function windowCount(seconds: number, windowSeconds: number): number {
  const n = Math.floor(seconds / windowSeconds + 1e-9);
  return n % 2 === 1 ? n : n - 1;
}

const sleepUntil = (t: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

interface Switches {
  windows: ToggleWindow[];
  /** Per window index: the switch at its start. */
  acks: Map<number, Promise<unknown>>;
}

/** CPU ms of each thread of process `pid` (by tid); threads gone or unreadable are left out. */
function threadsCpuMs(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[] = [];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const t of tids) {
    try { out.set(Number(t), threadCpuMs(pid, Number(t))); } catch { /* ended meanwhile */ }
  }
  return out;
}

/** Fills a window's CPU figures from the threads' CPU at its start and end. */
function windowCpu(w: ToggleWindow, pid: number, a: Map<number, number>, b: Map<number, number>): void {
  const ms = w.endMs - w.startMs;
  if (!(ms > 0) || !a.has(pid) || !b.has(pid)) return;
  w.mainCpuPct = ((b.get(pid)! - a.get(pid)!) / ms) * 100;
  let busiest = 0;
  for (const [tid, end] of b) if (tid !== pid && a.has(tid)) busiest = Math.max(busiest, end - a.get(tid)!);
  w.workerCpuPct = (busiest / ms) * 100;
}

/**
 * Switches the viewer at each window boundary (timed from now), recording the boundaries on
 * `front`'s clock and the CPU of the back-end's (`backendPid`) threads at each.
 */
async function schedule(front: Testpmd, backendPid: number, t: Toggler, n: number, windowSeconds: number, stop: { stopped: boolean }): Promise<Switches> {
  const clock = (): number => Date.now() - front.startedAt;
  const t0 = Date.now();
  const windows: ToggleWindow[] = [];
  const acks = new Map<number, Promise<unknown>>();
  let cpuBefore = new Map<number, number>();
  for (let k = 0; k <= n; k++) {
    await sleepUntil(t0 + k * windowSeconds * 1000);
    if (stop.stopped) break;
    const at = clock();
    const cpu = threadsCpuMs(backendPid);
    if (k > 0) {
      windows[k - 1].endMs = at;
      windowCpu(windows[k - 1], backendPid, cpuBefore, cpu);
    }
    cpuBefore = cpu;
    if (k === n) break;
    const on = k % 2 === 1;
    const w: ToggleWindow = { index: k, on, startMs: at, endMs: NaN, samples: 0 };
    windows.push(w);
    const sent = performance.now();
    if (on) {
      const p = t.on().then((r) => { w.switchMs = performance.now() - sent; return r; });
      p.catch(() => undefined);
      acks.set(k, p);
    } else if (k > 0) {
      const p = t.off().then((seen) => { w.switchMs = performance.now() - sent; windows[k - 1].seen = seen; return seen; });
      p.catch(() => undefined);
      acks.set(k, p);
    }
  }
  return { windows, acks };
}

/** Fills each window's rate from the front-end's samples (port 0), and each on-window's ratio. */
export function rateWindows(windows: ToggleWindow[], samples: PpsSample[]): number[] {
  const ss = samples.filter((s) => s.port === 0 && s.rxPackets !== undefined);
  for (const w of windows) {
    const inside = ss.filter((s) => s.atMs >= w.startMs + SETTLE_MS && s.atMs <= w.endMs);
    w.samples = inside.length;
    if (w.skipped) continue;
    if (inside.length < 2) { w.skipped = `${inside.length} sample${inside.length === 1 ? '' : 's'} after settling`; continue; }
    const a = inside[0];
    const b = inside.at(-1)!;
    w.fromMs = a.atMs;
    w.toMs = b.atMs;
    w.packets = b.rxPackets! - a.rxPackets!;
    w.mpps = w.toMs > w.fromMs ? w.packets / (w.toMs - w.fromMs) / 1e3 : undefined;
    if (w.mpps === undefined) w.skipped = 'its samples were read at one instant';
    const pps = inside.slice(1).map((s) => s.rxPps);
    w.rxPpsMpps = pps.reduce((x, y) => x + y, 0) / pps.length / 1e6;
  }
  const ratios: number[] = [];
  for (const w of windows) {
    if (!w.on || w.mpps === undefined) continue;
    const near = [windows[w.index - 1], windows[w.index + 1]].filter((x) => x?.mpps !== undefined).map((x) => x.mpps!);
    if (near.length === 0) continue;
    w.ratio = w.mpps / (near.reduce((x, y) => x + y, 0) / near.length);
    ratios.push(w.ratio);
  }
  return ratios;
}

/**
 * Each on-window's CPU against the off-windows either side: the worker's share (a figure the
 * vCPU placement hardly moves, unlike the rate) and the main thread's extra ms per frame.
 */
export function cpuWindows(windows: ToggleWindow[]): { workerCpuRatios: number[]; mainMsPerFrame: number[] } {
  const workerCpuRatios: number[] = [];
  const mainMsPerFrame: number[] = [];
  const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length;
  for (const w of windows) {
    if (!w.on || w.skipped || w.workerCpuPct === undefined || w.mainCpuPct === undefined) continue;
    const near = [windows[w.index - 1], windows[w.index + 1]].filter((x) => x?.workerCpuPct !== undefined && x.mainCpuPct !== undefined);
    if (near.length === 0) continue;
    const offWorker = mean(near.map((x) => x.workerCpuPct!));
    if (offWorker > 0) workerCpuRatios.push(w.workerCpuRatio = w.workerCpuPct / offWorker);
    const frames = w.seen?.frames ?? 0;
    if (frames > 0) mainMsPerFrame.push(w.mainMsPerFrame = ((w.mainCpuPct - mean(near.map((x) => x.mainCpuPct!))) / 100) * (w.endMs - w.startMs) / frames);
  }
  return { workerCpuRatios, mainMsPerFrame };
}

export interface ToggleRunOptions {
  round: number;
  placement: Placement;
  /** The stream's URL (/viz/live of the back-end about to start). */
  url: string;
  seconds: number;
  windowSeconds: number;
  /**
   * Runs the forwarding for `seconds`, calling onForwarding once the front-end forwards (as
   * runForwarding does); resolves with the front-end's samples.
   */
  forward(onForwarding: (front: Testpmd, backendPid: number) => void): Promise<PpsSample[]>;
}

/** One forwarding run with the viewer toggled in windows; every window's rate, and the ratios. */
export async function toggleRun(o: ToggleRunOptions): Promise<ToggleRun> {
  const n = windowCount(o.seconds, o.windowSeconds);
  // The viewer exists before the run starts: nothing is started inside a window.
  const t = o.placement === 'inline' ? inlineToggler(o.url) : await processToggler(o.placement, o.url);
  const stop = { stopped: false };
  let switching: Promise<Switches> | undefined;
  try {
    const samples = await o.forward((front, backendPid) => {
      switching = schedule(front, backendPid, t, n, o.windowSeconds, stop);
      switching.catch(() => undefined);
    });
    if (!switching) throw new Error('the front-end never forwarded');
    const { windows, acks } = await switching;
    if (windows.length !== n || !(windows.at(-1)!.endMs >= 0)) throw new Error(`the run ended after ${windows.length} of ${n} windows`);
    const lateAt = new Map<number, number>();
    for (const [k, p] of acks) {
      const r = await p;
      if (windows[k].on) lateAt.set(k - 1, (r as { lateFrames: number }).lateFrames);
    }
    lateAt.set(n - 1, (await t.close()).lateFrames);
    for (const w of windows) if (!w.on && w.index > 0) w.lateFrames = lateAt.get(w.index);
    // An on-window in which the viewer got nothing, or whose stream failed, measured no viewer.
    for (const w of windows) {
      if (w.on && w.seen && (w.seen.error || w.seen.frames === 0)) w.skipped = `the viewer ${w.seen.error ? `failed: ${w.seen.error}` : 'got no frame'}`;
    }
    const ratios = rateWindows(windows, samples);
    const cpu = cpuWindows(windows);
    const warnings: string[] = [];
    for (const w of windows) {
      const took = (w.switchMs ?? 0) + (w.on ? (w.seen?.firstFrameMs ?? Infinity) : 0);
      if (w.index > 0 && took > SETTLE_MS) {
        warnings.push(`window ${w.index} (${w.on ? 'on' : 'off'}): the switch took ${Number.isFinite(took) ? `${took.toFixed(0)} ms` : 'until its end (no frame)'}, more than the ${SETTLE_MS} ms settle`);
      }
      if (w.skipped) warnings.push(`window ${w.index} (${w.on ? 'on' : 'off'}) skipped: ${w.skipped}`);
    }
    return {
      round: o.round, placement: o.placement, seconds: o.seconds, windowSeconds: o.windowSeconds, windows, ratios,
      medianRatio: ratios.length ? median(ratios) : undefined, warnings,
      workerCpuRatios: cpu.workerCpuRatios, medianWorkerCpuRatio: cpu.workerCpuRatios.length ? median(cpu.workerCpuRatios) : undefined,
      medianMainMsPerFrame: cpu.mainMsPerFrame.length ? median(cpu.mainMsPerFrame) : undefined,
      samples: samples.filter((s) => s.port === 0).map((s) => [s.atMs, s.rxPackets ?? null, s.rxPps]),
    };
  } finally {
    stop.stopped = true;
    await t.close().catch(() => undefined);
  }
}

/** The q-quantile of xs (linear between order statistics); undefined for an empty list. */
export function quantile(xs: number[], q: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}
