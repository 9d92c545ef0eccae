// Renders snapshots (src/viz/snapshot.ts) as pictures (morph.ts: elements as plain objects): the
// descriptor table or ring coloured by owner, the split rings or the packed event suppression
// structures, both sides' positions, the chains in flight, mempool occupancy and counters. The
// same for the local stepper (written out as HTML) and a live back-end (patched into the page in
// place): it only ever sees a Snapshot. Every value shown also sits in a data attribute
// (data-k="driver.availIdx", tr[data-owner]) so tests can read the page as a person does.
import type { DescriptorEntry, PoolSnapshot, QueueSnapshot, EventSuppression } from '../src/viz/snapshot.js';
import { h, type Kid, type VElement } from './morph.js';

/** Where an engine error happened, to show it on that entry. */
export interface FaultMark {
  area: 'desc' | 'avail' | 'used';
  index: number;
  name: string;
  section: string;
  message: string;
  /** The operation that met it (1-based in the history), when known. */
  op?: number;
}

/** A definition list of named values, each with its key in data-k. */
export function kv(prefix: string, values: object): VElement {
  return h('dl', { class: 'kv' }, Object.entries(values).map(([k, v]) =>
    [h('dt', null, String(k)), h('dd', { 'data-k': prefix ? `${prefix}.${k}` : k }, String(v))]));
}

const SPLIT_FLAGS: [number, string][] = [[1, 'NEXT'], [2, 'WRITE'], [4, 'INDIRECT']];
const PACKED_FLAGS: [number, string][] = [...SPLIT_FLAGS, [0x80, 'AVAIL'], [0x8000, 'USED']];

function flagNames(flags: number, names: [number, string][]): string {
  return names.filter(([b]) => flags & b).map(([, n]) => n).join(' ') || '-';
}

const faultBadge = (f: FaultMark, title?: string): Kid => [' ', h('span', { class: 'badge', title }, `${f.name} §${f.section}`)];

function descRow(d: DescriptorEntry, packed: boolean, fault: FaultMark | undefined): VElement {
  const bad = fault && fault.area === 'desc' && fault.index === d.index;
  return h('tr', { 'data-index': d.index, 'data-owner': d.owner, 'data-chain': d.chain ?? '', class: bad && 'fault' },
    h('td', null, d.index), h('td', null, String(d.addr)), h('td', null, d.len),
    h('td', { class: 'l' }, `0x${d.flags.toString(16)} ${flagNames(d.flags, packed ? PACKED_FLAGS : SPLIT_FLAGS)}`),
    h('td', null, String(packed ? d.id : d.next)),
    h('td', { class: 'l' }, `${d.owner}${d.chain === null ? '' : ` (${packed ? 'id' : 'head'} ${d.chain})`}`, bad && faultBadge(fault!, fault!.message)));
}

const legend = (name: string): VElement => h('span', { style: `background:var(--${name})` }, name === 'chain' ? 'part of a chain' : name);

function descriptorTable(q: QueueSnapshot, fault: FaultMark | undefined): Kid {
  const packed = q.layout === 'packed';
  return [
    h('h3', null, packed ? 'descriptor ring (§2.8.13)' : 'descriptor table (§2.7.5)'),
    h('p', { class: 'legend' }, ['free', 'driver', 'device', 'chain'].map(legend)),
    h('table', { class: 'descs' },
      h('thead', null, h('tr', null, [packed ? 'slot' : 'index', 'addr', 'len', 'flags', packed ? 'id' : 'next', 'owner'].map((t) => h('th', null, t)))),
      h('tbody', null, q.descriptors.map((d) => descRow(d, packed, fault)))),
    q.truncated ? h('p', null, `${q.truncated} more entries not listed`) : null,
  ];
}

/** Ring entries from `from` up to `to` (16-bit free-running) are pending; `mark` is where the reader is. */
function ringCells(values: string[], q: number, from: number | null, to: number, mark: number | null, area: string, fault: FaultMark | undefined): VElement {
  const pending = from === null ? 0 : (to - from) & 0xffff;
  return h('div', { class: 'ring', 'data-ring': area }, values.map((v, i) => {
    const isPending = from !== null && ((i - from) % q + q) % q < Math.min(pending, q);
    const cls = [isPending ? 'pending' : '', mark !== null && mark % q === i ? 'mark' : ''].filter(Boolean).join(' ');
    return h('span', { 'data-i': i, class: cls }, v, fault && fault.area === area && fault.index === i && faultBadge(fault));
  }));
}

function splitRings(q: QueueSnapshot, fault: FaultMark | undefined): Kid {
  const s = q.split;
  if (!s) return null;
  const dev = q.device as { lastAvail?: number } | null;
  const drv = q.driver as { lastUsed?: number } | null;
  const n = q.queueSize;
  return [
    h('h3', null, 'available ring (driver area, §2.7.6)'),
    kv('avail', { flags: s.avail.flags, idx: s.avail.idx, used_event: s.avail.usedEvent }),
    ringCells(s.avail.ring.map(String), n, dev?.lastAvail ?? null, s.avail.idx, dev?.lastAvail ?? null, 'avail', fault),
    h('h3', null, 'used ring (device area, §2.7.8)'),
    kv('used', { flags: s.used.flags, idx: s.used.idx, avail_event: s.used.availEvent }),
    ringCells(s.used.ring.map((e) => `${e.id}:${e.len}`), n, drv?.lastUsed ?? null, s.used.idx, drv?.lastUsed ?? null, 'used', fault),
  ];
}

const event = (e: EventSuppression): Record<string, unknown> => ({ desc: e.offset, wrap: e.wrap, flags: `${e.flags} (${e.mode})` });
const FLEX = 'display:flex;gap:2rem';

function packedEvents(q: QueueSnapshot): Kid {
  const p = q.packed;
  if (!p) return null;
  return [
    h('h3', null, 'event suppression (§2.8.10)'),
    h('div', { style: FLEX },
      h('div', null, h('b', null, 'driver area'), " (driver's wish for interrupts)", kv('driverEvent', event(p.driverEvent))),
      h('div', null, h('b', null, 'device area'), " (device's wish for notifications)", kv('deviceEvent', event(p.deviceEvent)))),
  ];
}

function side(name: string, s: object | null): VElement {
  if (!s) return h('div', null, h('b', null, name), ': not in this memory');
  const { cb, status, detail, error, section, ...rest } = s as Record<string, unknown>;
  const health = status === 0 ? 'healthy' : `${error} (§${section}, detail ${detail})`;
  return h('div', null, h('b', null, name), ' ', h('small', null, `cb ${cb}`), kv(name, { ...rest, status: health }));
}

export function faultBox(f: FaultMark): VElement {
  return h('div', { class: 'error', id: 'fault', 'data-name': f.name, 'data-section': f.section }, h('b', null, f.name),
    ` VIRTIO 1.2 §${f.section}${f.op ? ` at operation ${f.op}` : ''}, ${f.area === 'desc' ? 'descriptor' : `${f.area} ring entry`} ${f.index}`, h('br', null), f.message);
}

export function renderQueue(q: QueueSnapshot, fault?: FaultMark): VElement {
  const chains = q.chains.map((c) => h('li', { 'data-head': c.head, 'data-stage': c.stage }, `${q.layout === 'packed' ? 'id' : 'head'} ${c.head}: ${c.stage}` +
    `${c.descriptors === null ? '' : `, ${c.descriptors} descriptor${c.descriptors === 1 ? '' : 's'}`}${c.indirect ? ', indirect' : ''}${c.slot === null ? '' : `, slot ${c.slot}`}`));
  return h('section', { class: 'queue', 'data-queue': q.name },
    h('div', null, h('h2', null, `${q.name}: ${q.layout}, Queue Size ${q.queueSize}, features ${q.features ?? '?'}`),
      fault && faultBox(fault), descriptorTable(q, fault)),
    h('div', null, q.layout === 'split' ? splitRings(q, fault) : packedEvents(q),
      h('h3', null, 'sides'), h('div', { style: FLEX }, side('driver', q.driver), side('device', q.device)),
      h('h3', null, 'chains in flight'), kv('chains', q.counters), h('ul', { id: 'chains' }, chains),
      q.anomalies.length > 0 && h('ul', null, q.anomalies.map((a) => h('li', { class: 'anomaly' }, a)))));
}

export function renderPool(p: PoolSnapshot): VElement {
  if (p.error) return h('div', { class: 'pool' }, h('h3', null, `mempool ${p.name}`), h('p', { class: 'anomaly' }, p.error));
  const pct = p.size ? (100 * p.inUse) / p.size : 0;
  return h('div', { class: 'pool', 'data-pool': p.name }, h('h3', null, `mempool ${p.name}`),
    h('div', { class: 'bar', title: `${p.inUse} of ${p.size} in use` }, h('div', { style: `width:${pct.toFixed(1)}%` })),
    kv(`pool.${p.name}`, { size: p.size, inUse: p.inUse, free: p.free, ring: p.ring }));
}
