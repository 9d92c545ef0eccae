// Run by the host's Node inside the VFIO guest (test/vfio-port-guest.test.ts) on its second
// device: virtio-net-pci with mq=on (vectors=4: fewer than one per ring, so the rings share one)
// on a multiqueue tap whose host kernel sends every frame straight back, on the tap queue its
// flow came from (test/helpers/vfio-guest.ts). A VfioNetPort with two queue pairs (VIRTIO_NET_F_MQ,
// VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET on the control queue) sends IPv4/UDP frames, one flow per queue
// pair, and each must come back unchanged on the pair that sent it.
//   traffic [split|packed]...: pair 0 with txBurst/rxBurst, pair 1 with send() and frames() (the
//     reader parked first, woken through the shared vector's fan-out); each layout in turn.
//   recover: split, with `recover`: traffic on pair 0, then frames in flight on pair 1 and a
//     transmit chain the device cannot use on pair 0 (DEVICE_NEEDS_RESET: QEMU's "virtio-net
//     header not in first element"); the port resets the device and sets it up again ('reset'),
//     then traffic on both pairs again.
// Prints one JSON line per run.
import { reportAfterClose, vfioDeviceAddressAt } from './vfio-guest-driver.mjs';

const dist = new URL('../../dist/', import.meta.url);
const { VfioNetPort } = await import(new URL('src/vfio/index.js', dist).href);
const { featureNames } = await import(new URL('src/features.js', dist).href);
const { ChainBatch } = await import(new URL('src/virtqueue/batch.js', dist).href);
const { parkCounts, parked } = await import(new URL('src/virtio-user/waits.js', dist).href);

const PAIRS = 2;
const FRAMES = 24;
const SIZES = [60, 128, 1000, 1514, 3000];
const TIMEOUT_MS = 20_000;
const device = vfioDeviceAddressAt(1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Frame `seq` of queue pair `pair` in `phase`: IPv4/UDP from port 40000 + pair (its own flow), then a tag and a pattern. */
function udpFrame(mac, pair, phase, seq) {
  const size = SIZES[seq % SIZES.length];
  const f = Buffer.alloc(size);
  f.fill(0xff, 0, 6);
  mac.copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(size - 14, 16);
  f[22] = 64;
  f[23] = 17;
  f.writeUInt32BE(0x0a000001, 26);
  f.writeUInt32BE(0x0a000002, 30);
  f.writeUInt16BE(40000 + pair, 34);
  f.writeUInt16BE(9, 36);
  f.writeUInt16BE(size - 34, 38);
  f.write('VQMQ', 42, 'latin1');
  f[46] = pair;
  f[47] = phase;
  f.writeUInt32BE(seq, 48);
  for (let j = 52; j < size; j++) f[j] = (j * 7 + seq * 3 + pair * 5 + phase) & 0xff;
  return f;
}

/** What came back: per phase, per sending pair, per receiving queue; frames not ours; frames ours but changed. */
class Tally {
  constructor(mac) { this.mac = mac; this.got = {}; this.other = 0; this.changed = 0; this.dups = 0; this.seen = new Set(); }
  add(queue, f) {
    if (f.length < 52 || f.toString('latin1', 42, 46) !== 'VQMQ') { this.other++; return; }
    const pair = f[46], phase = f[47], seq = f.readUInt32BE(48);
    if (!f.equals(udpFrame(this.mac, pair, phase, seq))) { this.changed++; return; }
    const key = `${phase}/${pair}/${seq}`;
    if (this.seen.has(key)) { this.dups++; return; }
    this.seen.add(key);
    const byPair = (this.got[phase] ??= {})[pair] ??= {};
    byPair[queue] = (byPair[queue] ?? 0) + 1;
  }
  /** Frames of `phase` sent on `pair` that came back, on any queue. */
  count(phase, pair) { return Object.values(this.got[phase]?.[pair] ?? {}).reduce((a, b) => a + b, 0); }
}

/** Every queue's received frames into the tally (bursts), but `skip`'s. */
function drain(port, tally, rx, skip = -1) {
  let n = 0;
  for (let q = 0; q < PAIRS; q++) {
    if (q === skip) continue;
    const got = port.rxBurst(q, rx);
    for (let i = 0; i < got; i++) tally.add(q, Buffer.from(port.frame(rx.handles[i])));
    if (got > 0) port.free(rx, got);
    n += got;
  }
  return n;
}

/** Sends `frames` on `pair` with txBurst (what the ring does not take is freed and sent again) while draining every queue, until all came back. */
async function burstExchange(port, tally, pair, phase, frames) {
  const tx = port.burst(16);
  const rx = port.burst(32);
  let next = 0;
  const end = Date.now() + TIMEOUT_MS;
  while (tally.count(phase, pair) < frames.length && Date.now() < end) {
    if (next < frames.length) {
      const hs = [];
      for (let i = next; i < Math.min(frames.length, next + 8); i++) {
        const h = port.alloc(frames[i]);
        if (h === undefined) break;
        hs.push(h);
      }
      const took = port.txBurst(pair, tx.fill(hs), hs.length);
      next += took;
      if (took < hs.length) port.free(tx.fill(hs.slice(took)), hs.length - took);
    }
    if (drain(port, tally, rx) === 0) await sleep(1);
  }
  return next;
}

/**
 * Sends `frames` on `pair` with send() (each awaited), then reads them back with frames(pair);
 * the other queues are drained with bursts meanwhile (a flow's first frame may come back there).
 */
async function waitsExchange(port, tally, pair, phase, frames) {
  // The reader first: it finds nothing and parks (the ring's notifications on), so the frames
  // coming back wake it through the device's interrupt (the shared vector's fan-out).
  const it = port.frames(pair);
  let pending = it.next();
  for (const f of frames) await port.send(f, pair);
  const rx = port.burst(32);
  const end = Date.now() + TIMEOUT_MS;
  while (tally.count(phase, pair) < frames.length && Date.now() < end) {
    const r = await Promise.race([pending, sleep(50).then(() => undefined)]);
    drain(port, tally, rx, pair);
    if (r === undefined) continue;
    if (r.done) break;
    tally.add(pair, Buffer.from(r.value));
    pending = it.next();
  }
  pending.catch(() => {}); // ends with the port's close
  return frames.length;
}

const common = (port) => ({
  features: featureNames(port.features), vectors: port.vectors, maxQueuePairs: port.maxQueuePairs, pairs: port.queues.length,
  controlCommands: port.control?.commands ?? 0,
});

async function traffic(layout) {
  const out = { run: `traffic-${layout}` };
  const port = VfioNetPort.open({ device, layout, queues: PAIRS, queueSize: 64, poolSize: 1024 });
  try {
    Object.assign(out, common(port));
    out.poolInUseAfterOpen = port.pool.inUse;
    const mac = Buffer.from(port.mac.split(':').map((h) => parseInt(h, 16)));
    const tally = new Tally(mac);
    const frames = (pair) => Array.from({ length: FRAMES }, (_, i) => udpFrame(mac, pair, 1, i));
    const parks0 = { ...parkCounts };
    out.sent = [await burstExchange(port, tally, 0, 1, frames(0)), await waitsExchange(port, tally, 1, 1, frames(1))];
    out.parks = Object.fromEntries(Object.entries(parkCounts).map(([k, v]) => [k, v - parks0[k]]));
    out.got = tally.got[1] ?? {};
    Object.assign(out, { other: tally.other, changed: tally.changed, dups: tally.dups });
    out.stats = port.queues.map((_, k) => port.stats(k));
    out.txPending = port.queues.map((_, k) => port.txPending(k));
    // The shared vector's fan-out without the reader's 100 ms park racing the emulator (under a
    // loaded TCG host the exchange's echoes can come after it, and frames() then finds them
    // polling): pair 1's receive ring parked for up to 5 s and one frame sent on pair 1; its
    // echo must wake the ring through the shared vector. The echo stays on its ring (taken back
    // at close). fanOutWakeMs: when the park ended (5000: its timer).
    // Pair 0's receive interrupts on too: the tap may send the echo on either queue (it forgets a
    // flow's queue after a few idle seconds, which a loaded host reaches), and the shared vector
    // signals every ring's call eventfd whichever ring it fired for.
    port.queues[0].rx.driver.enableInterrupts();
    const t0 = Date.now();
    const wake = parked(port.queues[1].rx, 5_000).then(() => Date.now() - t0);
    await port.send(udpFrame(mac, 1, 2, 0), 1);
    out.fanOutWakeMs = await wake;
    port.queues[0].rx.driver.disableInterrupts();
    out.failed = port.failed ?? null;
  } catch (e) {
    out.error = e.stack ?? String(e);
  } finally {
    port.close();
  }
  reportAfterClose(port, out);
}

async function recover() {
  const out = { run: 'recover' };
  const logs = [];
  const port = VfioNetPort.open({ device, layout: 'split', queues: PAIRS, queueSize: 64, poolSize: 1024, recover: true, log: (l) => logs.push(l) });
  try {
    Object.assign(out, common(port));
    out.poolInUseAfterOpen = port.pool.inUse;
    const mac = Buffer.from(port.mac.split(':').map((h) => parseInt(h, 16)));
    const tally = new Tally(mac);
    const frames = (pair, phase, n = FRAMES) => Array.from({ length: n }, (_, i) => udpFrame(mac, pair, phase, i));
    const events = { down: null, reset: null };
    port.on('down', (why) => { events.down = why; });
    const reset = new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), 15_000);
      port.once('reset', (r) => { clearTimeout(timer); resolve(r); });
    });
    // Phase 1: traffic on pair 0.
    out.sentBefore = await burstExchange(port, tally, 0, 1, frames(0, 1));
    // Phase 2, mid-traffic: frames put on pair 1 without waiting for them, and on pair 0 a
    // transmit chain with only a device-writable buffer (nothing to send, not even the header).
    const tx = port.burst(16);
    const hs = frames(1, 2, 16).map((f) => port.alloc(f));
    out.inFlight = port.txBurst(1, tx.fill(hs), hs.length);
    const h = port.alloc(Buffer.alloc(60, 0xab));
    const q = port.queues[0];
    const b = new ChainBatch(port.engine, port.priv, 1, 1);
    b.single(h, port.pool.dataOf(h), 64, true);
    out.added = q.tx.driver.add(b);
    // Every buffer out of the pool now is the device's (rings, frames in flight, the bad chain): what the reset must take back.
    out.poolInUseAtTrigger = port.pool.inUse;
    q.tx.notify();
    out.reset = await reset;
    out.down = events.down;
    out.resets = port.resets;
    out.poolInUseAfterReset = port.pool.inUse;
    out.statusAfterReset = port.deviceStatus();
    out.controlCommandsAfterReset = port.control?.commands ?? 0;
    // Phase 3: traffic on both pairs again, with bursts.
    out.sentAfter = [await burstExchange(port, tally, 0, 3, frames(0, 3)), await burstExchange(port, tally, 1, 3, frames(1, 3))];
    out.gotAfter = tally.got[3] ?? {};
    out.lateInFlight = tally.count(2, 1);
    Object.assign(out, { other: tally.other, changed: tally.changed, dups: tally.dups });
    out.stats = port.queues.map((_, k) => port.stats(k));
    out.failed = port.failed ?? null;
    out.logs = logs;
  } catch (e) {
    out.error = e.stack ?? String(e);
  } finally {
    port.close();
  }
  reportAfterClose(port, out);
}

const mode = process.argv[2] ?? 'traffic';
if (mode === 'recover') await recover();
else for (const layout of process.argv.slice(3).length ? process.argv.slice(3) : ['split', 'packed']) await traffic(layout);
