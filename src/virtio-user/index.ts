// The virtio-user port (Node only): a virtio-net driver whose rings and buffers live in a memfd
// handed to a vhost-user back-end, with burst and convenience packet I/O.
export { VirtioUserPort, type VirtioUserPortOptions } from './port.js';
export { NET_HDR_SIZE, type QueueStats } from './queue.js';
export { Forwarder, FWD_MODES, type FwdMode } from './forward.js';
export type { PacketPort } from './packet-port.js';
export { FrontendError } from '../vhost-user/frontend-channel.js';
