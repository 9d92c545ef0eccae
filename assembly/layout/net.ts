// virtio-net queue pair block (assembly/net/): the device side of one queue pair's data path
// (VIRTIO 1.2 5.1.2: receiveqN and transmitqN). The host reserves NETQ_SIZE bytes (NETQ_ALIGN
// aligned) and the burst arrays it points to, writes the configuration fields and attaches the
// two queues' device control blocks; the engine's net exports then move whole bursts of frames
// with one call each. Like a queue control block, a block is used by one thread at a time.
//
//   0   kind       NETQ_KIND
//   4   txDev      control block of transmitqN (device side), 0 = not attached
//   8   rxDev      control block of receiveqN (device side), 0 = not attached
//   12  hdrSize    virtio_net_hdr bytes (5.1.6: 12, or 10 for a legacy device without MRG_RXBUF)
//   16  options    NETQ_OPT_*
//   20  burst      most transmit chains per netForward call (<= txMaxChains)
//   24  maxFrame   longest frame taken from transmitqN (bytes after the header)
//   28  events     out: NETQ_EV_* bits of the last call (interrupts wanted, queues broken)
//   32  txChains   chain records for transmit pops     36 txMaxChains
//   40  txSegs     segments for transmit pops           44 txMaxSegs
//   48  rxChains   chain records for receive pops      52 rxMaxChains
//   56  rxSegs     segments for receive pops            60 rxMaxSegs
//   64  txUsed     used records, txMaxChains of them
//   68  rxUsed     used records, rxMaxChains of them
//   72  held       with NETQ_OPT_HOLD_TX: transmit chains the last netForward left for netTxComplete
//   76  status     0, or the code of the last error a call met (the queue it names is broken)
//   80  rxPopped   during a call: receive chains popped into rxChains
//   84  rxTaken    during a call: how many of them frames took (always a prefix; the rest are
//                  given back unused before the call returns)
//   96  scratch    32 bytes: +0 the receive header being written, +12 a frame's first 12 bytes
//                  with the MACs swapped, +24 the one segment of an injected frame
//   128 counters   u64 each, from the device's side (rx = taken from the front-end's transmitq,
//                  tx = delivered to its receiveq):
//       128 rxPackets  136 rxBytes  144 txPackets  152 txBytes
//       160 dropped   frames not delivered: no receive buffer, or too big for one without MRG_RXBUF
//       168 txErrors  transmit chains too short for the header or longer than maxFrame
//       176 rxErrors  receive buffers with nothing device-writable (returned used with len 0)
//       184 txCalls   bursts after which the front-end wanted an interrupt on transmitqN
//       192 rxCalls   the same on receiveqN
//   208 kicks      u64 each, kept by the host thread that watches the kick eventfds (a cache line
//                  the data path never writes): 208 txKicks  216 rxKicks
//   224 .. 255     reserved
export const NETQ_KIND_MAGIC = 0x4e45;
export const NETQ_KIND = 0;
export const NETQ_TX_DEV = 4;
export const NETQ_RX_DEV = 8;
export const NETQ_HDR_SIZE = 12;
export const NETQ_OPTIONS = 16;
export const NETQ_BURST = 20;
export const NETQ_MAX_FRAME = 24;
export const NETQ_EVENTS = 28;
export const NETQ_TX_CHAINS = 32;
export const NETQ_TX_MAX_CHAINS = 36;
export const NETQ_TX_SEGS = 40;
export const NETQ_TX_MAX_SEGS = 44;
export const NETQ_RX_CHAINS = 48;
export const NETQ_RX_MAX_CHAINS = 52;
export const NETQ_RX_SEGS = 56;
export const NETQ_RX_MAX_SEGS = 60;
export const NETQ_TX_USED = 64;
export const NETQ_RX_USED = 68;
export const NETQ_HELD = 72;
export const NETQ_STATUS = 76;
export const NETQ_RX_POPPED = 80;
export const NETQ_RX_TAKEN = 84;
export const NETQ_SCRATCH = 96;
export const NETQ_SCRATCH_HDR = 96;
export const NETQ_SCRATCH_MAC = 108;
export const NETQ_SCRATCH_SEG = 120;
export const NETQ_RX_PACKETS = 128;
export const NETQ_RX_BYTES = 136;
export const NETQ_TX_PACKETS = 144;
export const NETQ_TX_BYTES = 152;
export const NETQ_DROPPED = 160;
export const NETQ_TX_ERRORS = 168;
export const NETQ_RX_ERRORS = 176;
export const NETQ_TX_CALLS = 184;
export const NETQ_RX_CALLS = 192;
export const NETQ_TX_KICKS = 208;
export const NETQ_RX_KICKS = 216;
export const NETQ_COUNTERS = 128;
/** Counters the engine keeps, from NETQ_COUNTERS on (rxPackets .. rxCalls). */
export const NETQ_NUM_COUNTERS = 9;
export const NETQ_SIZE = 256;
export const NETQ_ALIGN = 64;

/** With MRG_RXBUF (5.1.6.4): a frame may span several receive buffers. */
export const NETQ_OPT_MRG_RXBUF = 1;
/** Frames taken from transmitqN go out on receiveqN (testpmd's io). */
export const NETQ_OPT_FORWARD = 2;
/** With NETQ_OPT_FORWARD: swap destination and source MAC in the copy (testpmd's macswap). */
export const NETQ_OPT_MACSWAP = 4;
/** Transmit chains stay popped after netForward until netTxComplete (the host reads them first). */
export const NETQ_OPT_HOLD_TX = 8;

/** The front-end wants a used buffer notification on transmitqN / receiveqN. */
export const NETQ_EV_CALL_TX = 1;
export const NETQ_EV_CALL_RX = 2;
/** transmitqN / receiveqN broke during the call (its control block's status says why). */
export const NETQ_EV_BROKEN_TX = 4;
export const NETQ_EV_BROKEN_RX = 8;
/**
 * An IOTLB miss (layout/queue.ts CB_OPT_IOTLB) stopped the call on transmitqN / receiveqN: the
 * queue's DEV_MISS_IOVA says where. Nothing was lost: a transmit chain missing is not taken, and
 * a frame that found a receive buffer missing stays in its transmit chain, with the ones after it.
 */
export const NETQ_EV_MISS_TX = 16;
export const NETQ_EV_MISS_RX = 32;

/** Bytes of the virtio_net_hdr fields (5.1.6): num_buffers is the u16 at offset 10. */
export const NET_HDR_SIZE = 12;
export const NET_HDR_LEGACY_SIZE = 10;
export const NET_HDR_NUM_BUFFERS = 10;
