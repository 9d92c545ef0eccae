// `virtqueue sim` flags -> SimOptions (and the thread flags). Values are converted here; range
// checks are left to resolveSimOptions (sim/options.ts), whose errors `flagFor` maps back to the
// flag.
import { RING_KINDS, type RingKind } from '../../sim/queues.js';
import { SIM_MODES, type SimMode, type SimOptions } from '../../sim/options.js';
import { TOPOLOGIES, MAX_WORKERS, type Topology } from '../../sim/workers/topology.js';
import { IDLE_MODES, type IdleMode } from '../../src/dataplane/idle.js';
import { parseVizFlags } from '../live/args.js';
import { UsageError, parseFlags, stringFlag, wholeNumber, oneOf, type FlagConfig, type FlagValues } from '../common.js';

export interface SimCommand {
  kind: 'sim'; options: SimOptions; json: boolean; threads?: Threads;
  /** --viz PORT: serve the live visualizer on 127.0.0.1:PORT (0: any free port) while the run goes (on workers). */
  viz?: number;
  /** --viz-rate HZ: its frames a second (with --viz, always set). */
  vizRate?: number;
  /** --replay FILE: replay a trace exported from the visualizer instead of running the NIC. */
  replay?: string;
}

/** --workers N (N >= 2: the run goes to worker threads), --topology, --idle. */
export interface Threads { workers: number; topology: Topology; idle: IdleMode }

interface FlagSpec {
  option: keyof SimOptions;
  type: 'string' | 'boolean';
  convert: (flag: string, v: string) => SimOptions[keyof SimOptions];
}

const probability = (flag: string, v: string): number => {
  if (!/^(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v)) throw new UsageError(`${flag} expects a number, got '${v}'`);
  return Number(v);
};

const on = (): boolean => true;

/** `virtqueue sim` flags, by name without the dashes. */
const SIM_FLAGS: Record<string, FlagSpec> = {
  'ring': { option: 'ring', type: 'string', convert: oneOf<RingKind>(RING_KINDS) },
  'queue-size': { option: 'queueSize', type: 'string', convert: wholeNumber },
  'packets': { option: 'packets', type: 'string', convert: wholeNumber },
  'batch': { option: 'batch', type: 'string', convert: wholeNumber },
  'seed': { option: 'seed', type: 'string', convert: wholeNumber },
  'mode': { option: 'mode', type: 'string', convert: oneOf<SimMode>(SIM_MODES) },
  'latency': { option: 'latency', type: 'string', convert: wholeNumber },
  'jitter': { option: 'jitter', type: 'string', convert: wholeNumber },
  'drop': { option: 'drop', type: 'string', convert: probability },
  'out-of-order': { option: 'outOfOrder', type: 'boolean', convert: on },
  'event-idx': { option: 'eventIdx', type: 'boolean', convert: on },
  'indirect': { option: 'indirect', type: 'boolean', convert: on },
  'in-order': { option: 'inOrder', type: 'boolean', convert: on },
  'frame-size': { option: 'frameSize', type: 'string', convert: wholeNumber },
};

/** The flag that sets SimOptions field `option` (for error messages). */
export function flagFor(option: keyof SimOptions): string {
  for (const [name, spec] of Object.entries(SIM_FLAGS)) if (spec.option === option) return `--${name}`;
  if (option === ('spinPolls' as string)) return '--spin-polls';
  return ['workers', 'topology', 'idle'].includes(option) ? `--${option}` : option;
}

export function parseSim(args: string[]): SimCommand | { kind: 'help'; topic: 'sim' } {
  const config: FlagConfig = {
    json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    workers: { type: 'string' }, topology: { type: 'string' }, idle: { type: 'string' }, viz: { type: 'string' }, 'viz-rate': { type: 'string' },
    replay: { type: 'string' },
  };
  for (const [name, spec] of Object.entries(SIM_FLAGS)) config[name] = { type: spec.type };
  const values = parseFlags(args, config);
  if (values.help) return { kind: 'help', topic: 'sim' };
  const replay = stringFlag(values, 'replay');
  if (replay !== undefined) {
    const others = Object.keys(values).filter((k) => k !== 'replay' && k !== 'json' && values[k] !== undefined);
    if (others.length) throw new UsageError(`--replay takes the queue, its features and the operations from the trace: --${others[0]} cannot go with it`);
    return { kind: 'sim', options: {}, json: values.json === true, replay };
  }
  const options: SimOptions = {};
  for (const [name, spec] of Object.entries(SIM_FLAGS)) {
    const v = values[name];
    if (v === undefined) continue;
    (options as Record<string, unknown>)[spec.option] = spec.convert(`--${name}`, typeof v === 'string' ? v : '');
  }
  const viz = parseVizFlags(stringFlag(values, 'viz'), stringFlag(values, 'viz-rate'));
  const threads = parseThreads(values, options, viz.viz !== undefined);
  return { kind: 'sim', options, json: values.json === true, threads, ...viz };
}

/** The thread flags, checked together; undefined for the single-thread run. With --viz the run is on workers (2, adaptive idle, unless said). */
function parseThreads(values: FlagValues, options: SimOptions, viz: boolean): Threads | undefined {
  const str = (k: string): string | undefined => stringFlag(values, k);
  const workers = str('workers') === undefined ? (viz ? 2 : 1) : wholeNumber('--workers', str('workers')!);
  if (viz && workers === 1) throw new UsageError('--viz runs the simulation on worker threads (the main thread serves the page): --workers 2 or more');
  const topology = str('topology') === undefined ? 'rtc' : oneOf<Topology>(TOPOLOGIES)('--topology', str('topology')!);
  // --viz: adaptive unless said. The page (and often its browser) shares the CPUs with the
  // workers, and two workers busy-polling on a machine with no spare core wait out whole
  // scheduler slices for each other: a 16-entry ring moved ~100 times fewer frames.
  const idle = str('idle') === undefined ? (viz ? 'adaptive' : 'poll') : oneOf<IdleMode>(IDLE_MODES)('--idle', str('idle')!);
  if (workers < 1) throw new UsageError(`--workers must be at least 1, got ${workers}`);
  if (workers === 1) {
    if (str('topology') !== undefined || str('idle') !== undefined) {
      throw new UsageError('--topology and --idle need --workers 2 or more (--workers 1 is the single-thread run)');
    }
    return undefined;
  }
  if (workers > MAX_WORKERS[topology]) throw new UsageError(`--topology ${topology} runs on at most ${MAX_WORKERS[topology]} workers, got --workers ${workers}`);
  if ((options.mode ?? 'loopback') !== 'loopback') throw new UsageError(`--workers ${workers} needs --mode loopback`);
  if (options.drop !== undefined && options.drop !== 0) throw new UsageError(`--drop is not supported with --workers ${workers}`);
  if (topology === 'pipeline') {
    for (const [flag, set] of [['--latency', options.latency], ['--jitter', options.jitter], ['--out-of-order', options.outOfOrder]] as const) {
      if (set) throw new UsageError(`${flag} is not supported by --topology pipeline`);
    }
  }
  return { workers, topology, idle };
}
