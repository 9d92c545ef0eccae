// `virtqueue vhost` flags -> VhostOptions. Same rules as the sim's (cli/common.ts: strict
// parseArgs, one-line UsageErrors, one integer parser); ranges checked here.
import { NET_MODES as FWD_MODES, type NetMode as FwdMode } from '../../src/virtio-net/queue-pair.js';
import { IDLE_MODES, type IdleMode } from '../../src/dataplane/idle.js';
import { DEFAULT_MESSAGE_TIMEOUT_MS, DEFAULT_MESSAGE_RATE } from '../../src/vhost-user/connection.js';
import { parseVizFlags, type VizFlags } from '../live/args.js';
import { UsageError, parseFlags, stringFlag, wholeNumber, oneOf, durationFlag } from '../common.js';

export interface VhostOptions extends VizFlags {
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
  /** Permissions of the listening socket file. */
  socketMode: number;
  /** Most time from a message's first byte to its last, ms (0: no limit). */
  messageTimeoutMs: number;
  /** Most vhost-user messages read per second (0: no limit). */
  messageRate: number;
  /** The inflight state file (--state), undefined for none. */
  state: string | undefined;
  /** --iommu: offer VIRTIO_F_ACCESS_PLATFORM and the vhost-user IOTLB (BackendOptions.iommu). */
  iommu: boolean;
}

/** --state's default: next to the socket. */
export const stateFileFor = (socket: string): string => `${socket}.inflight`;

export const VHOST_DEFAULTS = { queues: 1, fwd: 'io' as FwdMode, pcapMax: 100_000, burst: 32, guestMem: 2048, workers: 1, idle: 'adaptive' as IdleMode, socketMode: 0o600, messageTimeoutMs: DEFAULT_MESSAGE_TIMEOUT_MS, messageRate: DEFAULT_MESSAGE_RATE };
/** --message-timeout at most an hour. */
export const MAX_MESSAGE_TIMEOUT_MS = 3_600_000;
export const MAX_MESSAGE_RATE = 1_000_000;
export const MAX_QUEUES = 16;
export const MAX_GUEST_MEM = 3968;

export interface VhostCommand { kind: 'vhost'; options: VhostOptions; json: boolean }

export function parseVhost(args: string[]): VhostCommand | { kind: 'help'; topic: 'vhost' } {
  const values = parseFlags(args, {
    'socket': { type: 'string' }, 'client': { type: 'boolean' }, 'queues': { type: 'string' }, 'fwd': { type: 'string' },
    'duration': { type: 'string' }, 'pcap': { type: 'string' }, 'pcap-max': { type: 'string' }, 'burst': { type: 'string' },
    'guest-mem': { type: 'string' }, 'workers': { type: 'string' }, 'idle': { type: 'string' }, 'socket-mode': { type: 'string' },
    'message-timeout': { type: 'string' }, 'message-rate': { type: 'string' }, 'state': { type: 'string' }, 'json': { type: 'boolean' },
    'viz': { type: 'string' }, 'viz-rate': { type: 'string' }, 'iommu': { type: 'boolean' },
    'help': { type: 'boolean', short: 'h' },
  });
  if (values.help) return { kind: 'help', topic: 'vhost' };
  const str = (k: string): string | undefined => stringFlag(values, k);
  const socket = str('socket');
  const client = values.client === true;
  if (socket === undefined || socket === '') throw new UsageError('--socket PATH is required');
  const fwd = oneOf<FwdMode>(FWD_MODES)('--fwd', str('fwd') ?? VHOST_DEFAULTS.fwd);
  const duration = durationFlag(str('duration'));
  const pcap = str('pcap');
  if (pcap === '') throw new UsageError('--pcap expects a file name');
  if (str('pcap-max') !== undefined && pcap === undefined) throw new UsageError('--pcap-max needs --pcap');
  const queues = str('queues') === undefined ? VHOST_DEFAULTS.queues : wholeNumber('--queues', str('queues')!, { min: 1, max: MAX_QUEUES });
  const workers = str('workers') === undefined ? VHOST_DEFAULTS.workers : wholeNumber('--workers', str('workers')!, { min: 1, max: MAX_QUEUES });
  if (workers > queues) throw new UsageError(`--workers ${workers} is more than the ${queues} queue pair${queues > 1 ? 's' : ''} to serve`);
  if (pcap !== undefined && workers > 1) throw new UsageError('--pcap needs --workers 1 (one capture file, written by one worker)');
  const idle = oneOf<IdleMode>(IDLE_MODES)('--idle', str('idle') ?? VHOST_DEFAULTS.idle);
  const mode = str('socket-mode');
  if (mode !== undefined && !/^0?[0-7]{3}$/.test(mode)) throw new UsageError(`--socket-mode expects octal permissions such as 600 or 0660, got '${mode}'`);
  if (mode !== undefined && client) throw new UsageError('--socket-mode applies to the socket the back-end listens on, not with --client');
  const stateArg = str('state');
  if (stateArg === '') throw new UsageError('--state expects a file name, or none');
  const state = stateArg === 'none' ? undefined : stateArg ?? stateFileFor(socket);
  return {
    kind: 'vhost',
    json: values.json === true,
    options: {
      socket, client, fwd, duration, pcap, state, iommu: values.iommu === true,
      ...parseVizFlags(str('viz'), str('viz-rate')),
      queues, workers, idle, socketMode: mode === undefined ? VHOST_DEFAULTS.socketMode : parseInt(mode, 8),
      messageTimeoutMs: str('message-timeout') === undefined ? VHOST_DEFAULTS.messageTimeoutMs
        : wholeNumber('--message-timeout', str('message-timeout')!, { min: 0, max: MAX_MESSAGE_TIMEOUT_MS }),
      messageRate: str('message-rate') === undefined ? VHOST_DEFAULTS.messageRate
        : wholeNumber('--message-rate', str('message-rate')!, { min: 0, max: MAX_MESSAGE_RATE }),
      pcapMax: str('pcap-max') === undefined ? VHOST_DEFAULTS.pcapMax : wholeNumber('--pcap-max', str('pcap-max')!, { min: 1, max: 2 ** 31 }),
      burst: str('burst') === undefined ? VHOST_DEFAULTS.burst : wholeNumber('--burst', str('burst')!, { min: 1, max: 256 }),
      guestMem: str('guest-mem') === undefined ? VHOST_DEFAULTS.guestMem : wholeNumber('--guest-mem', str('guest-mem')!, { min: 16, max: MAX_GUEST_MEM }),
    },
  };
}
