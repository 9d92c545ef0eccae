// Help text of `virtqueue viz`.
import { VIZ_DEFAULT_PORT } from './args.js';

export const VIZ_USAGE = `Usage: virtqueue viz [--port N]

Serves the ring visualizer on http://127.0.0.1:PORT/ (this machine only, no network needed): the
engine runs in the page over a SharedArrayBuffer. Pick the ring layout, Queue Size and features;
step the driver and the device one operation at a time (add, notify, pop, push used, collect) or
play them; inject faults (drop a notification, delay completions, complete out of order, corrupt
a descriptor) and see the engine's error and spec section where it happened; scrub back through
every operation, export the history as a JSON trace and replay it with
'virtqueue sim --replay FILE'. Runs until SIGINT or SIGTERM.

Options:
  --port N     TCP port on 127.0.0.1, 0 for any free one (default ${VIZ_DEFAULT_PORT})
  -h, --help   show this help

To watch a running simulator or back-end instead: 'virtqueue sim --viz PORT', 'virtqueue vhost --viz PORT'.
`;
