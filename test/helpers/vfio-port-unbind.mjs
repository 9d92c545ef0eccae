// Run by the host's Node inside the VFIO guest, last (test/vfio-port-guest.test.ts): the device is
// unbound from vfio-pci while a VfioNetPort has it open and sends. The kernel asks for it back on
// vfio-pci's request interrupt and holds the unbind until it is closed; the port must stop on its
// own ('down' naming the request), its owner closes it, the unbind completes, nothing of VFIO is
// left and every buffer is back in the pool. Prints one JSON line.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { N, reportAfterClose, vfioDeviceAddress } from './vfio-guest-driver.mjs';

const dist = new URL('../../dist/', import.meta.url);
const { VfioNetPort } = await import(new URL('src/vfio/index.js', dist).href);
const { Forwarder } = await import(new URL('src/virtio-user/forward.js', dist).href);

const address = vfioDeviceAddress();
const out = {};
const port = VfioNetPort.open({ device: address, layout: 'split', queueSize: 64, poolSize: 512 });
let unbind;
let exited;
try {
  const fwd = new Forwarder(port, 'txonly', 32);
  let sent = 0;
  // Traffic while the unbind comes: txonly bursts from the event loop, until the port stops.
  const pump = setInterval(() => { try { sent += fwd.poll(0); } catch { /* stopped: 'down' says why */ } }, 1);
  const down = new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 15_000);
    port.once('down', (why) => { clearTimeout(timer); resolve(why); });
  });
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  // The write blocks in the kernel until the device is released.
  unbind = spawn('/bin/sh', ['-c', `echo ${address} > /sys/bus/pci/drivers/vfio-pci/unbind`], { stdio: 'ignore' });
  exited = new Promise((resolve) => unbind.on('exit', (code) => resolve(code)));
  out.down = await down;
  out.downAfterMs = Date.now() - t0;
  clearInterval(pump);
  out.sentBeforeDown = sent;
  out.failed = port.failed ?? null;
  out.unbindDoneBeforeClose = unbind.exitCode !== null;
} catch (e) {
  out.error = e.stack ?? String(e);
} finally {
  port.close();
}
out.unbindExit = exited ? await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000).unref())]) : null;
out.driverAfter = existsSync(`/sys/bus/pci/devices/${address}/driver`);
try {
  N.openVfioPciDevice(address).close();
  out.reopen = 'opened';
} catch (e) {
  out.reopen = { code: e.code, message: e.message };
}
reportAfterClose(port, out);
