// The virtio-net device model for the vhost-user back-end: queue pairs, forwarding modes, the
// polling loop and the pcap writer.
export { NetDevice, type NetDeviceOptions } from './device.js';
export { QueuePair, FWD_MODES, type FwdMode, type PairCounters } from './queue-pair.js';
export { Poller, type PollerOptions } from './poller.js';
export { PcapWriter, PCAP_MAGIC, LINKTYPE_ETHERNET } from './pcap.js';
export { NET_HDR_SIZE, netHdrSize, fillRxHeader } from './header.js';
export { txonlyFrame, macSwap, TXONLY_FRAME_SIZE } from './frames.js';
