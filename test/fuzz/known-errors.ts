// The errors each side of each layout may report about its peer (assembly/layout/errors.ts), and
// the check that a result is one of them, named with the spec section of its own layout
// (src/errors.ts) the way a host sees it.
import { ERRORS, VirtqueueError, type RingLayout } from '../../src/index.js';
import * as E from '../../assembly/layout/errors.js';

const CHAIN_RULES = [
  E.ERR_CHAIN_TOO_LONG, E.ERR_INDIRECT_NOT_NEGOTIATED, E.ERR_INDIRECT_NESTED, E.ERR_INDIRECT_WITH_NEXT,
  E.ERR_INDIRECT_BAD_LENGTH, E.ERR_BUFFER_NOT_IN_REGIONS, E.ERR_BUFFER_ADDRESS_OVERFLOW,
  E.ERR_WRITABLE_BEFORE_READABLE, E.ERR_CHAIN_TOO_MANY_BYTES,
];

/** What a device may find wrong with its driver's ring, per layout. */
export const DEVICE_PEER_ERRORS: Record<RingLayout, ReadonlySet<number>> = {
  split: new Set([...CHAIN_RULES, E.ERR_AVAIL_IDX_JUMP, E.ERR_HEAD_OUT_OF_RANGE, E.ERR_NEXT_OUT_OF_RANGE, E.ERR_HEAD_IN_FLIGHT]),
  packed: new Set([
    ...CHAIN_RULES, E.ERR_PACKED_DESC_NOT_AVAILABLE, E.ERR_PACKED_ID_OUT_OF_RANGE, E.ERR_PACKED_ID_IN_FLIGHT,
    E.ERR_PACKED_RING_OVERRUN, E.ERR_INDIRECT_IN_LIST,
  ]),
};

/** What a device with an inflight region may find wrong with it, per layout (its free list is read at pop). */
export const INFLIGHT_PEER_ERRORS: Record<RingLayout, ReadonlySet<number>> = {
  split: new Set(),
  packed: new Set([E.ERR_INFLIGHT_INDEX]),
};

/** What a driver may find wrong with its device's used ring, per layout. */
export const DRIVER_PEER_ERRORS: Record<RingLayout, ReadonlySet<number>> = {
  split: new Set([E.ERR_USED_IDX_JUMP, E.ERR_USED_ID_OUT_OF_RANGE, E.ERR_USED_ID_NOT_IN_FLIGHT, E.ERR_USED_LEN_TOO_LARGE]),
  packed: new Set([E.ERR_USED_ID_OUT_OF_RANGE, E.ERR_USED_ID_NOT_IN_FLIGHT, E.ERR_USED_LEN_TOO_LARGE]),
};

export const errorName = (code: number): string => ERRORS.get(code)?.name ?? `UNKNOWN_${code}`;

/**
 * Checks a peer fault the way the host reports it: a code of `allowed`, marked as breaking the
 * queue, with a message naming a section of the layout's own chapter (2.7 split, 2.8 packed).
 * Returns a description of what is wrong, or '' when it is fine.
 */
export function peerFaultProblem(code: number, detail: number, layout: RingLayout, where: string, allowed: ReadonlySet<number>): string {
  const key = `${layout} ${where} ${code} ${allowed.has(code)}`;
  let p = checked.get(key);
  if (p === undefined) checked.set(key, p = faultProblem(code, detail, layout, where, allowed));
  return p;
}

/** Verdicts of peerFaultProblem so far (the message depends on the code, not on the detail). */
const checked = new Map<string, string>();

function faultProblem(code: number, detail: number, layout: RingLayout, where: string, allowed: ReadonlySet<number>): string {
  if (!allowed.has(code)) return `${layout} ${where}: ${errorName(code)} (${code}) is not an error this side reports about its peer`;
  const e = new VirtqueueError(code, detail, `${layout} ${where}`);
  if (!e.info.breaksQueue) return `${where}: ${e.info.name} does not break the queue`;
  if (e.info.section.startsWith('vhost-user')) {
    return e.message.includes(`(${e.info.section})`) ? '' : `${where}: "${e.message}" does not name ${e.info.section}`;
  }
  const chapter = layout === 'split' ? '2.7' : '2.8';
  const m = /\(VIRTIO 1\.2 §(\d+(?:\.\d+)+)\)/.exec(e.message);
  if (!m) return `${where}: "${e.message}" names no spec section`;
  if (m[1] !== chapter && !m[1]!.startsWith(chapter + '.')) return `${where}: "${e.message}" names a section outside ${chapter}`;
  return '';
}
