// The vhost-user wire layer: framing a byte stream into messages with their fds, and checked
// payload readers. A front-end is not trusted, so every malformed input must become a
// ProtocolError that names the request and what was wrong, and hand back every fd it held.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as P from '../src/vhost-user/protocol.js';
import {
  encode, encodeReply, u64Payload, statePayload, readU64, readState, readAddr, readMemTable,
  readSingleRegion, readVringFd, readConfig, readEmpty, configPayload, memTablePayload, addrPayload,
  ProtocolError, type Message,
} from '../src/vhost-user/message.js';
import { MessageReader } from '../src/vhost-user/reader.js';

const msg = (request: number, payload: Uint8Array, fds: number[] = []): Message =>
  ({ request, flags: P.VERSION, payload, fds });

function protocolError(f: () => unknown): ProtocolError {
  try { f(); } catch (e) { if (e instanceof ProtocolError) return e; throw e; }
  throw new Error('expected a ProtocolError');
}

describe('MessageReader', () => {
  it('cuts any chunking of a message stream back into the same messages, fds with their message (property)', () => {
    const message = fc.record({
      request: fc.integer({ min: 1, max: 40 }),
      payload: fc.uint8Array({ maxLength: 300 }),
      fds: fc.array(fc.integer({ min: 3, max: 1000 }), { maxLength: 8 }),
    });
    fc.assert(fc.property(fc.array(message, { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }), (msgs, cuts) => {
      const reader = new MessageReader();
      const got: Message[] = [];
      let cut = 0;
      for (const m of msgs) {
        // What a socket reader does: fds arrive with the first read of a message; after that
        // it reads at most `wanted` bytes at a time, in pieces.
        const bytes = encode(m.request, P.VERSION, m.payload);
        let at = 0;
        let first = true;
        while (at < bytes.length || first) {
          const n = Math.min(cuts[cut++ % cuts.length], reader.wanted, bytes.length - at);
          got.push(...reader.push(bytes.subarray(at, at + n), first ? m.fds : [], () => { throw new Error('no orphans expected'); }));
          at += n;
          first = false;
        }
      }
      expect(got.map((m) => ({ request: m.request, payload: [...m.payload], fds: m.fds })))
        .toEqual(msgs.map((m) => ({ request: m.request, payload: [...m.payload], fds: m.fds })));
      expect(reader.wanted).toBe(P.HEADER_SIZE);
    }), { numRuns: 200 });
  });

  it('refuses an oversized payload and hands back the fds it held', () => {
    const r = new MessageReader();
    const header = encode(P.Request.SET_MEM_TABLE, P.VERSION).slice();
    new DataView(header.buffer).setUint32(P.HDR_SIZE, P.MAX_PAYLOAD + 1, true);
    const orphans: number[] = [];
    const e = protocolError(() => r.push(header, [7, 8], (f) => orphans.push(...f)));
    expect(e.message).toMatch(/SET_MEM_TABLE: payload of 4097 bytes; at most 4096/);
    expect(e.close).toBe(true);
    expect(orphans).toEqual([7, 8]);
  });

  it('refuses a protocol version other than 1', () => {
    const r = new MessageReader();
    const e = protocolError(() => r.push(encode(P.Request.GET_FEATURES, 2), [], () => {}));
    expect(e.message).toMatch(/GET_FEATURES: protocol version 2, expected 1/);
  });

  it('refuses fds that arrive in the middle of a message', () => {
    const r = new MessageReader();
    const bytes = encode(P.Request.SET_FEATURES, P.VERSION, u64Payload(1n));
    expect(r.push(bytes.subarray(0, 14), [5], () => {})).toEqual([]);
    const orphans: number[] = [];
    const e = protocolError(() => r.push(bytes.subarray(14), [6], (f) => orphans.push(...f)));
    expect(e.message).toMatch(/middle of a message/);
    expect(orphans.sort()).toEqual([5, 6]);
  });

  it('names an unknown request by its number', () => {
    const r = new MessageReader();
    const [m] = r.push(encode(99, P.VERSION), [], () => {});
    expect(P.requestName(m.request)).toBe('REQUEST_99');
  });
});

describe('payload readers', () => {
  it('u64, state and address round-trip and refuse other sizes', () => {
    expect(readU64(msg(P.Request.SET_FEATURES, u64Payload(0x1_0000_0001n)))).toBe(0x1_0000_0001n);
    expect(readState(msg(P.Request.SET_VRING_NUM, statePayload(3, 256)))).toEqual({ index: 3, num: 256 });
    const addr = { index: 1, flags: 0, desc: 0x7f00_0000_1000n, used: 0x7f00_0000_3000n, avail: 0x7f00_0000_2000n, log: 0n };
    expect(readAddr(msg(P.Request.SET_VRING_ADDR, addrPayload(addr)))).toEqual(addr);
    for (const [f, req, size] of [[readU64, P.Request.SET_FEATURES, 7], [readState, P.Request.SET_VRING_NUM, 12], [readAddr, P.Request.SET_VRING_ADDR, 39]] as const) {
      const e = protocolError(() => (f as (m: Message) => unknown)(msg(req, new Uint8Array(size))));
      expect(e.message).toMatch(new RegExp(`${P.requestName(req)}: payload of ${size} bytes, expected`));
    }
    expect(() => readEmpty(msg(P.Request.GET_FEATURES, new Uint8Array(8)))).toThrow(/GET_FEATURES: payload of 8 bytes, expected 0/);
  });

  it('memory tables: 1 to 8 regions, one fd each, sizes that add up', () => {
    const region = { gpa: 0n, size: 1n << 30n, uaddr: 0x7f12_0000_0000n, mmapOffset: 0n };
    expect(readMemTable(msg(P.Request.SET_MEM_TABLE, memTablePayload([region, region]), [10, 11]))).toEqual([region, region]);
    // A front-end may send the full 8-slot structure with fewer regions in use.
    const full = new Uint8Array(P.MEM_HEADER + 8 * P.REGION_SIZE);
    full.set(memTablePayload([region]));
    expect(readMemTable(msg(P.Request.SET_MEM_TABLE, full, [10]))).toHaveLength(1);
    expect(protocolError(() => readMemTable(msg(P.Request.SET_MEM_TABLE, memTablePayload([]), []))).message).toMatch(/0 regions/);
    const nine = memTablePayload(Array(9).fill(region));
    expect(protocolError(() => readMemTable(msg(P.Request.SET_MEM_TABLE, nine, Array(9).fill(3)))).message).toMatch(/9 regions; 1 to 8/);
    expect(protocolError(() => readMemTable(msg(P.Request.SET_MEM_TABLE, memTablePayload([region, region]).subarray(0, 50), [1, 2]))).message)
      .toMatch(/payload of 50 bytes for 2 regions/);
    expect(protocolError(() => readMemTable(msg(P.Request.SET_MEM_TABLE, memTablePayload([region, region]), [1]))).message)
      .toMatch(/1 file descriptors for 2 regions/);
    expect(protocolError(() => readMemTable(msg(P.Request.SET_MEM_TABLE, new Uint8Array(4), []))).message).toMatch(/shorter than the region count/);
    const single = new Uint8Array(P.SINGLE_REGION_SIZE);
    single.set(memTablePayload([region]).subarray(P.MEM_HEADER), 8);
    expect(readSingleRegion(msg(P.Request.ADD_MEM_REG, single, [4]))).toEqual(region);
  });

  it('kick/call/err: index, the no-fd flag, and a matching number of fds', () => {
    expect(readVringFd(msg(P.Request.SET_VRING_KICK, u64Payload(3n), [9]))).toEqual({ index: 3, fd: 9 });
    expect(readVringFd(msg(P.Request.SET_VRING_CALL, u64Payload(0x101n), []))).toEqual({ index: 1, fd: undefined });
    expect(protocolError(() => readVringFd(msg(P.Request.SET_VRING_KICK, u64Payload(0x101n), [9]))).message)
      .toMatch(/1 file descriptors, expected 0 \(the no-fd flag is set\)/);
    expect(protocolError(() => readVringFd(msg(P.Request.SET_VRING_KICK, u64Payload(2n), []))).message).toMatch(/0 file descriptors, expected 1/);
    expect(protocolError(() => readVringFd(msg(P.Request.SET_VRING_ERR, u64Payload(0x200n), []))).message).toMatch(/reserved bits/);
  });

  it('config accesses: at most 256 bytes, and exactly the bytes announced', () => {
    const c = readConfig(msg(P.Request.GET_CONFIG, configPayload(0, 0, new Uint8Array(10))));
    expect([c.offset, c.size, c.data.length]).toEqual([0, 10, 10]);
    const big = configPayload(0, 0, new Uint8Array(257));
    expect(protocolError(() => readConfig(msg(P.Request.GET_CONFIG, big))).message).toMatch(/257 bytes; at most 256/);
    const lying = configPayload(0, 0, new Uint8Array(10)).subarray(0, 20);
    expect(protocolError(() => readConfig(msg(P.Request.GET_CONFIG, lying))).message).toMatch(/payload of 20 bytes for a 10-byte config access/);
  });

  it('replies carry version 1 and the REPLY flag', () => {
    const b = encodeReply(P.Request.GET_FEATURES, u64Payload(5n));
    const v = new DataView(b.buffer);
    expect([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true)]).toEqual([1, P.VERSION | P.FLAG_REPLY, 8]);
  });
});
