// One vhost-user message: header fields, payload bytes, and the file descriptors that came with
// it. Encoding, and checked readers for every payload shape. A peer is not trusted: every reader
// checks the payload size for its request and throws a ProtocolError that says what was wrong.
import * as P from './protocol.js';

export interface Message {
  request: number;
  flags: number;
  payload: Uint8Array;
  /** File descriptors received with the message (the receiver owns them until it hands them on). */
  fds: number[];
}

/** A message the back-end cannot accept; `close` says whether the connection must end. */
export class ProtocolError extends Error {
  readonly request: number;
  readonly close: boolean;
  constructor(request: number, problem: string, close = false) {
    super(`vhost-user ${P.requestName(request)}: ${problem}`);
    this.name = 'ProtocolError';
    this.request = request;
    this.close = close;
  }
}

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Header plus payload, ready to send. */
export function encode(request: number, flags: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(P.HEADER_SIZE + payload.length);
  const v = view(out);
  v.setUint32(P.HDR_REQUEST, request, true);
  v.setUint32(P.HDR_FLAGS, flags, true);
  v.setUint32(P.HDR_SIZE, payload.length, true);
  out.set(payload, P.HEADER_SIZE);
  return out;
}

/** A reply to `request`: version 1 with the REPLY flag. */
export const encodeReply = (request: number, payload?: Uint8Array): Uint8Array =>
  encode(request, P.VERSION | P.FLAG_REPLY, payload);

export function u64Payload(value: bigint): Uint8Array {
  const b = new Uint8Array(8);
  view(b).setBigUint64(0, BigInt.asUintN(64, value), true);
  return b;
}

export function statePayload(index: number, num: number): Uint8Array {
  const b = new Uint8Array(P.STATE_SIZE);
  view(b).setUint32(0, index, true);
  view(b).setUint32(4, num, true);
  return b;
}

function expectSize(m: Message, size: number): DataView {
  if (m.payload.length !== size) {
    throw new ProtocolError(m.request, `payload of ${m.payload.length} bytes, expected ${size}`, true);
  }
  return view(m.payload);
}

/** Requests with no payload. */
export function readEmpty(m: Message): void {
  expectSize(m, 0);
}

export function readU64(m: Message): bigint {
  return expectSize(m, 8).getBigUint64(0, true);
}

export interface VringState {
  index: number;
  num: number;
}

export function readState(m: Message): VringState {
  const v = expectSize(m, P.STATE_SIZE);
  return { index: v.getUint32(0, true), num: v.getUint32(4, true) };
}

export interface VringAddr {
  index: number;
  flags: number;
  /** Front-end user addresses (or IOVAs with ACCESS_PLATFORM) of the three ring areas. */
  desc: bigint;
  used: bigint;
  avail: bigint;
  log: bigint;
}

export function readAddr(m: Message): VringAddr {
  const v = expectSize(m, P.ADDR_SIZE);
  return {
    index: v.getUint32(P.ADDR_INDEX, true),
    flags: v.getUint32(P.ADDR_FLAGS, true),
    desc: v.getBigUint64(P.ADDR_DESC, true),
    used: v.getBigUint64(P.ADDR_USED, true),
    avail: v.getBigUint64(P.ADDR_AVAIL, true),
    log: v.getBigUint64(P.ADDR_LOG, true),
  };
}

export interface MemRegion {
  /** Guest physical address. */
  gpa: bigint;
  size: bigint;
  /** The front-end's virtual address of the region (what ring addresses are given in). */
  uaddr: bigint;
  /** Where the region starts in the file. */
  mmapOffset: bigint;
}

function readRegion(v: DataView, at: number): MemRegion {
  return {
    gpa: v.getBigUint64(at + P.REGION_GPA, true),
    size: v.getBigUint64(at + P.REGION_LEN, true),
    uaddr: v.getBigUint64(at + P.REGION_UADDR, true),
    mmapOffset: v.getBigUint64(at + P.REGION_MMAP_OFFSET, true),
  };
}

/** SET_MEM_TABLE: 1 to 8 regions, exactly one fd per region. */
export function readMemTable(m: Message): MemRegion[] {
  const p = m.payload;
  if (p.length < P.MEM_HEADER) throw new ProtocolError(m.request, `payload of ${p.length} bytes is shorter than the region count`, true);
  const v = view(p);
  const n = v.getUint32(0, true);
  if (n === 0 || n > P.MEM_TABLE_MAX_REGIONS) {
    throw new ProtocolError(m.request, `${n} regions; 1 to ${P.MEM_TABLE_MAX_REGIONS} are allowed`, true);
  }
  const need = P.MEM_HEADER + n * P.REGION_SIZE;
  if (p.length < need || p.length > P.MEM_HEADER + P.MEM_TABLE_MAX_REGIONS * P.REGION_SIZE) {
    throw new ProtocolError(m.request, `payload of ${p.length} bytes for ${n} regions (needs ${need})`, true);
  }
  if (m.fds.length !== n) throw new ProtocolError(m.request, `${m.fds.length} file descriptors for ${n} regions`, true);
  return Array.from({ length: n }, (_, i) => readRegion(v, P.MEM_HEADER + i * P.REGION_SIZE));
}

/** ADD_MEM_REG / REM_MEM_REG: one region after 8 bytes of padding. */
export function readSingleRegion(m: Message): MemRegion {
  return readRegion(expectSize(m, P.SINGLE_REGION_SIZE), 8);
}

export interface VringFd {
  index: number;
  /** The fd, or undefined when the front-end asked for polling (bit 8). */
  fd: number | undefined;
}

/** SET_VRING_KICK / CALL / ERR: the vring index, and an fd unless bit 8 says there is none. */
export function readVringFd(m: Message): VringFd {
  const value = readU64(m);
  if (value >> 9n !== 0n) throw new ProtocolError(m.request, `reserved bits set in 0x${value.toString(16)}`, true);
  const index = Number(value & BigInt(P.VRING_IDX_MASK));
  const noFd = (value & BigInt(P.VRING_NOFD_MASK)) !== 0n;
  const want = noFd ? 0 : 1;
  if (m.fds.length !== want) {
    throw new ProtocolError(m.request, `${m.fds.length} file descriptors, expected ${want}${noFd ? ' (the no-fd flag is set)' : ''}`, true);
  }
  return { index, fd: noFd ? undefined : m.fds[0] };
}

export interface ConfigAccess {
  offset: number;
  size: number;
  flags: number;
  data: Uint8Array;
}

/** GET_CONFIG / SET_CONFIG: offset, size (at most 256), flags, then size bytes. */
export function readConfig(m: Message): ConfigAccess {
  const p = m.payload;
  if (p.length < P.CONFIG_HEADER) throw new ProtocolError(m.request, `payload of ${p.length} bytes is shorter than a config header`, true);
  const v = view(p);
  const offset = v.getUint32(0, true);
  const size = v.getUint32(4, true);
  const flags = v.getUint32(8, true);
  if (size > P.MAX_CONFIG_SIZE) throw new ProtocolError(m.request, `config access of ${size} bytes; at most ${P.MAX_CONFIG_SIZE}`, true);
  if (p.length !== P.CONFIG_HEADER + size) {
    throw new ProtocolError(m.request, `payload of ${p.length} bytes for a ${size}-byte config access`, true);
  }
  return { offset, size, flags, data: p.subarray(P.CONFIG_HEADER) };
}

export function configPayload(offset: number, flags: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(P.CONFIG_HEADER + data.length);
  const v = view(b);
  v.setUint32(0, offset, true);
  v.setUint32(4, data.length, true);
  v.setUint32(8, flags, true);
  b.set(data, P.CONFIG_HEADER);
  return b;
}

function writeRegion(v: DataView, at: number, r: MemRegion): void {
  v.setBigUint64(at + P.REGION_GPA, r.gpa, true);
  v.setBigUint64(at + P.REGION_LEN, r.size, true);
  v.setBigUint64(at + P.REGION_UADDR, r.uaddr, true);
  v.setBigUint64(at + P.REGION_MMAP_OFFSET, r.mmapOffset, true);
}

export function memTablePayload(regions: readonly MemRegion[]): Uint8Array {
  const b = new Uint8Array(P.MEM_HEADER + regions.length * P.REGION_SIZE);
  const v = view(b);
  v.setUint32(0, regions.length, true);
  regions.forEach((r, i) => writeRegion(v, P.MEM_HEADER + i * P.REGION_SIZE, r));
  return b;
}

/** ADD_MEM_REG / REM_MEM_REG: 8 bytes of padding, then one region. */
export function singleRegionPayload(r: MemRegion): Uint8Array {
  const b = new Uint8Array(P.SINGLE_REGION_SIZE);
  writeRegion(view(b), 8, r);
  return b;
}

export function addrPayload(a: VringAddr): Uint8Array {
  const b = new Uint8Array(P.ADDR_SIZE);
  const v = view(b);
  v.setUint32(P.ADDR_INDEX, a.index, true);
  v.setUint32(P.ADDR_FLAGS, a.flags, true);
  v.setBigUint64(P.ADDR_DESC, a.desc, true);
  v.setBigUint64(P.ADDR_USED, a.used, true);
  v.setBigUint64(P.ADDR_AVAIL, a.avail, true);
  v.setBigUint64(P.ADDR_LOG, a.log, true);
  return b;
}

export interface IotlbMsg {
  iova: bigint;
  size: bigint;
  uaddr: bigint;
  perm: number;
  type: number;
}

/** IOTLB_MSG: a struct vhost_iotlb_msg (the fields are checked by iotlb.ts). */
export function readIotlb(m: Message): IotlbMsg {
  const v = expectSize(m, P.IOTLB_SIZE);
  return {
    iova: v.getBigUint64(P.IOTLB_IOVA, true),
    size: v.getBigUint64(P.IOTLB_LEN, true),
    uaddr: v.getBigUint64(P.IOTLB_UADDR, true),
    perm: v.getUint8(P.IOTLB_PERM),
    type: v.getUint8(P.IOTLB_TYPE),
  };
}

export function iotlbPayload(t: IotlbMsg): Uint8Array {
  const b = new Uint8Array(P.IOTLB_SIZE);
  const v = view(b);
  v.setBigUint64(P.IOTLB_IOVA, t.iova, true);
  v.setBigUint64(P.IOTLB_LEN, t.size, true);
  v.setBigUint64(P.IOTLB_UADDR, t.uaddr, true);
  v.setUint8(P.IOTLB_PERM, t.perm);
  v.setUint8(P.IOTLB_TYPE, t.type);
  return b;
}
