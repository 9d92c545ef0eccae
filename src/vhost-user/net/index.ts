// The virtio-net device model for the vhost-user back-end: the control plane (device.ts), the
// data path on Dataplane workers (worker-task.ts), the configuration space and the pcap writer.
// The data path itself is the engine's (src/virtio-net/).
export { NetDevice, MAX_QUEUE_PAIRS, type NetDeviceOptions, type NetDeviceStats } from './device.js';
export { PcapWriter, PCAP_MAGIC, LINKTYPE_ETHERNET } from './pcap.js';
export { readNetConfig, netConfigBytes, NET_CONFIG_SIZE, NET_S_LINK_UP, type NetConfig } from './config.js';
export { NET_MODES, type NetMode, type NetCounters } from '../../virtio-net/queue-pair.js';
