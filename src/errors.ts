// Engine result codes (assembly/layout/errors.ts) turned into errors a person can act on,
// each naming the VIRTIO 1.2 rule that was broken.
import * as E from '../assembly/layout/errors.js';

export interface ErrorInfo {
  /** Stable name, e.g. 'CHAIN_TOO_LONG'. */
  name: string;
  /** VIRTIO 1.2 section whose rule was broken (or the vhost-user.rst section), or '' for a caller error. */
  section: string;
  /** What went wrong; `detail` names the index or value involved. */
  message: string;
  /** True when the code also marked the queue broken (the peer broke a rule). */
  breaksQueue: boolean;
  /** The packed ring's section for the same rule (2.8), where it differs. */
  packedSection?: string;
}

const info = (name: string, section: string, message: string, breaksQueue: boolean, packedSection?: string): ErrorInfo =>
  ({ name, section, message, breaksQueue, packedSection });

/** Where the inflight region's rules are (not a VIRTIO section). */
const INFLIGHT = 'vhost-user.rst "Inflight I/O tracking"';

export const ERRORS: ReadonlyMap<number, ErrorInfo> = new Map([
  [E.ERR_BAD_CONTROL_BLOCK, info('BAD_CONTROL_BLOCK', '', 'not a control block of this kind (wrong address, alignment or kind)', false)],
  [E.ERR_BAD_CONFIG, info('BAD_CONFIG', '2.7', 'bad queue configuration (queue size, ring alignment or bounds, region table)', false)],
  [E.ERR_BAD_ARGUMENT, info('BAD_ARGUMENT', '', 'bad burst argument', false)],
  [E.ERR_OUT_OF_MEMORY_BOUNDS, info('OUT_OF_MEMORY_BOUNDS', '', 'burst array lies outside Wasm memory', false)],
  [E.ERR_SEGMENTS_FULL, info('SEGMENTS_FULL', '', 'the segment array cannot hold the next chain', false)],
  [E.ERR_IOTLB_MISS, info('IOTLB_MISS', '', 'the next chain has a buffer at an IOVA the IOTLB has no translation for yet (vhost-user.rst "IOMMU support"); the chain was not taken', false)],
  [E.ERR_AVAIL_IDX_JUMP, info('AVAIL_IDX_JUMP', '2.7.6', 'avail.idx is more than Queue Size ahead of the last index the device read', true)],
  [E.ERR_HEAD_OUT_OF_RANGE, info('HEAD_OUT_OF_RANGE', '2.7.6', 'available ring entry is not a descriptor index (>= Queue Size)', true)],
  [E.ERR_NEXT_OUT_OF_RANGE, info('NEXT_OUT_OF_RANGE', '2.7.5', 'descriptor next is outside its table', true)],
  [E.ERR_CHAIN_TOO_LONG, info('CHAIN_TOO_LONG', '2.7.5.3.1', 'descriptor chain longer than Queue Size (or a loop)', true, '2.8.17')],
  [E.ERR_INDIRECT_NOT_NEGOTIATED, info('INDIRECT_NOT_NEGOTIATED', '2.7.5.3.1', 'indirect descriptor without VIRTIO_F_INDIRECT_DESC', true, '2.8.19')],
  [E.ERR_INDIRECT_NESTED, info('INDIRECT_NESTED', '2.7.5.3.1', 'indirect descriptor inside an indirect table', true, '2.8.19')],
  [E.ERR_INDIRECT_WITH_NEXT, info('INDIRECT_WITH_NEXT', '2.7.5.3.1', 'descriptor has both INDIRECT and NEXT', true, '2.8.19')],
  [E.ERR_INDIRECT_BAD_LENGTH, info('INDIRECT_BAD_LENGTH', '2.7.5.3', 'indirect table length is zero or not a multiple of 16', true, '2.8.7')],
  [E.ERR_BUFFER_NOT_IN_REGIONS, info('BUFFER_NOT_IN_REGIONS', '2.7.5', 'buffer lies outside every memory region', true, '2.8.4')],
  [E.ERR_BUFFER_ADDRESS_OVERFLOW, info('BUFFER_ADDRESS_OVERFLOW', '2.7.5', 'buffer address + length overflows 64 bits', true, '2.8.4')],
  [E.ERR_WRITABLE_BEFORE_READABLE, info('WRITABLE_BEFORE_READABLE', '2.7.4.2', 'device-readable descriptor after a device-writable one', true, '2.8.17')],
  [E.ERR_CHAIN_TOO_MANY_BYTES, info('CHAIN_TOO_MANY_BYTES', '2.7.5.2', 'descriptor chain holds 2^32 bytes or more', true, '2.8.4')],
  [E.ERR_PACKED_DESC_NOT_AVAILABLE, info('PACKED_DESC_NOT_AVAILABLE', '2.8.6', 'a descriptor after the first in a list is not available with the expected wrap counter', true)],
  [E.ERR_PACKED_ID_OUT_OF_RANGE, info('PACKED_ID_OUT_OF_RANGE', '2.8.13', 'buffer id is not below Queue Size', true)],
  [E.ERR_PACKED_ID_IN_FLIGHT, info('PACKED_ID_IN_FLIGHT', '2.8.13', 'buffer id is already in flight', true)],
  [E.ERR_PACKED_RING_OVERRUN, info('PACKED_RING_OVERRUN', '2.8.16', 'more descriptors outstanding than the ring holds', true)],
  [E.ERR_INDIRECT_IN_LIST, info('INDIRECT_IN_LIST', '2.8.19', 'indirect descriptor inside a list linked by NEXT', true)],
  [E.ERR_HEAD_IN_FLIGHT, info('HEAD_IN_FLIGHT', '2.7.13.1', 'available ring names the head of a chain that is still in flight', true)],
  [E.ERR_USED_IDX_JUMP, info('USED_IDX_JUMP', '2.7.8', 'used.idx ran ahead of the chains in flight', true)],
  [E.ERR_USED_ID_OUT_OF_RANGE, info('USED_ID_OUT_OF_RANGE', '2.7.8', 'used element id is not a descriptor index (>= Queue Size)', true, '2.8.22')],
  [E.ERR_USED_ID_NOT_IN_FLIGHT, info('USED_ID_NOT_IN_FLIGHT', '2.7.8', 'used element id is not the head of a chain in flight', true, '2.8.22')],
  [E.ERR_USED_LEN_TOO_LARGE, info('USED_LEN_TOO_LARGE', '2.7.8.2', 'used length exceeds the chain\'s device-writable capacity', true, '2.8.4')],
  [E.ERR_INFLIGHT_BAD_REGION, info('INFLIGHT_BAD_REGION', INFLIGHT, 'the inflight region is not one for this queue (version not 1, or desc_num not the Queue Size)', false)],
  [E.ERR_INFLIGHT_RANGE, info('INFLIGHT_RANGE', INFLIGHT, 'an index or count in the inflight region is out of range (used_idx or a wrap counter, last_batch_head or next, a list\'s num, an inflight byte other than 0 or 1)', false)],
  [E.ERR_INFLIGHT_BATCH, info('INFLIGHT_BATCH', INFLIGHT, 'the last batch in the inflight region (used.idx minus used_idx) is longer than the queue', false)],
  [E.ERR_INFLIGHT_COUNTERS, info('INFLIGHT_COUNTERS', INFLIGHT, 'two chains in flight in the inflight region have the same counter', false)],
  [E.ERR_INFLIGHT_OUT_OF_ORDER, info('INFLIGHT_OUT_OF_ORDER', INFLIGHT, 'the chains in flight cannot be the ones the driver made available: more are marked than the available ring holds beyond used.idx, or one is offered again among the entries not yet read', false)],
  [E.ERR_INFLIGHT_COPY, info('INFLIGHT_COPY', INFLIGHT, 'the descriptor copies in the inflight region are not linked as their list says (NEXT flags against num, the last entry, a buffer id out of range or in two lists, an entry in two lists or on the free list)', false)],
  [E.ERR_INFLIGHT_INDEX, info('INFLIGHT_INDEX', INFLIGHT, 'the inflight region\'s free list names an entry outside the region', true)],
  [E.ERR_RING_STALLED, info('RING_STALLED', '', 'a multi-producer or multi-consumer ring call waited too long for an earlier one to publish (a thread stopped inside a ring call)', true)],
  [E.ERR_MEMPOOL_BAD_HANDLE, info('MEMPOOL_BAD_HANDLE', '', 'put of a handle that is not a buffer of this pool (detail: its position in the burst)', false)],
  [E.ERR_MEMPOOL_NOT_HELD, info('MEMPOOL_NOT_HELD', '', 'put of a buffer that is not held: put twice or never taken (detail: its position in the burst)', false)],
  [E.ERR_MEMPOOL_OVERFLOW, info('MEMPOOL_OVERFLOW', '', 'the free ring has no room: more buffers came back than were taken', false)],
]);

/** An engine error: `code` from layout/errors.ts, `info` describing it, `detail` locating it. */
export class VirtqueueError extends Error {
  readonly code: number;
  readonly info: ErrorInfo;
  readonly detail: number;
  /** The section whose rule was broken, for the ring layout `where` names ('' for a caller error). */
  readonly section: string;
  constructor(code: number, detail: number, where: string) {
    const i = ERRORS.get(code) ?? info(`ERROR_${code}`, '', `unknown engine error ${code}`, false);
    const section = where.startsWith('packed') && i.packedSection ? i.packedSection : i.section;
    const rule = !section ? '' : section.startsWith('vhost-user') ? ` (${section})` : ` (VIRTIO 1.2 §${section})`;
    const broken = i.breaksQueue ? '; the queue is broken until reset' : '';
    super(`${where}: ${i.message}${rule} [${i.name}, detail ${detail}]${broken}`);
    this.name = 'VirtqueueError';
    this.code = code;
    this.info = i;
    this.detail = detail;
    this.section = section;
  }
}
