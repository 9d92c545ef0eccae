// Command line -> command. Flags are parsed with node:util parseArgs (strict: unknown flags and
// missing values are errors), values are turned into SimOptions here, and range checks are left
// to resolveSimOptions (sim/options.ts), whose errors `flagFor` maps back to the flag.
import { parseArgs } from 'node:util';
import { RING_KINDS, type RingKind } from '../sim/queues.js';
import { SIM_MODES, type SimMode, type SimOptions } from '../sim/options.js';
import { TOPOLOGIES, MAX_WORKERS, type Topology } from '../sim/workers/topology.js';
import { IDLE_MODES, type IdleMode } from '../src/dataplane/idle.js';
import { parseVhost, type VhostCommand } from './vhost-args.js';

export type Command =
  | { kind: 'help'; topic: 'main' | 'sim' | 'vhost' }
  | { kind: 'sim'; options: SimOptions; json: boolean; threads?: Threads }
  | VhostCommand;

/** --workers N (N >= 2: the run goes to worker threads), --topology, --idle. */
export interface Threads { workers: number; topology: Topology; idle: IdleMode }

/** A bad command line: the message is one line, without the program name. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Value = string | boolean | undefined;

interface FlagSpec {
  option: keyof SimOptions;
  type: 'string' | 'boolean';
  convert: (flag: string, v: string) => SimOptions[keyof SimOptions];
}

const wholeNumber = (flag: string, v: string): number => {
  // Digits, optionally in exponent form (1e7); the value must come out a safe integer.
  if (!/^\d+(\.\d+)?(e\+?\d+)?$/i.test(v)) throw new UsageError(`${flag} expects a whole number, got '${v}'`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} expects a whole number, got '${v}'`);
  return n;
};

const probability = (flag: string, v: string): number => {
  if (!/^(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v)) throw new UsageError(`${flag} expects a number, got '${v}'`);
  return Number(v);
};

const oneOf = <T extends string>(values: readonly T[]) => (flag: string, v: string): T => {
  if (!(values as readonly string[]).includes(v)) throw new UsageError(`${flag} must be one of ${values.join(', ')}, got '${v}'`);
  return v as T;
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

/** parseArgs' messages are one line already; make them read like ours. */
function parseError(e: unknown): UsageError {
  const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  return new UsageError(msg.charAt(0).toLowerCase() + msg.slice(1));
}

function parseSim(args: string[]): Command {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    workers: { type: 'string' }, topology: { type: 'string' }, idle: { type: 'string' },
  };
  for (const [name, spec] of Object.entries(SIM_FLAGS)) config[name] = { type: spec.type };
  let values: Record<string, Value>;
  try {
    values = parseArgs({ args, options: config, strict: true, allowPositionals: false }).values as Record<string, Value>;
  } catch (e) {
    throw parseError(e);
  }
  if (values.help) return { kind: 'help', topic: 'sim' };
  const options: SimOptions = {};
  for (const [name, spec] of Object.entries(SIM_FLAGS)) {
    const v = values[name];
    if (v === undefined) continue;
    (options as Record<string, unknown>)[spec.option] = spec.convert(`--${name}`, typeof v === 'string' ? v : '');
  }
  return { kind: 'sim', options, json: values.json === true, threads: parseThreads(values, options) };
}

/** The thread flags, checked together; undefined for the single-thread run. */
function parseThreads(values: Record<string, Value>, options: SimOptions): Threads | undefined {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] as string : undefined);
  const workers = str('workers') === undefined ? 1 : wholeNumber('--workers', str('workers')!);
  const topology = str('topology') === undefined ? 'rtc' : oneOf<Topology>(TOPOLOGIES)('--topology', str('topology')!);
  const idle = str('idle') === undefined ? 'poll' : oneOf<IdleMode>(IDLE_MODES)('--idle', str('idle')!);
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

export function parseCommandLine(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError("missing command (try 'virtqueue --help')");
  if (first === '--help' || first === '-h' || first === 'help') {
    if (rest.length === 0) return { kind: 'help', topic: 'main' };
    if (rest.length === 1 && rest[0] === 'sim') return { kind: 'help', topic: 'sim' };
    if (rest.length === 1 && rest[0] === 'vhost') return { kind: 'help', topic: 'vhost' };
    throw new UsageError(`no help on '${rest.join(' ')}' (try 'virtqueue --help')`);
  }
  if (first === 'sim') return parseSim(rest);
  if (first === 'vhost') return parseVhost(rest);
  if (first.startsWith('-')) throw new UsageError(`unknown option '${first}' before the command (try 'virtqueue --help')`);
  throw new UsageError(`unknown command '${first}' (try 'virtqueue --help')`);
}
