// `virtqueue vfio` flags -> VfioOptions (the rules of cli/common.ts: strict parseArgs, one-line
// UsageErrors, one integer parser).
import { FWD_MODES, type FwdMode } from '../../src/virtio-user/forward.js';
import { UsageError, parseFlags, stringFlag, wholeNumber, oneOf, durationFlag } from '../common.js';
import { MAX_QUEUES, type ForwardingOptions } from '../virtio-user/args.js';

export interface VfioOptions extends ForwardingOptions {
  /** The PCI function bound to vfio-pci. */
  device: string;
  /** Queue pairs (more than one: VIRTIO_NET_F_MQ). */
  queues: number;
  /** Dataplane workers running the queue pairs; 0: the main thread polls them. */
  workers: number;
  /** On DEVICE_NEEDS_RESET, reset the device and set it up again rather than stop. */
  recover: boolean;
}

export const VFIO_DEFAULTS = { queues: 1, workers: 0, fwd: 'io' as FwdMode, burst: 32, queueSize: 256, frameSize: 64 };

export interface VfioCommand { kind: 'vfio'; options: VfioOptions; json: boolean }

export function parseVfio(args: string[]): VfioCommand | { kind: 'help'; topic: 'vfio' } {
  const values = parseFlags(args, {
    'device': { type: 'string' }, 'packed': { type: 'boolean' }, 'queues': { type: 'string' }, 'workers': { type: 'string' },
    'fwd': { type: 'string' }, 'tx-first': { type: 'boolean' }, 'duration': { type: 'string' }, 'burst': { type: 'string' },
    'queue-size': { type: 'string' }, 'frame-size': { type: 'string' }, 'recover': { type: 'boolean' }, 'json': { type: 'boolean' }, 'help': { type: 'boolean', short: 'h' },
  });
  if (values.help) return { kind: 'help', topic: 'vfio' };
  const str = (k: string): string | undefined => stringFlag(values, k);
  const device = str('device');
  if (device === undefined || device === '') throw new UsageError('--device BDF is required (a PCI address bound to vfio-pci, e.g. 0000:00:01.0)');
  const queues = str('queues') === undefined ? VFIO_DEFAULTS.queues : wholeNumber('--queues', str('queues')!, { min: 1, max: MAX_QUEUES });
  const workers = str('workers') === undefined ? VFIO_DEFAULTS.workers : wholeNumber('--workers', str('workers')!, { min: 0, max: MAX_QUEUES });
  if (workers > queues) throw new UsageError(`--workers ${workers} is more than the ${queues} queue pair${queues > 1 ? 's' : ''} to poll`);
  const fwd = oneOf<FwdMode>(FWD_MODES)('--fwd', str('fwd') ?? VFIO_DEFAULTS.fwd);
  const txFirst = values['tx-first'] === true;
  if (txFirst && fwd !== 'io' && fwd !== 'macswap') throw new UsageError('--tx-first goes with --fwd io or macswap');
  const queueSize = str('queue-size') === undefined ? VFIO_DEFAULTS.queueSize : wholeNumber('--queue-size', str('queue-size')!, { min: 2, max: 256 });
  if ((queueSize & (queueSize - 1)) !== 0) throw new UsageError(`--queue-size ${queueSize} is not a power of two (the virtio-pci transport sets powers of two, VIRTIO 1.2 2.7)`);
  return {
    kind: 'vfio',
    json: values.json === true,
    options: {
      device, packed: values.packed === true, queues, workers, recover: values.recover === true, fwd, txFirst, duration: durationFlag(str('duration')), queueSize,
      frameSize: str('frame-size') === undefined ? VFIO_DEFAULTS.frameSize : wholeNumber('--frame-size', str('frame-size')!, { min: 64, max: 2048 }),
      burst: str('burst') === undefined ? VFIO_DEFAULTS.burst : wholeNumber('--burst', str('burst')!, { min: 1, max: 256 }),
    },
  };
}
