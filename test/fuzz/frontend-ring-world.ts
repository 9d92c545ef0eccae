// The world of the front-end used-ring target: one virtio-user queue pair (PortQueue, the rings
// and mempool the port drives) in a memory of its own, with no socket peer: the engine's device
// over each ring plays the back-end, honestly (frontend-ring-target.ts) or not. Worlds are built
// once per (layout, Queue Size, ring features) and reused by every case (a case ends with the pair reclaimed
// and its rings reset, as the port does when a back-end goes away).
import { createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, FEATURES, type Engine, type RingLayout } from '../../src/index.js';
import { loadEngine } from '../../src/node.js';
import { createDevice } from '../../src/virtqueue/factory.js';
import type { DeviceQueue } from '../../src/virtqueue/queue-side.js';
import { Mempool } from '../../src/dataplane/mempool.js';
import { HandleBurst } from '../../src/dataplane/handle-ring.js';
import { PortQueue } from '../../src/virtio-user/queue.js';

const MiB = 1 << 20;
/** Data bytes per buffer: small, so that frames often span buffers (MRG_RXBUF). */
export const DATA_ROOM = 256;

/** The ring features a world negotiates on both rings (the port asks for both by default). */
export interface RingFeatures {
  /** VIRTIO_F_IN_ORDER: one used entry may cover a run of buffers (2.7.9, 2.8.8). */
  inOrder: boolean;
  /** VIRTIO_F_EVENT_IDX: used_event / avail_event suppress notifications (2.7.7, 2.7.10, 2.8.10). */
  eventIdx: boolean;
}

/** The feature bits of (layout, ring features). */
export function worldFeatures(layout: RingLayout, ring: RingFeatures): bigint {
  return FEATURES.VERSION_1 | (layout === 'packed' ? FEATURES.RING_PACKED : 0n)
    | (ring.inOrder ? FEATURES.IN_ORDER : 0n) | (ring.eventIdx ? FEATURES.EVENT_IDX : 0n);
}

/** One ring of the pair as the fuzzer's device sees it. */
export interface DeviceRing {
  name: 'rx' | 'tx';
  device: DeviceQueue;
  popped: ChainBatch;
  used: UsedBatch;
}

export class FrontendRingWorld {
  readonly rx: DeviceRing;
  readonly tx: DeviceRing;
  /** Bursts for the caller's side: received frames, frames to send, frames to free. */
  readonly out: HandleBurst;
  readonly send: HandleBurst;
  readonly spare: HandleBurst;

  private constructor(readonly engine: Engine, readonly layout: RingLayout, readonly num: number, readonly features: RingFeatures,
                      readonly pool: Mempool, readonly q: PortQueue, priv: MemoryPlan) {
    const bits = worldFeatures(layout, features);
    const ring = (name: 'rx' | 'tx'): DeviceRing => ({
      name,
      device: createDevice(engine, priv, layout, (name === 'rx' ? q.rx : q.tx).areas, { features: bits }),
      popped: new ChainBatch(engine, priv, num, num),
      used: new UsedBatch(engine, priv, num),
    });
    this.rx = ring('rx');
    this.tx = ring('tx');
    this.out = HandleBurst.alloc(engine, priv, num);
    this.send = HandleBurst.alloc(engine, priv, Math.max(num, 16));
    this.spare = HandleBurst.alloc(engine, priv, pool.size);
  }

  static create(layout: RingLayout, num: number, ring: RingFeatures): FrontendRingWorld {
    const poolSize = 3 * num + 8;
    const shared = Math.ceil((poolSize * (DATA_ROOM + 256) + 2 * (num * 24 + 8192) + MiB) / MiB) * MiB;
    const privBytes = 4 * MiB;
    const memory = createSharedMemory(privBytes + shared);
    const engine = loadEngine(memory);
    const sharedPlan = new MemoryPlan(engine.memory, { start: privBytes, end: privBytes + shared });
    const priv = new MemoryPlan(engine.memory, { start: 64 * 1024, end: privBytes });
    const pool = Mempool.create(engine, sharedPlan, { size: poolSize, dataRoom: DATA_ROOM, headroom: 64, caches: 1, cacheSize: 0 });
    const q = new PortQueue(0, engine, sharedPlan, priv, layout, num, worldFeatures(layout, ring), pool, pool.cache(0));
    return new FrontendRingWorld(engine, layout, num, ring, pool, q, priv);
  }

  /** As the port does for a new back-end: fresh rings on both sides, the receive ring filled. */
  restart(): void {
    this.q.resetRings();
    this.rx.device.reset();
    this.tx.device.reset();
  }

  close(): void {
    this.q.close();
  }
}

const worlds = new Map<string, FrontendRingWorld>();

/** The world for (layout, num, ring features), built on first use. */
export function frontendRingWorld(layout: RingLayout, num: number, ring: RingFeatures): FrontendRingWorld {
  const key = `${layout}/${num}/${ring.inOrder ? 'in-order' : 'any-order'}/${ring.eventIdx ? 'event-idx' : 'flags'}`;
  let w = worlds.get(key);
  if (!w) worlds.set(key, w = FrontendRingWorld.create(layout, num, ring));
  return w;
}

/** Closes every world built (their eventfds). */
export function closeFrontendRingWorlds(): void {
  for (const w of worlds.values()) w.close();
  worlds.clear();
}
