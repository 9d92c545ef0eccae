// Help text of `virtqueue` itself (each command's is next to it: sim/usage.ts, vhost/usage.ts).

export const MAIN_USAGE = `Usage: virtqueue <command> [options]

Commands:
  sim        run a virtio-net driver against a software NIC and check every frame
  vhost      run a vhost-user virtio-net back-end that forwards frames (testpmd-like modes)

Run 'virtqueue sim --help' or 'virtqueue vhost --help' for their options.
`;
