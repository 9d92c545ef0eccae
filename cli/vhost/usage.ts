// Help text of `virtqueue vhost`.
import { VHOST_DEFAULTS, MAX_QUEUES, MAX_GUEST_MEM, MAX_MESSAGE_TIMEOUT_MS, MAX_MESSAGE_RATE } from './args.js';

export const VHOST_USAGE = `Usage: virtqueue vhost --socket PATH [options]

Runs a vhost-user virtio-net back-end (VIRTIO 1.2 5.1) for a front-end such as QEMU or DPDK's
virtio-user: it forwards frames like testpmd's forwarding modes. The main thread keeps the
control socket; the queues are polled by worker threads, one engine call per burst, with one
copy per forwarded frame. It serves one front-end at a time; when one goes the device resets
and serves the next.

Options:
  --socket PATH         the vhost-user Unix socket (required)
  --client              connect to a front-end listening at PATH (retrying with backoff, and
                        again after each session) instead of listening there; without it the
                        back-end listens, and refuses to replace a socket another server serves
  --queues N            queue pairs offered, 1 to ${MAX_QUEUES} (more than 1 needs the front-end's
                        VIRTIO_NET_F_MQ) (default ${VHOST_DEFAULTS.queues})
  --fwd MODE            io: frames received go back on the same queue pair
                        macswap: the same, destination and source MAC swapped
                        rxonly: frames received are counted and dropped
                        txonly: send 64-byte Ethernet/IPv4/UDP frames as fast as the
                        front-end posts receive buffers (and drop what it sends)
                        (default ${VHOST_DEFAULTS.fwd})
  --duration S          run S seconds, then print the summary and exit (default: until
                        SIGINT or SIGTERM, which also print the summary)
  --pcap FILE           write frames received from the front-end to FILE (libpcap format;
                        needs --workers 1)
  --pcap-max N          at most N frames in the pcap file (default ${VHOST_DEFAULTS.pcapMax})
  --workers N           worker threads polling the queues, 1 to --queues; queue pair k goes to
                        worker k mod N (default ${VHOST_DEFAULTS.workers})
  --idle MODE           adaptive: a worker whose queues are idle re-enables kicks and sleeps
                        until one comes; poll: it never sleeps (default ${VHOST_DEFAULTS.idle})
  --socket-mode MODE    permissions of the socket file the back-end listens on, octal
                        (default 600: only this user's processes may connect)
  --message-timeout MS  most time a vhost-user message may take from its first byte to its
                        last; a front-end that sends part of one and stalls loses its session
                        (logged with the request and the bytes that came). A session idle
                        between messages never times out. 0 to ${MAX_MESSAGE_TIMEOUT_MS}, 0 for
                        no limit (default ${VHOST_DEFAULTS.messageTimeoutMs})
  --message-rate N      read at most N vhost-user messages a second from the front-end, in
                        bursts of up to N (a front-end sets up with a few hundred); one that
                        floods is read at that rate, so answering it leaves the cores to the
                        workers. 0 to ${MAX_MESSAGE_RATE}, 0 for no limit (default ${VHOST_DEFAULTS.messageRate})
  --state FILE|none     the inflight state file: each ring's inflight region (vhost-user.rst
                        "Inflight I/O tracking") is kept there, so a back-end started after
                        this one was killed resumes the rings of the same front-end where the
                        device was, instead of at the position the front-end resends (stale for
                        packed rings after a crash: QEMU keeps none); created with mode 0600,
                        never through a symlink; none: no state file (front-ends that send
                        GET/SET_INFLIGHT_FD keep theirs anyway) (default PATH.inflight, next
                        to the socket)
  --burst N             chains per burst, 1 to 256 (default ${VHOST_DEFAULTS.burst})
  --guest-mem MIB       room for the front-end's memory regions, MiB, 16 to ${MAX_GUEST_MEM} (default ${VHOST_DEFAULTS.guestMem})
  --iommu               a device behind the front-end's IOMMU (DPDK's iommu-support=1): offer
                        VIRTIO_F_ACCESS_PLATFORM and PROTOCOL_F_BACKEND_REQ; once negotiated,
                        ring and descriptor addresses are IOVAs, translated through the IOTLB
                        the front-end fills with IOTLB_MSG, a missing translation asked for on
                        the back-end request channel (QEMU: iommu_platform=on) (default off)
  --viz PORT            serve the ring visualizer on 127.0.0.1:PORT (0: a free port) and
                        stream the running vrings to its live mode; prints its address
                        (viz: http://127.0.0.1:PORT/?live) on stdout
  --viz-rate HZ         live frames a second, 10 to 30 (default 10): each costs the main
                        thread a read of the rings and a socket write
  --json                print the summary as one JSON object (the last line of stdout)
  -h, --help            show this help

Counters are the device's: rx = frames the device received from the front-end (on its transmit
queues); tx = frames the device sent to the front-end (on its receive queues). dropped = frames
not delivered for want of a receive buffer (or, without VIRTIO_NET_F_MRG_RXBUF, one big enough);
errors = malformed chains and rings stopped by an engine error. On a terminal a line of
per-queue rates is redrawn every second. The JSON object has rx_packets, tx_packets, rx_bytes,
tx_bytes, rx_mpps, tx_mpps, dropped, errors, seconds, connections, kicks and calls (also per
million frames), per-worker and per-queue counters;
rx_mpps and tx_mpps are over rx_seconds and tx_seconds, the time frames flowed each way (first
to last movement, sampled every 50 ms), not over the whole run (seconds).

Exit status: 0 after a run; 1 when the socket cannot be set up or the run fails; 2 for bad
arguments.
`;
