// Mempool occupancy for the visualizer: the pool's own statistics (src/dataplane/mempool.ts),
// which only read (a free count and each cache's counters, each read whole).
import { Mempool } from '../dataplane/mempool.js';
import type { Engine } from '../engine.js';
import type { PoolSnapshot, PoolSource } from './snapshot.js';

export function snapshotPool(engine: Engine, src: PoolSource): PoolSnapshot {
  try {
    const s = Mempool.attach(engine, src.addr).stats();
    return { name: src.name, addr: src.addr, size: s.size, free: s.free, inUse: s.inUse, ring: s.ring, caches: s.caches, error: null };
  } catch (e) {
    return { name: src.name, addr: src.addr, size: 0, free: 0, inUse: 0, ring: 0, caches: [], error: e instanceof Error ? e.message : String(e) };
  }
}
