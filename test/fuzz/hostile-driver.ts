// A driver that breaks the rules, for the device targets: between the device's pops and pushes
// it writes the descriptor table and the available ring (split) or the descriptor ring (packed)
// directly. Mostly chains that are almost right (so the walk goes deep before it fails) with
// one thing wrong: loops, next out of range, nested indirect tables, indirect with NEXT, bad
// table lengths, buffers across region ends or 2^64, writable before readable, avail.idx jumps,
// heads offered twice, wrong wrap counters, flag garbage; and plain scribbles.
import * as S from '../../assembly/layout/split.js';
import * as P from '../../assembly/layout/packed.js';
import * as I from '../../assembly/layout/inflight.js';
import type { PackedDesc } from '../../sim/raw-packed.js';
import type { Desc } from '../../sim/raw-split.js';
import type { Rng } from './harness.js';
import type { CheckedDevice } from './checked-device.js';
import {
  fmtDesc, hostileAddr, hostileFlags, hostileIndex, hostileLen, regionEdge, scribble, type HostileAct,
} from './hostile-values.js';
import { ALIAS_GPA, ARENA_BYTES, SIDE_REGION_BYTES, ringAreas, type RingWorld } from './ring-world.js';

const { DESC_F_NEXT: NEXT, DESC_F_WRITE: WRITE, DESC_F_INDIRECT: INDIRECT } = S;

/** A buffer that mostly translates (so that later rules are reached), else anything. */
function buffer(w: RingWorld, rng: Rng): { addr: bigint; len: number } {
  const r = rng.below(20);
  if (r < 14) {
    const len = 1 + rng.below(128);
    return { addr: BigInt(w.arena + rng.below(ARENA_BYTES - len)), len };
  }
  if (r < 17) {
    const len = 1 + rng.below(64);
    return { addr: regionEdge(w, rng, len), len };
  }
  const len = hostileLen(rng);
  return { addr: hostileAddr(w, rng, len), len };
}

/** An element of a chain: its position, whether it is device-writable, and whether it links on. */
interface Link { addr: bigint; len: number; flags: number; next: number }

/**
 * A well-formed chain of `k` elements (readable ones first), then at most one mutation. `next`
 * of element j is `idx[j + 1]`. Returns the elements and the mutation's name.
 */
function chainWithFault(w: RingWorld, rng: Rng, k: number, idx: number[], tableSize: number, inTable: boolean): { links: Link[]; fault: string } {
  const nRead = rng.below(k + 1);
  const links: Link[] = [];
  for (let j = 0; j < k; j++) {
    const b = buffer(w, rng);
    links.push({ ...b, flags: (j < k - 1 ? NEXT : 0) | (j >= nRead ? WRITE : 0), next: j < k - 1 ? idx[j + 1]! : 0 });
  }
  const j = rng.below(k);
  let fault = 'none';
  switch (rng.below(12)) {
    case 0: links[k - 1]!.flags |= NEXT; links[k - 1]!.next = idx[rng.below(k)]!; fault = 'loop'; break;
    case 1: links[j]!.flags |= NEXT; links[j]!.next = tableSize + rng.below(3) + (rng.chance(0.3) ? 0xfff0 - tableSize : 0); fault = 'next-out'; break;
    case 2: links[j]!.flags ^= WRITE; fault = 'rw-order'; break;
    case 3: links[j]!.flags = hostileFlags(rng) | (links[j]!.flags & NEXT); fault = 'flags'; break;
    case 4: links[j]!.len = 0; fault = 'empty'; break;
    case 5: { const len = hostileLen(rng); links[j] = { ...links[j]!, addr: hostileAddr(w, rng, len), len }; fault = 'buffer'; break; }
    case 6: if (!inTable) { links[j]!.flags |= INDIRECT; fault = j < k - 1 ? 'indirect-mid' : 'indirect-last'; } break;
    case 7: if (inTable) { links[j]!.flags |= INDIRECT; fault = 'nested'; } break;
    default: break;
  }
  return { links, fault };
}

/** Where a table of `bytes` goes in the arena (16-aligned, sometimes not), and its guest address. */
function tablePlace(w: RingWorld, rng: Rng, bytes: number): { at: number; gpa: bigint } {
  // The hostile driver writes guest memory only: the table lies inside the arena.
  const slots = Math.max(1, Math.floor((ARENA_BYTES - bytes - 8) / 16));
  const at = w.arena + 16 * rng.below(slots) + (rng.chance(0.05) ? 8 : 0);
  if (rng.chance(0.2) && bytes <= SIDE_REGION_BYTES) {
    // In the region far from its Wasm offset.
    const alias = w.alias;
    const off = 16 * rng.below((SIDE_REGION_BYTES - bytes) / 16 + 1);
    return { at: alias.offset + off, gpa: ALIAS_GPA + BigInt(off) };
  }
  return { at, gpa: BigInt(at) };
}

/** The length a descriptor gives a table of `n` entries: right, or one of the wrong ones. */
function tableLen(rng: Rng, n: number): number {
  if (rng.chance(0.85)) return n * 16;
  return rng.pick([0, 8, n * 16 - 8, n * 16 + 8, (n + 1) * 16, 0xffff_fff0]);
}

/** Entries of a crafted table: a few, or about Queue Size (as many as the arena holds). */
function tableSizeFor(w: RingWorld, rng: Rng): number {
  const n = rng.chance(0.9) ? 1 + rng.below(Math.min(w.q, 6)) : w.q + rng.below(2);
  return Math.min(n, ARENA_BYTES / 16 - 1);
}

// -------------------------------------------------------------------------------------------
// Split (2.7): descriptor table, available ring.

function splitTable(w: RingWorld, rng: Rng): { desc: Desc; fault: string; entries: string } {
  const n = tableSizeFor(w, rng);
  const { links, fault } = chainWithFault(w, rng, n, [...Array(n).keys()], n, true);
  const { at, gpa } = tablePlace(w, rng, n * 16);
  links.forEach((l, j) => w.split!.writeDesc(j, l, at));
  const flags = INDIRECT | (rng.chance(0.1) ? WRITE : 0) | (rng.chance(0.05) ? NEXT : 0);
  const desc = { addr: gpa, len: tableLen(rng, n), flags, next: hostileIndex(rng, w.q) };
  return { desc, fault: `table:${fault}`, entries: `table at ${at}: [${links.map(fmtDesc).join('; ')}]` };
}

function splitChain(w: RingWorld, rng: Rng): string {
  const q = w.q;
  const raw = w.split!;
  const k = rng.chance(0.9) ? 1 + rng.below(Math.min(q, 4)) : 1 + rng.below(q);
  const start = rng.below(q);
  const step = q === 1 ? 1 : 1 + 2 * rng.below(q / 2); // odd: visits every index of a power-of-two table
  const idx = Array.from({ length: k }, (_, j) => (start + j * step) & (q - 1));
  const { links, fault } = chainWithFault(w, rng, k, idx, q, false);
  let label = fault;
  let entries = '';
  const last = links[k - 1]!;
  if ((last.flags & INDIRECT) !== 0 || rng.chance(0.15)) {
    const t = splitTable(w, rng);
    links[k - 1] = { ...t.desc, flags: t.desc.flags | (last.flags & NEXT), next: last.next };
    label = t.fault;
    entries = `; ${t.entries}`;
  }
  links.forEach((l, j) => raw.writeDesc(idx[j]!, l));
  const publish = rng.chance(0.9);
  if (publish) raw.publish(idx[0]!);
  return `chain:${label}(${links.map((l, j) => `[${idx[j]}] ${fmtDesc(l)}`).join('; ')}${entries}${publish ? `; published at ${raw.availIdx - 1 & 0xffff}` : ''})`;
}

function splitHostileDriver(w: RingWorld, dev: CheckedDevice): HostileAct {
  const raw = w.split!;
  const q = w.q;
  const areas = ringAreas(w);
  return (rng) => {
    switch (rng.below(10)) {
      case 0: case 1: {
        const b = buffer(w, rng);
        const i = rng.below(q);
        const d = { ...b, flags: hostileFlags(rng), next: hostileIndex(rng, q) };
        raw.writeDesc(i, d);
        return `desc([${i}] ${fmtDesc(d)})`;
      }
      case 2: case 3: case 4: return splitChain(w, rng);
      case 5: {
        // An available ring entry at or past avail.idx, and avail.idx moved by anything.
        const idx = raw.availIdx;
        const at = (idx + rng.below(q + 2)) & 0xffff;
        const head = hostileIndex(rng, q);
        raw.setAvailRing(at, head);
        raw.availIdx = idx + rng.pick([0, 1, 1, 2, q, q + 1, 0xffff, 0x8000]);
        return `avail-entry(ring[${at}] = ${head}, avail.idx ${idx} -> ${raw.availIdx})`;
      }
      case 6:
        {
        const last = w.device.position().nextAvail;
        raw.availIdx = rng.pick([raw.availIdx + q + 1, raw.availIdx - 1, last + q, last + q + 1, rng.edgy(16)]);
        return `avail-idx(${raw.availIdx})`;
      }
      case 7: {
        // A head offered again while the device holds its chain.
        const heads = dev.order;
        const head = heads.length > 0 ? heads[rng.below(heads.length)]! : rng.below(q);
        raw.publish(head);
        return `${heads.length > 0 ? 'twice' : 'publish'}(${head})`;
      }
      case 8: {
        const v = rng.edgy(16);
        const field = rng.pick(['availFlags', 'usedEvent', 'usedFlags', 'usedIdx', 'availEvent'] as const);
        raw[field] = v;
        return `fields(${field} = ${v})`;
      }
      default: return scribble(w, rng, [areas.desc, areas.driver, areas.device, [w.arena, w.arenaEnd]]);
    }
  };
}

// -------------------------------------------------------------------------------------------
// Packed (2.8): one descriptor ring; a list is consecutive slots, its buffer id in the last.

const AVAIL = P.PDESC_F_AVAIL;
const USED = P.PDESC_F_USED;
const availBits = (wrap: number): number => (wrap ? AVAIL : USED);

function packedTable(w: RingWorld, rng: Rng): { addr: bigint; len: number; fault: string; entries: string } {
  const n = tableSizeFor(w, rng);
  const { links, fault } = chainWithFault(w, rng, n, [...Array(n).keys()], n, true);
  const { at, gpa } = tablePlace(w, rng, n * 16);
  // In a table only WRITE (and a nested INDIRECT, to be refused) mean anything (2.8.19).
  links.forEach((l, j) => w.packed!.writeDesc(j, { addr: l.addr, len: l.len, id: rng.below(w.q + 1), flags: l.flags }, at));
  return { addr: gpa, len: tableLen(rng, n), fault: `table:${fault}`, entries: `table at ${at}: [${links.map(fmtDesc).join('; ')}]` };
}

/** A buffer id: one the device does not hold, one it holds, or out of range. */
function packedId(w: RingWorld, rng: Rng, dev: CheckedDevice): number {
  const r = rng.below(10);
  if (r < 6) {
    for (let t = 0; t < 4; t++) {
      const id = rng.below(w.q);
      if (!dev.held.has(id)) return id;
    }
    return rng.below(w.q);
  }
  if (r < 8 && dev.order.length > 0) return dev.order[rng.below(dev.order.length)]!;
  return rng.pick([w.q, w.q + 1, 0xffff, rng.edgy(16)]);
}

/** A list written at the device's next slot, made available with each slot's wrap counter. */
function packedList(w: RingWorld, rng: Rng, dev: CheckedDevice): string {
  const q = w.q;
  const raw = w.packed!;
  const k = rng.chance(0.9) ? 1 + rng.below(Math.min(q, 4)) : 1 + rng.below(q + 1);
  const { links, fault } = chainWithFault(w, rng, k, [...Array(k).keys()], q, false);
  let label = fault === 'loop' || fault === 'next-out' ? 'endless' : fault;
  let entries = '';
  const id = packedId(w, rng, dev);
  const pos = w.device.position();
  let slot = pos.nextAvail;
  let wrap = pos.availWrap;
  const descs: { slot: number; d: PackedDesc }[] = [];
  const wrongWrap = rng.chance(0.08) && k > 1 ? 1 + rng.below(k - 1) : -1;
  const raw16 = rng.chance(0.04);
  for (let j = 0; j < k; j++) {
    let l = links[j]!;
    if (j === k - 1 && ((l.flags & INDIRECT) !== 0 || rng.chance(0.12))) {
      const t = packedTable(w, rng);
      l = { addr: t.addr, len: t.len, flags: (l.flags & NEXT) | INDIRECT | (rng.chance(0.1) ? WRITE : 0), next: 0 };
      label = t.fault;
      entries = `; ${t.entries}`;
    }
    const w2 = j === wrongWrap ? wrap ^ 1 : wrap;
    const flags = raw16 ? rng.edgy(16) : (l.flags & ~(AVAIL | USED)) | availBits(w2);
    descs.push({ slot, d: { addr: l.addr, len: l.len, id: rng.chance(0.9) || j === k - 1 ? id : rng.below(q), flags } });
    if (++slot === q) { slot = 0; wrap ^= 1; }
  }
  if (wrongWrap >= 0) label = 'wrong-wrap';
  if (raw16) label = 'raw-flags';
  // The first descriptor's flags last, as a driver publishes a list (2.8.6).
  for (const x of [...descs.slice(1), descs[0]!]) raw.writeDesc(x.slot, x.d);
  return `list:${label}(${descs.map((x) => `[${x.slot}] ${fmtDesc(x.d)}`).join('; ')}${entries})`;
}

function packedHostileDriver(w: RingWorld, dev: CheckedDevice): HostileAct {
  const raw = w.packed!;
  const q = w.q;
  const areas = ringAreas(w);
  return (rng) => {
    switch (rng.below(10)) {
      case 0: case 1: {
        const b = buffer(w, rng);
        const flags = (hostileFlags(rng) & ~(AVAIL | USED)) | rng.pick([0, AVAIL, USED, AVAIL | USED]);
        const s = rng.below(q);
        const d = { ...b, id: packedId(w, rng, dev), flags };
        raw.writeDesc(s, d);
        return `desc([${s}] ${fmtDesc(d)})`;
      }
      case 2: case 3: case 4: case 5: return packedList(w, rng, dev);
      case 6: {
        // Availability bits of one slot flipped: to available in either lap, used, or neither.
        const s = rng.below(q);
        const d = raw.readDesc(s);
        const flags = (d.flags & ~(AVAIL | USED)) | rng.pick([0, AVAIL, USED, AVAIL | USED]);
        raw.writeDesc(s, { ...d, flags });
        return `avail-bits([${s}] f${flags.toString(16)})`;
      }
      case 7: {
        const area = rng.chance(0.7) ? 'driver' : 'device';
        const offWrap = rng.edgy(16);
        const flags = rng.chance(0.7) ? rng.below(4) : rng.edgy(16);
        raw.setEvent(area, offWrap, flags);
        return `event:${area}(off_wrap ${offWrap}, flags ${flags})`;
      }
      default: return scribble(w, rng, [areas.desc, areas.driver, areas.device, [w.arena, w.arenaEnd]]);
    }
  };
}

/**
 * The front-end writes the inflight region too (it is shared with it): any bytes, or a free list
 * head (packed) pointing anywhere.
 */
function inflightScribble(w: RingWorld, rng: Rng): string {
  const [a] = w.inflight!;
  if (w.layout === 'packed' && rng.chance(0.5)) {
    const field = rng.pick([I.IPACKED_FREE_HEAD, I.IPACKED_OLD_FREE_HEAD]);
    const v = rng.chance(0.5) ? rng.below(w.q + 2) : rng.edgy(16);
    w.engine.view.setUint16(a + field, v, true);
    return `inflight(free head field ${field} = ${v})`;
  }
  return `inflight:${scribble(w, rng, [w.inflight!])}`;
}

export function hostileDriver(w: RingWorld, dev: CheckedDevice): HostileAct {
  const ring = w.layout === 'split' ? splitHostileDriver(w, dev) : packedHostileDriver(w, dev);
  return w.inflight ? (rng) => (rng.chance(0.1) ? inflightScribble(w, rng) : ring(rng)) : ring;
}
