// The vhost-user back-end (Linux, Node; needs the native bridge): wire layer, guest memory,
// the per-connection session and the server. Import from here; src/index.ts never does.
export * as protocol from './protocol.js';
export { ProtocolError, type Message, type MemRegion, type VringAddr } from './message.js';
export { MessageReader } from './reader.js';
export { GuestMemory, GuestMemoryError } from './guest-memory.js';
export { memoryTableProblem, placeRegions, translateUser, type MemoryWindow, type PlacedRegion } from './memory-table.js';
export { vringAreas, vringNumProblem, MAX_VRING_NUM } from './vring-areas.js';
export { RingSlots, RING_SLOT_BYTES } from './ring-slots.js';
export { buildRingDevice, ringDeviceBase, type RingDeviceSpec } from './ring-device.js';
export { readNetConfig, netConfigBytes, NET_CONFIG_SIZE, NET_S_LINK_UP, type NetConfig } from './net-config.js';
export { VhostUserBackend, OFFERED_PROTOCOL_FEATURES, type BackendOptions, type BackendListener, type ReadyRing } from './backend.js';
export { VhostUserConnection } from './connection.js';
export { VhostUserServer, type VhostUserServerOptions, type ClientModeOptions } from './server.js';
