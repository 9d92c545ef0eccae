// Snapshot of a packed virtqueue (VIRTIO 1.2 §2.8): the descriptor ring with its AVAIL/USED
// flags, the two event suppression structures, both sides' positions and wrap counters when
// their control blocks are in this memory, and every buffer in flight placed on its stage.
// Reads racing memory: every walk is bounded by the Queue Size.
import * as Q from '../../assembly/layout/queue.js';
import * as P from '../../assembly/layout/packed.js';
import { F_IN_ORDER } from '../../assembly/layout/features.js';
import { field, featuresOf, hasFeature, privateArray, sideStatus, type RacingMemory } from './racing-memory.js';
import { ChainBook, listed } from './chain-book.js';
import type { DescriptorEntry, EventSuppression, PackedDeviceState, PackedDriverState, QueueSnapshot, QueueSource, SnapshotOptions } from './snapshot.js';

const MODES = ['enable', 'disable', 'desc', 'reserved'] as const;

function eventAt(m: RacingMemory, at: number): EventSuppression {
  const offWrap = m.load16(at + P.EVENT_OFF_WRAP);
  const flags = m.load16(at + P.EVENT_FLAGS);
  return { offset: offWrap & ((1 << P.EVENT_WRAP_SHIFT) - 1), wrap: offWrap >>> P.EVENT_WRAP_SHIFT, flags, mode: MODES[flags & 3] };
}

/** A ring position: slot and the wrap counter a descriptor there carries (2.8.1). */
interface Pos { slot: number; wrap: number }

export function snapshotPacked(m: RacingMemory, src: QueueSource, opts: SnapshotOptions): QueueSnapshot {
  const anomalies: string[] = [];
  const a = src.areas;
  const q = a.queueSize;
  const base = { name: src.name, layout: src.layout, queueSize: q, areas: { queueSize: q, desc: a.desc, driver: a.driver, device: a.device }, split: null, anomalies };
  if (!(q >= 1 && q <= P.PACKED_MAX_QUEUE_SIZE) || !m.has(a.desc, q * P.PDESC_SIZE) || !m.has(a.driver, P.EVENT_SIZE) || !m.has(a.device, P.EVENT_SIZE)) {
    anomalies.push(`ring areas of ${src.name} (queue size ${q}) are not inside the memory`);
    return { ...base, features: null, driver: null, device: null, descriptors: [], truncated: 0, packed: null, chains: [], counters: new ChainBook(0, false).counters(null) };
  }

  const drv = sideStatus(m, src.driverCb, Q.CB_KIND_PACKED_DRIVER, src, 'packed driver', anomalies);
  const dev = sideStatus(m, src.deviceCb, Q.CB_KIND_PACKED_DEVICE, src, 'packed device', anomalies);
  const slotOf = (v: number, what: string): number => {
    if (v < q) return v;
    anomalies.push(`${what} ${v} is not below the Queue Size ${q}`);
    return 0;
  };
  const driver: PackedDriverState | null = drv && {
    ...drv, nextAvail: slotOf(field(m, drv.cb, Q.PDRV_NEXT_AVAIL), 'driver next avail'), availWrap: field(m, drv.cb, Q.PDRV_AVAIL_WRAP) & 1,
    nextUsed: slotOf(field(m, drv.cb, Q.PDRV_NEXT_USED), 'driver next used'), usedWrap: field(m, drv.cb, Q.PDRV_USED_WRAP) & 1,
    numFree: field(m, drv.cb, Q.PDRV_NUM_FREE), freeId: field(m, drv.cb, Q.PDRV_FREE_ID), inFlight: field(m, drv.cb, Q.PDRV_IN_FLIGHT),
  };
  const device: PackedDeviceState | null = dev && {
    ...dev, nextAvail: slotOf(field(m, dev.cb, Q.PDEV_NEXT_AVAIL), 'device next avail'), availWrap: field(m, dev.cb, Q.PDEV_AVAIL_WRAP) & 1,
    nextUsed: slotOf(field(m, dev.cb, Q.PDEV_NEXT_USED), 'device next used'), usedWrap: field(m, dev.cb, Q.PDEV_USED_WRAP) & 1,
    inFlight: field(m, dev.cb, Q.PDEV_IN_FLIGHT), inFlightDescs: field(m, dev.cb, Q.PDEV_IN_FLIGHT_DESCS),
  };

  const descAt = (s: number): number => a.desc + s * P.PDESC_SIZE;
  const flagsAt = (s: number): number => m.load16(descAt(s) + P.PDESC_FLAGS);
  const idAt = (s: number): number => m.u16(descAt(s) + P.PDESC_ID);
  const isAvail = (f: number, w: number): boolean => ((f & P.PDESC_F_AVAIL) !== 0) === (w === 1) && ((f & P.PDESC_F_USED) !== 0) !== (w === 1);
  const isUsed = (f: number, w: number): boolean => ((f & P.PDESC_F_AVAIL) !== 0) === (w === 1) && ((f & P.PDESC_F_USED) !== 0) === (w === 1);
  // Positions modulo two laps: a wrap counter of 1 is the first lap (it starts at 1).
  const lap = (p: Pos): number => p.slot + (p.wrap ? 0 : q);
  const dist = (from: Pos, to: Pos): number => (lap(to) - lap(from) + 2 * q) % (2 * q);
  const step = (p: Pos, n: number): Pos => {
    let slot = p.slot + n;
    let wrap = p.wrap;
    while (slot >= q) { slot -= q; wrap ^= 1; }
    return { slot, wrap };
  };

  const book = new ChainBook(q, driver !== null);
  const drvShadow = driver ? privateArray(m, field(m, driver.cb, Q.PDRV_SHADOW), q, Q.SHADOW_SIZE, 'packed driver shadow', anomalies) : 0;
  const devShadow = device ? privateArray(m, field(m, device.cb, Q.PDEV_SHADOW), q, Q.DSHADOW_SIZE, 'packed device shadow', anomalies) : 0;
  const deviceHolds = (id: number): boolean => devShadow !== 0 && (m.u16(devShadow + id * Q.DSHADOW_SIZE + Q.DSHADOW_FLAGS) & Q.DSHADOW_F_IN_FLIGHT) !== 0;

  /**
   * Walks the lists written as available from `from`, `slots` ring slots at most, while each
   * descriptor carries `wrap` (or, with `check` off, whatever it carries: slots the device took),
   * calling `found` with each list's first slot, length and buffer id (from its last descriptor).
   */
  const walkLists = (from: Pos, slots: number, check: boolean, found: (first: number, n: number, id: number, indirect: boolean) => void): void => {
    let p = from;
    let k = 0;
    while (k < slots) {
      const first = p.slot;
      let n = 0;
      let f = 0;
      let indirect = false;
      do {
        f = flagsAt(p.slot);
        if (check && !isAvail(f, p.wrap)) return;
        indirect ||= (f & P.PDESC_F_INDIRECT) !== 0;
        n++;
        k++;
        p = step(p, 1);
      } while ((f & P.PDESC_F_NEXT) !== 0 && k < slots);
      if ((f & P.PDESC_F_NEXT) !== 0) return; // the list runs past the walk: a torn read or a list still being written
      found(first, n, idAt(step(p, q - 1).slot), indirect);
    }
  };
  const markList = (first: number, n: number, id: number): void => {
    for (let j = 1; j < n; j++) book.markMember((first + j) % q, id);
  };

  if (device) {
    const nextAvail: Pos = { slot: device.nextAvail, wrap: device.availWrap };
    // Slots the device took and has not written used descriptors over yet.
    const taken = dist({ slot: device.nextUsed, wrap: device.usedWrap }, nextAvail);
    walkLists({ slot: device.nextUsed, wrap: device.usedWrap }, Math.min(taken, q), false, (first, n, id, indirect) => {
      if (id < q && deviceHolds(id) && book.place(id, 'device', first, n, indirect)) { book.markHead(first, id, 'device'); markList(first, n, id); }
      else for (let j = 0; j < n; j++) book.owner[(first + j) % q] = 'device';
    });
    for (let id = 0; devShadow && id < q; id++) {
      if (deviceHolds(id)) book.place(id, 'device', null, m.u16(devShadow + id * Q.DSHADOW_SIZE + Q.DSHADOW_NDESC));
    }
    const avail = driver ? dist(nextAvail, { slot: driver.nextAvail, wrap: driver.availWrap }) : q;
    walkLists(nextAvail, avail, true, (first, n, id, indirect) => {
      if (id >= q) { anomalies.push(`available list at slot ${first} has buffer id ${id}, not below the Queue Size ${q}`); return; }
      if (book.place(id, 'available', first, n, indirect)) { book.markHead(first, id, 'available'); markList(first, n, id); }
      else anomalies.push(`buffer id ${id} is available at slot ${first} and also ${book.get(id)?.stage}`);
    });
  }
  if (driver) {
    let p: Pos = { slot: driver.nextUsed, wrap: driver.usedWrap };
    const end = device ? dist(p, { slot: device.nextUsed, wrap: device.usedWrap }) : q;
    // With IN_ORDER the driver's FIFO of buffer ids in the order they were made available, from
    // the oldest in flight: a used descriptor for id X stands for every buffer before X too (2.8.8).
    const order = drvShadow && hasFeature(m, driver, F_IN_ORDER) ? privateArray(m, field(m, driver.cb, Q.PDRV_ORDER), q, 2, 'packed driver order', anomalies) : 0;
    let orderHead = field(m, driver.cb, Q.PDRV_ORDER_HEAD) % q;
    let outstanding = Math.min(driver.inFlight, q);
    let k = 0;
    /** Places buffer `id` used on its slots from `p` on; moves `p` and `k` past them. */
    const placeUsed = (id: number): void => {
      const nd = drvShadow ? m.u16(drvShadow + id * Q.SHADOW_SIZE + Q.SHADOW_NDESC) : 1;
      const n = Math.min(Math.max(nd, 1), q - k);
      if (book.place(id, 'used', p.slot, n)) { book.markHead(p.slot, id, 'used'); markList(p.slot, n, id); }
      p = step(p, n);
      k += n;
    };
    while (k < end) {
      if (!isUsed(flagsAt(p.slot), p.wrap)) break;
      const id = idAt(p.slot);
      if (id >= q) { anomalies.push(`used descriptor at slot ${p.slot} has buffer id ${id}, not below the Queue Size ${q}`); break; }
      if (!order) { placeUsed(id); continue; }
      let count = 0;
      while (count < outstanding && m.u16(order + ((orderHead + count) % q) * 2) !== id) count++;
      if (count === outstanding) { anomalies.push(`in order, the used descriptor at slot ${p.slot} names buffer id ${id}, which the driver does not have in flight`); break; }
      for (let j = 0; j <= count && k < end; j++) {
        const sid = m.u16(order + ((orderHead + j) % q) * 2);
        if (sid >= q) { anomalies.push(`the driver's in-order list holds buffer id ${sid}, not below the Queue Size ${q}`); break; }
        placeUsed(sid);
      }
      orderHead = (orderHead + count + 1) % q;
      outstanding -= count + 1;
    }
    if (!device) {
      // No device block here: the rest of what the driver has outstanding was made available and
      // is not used yet, taken by the device or not.
      walkLists(p, dist(p, { slot: driver.nextAvail, wrap: driver.availWrap }), false, (first, n, id, indirect) => {
        if (id < q && book.place(id, 'inFlight', first, n, indirect)) { book.markHead(first, id, 'inFlight'); markList(first, n, id); }
        else for (let j = 0; j < n; j++) book.owner[(first + j) % q] = 'driver';
      });
    }
    for (let id = 0; drvShadow && id < q; id++) {
      const e = drvShadow + id * Q.SHADOW_SIZE;
      if (m.u16(e + Q.SHADOW_FLAGS) & Q.SHADOW_F_IN_FLIGHT) book.place(id, 'inFlight', null, m.u16(e + Q.SHADOW_NDESC));
    }
  }

  const shown = listed(q, opts.maxEntries);
  const descriptors: DescriptorEntry[] = [];
  for (let s = 0; s < shown; s++) {
    const d = descAt(s);
    descriptors.push({
      index: s, addr: m.hex64(d + P.PDESC_ADDR), len: m.u32(d + P.PDESC_LEN), flags: flagsAt(s),
      next: null, id: idAt(s), owner: book.owner[s], chain: book.chainOf[s],
    });
  }
  return {
    ...base, features: featuresOf(m, drv, dev), driver, device, descriptors, truncated: q - shown,
    packed: { driverEvent: eventAt(m, a.driver), deviceEvent: eventAt(m, a.device) },
    chains: book.list(), counters: book.counters(driver ? driver.numFree : null),
  };
}
