// Run by the host's Node inside the VFIO guest (test/vfio-guest.test.ts): one frame out and its
// reflection back through the real virtio-net device, driven through VFIO with rings written by
// hand in a memfd-backed shared Wasm memory that the IOMMU maps at IOVA 2^32. Proves the DMA
// path end to end: descriptors carry IOVAs, the device reads the transmit buffer and writes the
// receive buffer and both used rings through the IOMMU, the doorbells in BAR 4 wake it, and its
// MSI-X interrupts arrive on eventfds. Bus mastering is turned on first (VFIO leaves it off).
// The host's end of the device's netdev is test/helpers/stream-reflector.ts (MACs swapped).
// Prints one JSON line (with --loop, then keeps sending until killed: vfio-kill.mjs).
import { FEATURES, L, N, NET, openTransport, S } from './vfio-guest-driver.mjs';

const BYTES = 2 << 20;
const IOVA = 2n ** 32n;
const QSIZE = 16;
const RX_BUFS = 8;
const BUF = 2048;
// Where things are in the memory (offsets; IOVA = 2^32 + offset).
const RX = { desc: 0x0000, driver: 0x1000, device: 0x2000, bufs: 0x10000 };
const TX = { desc: 0x3000, driver: 0x4000, device: 0x5000, buf: 0x20000 };
const PAYLOAD = 'vq-vfio-tx-frame';
/** --loop: after the exchange, send frames until killed. */
const LOOP = process.argv.includes('--loop');

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const out = {};
const t0 = Date.now();
const { d, t } = openTransport();
const { device, container } = d;
const memory = new WebAssembly.Memory({ initial: BYTES / 65536, maximum: BYTES / 65536, shared: true });
const memfd = N.memfdCreate('vfio-traffic', BYTES);
N.mapIntoMemory(memory, 0, memfd, 0, BYTES);
const view = new DataView(memory.buffer);
const u16 = new Uint16Array(memory.buffer);
const bytes = new Uint8Array(memory.buffer);
const efds = [0, 1, 2].map(() => N.eventfdCreate());
try {
  device.configWrite(L.PCI_COMMAND, 2, device.configRead(L.PCI_COMMAND, 2) | L.PCI_COMMAND_MEMORY | L.PCI_COMMAND_MASTER);
  const hs = t.handshake(FEATURES.NET_MAC);
  out.negotiated = `0x${hs.negotiated.toString(16)}`;
  container.dmaMap(memory, 0, BYTES, IOVA);
  device.setIrqEventfds(N.VFIO_PCI_MSIX_IRQ_INDEX, 0, efds);
  t.setConfigMsixVector(0);
  const iova = (off) => IOVA + BigInt(off);
  const rxAt = t.setupQueue(0, { size: QSIZE, desc: iova(RX.desc), driver: iova(RX.driver), device: iova(RX.device), msixVector: 1 });
  const txAt = t.setupQueue(1, { size: QSIZE, desc: iova(TX.desc), driver: iova(TX.driver), device: iova(TX.device), msixVector: 2 });
  t.enableQueue(0);
  t.enableQueue(1);
  t.driverOk();
  out.statusAfterDriverOk = t.status();

  const desc = (table, i, addr, len, flags) => {
    const at = table + i * S.DESC_SIZE;
    view.setBigUint64(at + S.DESC_ADDR, addr, true);
    view.setUint32(at + S.DESC_LEN, len, true);
    view.setUint16(at + S.DESC_FLAGS, flags, true);
    view.setUint16(at + S.DESC_NEXT, 0, true);
  };
  const publish = (ring, i, head, idx) => {
    view.setUint16(ring.driver + S.AVAIL_RING + i * S.AVAIL_ELEM_SIZE, head, true);
    Atomics.store(u16, (ring.driver + S.AVAIL_IDX) / 2, idx); // the entries before the index
  };
  const usedIdx = (ring) => Atomics.load(u16, (ring.device + S.USED_IDX) / 2);
  const waitUsed = (ring, n, ms) => {
    const end = Date.now() + ms;
    while (usedIdx(ring) < n && Date.now() < end) sleep(1);
    return usedIdx(ring);
  };

  // Receive buffers, then one frame to send: broadcast, from our MAC, ethertype 0x88b5.
  for (let i = 0; i < RX_BUFS; i++) {
    desc(RX.desc, i, iova(RX.bufs + i * BUF), BUF, S.DESC_F_WRITE);
    publish(RX, i, i, i + 1);
  }
  t.notify(0, rxAt);
  const mac = [...t.readDeviceConfig(L.NET_CONFIG_MAC, L.NET_CONFIG_MAC_SIZE)];
  const frame = Buffer.alloc(60);
  frame.fill(0xff, 0, 6);
  Buffer.from(mac).copy(frame, 6);
  frame.writeUInt16BE(0x88b5, 12);
  frame.write(PAYLOAD, 14, 'latin1');
  bytes.fill(0, TX.buf, TX.buf + NET.NET_HDR_SIZE); // virtio_net_hdr: no offloads
  bytes.set(frame, TX.buf + NET.NET_HDR_SIZE);
  desc(TX.desc, 0, iova(TX.buf), NET.NET_HDR_SIZE + frame.length, 0);
  publish(TX, 0, 0, 1);
  t.notify(1, txAt);

  out.txUsed = waitUsed(TX, 1, 10_000);
  out.txUsedId = view.getUint32(TX.device + S.USED_RING + S.USED_ELEM_ID, true);
  out.rxUsed = waitUsed(RX, 1, 10_000);
  const id = view.getUint32(RX.device + S.USED_RING + S.USED_ELEM_ID, true);
  const len = view.getUint32(RX.device + S.USED_RING + S.USED_ELEM_LEN, true);
  out.rxUsedElem = { id, len };
  if (out.rxUsed >= 1 && id < RX_BUFS && len >= NET.NET_HDR_SIZE + 14 && len <= BUF) {
    const got = Buffer.from(bytes.subarray(RX.bufs + id * BUF + NET.NET_HDR_SIZE, RX.bufs + id * BUF + len));
    out.rxFrame = {
      dst: [...got.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':'),
      src: [...got.subarray(6, 12)].map((b) => b.toString(16).padStart(2, '0')).join(':'),
      ethertype: got.readUInt16BE(12),
      payload: got.subarray(14, 14 + PAYLOAD.length).toString('latin1'),
      length: got.length,
    };
  }
  out.mac = mac.map((b) => b.toString(16).padStart(2, '0')).join(':');
  sleep(50); // interrupts are delivered by the kernel's eventfd path, not by the ring
  out.irqs = efds.map((e) => Number(N.eventfdRead(e) ?? 0n));
  out.needsReset = t.needsReset();
  if (LOOP) {
    // Keep sending (vfio-kill.mjs kills this process mid-way): frame i in transmit slot i mod the
    // queue size once the device has used the frame that was there, "sent N" every 10 frames.
    const len = NET.NET_HDR_SIZE + frame.length;
    for (let i = 1; i < 50_000; i++) {
      while (i - usedIdx(TX) >= QSIZE) sleep(1);
      desc(TX.desc, i % QSIZE, iova(TX.buf), len, 0);
      publish(TX, i % QSIZE, i % QSIZE, i + 1);
      t.notify(1, txAt);
      if (i % 10 === 0) process.stdout.write(`sent ${i}\n`);
    }
    process.exitCode = 3; // never killed
  }
} finally {
  try { t.reset(); } catch (e) { out.resetError = e.message; }
  d.close();
  N.unmapFromMemory(memory, 0, BYTES);
  N.close(memfd);
  for (const e of efds) N.close(e);
}
out.resourcesAfterClose = N.vfioResources();
out.ms = Date.now() - t0;
process.stdout.write(`${JSON.stringify(out)}\n`);
