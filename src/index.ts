// Public, browser-safe API. Node-only helpers (finding the engine on disk) are in ./node.js.
export { Engine, type EngineExports } from './engine.js';
export { createSharedMemory, MemoryPlan, WASM_PAGE, type Allocation } from './memory.js';
export { ChainBatch, UsedBatch } from './batch.js';
export {
  SplitDriver, SplitDevice, allocSplitRing, identityRegion, validQueueSize,
  type SplitRingAddrs, type SplitDriverOptions, type SplitDeviceOptions, type Region,
} from './split.js';
export { VirtqueueError, ERRORS, type ErrorInfo } from './errors.js';
export { RING_FEATURES, featureWords, has, bit, type FeatureSet } from './features.js';
export * as layout from './layout.js';
