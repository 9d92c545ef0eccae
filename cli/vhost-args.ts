// `virtqueue vhost` flags -> VhostOptions. Same rules as the sim's: node:util parseArgs (strict),
// one-line UsageErrors, ranges checked here.
import { parseArgs } from 'node:util';
import { NET_MODES as FWD_MODES, type NetMode as FwdMode } from '../src/virtio-net/queue-pair.js';
import { IDLE_MODES, type IdleMode } from '../src/dataplane/idle.js';
import { UsageError } from './args.js';

export interface VhostOptions {
  socket: string;
  client: boolean;
  queues: number;
  fwd: FwdMode;
  /** Seconds; undefined: until SIGINT or SIGTERM. */
  duration?: number;
  pcap?: string;
  pcapMax: number;
  burst: number;
  /** Guest memory window, MiB. */
  guestMem: number;
  /** Dataplane workers serving the queue pairs. */
  workers: number;
  idle: IdleMode;
}

export const VHOST_DEFAULTS = { queues: 1, fwd: 'io' as FwdMode, pcapMax: 100_000, burst: 32, guestMem: 2048, workers: 1, idle: 'adaptive' as IdleMode };
export const MAX_QUEUES = 16;
export const MAX_GUEST_MEM = 3968;

export interface VhostCommand { kind: 'vhost'; options: VhostOptions; json: boolean }

function whole(flag: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} expects a whole number, got '${v}'`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`${flag} must be ${min} to ${max}, got ${n}`);
  return n;
}

export function parseVhost(args: string[]): VhostCommand | { kind: 'help'; topic: 'vhost' } {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args, strict: true, allowPositionals: false,
      options: {
        'socket': { type: 'string' }, 'client': { type: 'boolean' }, 'queues': { type: 'string' }, 'fwd': { type: 'string' },
        'duration': { type: 'string' }, 'pcap': { type: 'string' }, 'pcap-max': { type: 'string' }, 'burst': { type: 'string' },
        'guest-mem': { type: 'string' }, 'workers': { type: 'string' }, 'idle': { type: 'string' },
        'json': { type: 'boolean' }, 'help': { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new UsageError(msg.charAt(0).toLowerCase() + msg.slice(1));
  }
  if (values.help) return { kind: 'help', topic: 'vhost' };
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const socket = str('socket');
  if (socket === undefined || socket === '') throw new UsageError('--socket PATH is required');
  const fwd = str('fwd') ?? VHOST_DEFAULTS.fwd;
  if (!(FWD_MODES as readonly string[]).includes(fwd)) throw new UsageError(`--fwd must be one of ${FWD_MODES.join(', ')}, got '${fwd}'`);
  let duration: number | undefined;
  const d = str('duration');
  if (d !== undefined) {
    if (!/^(\d+\.?\d*|\.\d+)$/.test(d) || !(Number(d) > 0)) throw new UsageError(`--duration expects a positive number of seconds, got '${d}'`);
    duration = Number(d);
  }
  const pcap = str('pcap');
  if (pcap === '') throw new UsageError('--pcap expects a file name');
  if (str('pcap-max') !== undefined && pcap === undefined) throw new UsageError('--pcap-max needs --pcap');
  const queues = str('queues') === undefined ? VHOST_DEFAULTS.queues : whole('--queues', str('queues')!, 1, MAX_QUEUES);
  const workers = str('workers') === undefined ? VHOST_DEFAULTS.workers : whole('--workers', str('workers')!, 1, MAX_QUEUES);
  if (workers > queues) throw new UsageError(`--workers ${workers} is more than the ${queues} queue pair${queues > 1 ? 's' : ''} to serve`);
  if (pcap !== undefined && workers > 1) throw new UsageError('--pcap needs --workers 1 (one capture file, written by one worker)');
  const idle = str('idle') ?? VHOST_DEFAULTS.idle;
  if (!(IDLE_MODES as readonly string[]).includes(idle)) throw new UsageError(`--idle must be one of ${IDLE_MODES.join(', ')}, got '${idle}'`);
  return {
    kind: 'vhost',
    json: values.json === true,
    options: {
      socket, client: values.client === true, fwd: fwd as FwdMode, duration, pcap,
      queues, workers, idle: idle as IdleMode,
      pcapMax: str('pcap-max') === undefined ? VHOST_DEFAULTS.pcapMax : whole('--pcap-max', str('pcap-max')!, 1, 2 ** 31),
      burst: str('burst') === undefined ? VHOST_DEFAULTS.burst : whole('--burst', str('burst')!, 1, 256),
      guestMem: str('guest-mem') === undefined ? VHOST_DEFAULTS.guestMem : whole('--guest-mem', str('guest-mem')!, 16, MAX_GUEST_MEM),
    },
  };
}
