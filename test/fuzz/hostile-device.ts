// A device that breaks the rules, for the driver targets: between the driver's calls it writes
// used elements (split) or used descriptors (packed) directly: ids not in flight, out of range or
// inside a chain, lengths past the writable bytes, used.idx jumps, wrong wrap counters and flags,
// completions out of order; and plain scribbles over the rings.
import * as Q from '../../assembly/layout/queue.js';
import * as P from '../../assembly/layout/packed.js';
import type { Rng } from './harness.js';
import type { CheckedDriver } from './checked-driver.js';
import { fmtDesc, scribble, type HostileAct } from './hostile-values.js';
import { ringAreas, type RingWorld } from './ring-world.js';

/** What a hostile device aims with: a driver's control block, its layout and Queue Size (a RingWorld is one). */
export interface AimedDriver {
  engine: RingWorld['engine'];
  layout: RingWorld['layout'];
  driver: { cb: number };
  q: number;
}

/** What the driver's private state says about descriptor / id `i` (the device cannot see it; the fuzzer aims with it). */
function shadowOf(w: AimedDriver, i: number): { inFlight: boolean; writeLen: number; next: number } {
  const shadow = w.engine.u32[(w.driver.cb + (w.layout === 'split' ? Q.SDRV_SHADOW : Q.PDRV_SHADOW)) >>> 2]!;
  const e = shadow + i * Q.SHADOW_SIZE;
  return {
    inFlight: (w.engine.u16[(e + Q.SHADOW_FLAGS) >>> 1]! & Q.SHADOW_F_IN_FLIGHT) !== 0,
    writeLen: w.engine.u32[(e + Q.SHADOW_WRITE_LEN) >>> 2]!,
    next: w.engine.u16[(e + Q.SHADOW_NEXT) >>> 1]!,
  };
}

/** A used id: a head / id in flight, a descriptor inside a chain, a free one, or out of range. */
export function usedId(w: AimedDriver, rng: Rng, bits: 16 | 32): number {
  const q = w.q;
  const r = rng.below(10);
  if (r < 6) {
    for (let t = 0; t < 6; t++) {
      const i = rng.below(q);
      if (shadowOf(w, i).inFlight) return r === 0 && w.layout === 'split' ? shadowOf(w, i).next : i;
    }
  }
  if (r < 8) return rng.below(q);
  return rng.pick([q, q + 1, bits === 16 ? 0xffff : 0xffff_ffff, rng.edgy(bits)]);
}

/** A used length for `id`: within its writable bytes, exactly them, one past, or anything. */
export function usedLen(w: AimedDriver, rng: Rng, id: number): number {
  const cap = id < w.q ? shadowOf(w, id).writeLen : 0;
  switch (rng.below(8)) {
    case 0: return 0;
    case 1: case 2: return cap;
    case 3: return cap + 1;
    case 4: return rng.edgy(32);
    default: return rng.below(cap + 1);
  }
}

function splitHostileDevice(w: RingWorld, drv: CheckedDriver): HostileAct {
  const raw = w.split!;
  const q = w.q;
  const areas = ringAreas(w);
  return (rng) => {
    switch (rng.below(10)) {
      case 0: case 1: case 2: case 3: {
        // A used element at or past used.idx, published by one or more, or not at all.
        const idx = raw.usedIdx;
        const id = usedId(w, rng, 32);
        const at = (idx + (rng.chance(0.8) ? 0 : rng.below(q + 1))) & 0xffff;
        const len = usedLen(w, rng, id);
        raw.setUsedElem(at, id, len);
        raw.usedIdx = idx + rng.pick([0, 1, 1, 1, 1, 2, drv.inFlight.size, drv.inFlight.size + 1]);
        return `used-elem(ring[${at}] = ${id}/${len}, used.idx ${idx} -> ${raw.usedIdx})`;
      }
      case 4:
        raw.usedIdx = rng.pick([raw.usedIdx + drv.inFlight.size + 1, raw.usedIdx - 1, raw.usedIdx + 0x8000, rng.edgy(16)]);
        return `used-idx(${raw.usedIdx})`;
      case 5: {
        // The same id twice in a row.
        const idx = raw.usedIdx;
        const id = usedId(w, rng, 32);
        raw.setUsedElem(idx, id, 0);
        raw.setUsedElem((idx + 1) & 0xffff, id, 0);
        raw.usedIdx = idx + 2;
        return `used-twice(${id} at ${idx})`;
      }
      case 6:
        const v = rng.edgy(16);
        const field = rng.chance(0.5) ? 'usedFlags' : 'availEvent';
        raw[field] = v;
        return `fields(${field} = ${v})`;
      default: return scribble(w, rng, [areas.desc, areas.driver, areas.device, [w.arena, w.arenaEnd]]);
    }
  };
}

function packedHostileDevice(w: RingWorld): HostileAct {
  const raw = w.packed!;
  const q = w.q;
  const areas = ringAreas(w);
  const u32 = w.engine.u32;
  return (rng) => {
    switch (rng.below(10)) {
      case 0: case 1: case 2: case 3: case 4: {
        // A used descriptor at (or past) the driver's next used slot, with the used bits of that
        // slot's lap, of the wrong lap, available-looking, or any 16 bits.
        const cb = w.driver.cb;
        let slot = u32[(cb + Q.PDRV_NEXT_USED) >>> 2]! + (rng.chance(0.8) ? 0 : rng.below(q));
        let wrap = u32[(cb + Q.PDRV_USED_WRAP) >>> 2]!;
        if (slot >= q) { slot -= q; wrap ^= 1; }
        const id = usedId(w, rng, 16) & 0xffff;
        const len = usedLen(w, rng, id);
        const used = wrap ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0;
        const bits = rng.pick([used, used, used, used ^ (P.PDESC_F_AVAIL | P.PDESC_F_USED), P.PDESC_F_AVAIL, P.PDESC_F_USED]);
        const flags = rng.chance(0.05) ? rng.edgy(16) : bits | (rng.chance(0.7) ? P.PDESC_F_WRITE : 0) | (rng.chance(0.05) ? rng.below(8) : 0);
        const d = { ...raw.readDesc(slot), len, id, flags };
        raw.writeDesc(slot, d);
        return `used-desc([${slot}] ${fmtDesc(d)}, driver at wrap ${wrap})`;
      }
      case 5: {
        const area = rng.chance(0.7) ? 'device' : 'driver';
        const offWrap = rng.edgy(16);
        const flags = rng.chance(0.7) ? rng.below(4) : rng.edgy(16);
        raw.setEvent(area, offWrap, flags);
        return `event:${area}(off_wrap ${offWrap}, flags ${flags})`;
      }
      default: return scribble(w, rng, [areas.desc, areas.driver, areas.device, [w.arena, w.arenaEnd]]);
    }
  };
}

export function hostileDevice(w: RingWorld, drv: CheckedDriver): HostileAct {
  return w.layout === 'split' ? splitHostileDevice(w, drv) : packedHostileDevice(w);
}
