// Run by the host's Node inside the VFIO guest (test/vfio-port-guest.test.ts): the device sets
// DEVICE_NEEDS_RESET mid-traffic. A transmit chain with no device-readable descriptor (nothing to
// send, not even the virtio_net_hdr, 5.1.6) is made available and kicked; QEMU's device then
// marks itself broken (virtio_error "virtio-net header not in first element": DEVICE_NEEDS_RESET,
// and a configuration change interrupt, 2.1.1). The port must see it on its own, stop (bursts
// throw, the device reset), and close with every buffer back in the pool. (A chain shorter than
// the header instead aborts QEMU 7.2 with -netdev stream: iov_copy's assertion.) Prints one JSON line.
import { reportAfterClose, stoppedPortState, vfioDeviceAddress } from './vfio-guest-driver.mjs';

const dist = new URL('../../dist/', import.meta.url);
const { VfioNetPort } = await import(new URL('src/vfio/index.js', dist).href);
const { ChainBatch } = await import(new URL('src/virtqueue/batch.js', dist).href);

const out = {};
const port = VfioNetPort.open({ device: vfioDeviceAddress(), layout: 'split', queueSize: 64, poolSize: 512 });
try {
  out.msix = port.msix;
  const down = new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 15_000);
    port.once('down', (why) => { clearTimeout(timer); resolve(why); });
  });
  // A pool buffer (its handle is the chain's token, so it comes back on close), device-writable.
  const h = port.alloc(Buffer.alloc(60, 0xab));
  const q = port.queues[0];
  const b = new ChainBatch(port.engine, port.priv, 1, 1);
  b.single(h, port.pool.dataOf(h), 64, true);
  out.added = q.tx.driver.add(b);
  q.tx.notify();
  out.down = await down;
  Object.assign(out, stoppedPortState(port));
} catch (e) {
  out.error = e.stack ?? String(e);
} finally {
  port.close();
}
reportAfterClose(port, out);
