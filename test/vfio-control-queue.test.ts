// The pieces of VfioNetPort that a host test can reach without a VFIO device: the virtio-net
// control queue (src/vfio/control-queue.ts; VIRTIO 1.2 5.1.6.5) against the engine's own device
// side on the same ring, the doorbell value with VIRTIO_F_NOTIFICATION_DATA (2.9, 4.1.5.2: QEMU
// 7.2's virtio-net-pci does not offer it, so the guest tests never see it) through the transport
// to a model device's notify structure, and how MSI-X vectors are spread over the rings.
import { describe, expect, it } from 'vitest';
import * as L from '../assembly/layout/virtio-pci.js';
import {
  createSharedMemory, MemoryPlan, allocRing, createDriver, createDevice, ChainBatch, UsedBatch, FEATURES, type RingLayout,
} from '../src/index.js';
import { loadEngine } from '../src/node.js';
import { ControlQueue, vectorMode } from '../src/vfio/index.js';
import { notificationNext } from '../src/virtio-pci/notification-data.js';
import { findVirtioStructures } from '../src/virtio-pci/capabilities.js';
import { VirtioPciTransport } from '../src/virtio-pci/transport.js';
import { SplitDriver } from '../src/virtqueue/split.js';
import { AT, configBytes, configSpace, MODEL_BAR, qemuCaps, VirtioPciModel } from './helpers/virtio-pci-model.js';

function world(layout: RingLayout) {
  const memory = createSharedMemory(4 << 20);
  const engine = loadEngine(memory);
  const shared = new MemoryPlan(memory, { start: 2 << 20, end: 4 << 20 });
  const priv = new MemoryPlan(memory, { start: 64 * 1024, end: 2 << 20 });
  const features = FEATURES.VERSION_1 | (layout === 'packed' ? FEATURES.RING_PACKED : 0n);
  return { engine, shared, priv, features };
}

/**
 * A control queue whose doorbell runs a device on the same ring (the engine's device side): it
 * pops the command, records what it read, writes `ack` (or nothing) and uses the chain.
 */
function controlWorld(layout: RingLayout, answer: { ack?: number; usedLen?: number; silent?: boolean } = {}) {
  const w = world(layout);
  const seen: { nRead: number; nWrite: number; bytes: number[]; writeLen: number }[] = [];
  let device: ReturnType<typeof createDevice> | undefined;
  const pop = new ChainBatch(w.engine, w.priv, 4, 8);
  const used = new UsedBatch(w.engine, w.priv, 4);
  const cq = new ControlQueue(w.engine, w.shared, w.priv, layout, w.features, {
    doorbell: () => {
      if (answer.silent) return;
      pop.clear();
      expect(device!.pop(pop)).toBe(1);
      const first = pop.firstSeg(0);
      const nRead = pop.nRead(0);
      const bytes = [...w.engine.u8.subarray(pop.segOffset(first), pop.segOffset(first) + pop.segLen(first))];
      const ackAt = pop.segOffset(first + nRead);
      seen.push({ nRead, nWrite: pop.nWrite(0), bytes, writeLen: pop.segLen(first + nRead) });
      w.engine.u8[ackAt] = answer.ack ?? L.NET_CTRL_OK;
      used.clear();
      used.push(pop.id(0), answer.usedLen ?? 1);
      expect(device!.push(used)).toBe(1);
    },
  });
  device = createDevice(w.engine, w.priv, layout, cq.ring.areas, { features: w.features });
  /** A device reset: the device starts afresh on the same areas. */
  const resetDevice = (): void => { device = createDevice(w.engine, w.priv, layout, cq.ring.areas, { features: w.features }); };
  return { cq, seen, resetDevice };
}

for (const layout of ['split', 'packed'] as const) {
  describe(`control queue (${layout})`, () => {
    it('VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET: class 4, command 0, le16 pairs for the device to read, then one ack byte for it to write', () => {
      const { cq, seen } = controlWorld(layout);
      cq.setQueuePairs(2);
      cq.setQueuePairs(0x1234);
      expect(seen).toEqual([
        { nRead: 1, nWrite: 1, bytes: [L.NET_CTRL_MQ, L.NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0], writeLen: 1 },
        { nRead: 1, nWrite: 1, bytes: [L.NET_CTRL_MQ, L.NET_CTRL_MQ_VQ_PAIRS_SET, 0x34, 0x12], writeLen: 1 },
      ]);
      expect(cq.commands).toBe(2);
      expect(cq.ring.driver.inFlight).toBe(0);
    });

    it('a refusal (VIRTIO_NET_ERR), no answer, an ack never written, pairs out of range: each a named error', () => {
      expect(() => controlWorld(layout, { ack: L.NET_CTRL_ERR }).cq.setQueuePairs(3))
        .toThrow(/^control queue: the device refused VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 3 \(ack 1, VIRTIO 1\.2 5\.1\.6\.5\.5\)$/);
      const silent = controlWorld(layout, { silent: true }).cq;
      expect(() => silent.command(L.NET_CTRL_MQ, L.NET_CTRL_MQ_VQ_PAIRS_SET, new Uint8Array([2, 0]), 'pairs 2', 20))
        .toThrow(/^control queue: pairs 2: the device did not use the command within 20 ms/);
      expect(() => controlWorld(layout, { usedLen: 0 }).cq.setQueuePairs(2)).toThrow(/without writing its ack \(used length 0\)/);
      const { cq, seen } = controlWorld(layout);
      expect(() => cq.setQueuePairs(0)).toThrow(/0 queue pairs, 1 to 32768/);
      expect(() => cq.setQueuePairs(0x8001)).toThrow(/32769 queue pairs, 1 to 32768/);
      expect(seen).toEqual([]);
    });

    it('a reset (the device reset too) gives a fresh ring, a command left unanswered dropped: commands go on after it', () => {
      const w = controlWorld(layout);
      w.cq.setQueuePairs(2);
      w.cq.setQueuePairs(3);
      w.cq.reset();
      w.resetDevice();
      expect(w.cq.ring.driver.inFlight).toBe(0);
      w.cq.setQueuePairs(4);
      expect(w.seen.map((x) => x.bytes[2])).toEqual([2, 3, 4]);
      // A command the device never answered (it was reset meanwhile) is not in flight afterwards.
      const s = controlWorld(layout, { silent: true });
      expect(() => s.cq.command(L.NET_CTRL_MQ, L.NET_CTRL_MQ_VQ_PAIRS_SET, new Uint8Array([2, 0]), 'pairs 2', 5)).toThrow(/did not use/);
      expect(s.cq.ring.driver.inFlight).toBe(1);
      s.cq.reset();
      expect(s.cq.ring.driver.inFlight).toBe(0);
    });
  });
}

describe('VIRTIO_F_NOTIFICATION_DATA: the doorbell carries the ring\'s next available position (2.9)', () => {
  const MSIX = { at: 0xdc, next: 0x84, tableSize: 4 };
  const transport = () => {
    const model = new VirtioPciModel({ offered: FEATURES.VERSION_1 | FEATURES.ACCESS_PLATFORM | FEATURES.NOTIFICATION_DATA });
    const layout = findVirtioStructures(configSpace(configBytes(MSIX.at, qemuCaps(), MSIX)), [0, 4096, 0, 0, 0x4000, 0]);
    return { model, t: new VirtioPciTransport(layout, (bar) => { expect(bar).toBe(MODEL_BAR); return model; }) };
  };

  it('split: vqn, then the 16-bit available index (next_off its low 15 bits, next_wrap bit 15), after each publish', () => {
    const w = world('split');
    const areas = allocRing(w.shared, { layout: 'split', queueSize: 8 });
    const driver = createDriver(w.engine, w.priv, 'split', areas, { features: w.features });
    const b = new ChainBatch(w.engine, w.priv, 8, 8);
    const buf = w.shared.alloc(4096);
    const { model, t } = transport();
    const at = t.queueNotifyAddress(3);
    t.notify(3, at, notificationNext(driver));
    expect(model.writes.at(-1)).toEqual({ offset: AT.notify + 3 * 4, width: 4, value: 0x0000_0003 });
    for (let i = 0; i < 5; i++) b.single(i, buf, 64, false);
    expect(driver.add(b)).toBe(5);
    t.notify(3, at, notificationNext(driver));
    expect(model.writes.at(-1)).toEqual({ offset: AT.notify + 3 * 4, width: 4, value: 0x0005_0003 });
    // Near the 16-bit wrap: bit 15 of the index is next_wrap.
    const high = new SplitDriver(w.engine, w.priv, allocRing(w.shared, { layout: 'split', queueSize: 8 }) as never, { features: w.features, startIdx: 0xfffe });
    b.clear();
    for (let i = 0; i < 3; i++) b.single(i, buf, 64, false);
    expect(high.add(b)).toBe(3);
    expect(notificationNext(high)).toBe(0x0001);
    const mid = new SplitDriver(w.engine, w.priv, allocRing(w.shared, { layout: 'split', queueSize: 8 }) as never, { features: w.features, startIdx: 0x7fff });
    b.clear();
    b.single(0, buf, 64, false);
    mid.add(b);
    expect(notificationNext(mid)).toBe(0x8000);
  });

  it('packed: vqn, then next_off (the next descriptor slot) and next_wrap (the Driver Ring Wrap Counter)', () => {
    const w = world('packed');
    const areas = allocRing(w.shared, { layout: 'packed', queueSize: 4 });
    const driver = createDriver(w.engine, w.priv, 'packed', areas, { features: w.features });
    const device = createDevice(w.engine, w.priv, 'packed', areas, { features: w.features });
    const b = new ChainBatch(w.engine, w.priv, 4, 4);
    const pop = new ChainBatch(w.engine, w.priv, 4, 4);
    const used = new UsedBatch(w.engine, w.priv, 4);
    const buf = w.shared.alloc(4096);
    const { model, t } = transport();
    const at = t.queueNotifyAddress(1);
    expect(notificationNext(driver)).toBe(0x8000); // slot 0, wrap counter 1
    for (let i = 0; i < 3; i++) b.single(i, buf, 64, false);
    expect(driver.add(b)).toBe(3);
    t.notify(1, at, notificationNext(driver));
    expect(model.writes.at(-1)).toEqual({ offset: AT.notify + 4, width: 4, value: 0x8003_0001 });
    // The device uses them; two more wrap the ring: slot 1, wrap counter 0.
    expect(device.pop(pop)).toBe(3);
    for (let i = 0; i < 3; i++) used.push(pop.id(i), 0);
    expect(device.push(used)).toBe(3);
    const got = new UsedBatch(w.engine, w.priv, 4);
    expect(driver.collect(got)).toBe(3);
    b.clear();
    for (let i = 0; i < 2; i++) b.single(i, buf, 64, false);
    expect(driver.add(b)).toBe(2);
    t.notify(1, at, notificationNext(driver));
    expect(model.writes.at(-1)).toEqual({ offset: AT.notify + 4, width: 4, value: 0x0001_0001 });
  });
});

describe('MSI-X vectors over the rings (vector 0: configuration changes)', () => {
  it('one per ring when the device has 1 + 2N, else one the rings share, else none', () => {
    expect(vectorMode(3, 1)).toBe('per-ring');
    expect(vectorMode(4, 1)).toBe('per-ring'); // QEMU's default for one pair: 2N + 2
    expect(vectorMode(4, 2)).toBe('shared');
    expect(vectorMode(5, 2)).toBe('per-ring');
    expect(vectorMode(2, 8)).toBe('shared');
    expect(vectorMode(1, 1)).toBe('none');
    expect(vectorMode(0, 1)).toBe('none');
  });
});
