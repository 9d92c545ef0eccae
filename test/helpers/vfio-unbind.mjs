// Run by the host's Node inside the VFIO guest, last (test/vfio-guest.test.ts): the device is
// unbound from vfio-pci while this process has it open. The kernel then asks for it back on the
// request interrupt (VFIO_PCI_REQ_IRQ_INDEX) and holds the unbind until it is closed; this
// process closes it when asked, the unbind completes, nothing is left, and opening the device
// again fails with the one-line "not bound to vfio-pci" error. Prints one JSON line.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { N, vfioDeviceAddress } from './vfio-guest-driver.mjs';

const address = vfioDeviceAddress();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = {};
const d = N.openVfioPciDevice(address);
const req = N.eventfdCreate();
try {
  out.reqIrq = d.device.irqInfo(N.VFIO_PCI_REQ_IRQ_INDEX);
  d.device.setIrqEventfds(N.VFIO_PCI_REQ_IRQ_INDEX, 0, [req]);
  const t0 = Date.now();
  // The write blocks in the kernel until the device is released.
  const unbind = spawn('/bin/sh', ['-c', `echo ${address} > /sys/bus/pci/drivers/vfio-pci/unbind`], { stdio: 'ignore' });
  const exited = new Promise((resolve) => unbind.on('exit', (code) => resolve(code)));
  let asked = null;
  while (asked === null && Date.now() - t0 < 15_000) {
    await sleep(10);
    asked = N.eventfdRead(req);
  }
  out.asked = asked === null ? null : Number(asked);
  out.askedAfterMs = Date.now() - t0;
  out.unbindDoneBeforeClose = unbind.exitCode !== null;
  d.close();
  // (unref: a pending timer would keep the process alive after the race is won)
  out.unbindExit = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000).unref())]);
  out.driverAfter = existsSync(`/sys/bus/pci/devices/${address}/driver`);
} finally {
  d.close();
  N.close(req);
}
out.resourcesAfterClose = N.vfioResources();
try {
  N.openVfioPciDevice(address).close();
  out.reopen = 'opened';
} catch (e) {
  out.reopen = { code: e.code, message: e.message };
}
process.stdout.write(`${JSON.stringify(out)}\n`);
