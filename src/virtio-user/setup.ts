// One back-end set up for the port's queue pairs: features and memory negotiated by
// VhostUserFrontend, then each pair's rings fresh and handed over (SET_VRING_*), vring 2k the
// receiveq, 2k+1 the transmitq (VIRTIO 1.2 5.1.2).
import { FEATURES } from '../features.js';
import { VhostUserFrontend } from '../vhost-user/frontend.js';
import type { FrontendChannel } from '../vhost-user/frontend-channel.js';
import type { RingLayout } from '../virtqueue/factory.js';
import type { PortQueue } from './queue.js';

export interface BackendSetup {
  memory: { fd: number; offset: number; size: number };
  layout: RingLayout;
  queues: PortQueue[];
  /** Ask for VIRTIO_NET_F_MRG_RXBUF. */
  mergeable: boolean;
  /** Ask for VIRTIO_F_IN_ORDER and VIRTIO_F_EVENT_IDX (the rings were built with them). */
  inOrder: boolean;
  eventIdx: boolean;
}

/** Negotiates with the back-end on `channel` and sets every ring up; the front-end, ready for traffic. */
export async function setUpBackend(channel: FrontendChannel, s: BackendSetup): Promise<VhostUserFrontend> {
  const fe = await VhostUserFrontend.start(channel, {
    memory: s.memory, layout: s.layout, pairs: s.queues.length,
    features: (s.mergeable ? FEATURES.NET_MRG_RXBUF : 0n) | (s.inOrder ? FEATURES.IN_ORDER : 0n) | (s.eventIdx ? FEATURES.EVENT_IDX : 0n),
  });
  for (const q of s.queues) q.setMergeable((fe.negotiated.features & FEATURES.NET_MRG_RXBUF) !== 0n);
  // A fresh ring: split 0; packed slot 0 with wrap counter 1, the available half only, as
  // DPDK's virtio-user sends it (vring.ts: no used half means used = available). A back-end
  // with its own state of the ring (ours, its state file) then knows the ring starts afresh.
  const base = s.layout === 'packed' ? 0x8000 : 0;
  for (const q of s.queues) {
    q.resetRings(fe.negotiated.features);
    for (const [index, r] of [[2 * q.index, q.rx], [2 * q.index + 1, q.tx]] as const) {
      r.driver.disableInterrupts();
      await fe.setupVring({ index, areas: r.areas, base, kickFd: r.kick.fd, callFd: r.call.fd });
    }
  }
  return fe;
}
