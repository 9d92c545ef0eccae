// Help text of `virtqueue` itself (each command's is next to it: sim/usage.ts, vhost/usage.ts).

export const MAIN_USAGE = `Usage: virtqueue <command> [options]

Commands:
  sim        run a virtio-net driver against a software NIC and check every frame
  vhost      run a vhost-user virtio-net back-end that forwards frames (testpmd-like modes)
  virtio-user  run a virtio-net driver over vhost-user (a front-end) that forwards frames
  vfio       drive a virtio-net PCI function through VFIO (as DPDK's virtio PMD) and forward frames
  viz        serve the ring visualizer (step, play, break and rewind rings in a browser)

Run 'virtqueue <command> --help' (sim, vhost, virtio-user, vfio, viz) for its options.
`;
