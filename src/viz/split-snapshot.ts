// Snapshot of a split virtqueue (VIRTIO 1.2 §2.7): descriptor table, available and used rings,
// the driver's and the device's control blocks when they are in this memory, and every chain in
// flight placed on its stage. Reads racing memory: every walk is bounded by the Queue Size.
import * as Q from '../../assembly/layout/queue.js';
import * as S from '../../assembly/layout/split.js';
import { splitAreaSizes, usedEventOffset, availEventOffset } from '../virtqueue/layout.js';
import { F_IN_ORDER } from '../../assembly/layout/features.js';
import { field, featuresOf, hasFeature, privateArray, sideStatus, type RacingMemory } from './racing-memory.js';
import { ChainBook, listed } from './chain-book.js';
import type { DescriptorEntry, QueueSnapshot, QueueSource, SnapshotOptions, SplitDeviceState, SplitDriverState, SplitRings } from './snapshot.js';

export function snapshotSplit(m: RacingMemory, src: QueueSource, opts: SnapshotOptions): QueueSnapshot {
  const anomalies: string[] = [];
  const a = src.areas;
  const q = a.queueSize;
  const sizes = splitAreaSizes(q);
  const base = { name: src.name, layout: src.layout, queueSize: q, areas: { queueSize: q, desc: a.desc, driver: a.driver, device: a.device }, packed: null, anomalies };
  if (!(q >= 1 && q <= S.MAX_QUEUE_SIZE) || !m.has(a.desc, sizes.desc) || !m.has(a.driver, sizes.avail) || !m.has(a.device, sizes.used)) {
    anomalies.push(`ring areas of ${src.name} (queue size ${q}) are not inside the memory`);
    return { ...base, features: null, driver: null, device: null, descriptors: [], truncated: 0, split: null, chains: [], counters: new ChainBook(0, false).counters(null) };
  }

  const drv = sideStatus(m, src.driverCb, Q.CB_KIND_SPLIT_DRIVER, src, 'split driver', anomalies);
  const dev = sideStatus(m, src.deviceCb, Q.CB_KIND_SPLIT_DEVICE, src, 'split device', anomalies);
  const driver: SplitDriverState | null = drv && {
    ...drv, freeHead: field(m, drv.cb, Q.SDRV_FREE_HEAD), numFree: field(m, drv.cb, Q.SDRV_NUM_FREE),
    availIdx: field(m, drv.cb, Q.SDRV_AVAIL_IDX) & 0xffff, kickIdx: field(m, drv.cb, Q.SDRV_KICK_IDX) & 0xffff,
    lastUsed: field(m, drv.cb, Q.SDRV_LAST_USED) & 0xffff, inFlight: field(m, drv.cb, Q.SDRV_IN_FLIGHT),
  };
  const device: SplitDeviceState | null = dev && {
    ...dev, lastAvail: field(m, dev.cb, Q.SDEV_LAST_AVAIL) & 0xffff, usedIdx: field(m, dev.cb, Q.SDEV_USED_IDX) & 0xffff,
    signalIdx: field(m, dev.cb, Q.SDEV_SIGNAL_IDX) & 0xffff, inFlight: field(m, dev.cb, Q.SDEV_IN_FLIGHT),
  };

  const availIdx = m.load16(a.driver + S.AVAIL_IDX);
  const usedIdx = m.load16(a.device + S.USED_IDX);
  const availAt = (i: number): number => m.u16(a.driver + S.AVAIL_RING + (i % q) * S.AVAIL_ELEM_SIZE);
  const usedAt = (i: number): number => a.device + S.USED_RING + (i % q) * S.USED_ELEM_SIZE;
  const descAt = (i: number): number => a.desc + i * S.DESC_SIZE;

  const book = new ChainBook(q, driver !== null);
  /** Entries from `from` to `to` (16-bit free-running), at most Queue Size. */
  const span = (from: number, to: number, what: string): number => {
    const n = (to - from) & 0xffff;
    if (n <= q) return n;
    anomalies.push(`${what}: ${n} entries, more than the Queue Size ${q}`);
    return q;
  };
  const placeHead = (h: number, stage: 'available' | 'device' | 'used' | 'inFlight', where: string): void => {
    if (h >= q) anomalies.push(`${where} names descriptor ${h}, not below the Queue Size ${q}`);
    else book.place(h, stage);
  };

  if (device) {
    const n = span(device.lastAvail, availIdx, 'available ring past the device');
    for (let k = 0; k < n; k++) placeHead(availAt(device.lastAvail + k), 'available', `avail.ring[${(device.lastAvail + k) % q}]`);
    const sh = privateArray(m, field(m, device.cb, Q.SDEV_SHADOW), q, Q.DSHADOW_SIZE, 'split device shadow', anomalies);
    for (let h = 0; sh && h < q; h++) if (m.u16(sh + h * Q.DSHADOW_SIZE + Q.DSHADOW_FLAGS) & Q.DSHADOW_F_IN_FLIGHT) book.place(h, 'device');
  }
  if (driver) {
    const sh = privateArray(m, field(m, driver.cb, Q.SDRV_SHADOW), q, Q.SHADOW_SIZE, 'split driver shadow', anomalies);
    const driverHas = (h: number): boolean => sh !== 0 && h < q && (m.u16(sh + h * Q.SHADOW_SIZE + Q.SHADOW_FLAGS) & Q.SHADOW_F_IN_FLIGHT) !== 0;
    let n = span(driver.lastUsed, usedIdx, 'used ring past the driver');
    if (n > driver.inFlight) {
      anomalies.push(`used.idx is ${n} past the driver, which has ${driver.inFlight} chains in flight`);
      n = driver.inFlight;
    }
    if (hasFeature(m, driver, F_IN_ORDER)) {
      // 2.7.9: used.idx counts the buffers used, in the order they were made available, while
      // the device may write one used element for a whole run (the others keep what earlier laps
      // left): the used ones are the n oldest the driver has in flight, from its oldest head on,
      // each its descriptor count after the one before.
      let h = field(m, driver.cb, Q.SDRV_OLDEST) & (q - 1);
      for (let k = 0; k < n; k++) {
        if (!driverHas(h)) { anomalies.push(`in order, used chain ${k + 1} of ${n} would be at descriptor ${h}, which the driver does not have in flight`); break; }
        book.place(h, 'used');
        h = (h + Math.max(m.u16(sh + h * Q.SHADOW_SIZE + Q.SHADOW_NDESC), 1)) & (q - 1);
      }
    } else {
      for (let k = 0; k < n; k++) {
        const at = `used.ring[${(driver.lastUsed + k) % q}]`;
        const h = m.u32(usedAt(driver.lastUsed + k) + S.USED_ELEM_ID);
        if (sh !== 0 && h < q && !driverHas(h)) anomalies.push(`${at} names descriptor ${h}, which the driver does not have in flight`);
        else placeHead(h, 'used', at);
      }
    }
    for (let h = 0; sh && h < q; h++) if (driverHas(h)) book.place(h, 'inFlight');
  }

  // Walk each chain through the table's next fields, at most Queue Size descriptors.
  for (const ch of book.list()) {
    book.markHead(ch.head, ch.head, ch.stage);
    let i = ch.head;
    let flags = m.u16(descAt(i) + S.DESC_FLAGS);
    ch.indirect = (flags & S.DESC_F_INDIRECT) !== 0;
    let n = 1;
    while ((flags & S.DESC_F_NEXT) !== 0 && n < q) {
      const next = m.u16(descAt(i) + S.DESC_NEXT);
      if (next >= q) { anomalies.push(`chain ${ch.head}: descriptor ${i} next ${next} is outside the table`); break; }
      if (book.chainOf[next] !== null) { anomalies.push(`chain ${ch.head}: descriptor ${next} is already part of chain ${book.chainOf[next]}`); break; }
      book.markMember(next, ch.head);
      i = next;
      flags = m.u16(descAt(i) + S.DESC_FLAGS);
      n++;
    }
    if ((flags & S.DESC_F_NEXT) !== 0 && n >= q) anomalies.push(`chain ${ch.head} is longer than the Queue Size (or a loop)`);
    ch.descriptors = n;
  }

  const shown = listed(q, opts.maxEntries);
  const descriptors: DescriptorEntry[] = [];
  for (let i = 0; i < shown; i++) {
    const d = descAt(i);
    descriptors.push({
      index: i, addr: m.hex64(d + S.DESC_ADDR), len: m.u32(d + S.DESC_LEN), flags: m.u16(d + S.DESC_FLAGS),
      next: m.u16(d + S.DESC_NEXT), id: null, owner: book.owner[i], chain: book.chainOf[i],
    });
  }
  const split: SplitRings = {
    avail: {
      flags: m.u16(a.driver + S.AVAIL_FLAGS), idx: availIdx,
      ring: Array.from({ length: shown }, (_, i) => availAt(i)), usedEvent: m.u16(a.driver + usedEventOffset(q)),
    },
    used: {
      flags: m.u16(a.device + S.USED_FLAGS), idx: usedIdx,
      ring: Array.from({ length: shown }, (_, i) => ({ id: m.u32(usedAt(i) + S.USED_ELEM_ID), len: m.u32(usedAt(i) + S.USED_ELEM_LEN) })),
      availEvent: m.u16(a.device + availEventOffset(q)),
    },
  };
  return {
    ...base, features: featuresOf(m, drv, dev), driver, device, descriptors, truncated: q - shown, split,
    chains: book.list(), counters: book.counters(driver ? driver.numFree : null),
  };
}
