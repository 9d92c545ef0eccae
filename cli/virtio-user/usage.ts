// Help text of `virtqueue virtio-user`.
import { VIRTIO_USER_DEFAULTS, MAX_QUEUES } from './args.js';

export const VIRTIO_USER_USAGE = `Usage: virtqueue virtio-user --socket PATH [options]

Runs a virtio-net driver over vhost-user (a front-end, as DPDK's virtio-user): its rings and
buffers live in a memfd that the back-end (DPDK testpmd's net_vhost, OVS-DPDK, VPP, or
'virtqueue vhost') maps with SET_MEM_TABLE. It forwards frames like testpmd's forwarding modes.
When the back-end goes away, every buffer in flight returns to the pool and the port sets
everything up again when it comes back.

Options:
  --socket PATH     the back-end's vhost-user socket (required)
  --server          listen at PATH for the back-end to connect (its client mode) instead of
                    connecting to it
  --queues N        queue pairs, 1 to ${MAX_QUEUES} (more than 1 needs the back-end's protocol
                    feature MQ) (default ${VIRTIO_USER_DEFAULTS.queues})
  --packed          packed rings (VIRTIO_F_RING_PACKED) instead of split rings
  --workers N       Dataplane worker threads polling the queue pairs, 0 to --queues; pair k goes
                    to worker k mod N; 0: the main thread polls them itself (default ${VIRTIO_USER_DEFAULTS.workers})
  --fwd MODE        txonly: send 64-byte Ethernet/IPv4/UDP frames as fast as the rings take them
                    rxonly: frames received are counted and freed
                    io: frames received go back on the same queue pair
                    macswap: the same, destination and source MAC swapped
                    (default ${VIRTIO_USER_DEFAULTS.fwd})
  --tx-first        with io or macswap: send one burst per queue pair first
  --duration S      run S seconds, then print the summary and exit (default: until SIGINT or
                    SIGTERM, which also print the summary)
  --burst N         frames per burst, 1 to 256 (default ${VIRTIO_USER_DEFAULTS.burst})
  --queue-size N    entries per ring (default ${VIRTIO_USER_DEFAULTS.queueSize})
  --frame-size N    txonly frames' length without FCS, 64 to 2048: the 64-byte UDP frame padded
                    with zeros (default ${VIRTIO_USER_DEFAULTS.frameSize})
  --json            print the summary as one JSON object (the last line of stdout)
  -h, --help        show this help

Counters are the driver's: rx = frames received from the back-end, tx = frames sent to it;
dropped = frames the transmit ring had no room for (freed); errors = connections ended by a bad
back-end (its error is logged). The JSON object has rx_packets, tx_packets, rx_bytes, tx_bytes,
rx_mpps, tx_mpps (over rx_seconds and tx_seconds, the time frames flowed each way), dropped,
errors, seconds, connections, kicks and per-queue counters.

Exit status: 0 after a run; 1 when the socket cannot be set up or the run fails; 2 for bad
arguments.
`;
