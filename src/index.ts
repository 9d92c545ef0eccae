// Public, browser-safe API. Node-only helpers (finding the engine on disk) are in ./node.js.
export { Engine, type EngineExports } from './engine.js';
export { createSharedMemory, MemoryPlan, WASM_PAGE, type Allocation } from './memory.js';
export { ChainBatch, UsedBatch } from './virtqueue/batch.js';
export {
  SplitDriver, SplitDevice, allocSplitRing, identityRegion, validQueueSize,
  type SplitRingAddrs, type SplitDriverOptions, type SplitDeviceOptions, type Region,
} from './virtqueue/split.js';
export { VirtqueueError, ERRORS, type ErrorInfo } from './errors.js';
export {
  RING_FEATURES, FEATURES, SUPPORTED, featureWords, featureNames, featuresFromNames, featureProblems,
  negotiate, has, bit, FeatureError, type FeatureSet,
} from './features.js';
export {
  PackedDriver, PackedDevice, allocPackedRing, validPackedQueueSize,
  type PackedDriverOptions, type PackedDeviceOptions,
} from './virtqueue/packed.js';
export { QueueSide, RegionTable, type RingAreas } from './virtqueue/queue-side.js';
export * as layout from './virtqueue/layout.js';
export {
  allocRing, createDriver, createDevice, RING_LAYOUTS,
  type RingLayout, type RingSpec, type DriverOptions, type DeviceOptions,
} from './virtqueue/factory.js';
export type { DriverQueue, DeviceQueue } from './virtqueue/queue-side.js';
export { inflightRegionSize, type InflightOptions, type InflightRecovery } from './virtqueue/inflight.js';
export type { DirtyLogOptions } from './virtqueue/dirty-log.js';
export {
  HandleRing, HandleBurst, ringBytes, type RingOptions, type ProducerMode, type ConsumerMode, type RingWait,
} from './dataplane/handle-ring.js';
export { Mempool, MempoolCache, type MempoolOptions, type MempoolStats, type CacheStats } from './dataplane/mempool.js';
export { DataplaneControl, WorkerState, type WorkerStats } from './dataplane/control.js';
export { RingWake } from './dataplane/handle-ring-wake.js';
export { IDLE_MODES, type IdleMode, type IdleOptions } from './dataplane/idle.js';
export type { Task, TaskContext, TaskModule, TaskSpec } from './dataplane/task.js';
