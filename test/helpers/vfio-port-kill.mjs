// Run by the host's Node inside the VFIO guest (test/vfio-port-guest.test.ts): `virtqueue vfio
// --packed --fwd macswap --tx-first` (the engine's port, frames looping through the host's
// reflector) runs as a child and is SIGKILLed mid-traffic, a second after it opened the device;
// the kernel takes the device back (fds, DMA mapping, interrupts go with the process). This
// process then opens the device at once and shows it quiet: bus mastering off, device_status 0.
// The next vq_node run (vfio-port.mjs split --after-kill) shows a new driver gets traffic
// through. Prints one JSON line.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { deviceLeftState, N } from './vfio-guest-driver.mjs';

const out = {};
const child = spawn(process.execPath, [fileURLToPath(new URL('./vfio-cli.mjs', import.meta.url)), 'vfio', '--packed', '--fwd', 'macswap', '--tx-first'], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
let stderr = '';
out.opened = await new Promise((resolve) => {
  const timer = setTimeout(() => resolve(false), 30_000);
  child.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
    if (/^virtqueue vfio: \S+, packed rings, 1 queue pair, MSI-X \S+, features /m.test(stderr)) { clearTimeout(timer); resolve(true); }
  });
  child.on('exit', () => { clearTimeout(timer); resolve(false); });
});
// Let the burst loop through device and reflector for a while, then kill it mid-flight.
if (out.opened) await new Promise((r) => setTimeout(r, 1000));
child.kill('SIGKILL');
out.child = await exited;
out.childStderr = stderr.slice(-500);

Object.assign(out, deviceLeftState());
out.resourcesAfterClose = N.vfioResources();
process.stdout.write(`${JSON.stringify(out)}\n`);
