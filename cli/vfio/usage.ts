// Help text of `virtqueue vfio`.
import { VFIO_DEFAULTS } from './args.js';

export const VFIO_USAGE = `Usage: virtqueue vfio --device BDF [options]

Drives a virtio-net PCI function (a virtio VF, or QEMU's virtio-net-pci with iommu_platform=on)
from user space through VFIO, as DPDK's virtio PMD does: the engine's drivers run its rings, in
memory DMA-mapped through the IOMMU. It forwards frames like testpmd's forwarding modes. The
device must be bound to vfio-pci and be a modern virtio-net (1af4:1041) that offers
VIRTIO_F_ACCESS_PLATFORM.

Options:
  --device BDF      the PCI function, e.g. 0000:00:01.0 (required)
  --packed          packed rings (VIRTIO_F_RING_PACKED; QEMU: packed=on) instead of split rings
  --queues N        queue pairs, 1 to 16 (default ${VFIO_DEFAULTS.queues}); more than one needs VIRTIO_NET_F_MQ
                    (QEMU: mq=on and a netdev with queues=N), set with the control queue
  --workers N       Dataplane worker threads running the queue pairs (pair k on worker k mod N),
                    0 to --queues; 0: the main thread polls them (default ${VFIO_DEFAULTS.workers})
  --recover         when the device sets DEVICE_NEEDS_RESET, reset it and set it up again (every
                    buffer back in the pool; logged, counted as resets) rather than stop with an error
  --fwd MODE        txonly: send 64-byte Ethernet/IPv4/UDP frames as fast as the ring takes them
                    rxonly: frames received are counted and freed
                    io: frames received go back out
                    macswap: the same, destination and source MAC swapped
                    (default ${VFIO_DEFAULTS.fwd})
  --tx-first        with io or macswap: send one burst first
  --duration S      run S seconds, then print the summary and exit (default: until SIGINT or
                    SIGTERM, which also print the summary)
  --burst N         frames per burst, 1 to 256 (default ${VFIO_DEFAULTS.burst})
  --queue-size N    entries per ring, a power of two up to 256 (default ${VFIO_DEFAULTS.queueSize})
  --frame-size N    txonly frames' length without FCS, 64 to 2048 (default ${VFIO_DEFAULTS.frameSize})
  --json            print the summary as one JSON object (the last line of stdout)
  -h, --help        show this help

Counters are the driver's: rx = frames received from the device, tx = frames sent to it;
dropped = frames the transmit ring had no room for (freed). The JSON object has the fields of
'virtqueue virtio-user --json' (device in place of socket), the negotiated features and resets.

Exit status: 0 after a run; 1 when the device cannot be opened (one line says why: not bound to
vfio-pci, no IOMMU group, no permission, not a modern virtio-net, the IOMMU refused the mapping)
or the run fails; 2 for bad arguments.
`;
