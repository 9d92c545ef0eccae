// `virtqueue vhost --viz PORT`: the frame sampler of a running back-end. Each started vring's
// device control block is in the back-end's private memory and its ring is in the guest memory
// mapped into the same shared memory, so the main thread reads both in place; the driver's side
// belongs to the front-end (no control block here: the snapshot places what the device knows).
import type { QueueSource } from '../../src/viz/snapshot.js';
import { captureImage } from '../../src/viz/ring-image.js';
import type { Engine } from '../../src/engine.js';
import type { NetDevice } from '../../src/vhost-user/net/device.js';
import type { FrameSample } from './live-stream.js';

/** virtio-net's name of vring `index` (VIRTIO 1.2 §5.1.2): receiveq1, transmitq1, receiveq2, ... */
export const netQueueName = (index: number): string => `${index % 2 === 0 ? 'receiveq' : 'transmitq'}${(index >> 1) + 1}`;

export function vhostSampler(engine: Engine, device: NetDevice): () => FrameSample {
  return () => {
    const queues: QueueSource[] = device.startedVrings().map((v) => ({
      name: netQueueName(v.index), layout: v.layout, areas: v.device.areas, deviceCb: v.device.cb,
    }));
    const stats = device.stats();
    return {
      image: captureImage(engine, queues),
      workers: stats.workers,
      counters: Object.fromEntries(stats.pairs.map((c, k) => [`pair${k}`, { ...c }])),
    };
  };
}
