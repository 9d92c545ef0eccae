// What a queue-pair port is built on, whatever reaches its device (vhost-user's VirtioUserPort,
// VFIO's VfioNetPort): one shared Wasm memory, private state below PRIVATE_BYTES, then a memfd
// mapped over the rest, which holds the rings and the mempool's buffers and is the only part the
// device is given (SET_MEM_TABLE; a VFIO DMA mapping). The queue pairs are PortQueues over it.
import { createSharedMemory, MemoryPlan } from '../memory.js';
import { loadEngine } from '../node.js';
import { memfdCreate, mapIntoMemory, close } from '../native/index.js';
import { Mempool } from '../dataplane/mempool.js';
import type { Engine } from '../engine.js';
import type { FeatureSet } from '../features.js';
import type { RingLayout } from '../virtqueue/factory.js';
import { portSizes, type PortSizing } from './options.js';
import { PortQueue, type PairLinks } from './queue.js';

/** Bytes of the memory below the shared part: control blocks, shadows, bursts (never the device's). */
export const PRIVATE_BYTES = 16 << 20;

export interface PortMemory {
  engine: Engine;
  /** The memfd mapped at [offset, offset + size) of the memory. */
  memfd: number;
  offset: number;
  size: number;
}

/** A fresh memory with its shared part backed by a new memfd (named `name`, sized by portSizes). */
export function createPortMemory(opts: PortSizing, name: string): PortMemory {
  const { shared } = portSizes(opts);
  const memory = createSharedMemory(PRIVATE_BYTES + shared);
  const engine = loadEngine(memory);
  const fd = memfdCreate(name, shared);
  try {
    mapIntoMemory(memory, PRIVATE_BYTES, fd, 0, shared);
  } catch (e) {
    close(fd);
    throw e;
  }
  return { engine, memfd: fd, offset: PRIVATE_BYTES, size: shared };
}

export interface PortRings {
  /** Plans of the shared part (rings, pool) and of the private one (control blocks, bursts). */
  shared: MemoryPlan;
  priv: MemoryPlan;
  pool: Mempool;
  queues: PortQueue[];
}

/**
 * The mempool and the queue pairs (rings built with `features`), pair k's rings linked to their
 * device by `links(k)` (default: vhost-user's: Wasm offsets, kick eventfds).
 */
export function buildPortRings(m: PortMemory, opts: PortSizing, layout: RingLayout, features: FeatureSet,
                               links: (k: number) => PairLinks = () => ({})): PortRings {
  const { pairs, num, dataRoom, poolSize, workers } = portSizes(opts);
  const { engine } = m;
  const shared = new MemoryPlan(engine.memory, { start: m.offset, end: m.offset + m.size });
  const priv = new MemoryPlan(engine.memory, { start: 64 * 1024, end: PRIVATE_BYTES });
  const pool = Mempool.create(engine, shared, {
    size: poolSize, dataRoom, headroom: 64,
    caches: workers + 1, cacheSize: workers > 0 ? 32 : 0, ringWait: workers > 0 ? 'sleep' : undefined,
  });
  const cache = pool.cache(0);
  const queues = Array.from({ length: pairs }, (_, k) => new PortQueue(k, engine, shared, priv, layout, num, features, pool, cache, links(k)));
  return { shared, priv, pool, queues };
}
