// What a device type plugs into the generic vhost-user back-end (the role of rust-vmm's
// VhostUserBackend trait). backend.ts keeps the protocol, guest memory and each vring's life;
// a device model supplies its features, its configuration space and device-specific requests,
// and runs the vrings it is handed (on the thread and in the way it likes: net/ hands them to
// Dataplane workers).
import type { FeatureSet } from '../features.js';
import type { DeviceQueue } from '../virtqueue/queue-side.js';
import type { RingLayout } from '../virtqueue/factory.js';

/** A vring that is ready to run, as handed to the device model. */
export interface StartedVring {
  index: number;
  layout: RingLayout;
  /** The engine's device side of the ring, in shared memory (its `cb` can go to another thread). */
  device: DeviceQueue;
  /** The negotiated virtio features. */
  features: FeatureSet;
  /** Eventfd to signal used buffers on; undefined: the front-end polls. */
  callFd: number | undefined;
}

export interface VhostUserDevice {
  /** Virtio feature bits offered (the back-end adds VHOST_USER_F_PROTOCOL_FEATURES). */
  readonly features: FeatureSet;
  /**
   * Protocol feature bits the device model needs on top of the ones the back-end itself
   * implements (for example MQ, NET_MTU, RARP; CONFIG only for a device with a config space
   * the front-end reads through the back-end).
   */
  readonly protocolFeatures: bigint;
  /** How many vrings the device has (GET_QUEUE_NUM and the range of vring indices). */
  readonly vrings: number;
  /** GET_QUEUE_NUM's answer (for virtio-net, queue pairs). Default: vrings. */
  readonly queueNum?: number;

  /** GET_CONFIG: bytes [offset, offset + size) of the configuration space, undefined when outside it. */
  readConfig?(offset: number, size: number): Uint8Array | undefined;
  /** SET_CONFIG: throws to refuse. Without it the space is read-only. */
  writeConfig?(offset: number, data: Uint8Array): void;

  /** A vring has everything it needs: the device starts serving it. */
  vringStarted(v: StartedVring): void;
  /**
   * The vring stops (GET_VRING_BASE, a disable, a new memory table, the end of the session).
   * When this returns nothing touches the ring or its device control block any more; the
   * device must have returned (or given back) every buffer it took.
   */
  vringStopped(index: number): void;
  /** SET_VRING_CALL on a running vring: signal `fd` from now on; the old fd is closed after this returns. */
  callChanged?(index: number, fd: number | undefined): void;
  /** The front-end kicked vring `index` (`count` kicks since the last report). */
  kicked?(index: number, count: number): void;

  /** NET_SET_MTU (virtio-net): throws to refuse. */
  setMtu?(mtu: number): void;
  /** SEND_RARP (virtio-net): announce this MAC, the guest moved here. */
  announce?(mac: Uint8Array): void;

  /**
   * The back-end's way for the device to end the current session (a worker failed): called with
   * a function when a session starts, with undefined when it ends.
   */
  bindSession?(end: ((reason: string) => void) | undefined): void;

  /**
   * With VIRTIO_F_ACCESS_PLATFORM: the back-end's way to hear of IOTLB misses the device's rings
   * met (a buffer at an IOVA its region table lacks; the chain was left available). Called with a
   * function when the feature is negotiated, with undefined when the session ends or it is not.
   */
  bindIotlbMiss?(miss: ((vring: number, iova: bigint) => void) | undefined): void;
}
