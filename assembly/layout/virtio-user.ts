// virtio-user queue pair block (assembly/virtio-user/): the driver side of one virtio-net queue
// pair (VIRTIO 1.2 5.1.2: receiveqN, transmitqN) over mempool buffers, for the vhost-user
// front-end's port. The host reserves VUQ_SIZE bytes (VUQ_ALIGN aligned) and the burst arrays it
// points to, writes the configuration fields, and the engine's vuq* exports move whole bursts:
// receive buffers posted, used ones turned into handles with their data offset and length set,
// handles sent as one-descriptor chains (the 12-byte virtio_net_hdr, 5.1.6.1, in the headroom
// right before the data). A chain's token is its buffer's handle. Used by one thread at a time.
//
//   0   kind       VUQ_KIND_MAGIC
//   4   rxDrv      control block of receiveqN (driver side)
//   8   txDrv      control block of transmitqN (driver side)
//   12  pool       mempool header
//   16  cache      the mempool cache slot of the thread that runs the pair
//   20  dataOff    data offset of a posted receive buffer (BUF_HDR_SIZE + headroom), >= hdr + BUF_HDR_SIZE
//   24  room       writable bytes of a receive buffer (header + dataRoom)
//   28  num        Queue Size of both rings
//   32  chains     chain records, num of them (refill and transmit build bursts here)
//   36  segs       segments, num of them
//   40  used       used records, num of them
//   44  handles    num handle slots (scratch)
//   48  events     out: VUQ_EV_* of the last call (kicks wanted)
//   52  failedCb   the control block (or pool) of the last error, for its detail
//   56  state      host -> worker (Atomics): VUQ_STATE_STOPPED or VUQ_STATE_RUNNING. Only a
//                  worker that runs the pair reads it (a pair polled by the host thread itself
//                  ignores it). [publish] the host's store, after refilling a running pair or
//                  before reclaiming a stopped one
//   60  ack        worker -> host (Atomics): the state the worker last saw, or VUQ_STATE_FAILED
//                  after a call failed (it then leaves the pair alone until it is stopped).
//                  [consume] the host reclaims a pair's buffers only once ack is STOPPED
//   64  status     the failed call's error code (written before ack = FAILED)
//   68  rxKickFd   eventfd of receiveqN's kicks (what a worker signals for VUQ_EV_KICK_RX)
//   72  txKickFd   eventfd of transmitqN's kicks
//   76  mergeable  1 when VIRTIO_NET_F_MRG_RXBUF was negotiated (a frame may span receive buffers, 5.1.6.4)
//   80  pendHead   a received frame whose buffers have not all been collected yet: its first
//   84  pendTail   buffer, its last one so far, and how many buffers it still lacks (pendLeft);
//   88  pendLeft   0 when none
//   92  fwdSent    out: frames the last vuqForward sent back (the rest of what it received was freed)
//   96  stash      used records (num of them) of receiveqN collected but not yet turned into frames:
//   100 stashAt    with VIRTIO_F_IN_ORDER one used entry may cover a run of buffers (2.7.9, 2.8.8);
//   104 stashLeft  a run longer than the caller's max is collected whole into the stash and handed
//                  out over the next calls, from record stashAt on, stashLeft of them (0: empty)
//   128 counters   u64 each: 128 rxPackets 136 rxBytes 144 rxDropped (frames over several
//                  buffers, or shorter than the header) 152 rxNoBuffers (refills the pool could
//                  not serve) 160 txPackets 168 txBytes 176 txFull (handles refused: ring full)
//                  184 kicks (kept by the host: it signals the eventfds)
//   192 .. 255 reserved
export const VUQ_KIND_MAGIC = 0x5655;
export const VUQ_KIND = 0;
export const VUQ_RX_DRV = 4;
export const VUQ_TX_DRV = 8;
export const VUQ_POOL = 12;
export const VUQ_CACHE = 16;
export const VUQ_DATA_OFF = 20;
export const VUQ_ROOM = 24;
export const VUQ_NUM = 28;
export const VUQ_CHAINS = 32;
export const VUQ_SEGS = 36;
export const VUQ_USED = 40;
export const VUQ_HANDLES = 44;
export const VUQ_EVENTS = 48;
export const VUQ_FAILED_CB = 52;
export const VUQ_STATE = 56;
export const VUQ_ACK = 60;
export const VUQ_STATUS = 64;
export const VUQ_RX_KICK_FD = 68;
export const VUQ_TX_KICK_FD = 72;
export const VUQ_MERGEABLE = 76;
export const VUQ_PEND_HEAD = 80;
export const VUQ_PEND_TAIL = 84;
export const VUQ_PEND_LEFT = 88;
export const VUQ_FWD_SENT = 92;
export const VUQ_STASH = 96;
export const VUQ_STASH_AT = 100;
export const VUQ_STASH_LEFT = 104;
export const VUQ_STATE_STOPPED = 0;
export const VUQ_STATE_RUNNING = 1;
export const VUQ_STATE_FAILED = 2;
export const VUQ_RX_PACKETS = 128;
export const VUQ_RX_BYTES = 136;
export const VUQ_RX_DROPPED = 144;
export const VUQ_RX_NO_BUFFERS = 152;
export const VUQ_TX_PACKETS = 160;
export const VUQ_TX_BYTES = 168;
export const VUQ_TX_FULL = 176;
export const VUQ_KICKS = 184;
export const VUQ_SIZE = 256;
export const VUQ_ALIGN = 64;
/** events: the receive ring wants a kick (buffers were posted and the device asked to be told). */
export const VUQ_EV_KICK_RX = 1;
/** events: the transmit ring wants a kick. */
export const VUQ_EV_KICK_TX = 2;
/** virtio_net_hdr with VERSION_1 (5.1.6.1): 12 bytes; num_buffers (u16) at 10. */
export const VUQ_NET_HDR_SIZE = 12;
export const VUQ_NET_HDR_NUM_BUFFERS = 10;

// A buffer's segment record, in the first bytes of its headroom (the port's mempool has headroom
// VUB_MIN_HEADROOM or more; the virtio_net_hdr takes the last 12): a frame is a chain of buffers
// (like DPDK's multi-segment mbufs). Every buffer the port hands out has it set.
//   BUF_HDR_SIZE + 0  next     handle of the frame's next buffer, 0 for the last
//   BUF_HDR_SIZE + 4  nbSegs   buffers in the frame (first buffer only)
//   BUF_HDR_SIZE + 8  pktLen   bytes in the frame, all buffers (first buffer only)
export const VUB_NEXT = 0;
export const VUB_NB_SEGS = 4;
export const VUB_PKT_LEN = 8;
export const VUB_SIZE = 12;
export const VUB_MIN_HEADROOM = 24;
