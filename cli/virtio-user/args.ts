// `virtqueue virtio-user` flags -> VirtioUserOptions (the rules of cli/common.ts: strict parseArgs,
// one-line UsageErrors, one integer parser).
import { FWD_MODES, type FwdMode } from '../../src/virtio-user/forward.js';
import { UsageError, parseFlags, stringFlag, wholeNumber, oneOf, durationFlag } from '../common.js';

/** What a forwarding run takes, whatever reaches the device (`virtqueue virtio-user`, `virtqueue vfio`). */
export interface ForwardingOptions {
  packed: boolean;
  fwd: FwdMode;
  /** io and macswap: send one burst per queue pair first (testpmd --tx-first). */
  txFirst: boolean;
  /** Seconds; undefined: until SIGINT or SIGTERM. */
  duration?: number;
  burst: number;
  queueSize: number;
  /** txonly frames' length without FCS. */
  frameSize: number;
}

export interface VirtioUserOptions extends ForwardingOptions {
  socket: string;
  server: boolean;
  queues: number;
  workers: number;
}

export const VIRTIO_USER_DEFAULTS = { queues: 1, workers: 1, fwd: 'io' as FwdMode, burst: 32, queueSize: 256, frameSize: 64 };
export const MAX_QUEUES = 16;

export interface VirtioUserCommand { kind: 'virtio-user'; options: VirtioUserOptions; json: boolean }

export function parseVirtioUser(args: string[]): VirtioUserCommand | { kind: 'help'; topic: 'virtio-user' } {
  const values = parseFlags(args, {
    'socket': { type: 'string' }, 'server': { type: 'boolean' }, 'queues': { type: 'string' }, 'packed': { type: 'boolean' },
    'workers': { type: 'string' }, 'fwd': { type: 'string' }, 'tx-first': { type: 'boolean' }, 'duration': { type: 'string' },
    'burst': { type: 'string' }, 'queue-size': { type: 'string' }, 'frame-size': { type: 'string' }, 'json': { type: 'boolean' }, 'help': { type: 'boolean', short: 'h' },
  });
  if (values.help) return { kind: 'help', topic: 'virtio-user' };
  const str = (k: string): string | undefined => stringFlag(values, k);
  const socket = str('socket');
  if (socket === undefined || socket === '') throw new UsageError('--socket PATH is required');
  const fwd = oneOf<FwdMode>(FWD_MODES)('--fwd', str('fwd') ?? VIRTIO_USER_DEFAULTS.fwd);
  const duration = durationFlag(str('duration'));
  const queues = str('queues') === undefined ? VIRTIO_USER_DEFAULTS.queues : wholeNumber('--queues', str('queues')!, { min: 1, max: MAX_QUEUES });
  const workers = str('workers') === undefined ? VIRTIO_USER_DEFAULTS.workers : wholeNumber('--workers', str('workers')!, { min: 0, max: MAX_QUEUES });
  if (workers > queues) throw new UsageError(`--workers ${workers} is more than the ${queues} queue pair${queues > 1 ? 's' : ''} to poll`);
  const txFirst = values['tx-first'] === true;
  if (txFirst && fwd !== 'io' && fwd !== 'macswap') throw new UsageError('--tx-first goes with --fwd io or macswap');
  const queueSize = str('queue-size') === undefined ? VIRTIO_USER_DEFAULTS.queueSize : wholeNumber('--queue-size', str('queue-size')!, { min: 2, max: 4096 });
  if (!values.packed && (queueSize & (queueSize - 1)) !== 0) throw new UsageError(`--queue-size ${queueSize} is not a power of two (split rings, VIRTIO 1.2 2.7)`);
  return {
    kind: 'virtio-user',
    json: values.json === true,
    options: {
      socket, server: values.server === true, queues, packed: values.packed === true, workers, fwd, txFirst, duration, queueSize,
      frameSize: str('frame-size') === undefined ? VIRTIO_USER_DEFAULTS.frameSize : wholeNumber('--frame-size', str('frame-size')!, { min: 64, max: 2048 }),
      burst: str('burst') === undefined ? VIRTIO_USER_DEFAULTS.burst : wholeNumber('--burst', str('burst')!, { min: 1, max: 256 }),
    },
  };
}
