// The vhost-user back-end (Linux, Node; needs the native bridge): wire layer, guest memory,
// vrings and their handoff to worker threads, the device model interface, the per-connection
// session and the server. Import from here; src/index.ts never does.
export * as protocol from './protocol.js';
export { ProtocolError, type Message, type MemRegion, type VringAddr } from './message.js';
export { MessageReader } from './reader.js';
export { GuestMemory, GuestMemoryError } from './guest-memory.js';
export { memoryTableProblem, placeRegions, translateUser, type MemoryWindow, type PlacedRegion } from './memory-table.js';
export {
  Vring, vringAreas, vringNumProblem, vringBase, vringBaseProblem, packedBaseToPosition, buildRingDevice, MAX_VRING_NUM,
  type RingDeviceSpec,
} from './vring.js';
export { RingSlots, RING_SLOT_BYTES } from './ring-slots.js';
export type { VhostUserDevice, StartedVring } from './device-model.js';
export { HandoffWriter, HandoffReader, HandoffTimeout, HANDOFF_SIZE, type VringState } from './handoff.js';
export { VhostUserBackend, BACKEND_PROTOCOL_FEATURES, type BackendOptions, type Reply } from './backend.js';
export {
  InflightTracking, InflightWindow, inflightWindowBytes, readInflight, inflightPayload, INFLIGHT_PAYLOAD_SIZE,
  type InflightSpace, type InflightDescription,
} from './inflight.js';
export { InflightStateFile, type RingIdentity, type StateRecord } from './inflight-state.js';
export { VhostUserConnection } from './connection.js';
export { VhostUserServer, type VhostUserServerOptions, type ClientModeOptions } from './server.js';
