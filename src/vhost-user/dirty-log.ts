// Dirty-page logging for live migration, control-plane side (vhost-user.rst "Migration",
// VHOST_F_LOG_ALL, PROTOCOL_F_LOG_SHMFD, SET_LOG_BASE, VHOST_VRING_F_LOG). The front-end shares a
// bitmap (a memfd, SET_LOG_BASE's fd, with the log description: mmap_size and mmap_offset); while
// VHOST_F_LOG_ALL is negotiated the device sets a bit for every 4096-byte page of guest memory it
// writes (the engine does the marking: assembly/shared/dirty-log.ts). The bitmap is mapped into a
// window of the back-end's Wasm memory set aside for it, as inflight regions are (InflightWindow).
//
// What is refused, and why (each an error naming the field; nothing is mapped and the fd closed):
//   - a size of 0, or mmap_offset + mmap_size past 2^64 (DPDK's CVE-2020-10722: the sum
//     wrapped, a smaller area was mapped than was written through) or past the fd's file;
//   - a log that does not cover the memory table: every region's last page must have its bit
//     within mmap_size bytes (the class of Linux vhost's CVE-2019-14835: writes past the log);
//   - a log larger than the window (a front-end cannot make the back-end map without bound);
//   - an fd that is not a memfd or a file.
// The engine bounds every bit by mmap_size anyway, so a region added later (QEMU grows the log
// after the memory table) or a guest address outside the log never writes past it.
import { fstatSync } from 'node:fs';
import { fdKind } from '../native/index.js';
import { LOG_PAGE_SHIFT } from '../../assembly/layout/dirty-log.js';
import type { DirtyLogOptions } from '../virtqueue/dirty-log.js';
import { ProtocolError, type MemRegion, type Message, type VringAddr } from './message.js';
import type { MemoryWindow } from './memory-table.js';
import { InflightWindow } from './inflight.js';
import * as P from './protocol.js';

/** VHOST_F_LOG_ALL (vhost-user.rst "Migration"): a vhost feature bit, not a virtio one; the engine never sees it. */
export const F_LOG_ALL = 26;
export const LOG_ALL: bigint = 1n << BigInt(F_LOG_ALL);

/** The log description: mmap_size u64, mmap_offset u64. */
export const LOG_PAYLOAD_SIZE = 16;

export interface LogDescription {
  mmapSize: bigint;
  mmapOffset: bigint;
}

export function readLog(m: Message): LogDescription {
  if (m.payload.length !== LOG_PAYLOAD_SIZE) {
    throw new ProtocolError(m.request, `payload of ${m.payload.length} bytes, expected ${LOG_PAYLOAD_SIZE} (a log description)`, true);
  }
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  return { mmapSize: v.getBigUint64(0, true), mmapOffset: v.getBigUint64(8, true) };
}

const PAGE_SHIFT = BigInt(LOG_PAGE_SHIFT);
const U64_END = 1n << 64n;
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** Bytes of log that cover guest addresses up to and including `last`. */
export const logBytesFor = (last: bigint): bigint => (last >> PAGE_SHIFT) / 8n + 1n;

/** Why a log of `size` bytes cannot serve `regions` (null when it can). */
export function logCoverageProblem(size: bigint, regions: readonly MemRegion[]): string | null {
  for (const [i, r] of regions.entries()) {
    const need = logBytesFor(r.gpa + r.size - 1n);
    if (need > size) return `a log of ${size} bytes covers guest addresses below ${hex(size * 8n << PAGE_SHIFT)}; memory region ${i} (gpa ${hex(r.gpa)}, size ${hex(r.size)}) needs ${need} bytes`;
  }
  return null;
}

/** Why a used ring logged at `addr.log` (num entries, split) cannot be covered by `size` bytes (null when it can). */
export function usedLogProblem(size: bigint, addr: VringAddr, usedBytes: number): string | null {
  const last = addr.log + BigInt(usedBytes) - 1n;
  if (last >= U64_END) return `the used ring's log address ${hex(addr.log)} + ${usedBytes} bytes passes 2^64`;
  const need = logBytesFor(last);
  if (need > size) return `the used ring's log address ${hex(addr.log)} + ${usedBytes} bytes needs a log of ${need} bytes, the log has ${size}`;
  return null;
}

/** The log a back-end writes into: mapped from SET_LOG_BASE's fd, replaced by the next one. */
export class DirtyLog {
  private readonly space: InflightWindow;
  private at: number | undefined;
  private desc: LogDescription | undefined;

  constructor(memory: WebAssembly.Memory, readonly window: MemoryWindow) {
    this.space = new InflightWindow(memory, window);
  }

  /** The bitmap mapped now (undefined: no SET_LOG_BASE yet, or it was closed). */
  get bitmap(): { offset: number; size: number } | undefined {
    return this.at === undefined || this.desc === undefined ? undefined : { offset: this.at + Number(this.desc.mmapOffset), size: Number(this.desc.mmapSize) };
  }

  /**
   * Checks `d` and `fd` against the memory table; throws an Error naming what is wrong, having
   * changed nothing. The caller closes `fd`.
   */
  check(d: LogDescription, fd: number, regions: readonly MemRegion[]): void {
    if (d.mmapSize === 0n) throw new Error('mmap_size 0: an empty log');
    if (d.mmapOffset + d.mmapSize >= U64_END) {
      throw new Error(`mmap_offset ${hex(d.mmapOffset)} + mmap_size ${hex(d.mmapSize)} passes 2^64`);
    }
    const end = d.mmapOffset + d.mmapSize;
    if (end > BigInt(this.window.size) || d.mmapSize > 0xffff_ffffn) {
      throw new Error(`mmap_offset + mmap_size is ${end} bytes, more than the back-end's ${this.window.size}-byte log window`);
    }
    const kind = fdKind(fd);
    if (kind !== 'memfd' && kind !== 'file') throw new Error(`the log's fd is a ${kind}, not a memfd or a file`);
    const fileSize = BigInt(fstatSync(fd).size);
    if (end > fileSize) throw new Error(`mmap_offset + mmap_size is ${end} bytes, past the end of the log's ${fileSize}-byte file`);
    const problem = logCoverageProblem(d.mmapSize, regions);
    if (problem !== null) throw new Error(`${problem} (vhost-user.rst "Migration": the log covers all of guest memory)`);
  }

  /** Maps the checked log (replacing the previous one). The caller keeps owning (and closes) `fd`. */
  replace(d: LogDescription, fd: number): void {
    this.close();
    this.at = this.space.map(fd, 0, Number(d.mmapOffset + d.mmapSize));
    this.desc = d;
  }

  /** What a ring logs into, given its addresses (the used ring's log address when VHOST_VRING_F_LOG). */
  optionsFor(usedGpa: bigint): DirtyLogOptions | undefined {
    const b = this.bitmap;
    return b === undefined ? undefined : { bitmap: b.offset, size: b.size, usedGpa };
  }

  close(): void {
    if (this.at !== undefined) this.space.unmap(this.at);
    this.at = undefined;
    this.desc = undefined;
  }
}

