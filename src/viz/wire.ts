// The live stream's compact form of a Snapshot (snapshot.ts): the per-entry lists of a queue
// (descriptors, chains in flight, split used elements) sent as columns, one array or string a
// field, instead of one JSON object an entry. A live frame of two 256-entry split rings drops from
// about 100 KB of JSON to about a third of that, and the per-frame cost a viewer puts on the
// dataplane's process is mostly writing those bytes (bench/viz.bench.ts). Lossless:
// unpackSnapshot(packSnapshot(s)) deep-equals s. Browser-safe (the page imports it).
import type {
  ChainInFlight, ChainStage, DescriptorEntry, Owner, QueueSnapshot, Snapshot, SplitRings,
} from './snapshot.js';

/** Owners and stages as one character each. */
const OWNER_CODE: Record<Owner, string> = { free: 'f', driver: 'r', device: 'd', chain: 'c' };
const STAGE_CODE: Record<ChainStage, string> = { available: 'a', device: 'd', used: 'u', inFlight: 'i' };
const OWNERS = new Map(Object.entries(OWNER_CODE).map(([k, v]) => [v, k as Owner]));
const STAGES = new Map(Object.entries(STAGE_CODE).map(([k, v]) => [v, k as ChainStage]));

/** Descriptors as columns; entry i of every column is descriptors[i]. Null numbers are -1. */
export interface DescriptorColumns {
  /** The first entry's index when the indices run from it one by one, else null and `index` lists them. */
  from: number | null;
  index: number[] | null;
  /** The addresses in hex without '0x', comma separated. */
  addr: string;
  len: number[];
  flags: number[];
  /** Split: next. Packed: id. */
  link: number[];
  /** One character an entry: f free, r driver, d device, c chain. */
  owner: string;
  chain: number[];
}

/** Chains in flight as columns. Null numbers are -1. */
export interface ChainColumns {
  head: number[];
  /** One character a chain: a available, d device, u used, i inFlight. */
  stage: string;
  descriptors: number[];
  /** '1' indirect, '0' not, a character a chain. */
  indirect: string;
  slot: number[];
}

export type WireSplitRings = {
  avail: SplitRings['avail'];
  used: Omit<SplitRings['used'], 'ring'> & { ids: number[]; lens: number[] };
};

export type WireQueue = Omit<QueueSnapshot, 'descriptors' | 'chains' | 'split'> & {
  descriptors: DescriptorColumns;
  chains: ChainColumns;
  split: WireSplitRings | null;
};

export interface WireSnapshot extends Omit<Snapshot, 'queues'> {
  /** Marks the columnar form (a page reading a plain Snapshot sees no `queues`). */
  wire: 1;
  queues: WireQueue[];
}

const orNeg = (v: number | null): number => (v === null ? -1 : v);
const orNull = (v: number | undefined): number | null => (v === undefined || v < 0 ? null : v);

function packDescriptors(ds: readonly DescriptorEntry[], layout: QueueSnapshot['layout']): DescriptorColumns {
  const from = ds.length > 0 ? ds[0]!.index : 0;
  const consecutive = ds.every((d, i) => d.index === from + i);
  return {
    from: consecutive ? from : null,
    index: consecutive ? null : ds.map((d) => d.index),
    addr: ds.map((d) => d.addr.startsWith('0x') ? d.addr.slice(2) : d.addr).join(','),
    len: ds.map((d) => d.len),
    flags: ds.map((d) => d.flags),
    link: ds.map((d) => orNeg(layout === 'split' ? d.next : d.id)),
    owner: ds.map((d) => OWNER_CODE[d.owner]).join(''),
    chain: ds.map((d) => orNeg(d.chain)),
  };
}

function unpackDescriptors(c: DescriptorColumns, layout: QueueSnapshot['layout']): DescriptorEntry[] {
  const addrs = c.addr === '' ? [] : c.addr.split(',');
  return c.len.map((len, i) => {
    const link = orNull(c.link[i]);
    return {
      index: c.index ? c.index[i]! : c.from! + i,
      addr: `0x${addrs[i] ?? ''}`,
      len,
      flags: c.flags[i]!,
      next: layout === 'split' ? link : null,
      id: layout === 'split' ? null : link,
      owner: OWNERS.get(c.owner[i]!) ?? 'driver',
      chain: orNull(c.chain[i]),
    };
  });
}

function packChains(cs: readonly ChainInFlight[]): ChainColumns {
  return {
    head: cs.map((c) => c.head),
    stage: cs.map((c) => STAGE_CODE[c.stage]).join(''),
    descriptors: cs.map((c) => orNeg(c.descriptors)),
    indirect: cs.map((c) => (c.indirect ? '1' : '0')).join(''),
    slot: cs.map((c) => orNeg(c.slot)),
  };
}

function unpackChains(c: ChainColumns): ChainInFlight[] {
  return c.head.map((head, i) => ({
    head,
    stage: STAGES.get(c.stage[i]!) ?? 'inFlight',
    descriptors: orNull(c.descriptors[i]),
    indirect: c.indirect[i] === '1',
    slot: orNull(c.slot[i]),
  }));
}

function packQueue(q: QueueSnapshot): WireQueue {
  const { descriptors, chains, split, ...rest } = q;
  return {
    ...rest,
    descriptors: packDescriptors(descriptors, q.layout),
    chains: packChains(chains),
    split: split && {
      avail: split.avail,
      used: {
        flags: split.used.flags, idx: split.used.idx, availEvent: split.used.availEvent,
        ids: split.used.ring.map((e) => e.id), lens: split.used.ring.map((e) => e.len),
      },
    },
  };
}

function unpackQueue(w: WireQueue): QueueSnapshot {
  const { descriptors, chains, split, ...rest } = w;
  return {
    ...rest,
    descriptors: unpackDescriptors(descriptors, w.layout),
    chains: unpackChains(chains),
    split: split && {
      avail: split.avail,
      used: {
        flags: split.used.flags, idx: split.used.idx,
        ring: split.used.ids.map((id, i) => ({ id, len: split.used.lens[i]! })),
        availEvent: split.used.availEvent,
      },
    },
  };
}

/** The snapshot in columns. */
export function packSnapshot(s: Snapshot): WireSnapshot {
  return { ...s, wire: 1, queues: s.queues.map(packQueue) };
}

/** The snapshot back from its columns (throws a TypeError when `w` is not one). */
export function unpackSnapshot(w: WireSnapshot): Snapshot {
  if (w.wire !== 1 || !Array.isArray(w.queues)) throw new TypeError('live frame: the snapshot is not in the stream\'s columnar form (wire 1)');
  const { wire: _wire, ...rest } = w;
  return { ...rest, queues: w.queues.map(unpackQueue) };
}
