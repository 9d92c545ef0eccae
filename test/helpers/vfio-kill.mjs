// Run by the host's Node inside the VFIO guest (test/vfio-guest.test.ts): a driver process killed
// mid-traffic. `vfio-traffic.mjs --loop` runs as a child and is SIGKILLed once it has sent 50
// frames after its exchange; the kernel then takes the device back (its fds, DMA mappings and
// interrupts go with the process). This process opens the device again at once and shows it is
// quiet: bus mastering off and device_status 0 after VFIO's reset. The next vq_node run
// (vfio-traffic.mjs again) shows a new driver gets traffic through. Prints one JSON line.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { deviceLeftState, N } from './vfio-guest-driver.mjs';

const KILL_AFTER = 50;
const out = {};
const child = spawn(process.execPath, [fileURLToPath(new URL('./vfio-traffic.mjs', import.meta.url)), '--loop'], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
let stderr = '';
child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
out.sentBeforeKill = await new Promise((resolve) => {
  let buf = '';
  const timer = setTimeout(() => resolve(null), 30_000);
  child.stdout.setEncoding('utf8').on('data', (d) => {
    buf += d;
    const sent = [...buf.matchAll(/^sent (\d+)$/gm)].map((m) => Number(m[1])).at(-1) ?? 0;
    if (sent >= KILL_AFTER) {
      clearTimeout(timer);
      resolve(sent);
    }
  });
  child.on('exit', () => { clearTimeout(timer); resolve(null); });
});
child.kill('SIGKILL');
out.child = await exited;
if (out.sentBeforeKill === null) out.childStderr = stderr.slice(-2000);

Object.assign(out, deviceLeftState());
out.resourcesAfterClose = N.vfioResources();
process.stdout.write(`${JSON.stringify(out)}\n`);
