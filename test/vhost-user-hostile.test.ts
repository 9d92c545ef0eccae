// Hostile front-ends against the vhost-user back-end: each bad message is either answered with a
// non-zero ack (REPLY_ACK negotiated, NEED_REPLY set: the session goes on and still answers) or
// ends the connection with a logged reason; the server then serves the next connection, and no
// fd and no mapping is left behind.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FEATURES } from '../src/index.js';
import { EventFd, memfdCreate, close, mappings, PAGE_SIZE } from '../src/native/index.js';
import * as P from '../src/vhost-user/protocol.js';
import { encode, statePayload, addrPayload, memTablePayload, u64Payload, type MemRegion } from '../src/vhost-user/message.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { closeSession } from './helpers/vhost-user-session.js';
import { nextEvent, sleep } from './helpers/within.js';
import { RawFrontEnd } from './helpers/vhost-user-frontend.js';
import { rig, guest, removeSocketDir, UADDR, MiB, type Rig, type Guest } from './helpers/vhost-user-rig.js';
import { negotiate, setMemTable, F_PROTOCOL } from './helpers/vhost-user-setup.js';

checkFdLeaks();
afterAll(removeSocketDir);

const R = P.Request;
let r: Rig;
let g: Guest;
let fe: RawFrontEnd;

beforeEach(() => {
  r = rig();
  g = guest();
  fe = RawFrontEnd.connect(r.path);
});

afterEach(async () => {
  // The server still serves: a new front-end negotiates; nothing stays mapped.
  await closeSession(r, fe);
  g.close();
});

/** The back-end closed the connection, and logged why (matching `reason`). */
async function expectClosed(reason: RegExp): Promise<void> {
  await fe.closedByBackend();
  expect(r.log.filter((l) => l.startsWith('connection ended:')).join('\n')).toMatch(reason);
  expect(mappings(r.memory)).toEqual([]);
}

/** The session is alive and still answers. */
async function expectAlive(): Promise<void> {
  expect(await fe.getU64(R.GET_QUEUE_NUM)).toBe(2n);
}

const region = (gpa: bigint, size: bigint, uaddr: bigint, mmapOffset = 0n): MemRegion => ({ gpa, size, uaddr, mmapOffset });

describe('malformed messages end the connection', () => {
  it('a truncated payload (SET_FEATURES with 4 bytes)', async () => {
    await fe.send(R.SET_FEATURES, new Uint8Array(4));
    await expectClosed(/SET_FEATURES: payload of 4 bytes, expected 8/);
  });

  it('a message cut short by hang-up', async () => {
    await fe.sendRaw(encode(R.SET_FEATURES, P.VERSION, new Uint8Array(8)).subarray(0, 15));
    fe.socket.close();
    await nextEvent(r.server, 'sessionEnd');
    expect(r.log.join('\n')).toMatch(/connection ended: the front-end hung up/);
  });

  it('an oversized payload', async () => {
    const header = encode(R.SET_FEATURES, P.VERSION);
    new DataView(header.buffer).setUint32(P.HDR_SIZE, 1 << 20, true);
    await fe.sendRaw(header);
    await expectClosed(/payload of 1048576 bytes; at most 4096/);
  });

  it('a wrong protocol version', async () => {
    await fe.send(R.GET_FEATURES, undefined, [], 2);
    await expectClosed(/protocol version 2/);
  });

  it('fds with a request that takes none', async () => {
    const e = EventFd.create();
    try {
      await fe.send(R.GET_FEATURES, undefined, [e.fd]);
    } finally {
      e.close();
    }
    await expectClosed(/GET_FEATURES: 1 file descriptors with a request that takes none/);
  });

  it('SET_MEM_TABLE with fewer fds than regions', async () => {
    await negotiate(fe);
    await fe.send(R.SET_MEM_TABLE, memTablePayload([g.region, region(0x1000_0000n, 0x1000n, UADDR + 0x1000_0000n)]), [g.fd]);
    await expectClosed(/1 file descriptors for 2 regions/);
  });

  it('SET_VRING_KICK with two fds', async () => {
    const a = EventFd.create();
    const b = EventFd.create();
    try {
      await fe.send(R.SET_VRING_KICK, u64Payload(0n), [a.fd, b.fd]);
      await expectClosed(/SET_VRING_KICK: 2 file descriptors, expected 1/);
    } finally {
      a.close();
      b.close();
    }
  });

  it('SET_VRING_CALL with the no-fd flag and an fd', async () => {
    const a = EventFd.create();
    try {
      await fe.send(R.SET_VRING_CALL, u64Payload(BigInt(P.VRING_NOFD_MASK)), [a.fd]);
      await expectClosed(/SET_VRING_CALL: 1 file descriptors, expected 0 \(the no-fd flag is set\)/);
    } finally {
      a.close();
    }
  });

  it('more than 8 fds with one message', async () => {
    const fds = Array.from({ length: 9 }, () => EventFd.create());
    try {
      await fe.send(R.SET_MEM_TABLE, memTablePayload([g.region]), fds.map((e) => e.fd));
    } finally {
      for (const e of fds) e.close();
    }
    await expectClosed(/more than 8 file descriptors/);
  });

  it('more than 8 regions', async () => {
    await negotiate(fe);
    const regions = Array.from({ length: 9 }, (_, i) => region(BigInt(i) << 32n, 0x1000n, UADDR + (BigInt(i) << 32n)));
    await fe.send(R.SET_MEM_TABLE, memTablePayload(regions), Array(8).fill(g.fd));
    await expectClosed(/SET_MEM_TABLE: 9 regions; 1 to 8 are allowed/);
  });
});

describe('refused memory tables: a non-zero ack, nothing mapped, the session goes on', () => {
  const page = BigInt(PAGE_SIZE);
  const cases: [string, () => MemRegion[], RegExp][] = [
    ['overlapping in guest addresses', () => [region(0n, 2n * page, UADDR), region(page, page, UADDR + 0x100000n)], /overlaps region 0 in guest addresses/],
    ['overlapping in user addresses', () => [region(0n, page, UADDR), region(0x100000n, page, UADDR)], /overlaps region 0 in user addresses/],
    ['zero-sized', () => [region(0n, 0n, UADDR)], /is empty/],
    ['past 2^64 in guest addresses', () => [region(0xffff_ffff_ffff_f000n, 2n * page, UADDR)], /past the 64-bit guest address space/],
    ['past 2^64 in user addresses', () => [region(0n, 2n * page, 0xffff_ffff_ffff_f000n)], /user address .* reaches past 2\^64/],
    ['not page-aligned in size', () => [region(0n, page + 1n, UADDR)], /not a multiple of the/],
    ['not page-aligned in file offset', () => [region(0n, page, UADDR, 512n)], /mmap offset 0x200 is not page-aligned/],
    ['bigger than the window', () => [region(0n, 64n * BigInt(MiB), UADDR)], /does not fit the back-end's 33554432-byte window/],
    ['past the end of its file (second region)', () => [region(0n, page, UADDR), region(0x1_0000_0000n, 8n * BigInt(MiB), UADDR + 0x1_0000_0000n)], /region 1: .* reaches past the end of its/],
  ];
  for (const [name, regions, why] of cases) {
    it(name, async () => {
      await negotiate(fe);
      const table = regions();
      expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload(table), table.map(() => g.fd))).not.toBe(0n);
      expect(r.log.join('\n')).toMatch(why);
      expect(mappings(r.memory)).toEqual([]);
      await expectAlive();
    });
  }

  it('without REPLY_ACK the same table ends the connection', async () => {
    await negotiate(fe, FEATURES.VERSION_1 | F_PROTOCOL, 0n);
    await fe.send(R.SET_MEM_TABLE, memTablePayload([region(0n, 0n, UADDR)]), [g.fd]);
    await expectClosed(/SET_MEM_TABLE: region 0 .* is empty/);
  });

  it('a refused replacement leaves the old table mapped', async () => {
    await negotiate(fe);
    expect(await setMemTable(fe, g)).toBe(0n);
    expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload([region(0n, 0n, UADDR)]), [g.fd])).not.toBe(0n);
    expect(mappings(r.memory)).toHaveLength(1);
  });
});

describe('bad vring setup: a non-zero ack, the session goes on', () => {
  it('SET_VRING_NUM of 0, not a power of two (split), above 32768, and for a vring that does not exist', async () => {
    await negotiate(fe);
    for (const [index, num, why] of [[0, 0, /queue size 0/], [0, 100, /not a power of two/], [1, 65536, /above 32768/], [2, 64, /vring 2 does not exist/]] as const) {
      expect(await fe.acked(R.SET_VRING_NUM, statePayload(index, num))).not.toBe(0n);
      expect(r.log.at(-1)).toMatch(why);
    }
    await expectAlive();
  });

  it('a packed ring takes any size from 1 to 32768', async () => {
    await negotiate(fe, FEATURES.VERSION_1 | FEATURES.RING_PACKED | F_PROTOCOL);
    expect(await fe.acked(R.SET_VRING_NUM, statePayload(0, 100))).toBe(0n);
    expect(await fe.acked(R.SET_VRING_NUM, statePayload(0, 32768))).toBe(0n);
    expect(await fe.acked(R.SET_VRING_NUM, statePayload(0, 32769))).not.toBe(0n);
  });

  it('vring addresses outside every region, across a region end, or before a memory table', async () => {
    await negotiate(fe);
    expect(await fe.acked(R.SET_VRING_NUM, statePayload(0, 64))).toBe(0n);
    const addr = (desc: bigint) => addrPayload({ index: 0, flags: 0, desc, avail: UADDR + 0x2000n, used: UADDR + 0x3000n, log: 0n });
    expect(await fe.acked(R.SET_VRING_ADDR, addr(UADDR))).not.toBe(0n);
    expect(r.log.at(-1)).toMatch(/addresses before SET_MEM_TABLE/);
    expect(await setMemTable(fe, g)).toBe(0n);
    expect(await fe.acked(R.SET_VRING_ADDR, addr(0x1000n))).not.toBe(0n);
    expect(r.log.at(-1)).toMatch(/descriptor area \[0x1000, \+1024\) is not inside one memory region/);
    expect(await fe.acked(R.SET_VRING_ADDR, addr(UADDR + BigInt(g.size) - 512n))).not.toBe(0n);
    expect(await fe.acked(R.SET_VRING_ADDR, addr(UADDR + 8n))).not.toBe(0n);
    expect(r.log.at(-1)).toMatch(/not 16-byte aligned/);
    expect(await fe.acked(R.SET_VRING_ADDR, addr(UADDR))).toBe(0n);
    await expectAlive();
  });

  it('kicks before the ring is set up are drained and ignored', async () => {
    await negotiate(fe);
    const kick = EventFd.create();
    try {
      expect(await fe.acked(R.SET_VRING_KICK, u64Payload(0n), [kick.fd])).toBe(0n);
      kick.signal();
      await sleep(20);
      await expectAlive();
      expect(r.events).toEqual([]);
      expect(r.log.join('\n')).toMatch(/vring 0: kick before the ring runs/);
    } finally {
      kick.close();
    }
  });

  it('an unknown request: a non-zero ack with NEED_REPLY, else logged and ignored', async () => {
    await negotiate(fe);
    expect(await fe.acked(99)).not.toBe(0n);
    await fe.send(99);
    await fe.send(R.SET_LOG_BASE, u64Payload(0n));
    await expectAlive();
    expect(r.log.filter((l) => l.includes('REQUEST_99: refused'))).toHaveLength(2);
  });

  it('without REPLY_ACK a bad SET_VRING_NUM ends the connection', async () => {
    await negotiate(fe, FEATURES.VERSION_1 | F_PROTOCOL, 0n);
    await fe.send(R.SET_VRING_NUM, statePayload(0, 3));
    await expectClosed(/SET_VRING_NUM: vring 0: queue size 3 is not a power of two/);
  });

  it('SET_FEATURES with bits never offered', async () => {
    await negotiate(fe);
    expect(await fe.acked(R.SET_FEATURES, u64Payload(1n << 62n))).not.toBe(0n);
    expect(r.log.at(-1)).toMatch(/feature bits 0x4000000000000000 were not offered/);
    await expectAlive();
  });
});

describe('connections', () => {
  it('a second front-end while one is served is closed; the first goes on', async () => {
    await negotiate(fe);
    const second = RawFrontEnd.connect(r.path);
    await second.closedByBackend();
    expect(r.log.join('\n')).toMatch(/refusing connection fd \d+: a session is already being served/);
    await expectAlive();
  });

  it('a session with mapped memory and rings ends cleanly when the front-end vanishes', async () => {
    await negotiate(fe);
    expect(await setMemTable(fe, g)).toBe(0n);
    const kick = EventFd.create();
    const call = EventFd.create();
    const err = EventFd.create();
    try {
      expect(await fe.acked(R.SET_VRING_CALL, u64Payload(0n), [call.fd])).toBe(0n);
      expect(await fe.acked(R.SET_VRING_CALL, u64Payload(0n), [err.fd])).toBe(0n); // replaces (and closes) the first
      expect(await fe.acked(R.SET_VRING_ERR, u64Payload(1n), [err.fd])).toBe(0n);
      expect(await fe.acked(R.SET_VRING_KICK, u64Payload(1n | BigInt(P.VRING_NOFD_MASK)))).toBe(0n);
      expect(await fe.acked(R.SET_VRING_KICK, u64Payload(0n), [kick.fd])).toBe(0n);
      expect(mappings(r.memory)).toHaveLength(1);
    } finally {
      kick.close();
      call.close();
      err.close();
    }
    fe.close();
    await nextEvent(r.server, 'sessionEnd');
    expect(mappings(r.memory)).toEqual([]);
  });
});

// A memfd too small for what a region claims is refused before anything is mapped.
it('a region reaching past its file is refused with nothing mapped', async () => {
  const small = memfdCreate('small', 4096);
  try {
    await negotiate(fe);
    expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload([region(0n, 0x10000n, UADDR)]), [small])).not.toBe(0n);
    expect(mappings(r.memory)).toEqual([]);
  } finally {
    close(small);
  }
});
