// Engine result codes (assembly/layout/errors.ts) turned into errors a person can act on,
// each naming the VIRTIO 1.2 rule that was broken.
import * as E from '../assembly/layout/errors.js';

export interface ErrorInfo {
  /** Stable name, e.g. 'CHAIN_TOO_LONG'. */
  name: string;
  /** VIRTIO 1.2 section whose rule was broken, or '' for a caller error. */
  section: string;
  /** What went wrong; `detail` names the index or value involved. */
  message: string;
  /** True when the code also marked the queue broken (the peer broke a rule). */
  breaksQueue: boolean;
}

const info = (name: string, section: string, message: string, breaksQueue: boolean): ErrorInfo =>
  ({ name, section, message, breaksQueue });

export const ERRORS: ReadonlyMap<number, ErrorInfo> = new Map([
  [E.ERR_BAD_CONTROL_BLOCK, info('BAD_CONTROL_BLOCK', '', 'not a control block of this kind (wrong address, alignment or kind)', false)],
  [E.ERR_BAD_CONFIG, info('BAD_CONFIG', '2.7', 'bad queue configuration (queue size, ring alignment or bounds, region table)', false)],
  [E.ERR_BAD_ARGUMENT, info('BAD_ARGUMENT', '', 'bad burst argument', false)],
  [E.ERR_OUT_OF_MEMORY_BOUNDS, info('OUT_OF_MEMORY_BOUNDS', '', 'burst array lies outside Wasm memory', false)],
  [E.ERR_SEGMENTS_FULL, info('SEGMENTS_FULL', '', 'the segment array cannot hold the next chain', false)],
  [E.ERR_AVAIL_IDX_JUMP, info('AVAIL_IDX_JUMP', '2.7.6', 'avail.idx is more than Queue Size ahead of the last index the device read', true)],
  [E.ERR_HEAD_OUT_OF_RANGE, info('HEAD_OUT_OF_RANGE', '2.7.6', 'available ring entry is not a descriptor index (>= Queue Size)', true)],
  [E.ERR_NEXT_OUT_OF_RANGE, info('NEXT_OUT_OF_RANGE', '2.7.5', 'descriptor next is outside its table', true)],
  [E.ERR_CHAIN_TOO_LONG, info('CHAIN_TOO_LONG', '2.7.5.3.1', 'descriptor chain longer than Queue Size (or a loop)', true)],
  [E.ERR_INDIRECT_NOT_NEGOTIATED, info('INDIRECT_NOT_NEGOTIATED', '2.7.5.3.1', 'indirect descriptor without VIRTIO_F_INDIRECT_DESC', true)],
  [E.ERR_INDIRECT_NESTED, info('INDIRECT_NESTED', '2.7.5.3.1', 'indirect descriptor inside an indirect table', true)],
  [E.ERR_INDIRECT_WITH_NEXT, info('INDIRECT_WITH_NEXT', '2.7.5.3.1', 'descriptor has both INDIRECT and NEXT', true)],
  [E.ERR_INDIRECT_BAD_LENGTH, info('INDIRECT_BAD_LENGTH', '2.7.5.3', 'indirect table length is zero or not a multiple of 16', true)],
  [E.ERR_BUFFER_NOT_IN_REGIONS, info('BUFFER_NOT_IN_REGIONS', '2.7.5', 'buffer lies outside every memory region', true)],
  [E.ERR_BUFFER_ADDRESS_OVERFLOW, info('BUFFER_ADDRESS_OVERFLOW', '2.7.5', 'buffer address + length overflows 64 bits', true)],
  [E.ERR_WRITABLE_BEFORE_READABLE, info('WRITABLE_BEFORE_READABLE', '2.7.4.2', 'device-readable descriptor after a device-writable one', true)],
  [E.ERR_CHAIN_TOO_MANY_BYTES, info('CHAIN_TOO_MANY_BYTES', '2.7.5.2', 'descriptor chain holds 2^32 bytes or more', true)],
  [E.ERR_USED_IDX_JUMP, info('USED_IDX_JUMP', '2.7.8', 'used.idx ran ahead of the chains in flight', true)],
  [E.ERR_USED_ID_OUT_OF_RANGE, info('USED_ID_OUT_OF_RANGE', '2.7.8', 'used element id is not a descriptor index (>= Queue Size)', true)],
  [E.ERR_USED_ID_NOT_IN_FLIGHT, info('USED_ID_NOT_IN_FLIGHT', '2.7.8', 'used element id is not the head of a chain in flight', true)],
  [E.ERR_USED_LEN_TOO_LARGE, info('USED_LEN_TOO_LARGE', '2.7.8.2', 'used length exceeds the chain\'s device-writable capacity', true)],
]);

/** An engine error: `code` from layout/errors.ts, `info` describing it, `detail` locating it. */
export class VirtqueueError extends Error {
  readonly code: number;
  readonly info: ErrorInfo;
  readonly detail: number;
  constructor(code: number, detail: number, where: string) {
    const i = ERRORS.get(code) ?? info(`ERROR_${code}`, '', `unknown engine error ${code}`, false);
    const rule = i.section ? ` (VIRTIO 1.2 §${i.section})` : '';
    const broken = i.breaksQueue ? '; the queue is broken until reset' : '';
    super(`${where}: ${i.message}${rule} [${i.name}, detail ${detail}]${broken}`);
    this.name = 'VirtqueueError';
    this.code = code;
    this.info = i;
    this.detail = detail;
  }
}
