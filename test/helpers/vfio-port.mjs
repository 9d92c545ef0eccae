// Run by the host's Node inside the VFIO guest (test/vfio-port-guest.test.ts): the engine drives
// the real virtio-net device through VFIO (src/vfio/net-port.ts, VfioNetPort): frames of several
// sizes (one to five buffers each) go out with txBurst through the vIOMMU to the host's stream
// reflector and come back with rxBurst, MACs swapped; each is compared byte for byte with what
// was sent. Then the port closes and the pool must be whole and nothing VFIO left.
// With --hostile (split), a used entry the device never wrote is then put in the receive ring
// (an id out of range, as a hostile device would): the engine's driver check must stop the port,
// which resets the device, and close must still give every buffer back.
// With --warm-up N (a vhost-user back-end with an IOTLB that drops a frame whose receive buffer
// it has no translation for yet, as DPDK's net_vhost does: it asks QEMU and moves on), frames of
// another ethertype (0x88b6) go round first until N came back (N at least the pool's size: every
// buffer of the pool has been a receive buffer once; less when a translation covers many
// buffers); the back-end's translations are then all there, and the 45 frames are counted exactly. Warm-up frames that come back later are counted apart (stale).
// Argument: the ring layout, split (default) or packed. Prints one JSON line.
import { reportAfterClose, stoppedPortState, vfioDeviceAddress } from './vfio-guest-driver.mjs';

const dist = new URL('../../dist/', import.meta.url);
const { VfioNetPort } = await import(new URL('src/vfio/index.js', dist).href);
const { featureNames } = await import(new URL('src/features.js', dist).href);

const layout = process.argv[2] ?? 'split';
const HOSTILE = process.argv.includes('--hostile');
/** After another driver was killed mid-traffic (vfio-port-kill.mjs): its frames may still come back, and are counted apart. */
const AFTER_KILL = process.argv.includes('--after-kill');
const WARM_UP = process.argv.includes('--warm-up') ? Number(process.argv[process.argv.indexOf('--warm-up') + 1]) : 0;
const SIZES = [60, 64, 128, 511, 1000, 1514, 2048, 3000, 9000];
const FRAMES = 45;
const TIMEOUT_MS = 30_000;
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const out = { layout: `${layout}${HOSTILE ? '-hostile' : ''}${AFTER_KILL ? '-after-kill' : ''}` };
const t0 = Date.now();

const port = VfioNetPort.open({ device: vfioDeviceAddress(), layout, queueSize: 64, poolSize: 512 });
try {
  out.features = featureNames(port.features);
  out.addressBase = `0x${port.addressBase.toString(16)}`;
  out.iova = `0x${port.iova.toString(16)}`;
  out.msix = port.msix;
  const mac = port.mac;
  out.mac = mac;
  out.poolInUseAfterOpen = port.pool.inUse;
  // Where each ring area starts within its page (RING_AREA_ALIGN: 0).
  out.ringPageOffsets = port.queues.flatMap((q) => [q.rx, q.tx]).flatMap((r) => [r.areas.desc, r.areas.driver, r.areas.device]).map((a) => a % 4096);
  const macBytes = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
  // Frame i: broadcast from our MAC, ethertype 0x88b5, then i and a pattern that depends on i.
  const frames = Array.from({ length: FRAMES }, (_, i) => {
    const f = Buffer.alloc(SIZES[i % SIZES.length]);
    f.fill(0xff, 0, 6);
    macBytes.copy(f, 6);
    f.writeUInt16BE(0x88b5, 12);
    f.writeUInt32BE(i, 14);
    for (let j = 18; j < f.length; j++) f[j] = (j * 31 + i * 7) & 0xff;
    return f;
  });
  const expected = frames.map((f) => Buffer.concat([f.subarray(6, 12), f.subarray(0, 6), f.subarray(12)]));
  const tx = port.burst(16);
  const rx = port.burst(32);
  if (WARM_UP > 0) {
    // Small frames, 8 a burst (as many as the ring takes), until N came back; then until nothing came back for a second.
    const warm = Buffer.alloc(60);
    warm.fill(0xff, 0, 6);
    macBytes.copy(warm, 6);
    warm.writeUInt16BE(0x88b6, 12);
    let sent = 0;
    let received = 0;
    let quietSince = Date.now();
    const endWarm = Date.now() + TIMEOUT_MS;
    while (Date.now() < endWarm && (received < WARM_UP || Date.now() - quietSince < 1000)) {
      if (received < WARM_UP) {
        const hs = [];
        for (let i = 0; i < 8; i++) {
          const h = port.alloc(warm);
          if (h === undefined) break;
          hs.push(h);
        }
        const took = port.txBurst(0, tx.fill(hs), hs.length);
        sent += took;
        if (took < hs.length) {
          tx.fill(hs.slice(took));
          port.free(tx, hs.length - took);
        }
      }
      const n = port.rxBurst(0, rx);
      if (n > 0) {
        received += n;
        quietSince = Date.now();
        port.free(rx, n);
      } else sleep(1);
    }
    out.warmUp = { sent, received, stats: port.stats(0) };
  }
  const got = new Map();
  const bad = [];
  let stale = 0;
  let next = 0;
  const end = Date.now() + TIMEOUT_MS;
  while ((got.size + bad.length < FRAMES) && Date.now() < end) {
    // As many as the ring takes; what it does not take stays ours and is freed.
    if (next < FRAMES) {
      const hs = [];
      for (let i = next; i < Math.min(FRAMES, next + 8); i++) {
        const h = port.alloc(frames[i]);
        if (h === undefined) break;
        hs.push(h);
      }
      const b = tx.fill(hs);
      const took = port.txBurst(0, b, hs.length);
      next += took;
      if (took < hs.length) {
        tx.fill(hs.slice(took));
        port.free(tx, hs.length - took);
      }
    }
    const n = port.rxBurst(0, rx);
    for (let i = 0; i < n; i++) {
      const f = Buffer.from(port.frame(rx.handles[i]));
      if ((AFTER_KILL || WARM_UP > 0) && (f.length < 14 || f.readUInt16BE(12) !== 0x88b5)) { stale++; continue; }
      const seq = f.length >= 18 ? f.readUInt32BE(14) : -1;
      if (seq >= 0 && seq < FRAMES && !got.has(seq) && f.equals(expected[seq])) got.set(seq, port.segments(rx.handles[i]).length);
      else {
        // What went wrong with it: its buffers' lengths, and where it first differs from what was sent.
        const want = expected[seq] ?? Buffer.alloc(0);
        let diff = 0;
        while (diff < f.length && diff < want.length && f[diff] === want[diff]) diff++;
        const segs = port.segments(rx.handles[i]).map((h) => port.data(h).length);
        bad.push({ seq, length: f.length, segs, firstDiff: diff, at: got.size + bad.length });
      }
    }
    if (n > 0) port.free(rx, n);
    if (n === 0) sleep(1);
  }
  out.sent = next;
  out.received = got.size;
  out.matched = [...got.keys()].sort((a, b) => a - b).every((s, i) => s === i) && got.size === FRAMES;
  out.bad = bad.slice(0, 8);
  out.badCount = bad.length;
  out.stale = stale;
  // How many receive buffers each size took (MRG_RXBUF: a frame over several buffers is one chain).
  out.segmentsBySize = Object.fromEntries(SIZES.map((s, i) => [s, got.get(i)]));
  out.txPending = port.txPending(0);
  out.stats = port.stats(0);
  out.needsReset = port.needsReset();
  out.failed = port.failed ?? null;
  if (HOSTILE && layout === 'split') {
    // The device is idle (every frame came back). A used element with id 65535 and a used.idx
    // one past it, written where the device would (2.7.8: the driver must not trust them).
    const used = port.queues[0].rx.areas.device;
    const u16 = new Uint16Array(port.engine.memory.buffer);
    const idx = Atomics.load(u16, (used + 2) >>> 1);
    const elem = used + 4 + (idx & (port.queues[0].num - 1)) * 8;
    new DataView(port.engine.memory.buffer).setUint32(elem, 65535, true);
    Atomics.store(u16, (used + 2) >>> 1, (idx + 1) & 0xffff);
    out.statusBefore = port.deviceStatus();
    try {
      port.rxBurst(0, rx);
      out.hostileError = null;
    } catch (e) {
      out.hostileError = { name: e.name, message: e.message };
    }
    Object.assign(out, stoppedPortState(port));
  }
} catch (e) {
  out.error = e.stack ?? String(e);
} finally {
  port.close();
}
out.ms = Date.now() - t0;
reportAfterClose(port, out);
