// Renders snapshots (src/viz/snapshot.ts) as HTML: the descriptor table or ring coloured by
// owner, the split rings or the packed event suppression structures, both sides' positions, the
// chains in flight, mempool occupancy and counters. The same for the local stepper and a live
// back-end: it only ever sees a Snapshot. Every value shown also sits in a data attribute
// (data-k="driver.availIdx", tr[data-owner]) so tests can read the page as a person does.
import type { DescriptorEntry, PoolSnapshot, QueueSnapshot, EventSuppression } from '../src/viz/snapshot.js';

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

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => ESC[c]);

/** A definition list of named values, each with its key in data-k. */
export function kv(prefix: string, values: object): string {
  return `<dl class="kv">${Object.entries(values).map(([k, v]) =>
    `<dt>${esc(k)}</dt><dd data-k="${esc(prefix ? `${prefix}.${k}` : k)}">${esc(v)}</dd>`).join('')}</dl>`;
}

const SPLIT_FLAGS: [number, string][] = [[1, 'NEXT'], [2, 'WRITE'], [4, 'INDIRECT']];
const PACKED_FLAGS: [number, string][] = [...SPLIT_FLAGS, [0x80, 'AVAIL'], [0x8000, 'USED']];

function flagNames(flags: number, names: [number, string][]): string {
  return names.filter(([b]) => flags & b).map(([, n]) => n).join(' ') || '-';
}

function descRow(d: DescriptorEntry, packed: boolean, fault: FaultMark | undefined): string {
  const bad = fault && fault.area === 'desc' && fault.index === d.index;
  const badge = bad ? ` <span class="badge" title="${esc(fault!.message)}">${esc(fault!.name)} §${esc(fault!.section)}</span>` : '';
  return `<tr data-index="${d.index}" data-owner="${d.owner}" data-chain="${d.chain ?? ''}"${bad ? ' class="fault"' : ''}>` +
    `<td>${d.index}</td><td>${esc(d.addr)}</td><td>${d.len}</td><td class="l">0x${d.flags.toString(16)} ${flagNames(d.flags, packed ? PACKED_FLAGS : SPLIT_FLAGS)}</td>` +
    `<td>${packed ? d.id : d.next}</td><td class="l">${d.owner}${d.chain === null ? '' : ` (${packed ? 'id' : 'head'} ${d.chain})`}${badge}</td></tr>`;
}

function descriptorTable(q: QueueSnapshot, fault: FaultMark | undefined): string {
  const packed = q.layout === 'packed';
  const rows = q.descriptors.map((d) => descRow(d, packed, fault)).join('');
  const more = q.truncated ? `<p>${q.truncated} more entries not listed</p>` : '';
  return `<h3>${packed ? 'descriptor ring (§2.8.13)' : 'descriptor table (§2.7.5)'}</h3>` +
    `<p class="legend"><span style="background:var(--free)">free</span><span style="background:var(--driver)">driver</span>` +
    `<span style="background:var(--device)">device</span><span style="background:var(--chain)">part of a chain</span></p>` +
    `<table class="descs"><thead><tr><th>${packed ? 'slot' : 'index'}</th><th>addr</th><th>len</th><th>flags</th><th>${packed ? 'id' : 'next'}</th><th>owner</th></tr></thead>` +
    `<tbody>${rows}</tbody></table>${more}`;
}

/** Ring entries from `from` up to `to` (16-bit free-running) are pending; `mark` is where the reader is. */
function ringCells(values: string[], q: number, from: number | null, to: number, mark: number | null, area: string, fault: FaultMark | undefined): string {
  const pending = from === null ? 0 : (to - from) & 0xffff;
  return `<div class="ring" data-ring="${area}">${values.map((v, i) => {
    const isPending = from !== null && ((i - from) % q + q) % q < Math.min(pending, q);
    const cls = [isPending ? 'pending' : '', mark !== null && mark % q === i ? 'mark' : ''].filter(Boolean).join(' ');
    const bad = fault && fault.area === area && fault.index === i ? ` <span class="badge">${esc(fault.name)} §${esc(fault.section)}</span>` : '';
    return `<span data-i="${i}" class="${cls}">${esc(v)}${bad}</span>`;
  }).join('')}</div>`;
}

function splitRings(q: QueueSnapshot, fault: FaultMark | undefined): string {
  const s = q.split;
  if (!s) return '';
  const dev = q.device as { lastAvail?: number } | null;
  const drv = q.driver as { lastUsed?: number } | null;
  const n = q.queueSize;
  return `<h3>available ring (driver area, §2.7.6)</h3>` +
    kv('avail', { flags: s.avail.flags, idx: s.avail.idx, used_event: s.avail.usedEvent }) +
    ringCells(s.avail.ring.map(String), n, dev?.lastAvail ?? null, s.avail.idx, dev?.lastAvail ?? null, 'avail', fault) +
    `<h3>used ring (device area, §2.7.8)</h3>` +
    kv('used', { flags: s.used.flags, idx: s.used.idx, avail_event: s.used.availEvent }) +
    ringCells(s.used.ring.map((e) => `${e.id}:${e.len}`), n, drv?.lastUsed ?? null, s.used.idx, drv?.lastUsed ?? null, 'used', fault);
}

const event = (e: EventSuppression): Record<string, unknown> => ({ desc: e.offset, wrap: e.wrap, flags: `${e.flags} (${e.mode})` });

function packedEvents(q: QueueSnapshot): string {
  const p = q.packed;
  if (!p) return '';
  return `<h3>event suppression (§2.8.10)</h3><div style="display:flex;gap:2rem">` +
    `<div><b>driver area</b> (driver's wish for interrupts)${kv('driverEvent', event(p.driverEvent))}</div>` +
    `<div><b>device area</b> (device's wish for notifications)${kv('deviceEvent', event(p.deviceEvent))}</div></div>`;
}

function side(name: string, s: object | null): string {
  if (!s) return `<div><b>${name}</b>: not in this memory</div>`;
  const { cb, status, detail, error, section, ...rest } = s as Record<string, unknown>;
  const health = status === 0 ? 'healthy' : `${error} (§${section}, detail ${detail})`;
  return `<div><b>${name}</b> <small>cb ${esc(cb)}</small>${kv(name, { ...rest, status: health })}</div>`;
}

export function faultBox(f: FaultMark): string {
  return `<div class="error" id="fault" data-name="${esc(f.name)}" data-section="${esc(f.section)}"><b>${esc(f.name)}</b> ` +
    `VIRTIO 1.2 §${esc(f.section)}${f.op ? ` at operation ${f.op}` : ''}, ${f.area === 'desc' ? 'descriptor' : `${f.area} ring entry`} ${f.index}<br>${esc(f.message)}</div>`;
}

export function renderQueue(q: QueueSnapshot, fault?: FaultMark): string {
  const chains = q.chains.map((c) => `<li data-head="${c.head}" data-stage="${c.stage}">${q.layout === 'packed' ? 'id' : 'head'} ${c.head}: ${c.stage}` +
    `${c.descriptors === null ? '' : `, ${c.descriptors} descriptor${c.descriptors === 1 ? '' : 's'}`}${c.indirect ? ', indirect' : ''}${c.slot === null ? '' : `, slot ${c.slot}`}</li>`).join('');
  const anomalies = q.anomalies.map((a) => `<li class="anomaly">${esc(a)}</li>`).join('');
  return `<section class="queue" data-queue="${esc(q.name)}">` +
    `<div><h2>${esc(q.name)}: ${q.layout}, Queue Size ${q.queueSize}, features ${esc(q.features ?? '?')}</h2>` +
    (fault ? faultBox(fault) : '') + descriptorTable(q, fault) + `</div>` +
    `<div>${q.layout === 'split' ? splitRings(q, fault) : packedEvents(q)}` +
    `<h3>sides</h3><div style="display:flex;gap:2rem">${side('driver', q.driver)}${side('device', q.device)}</div>` +
    `<h3>chains in flight</h3>${kv('chains', q.counters)}<ul id="chains">${chains}</ul>` +
    (anomalies ? `<ul>${anomalies}</ul>` : '') + `</div></section>`;
}

export function renderPool(p: PoolSnapshot): string {
  if (p.error) return `<div class="pool"><h3>mempool ${esc(p.name)}</h3><p class="anomaly">${esc(p.error)}</p></div>`;
  const pct = p.size ? (100 * p.inUse) / p.size : 0;
  return `<div class="pool" data-pool="${esc(p.name)}"><h3>mempool ${esc(p.name)}</h3>` +
    `<div class="bar" title="${p.inUse} of ${p.size} in use"><div style="width:${pct.toFixed(1)}%"></div></div>` +
    kv(`pool.${p.name}`, { size: p.size, inUse: p.inUse, free: p.free, ring: p.ring }) + `</div>`;
}
