// What a front-end's fds can do to the back-end (each a finding of a hostile-front-end campaign,
// kept as a named regression):
// - a kick, call or err fd that is not an eventfd (a regular file, a memfd, the front-end's own
//   socket) is refused, closed and never watched: before, reading it threw from the event loop
//   and the process died, or the session never saw its socket's end;
// - a call eventfd whose counter is full and that was handed over blocking: signalling it must not
//   stall the worker (the back-end makes call fds non-blocking; a full counter is "not listening");
// - a front-end that never reads its replies: the back-end stops reading its requests instead of
//   queueing replies without bound;
// - guest memory that could shrink under the mapping (a memfd without F_SEAL_SHRINK) is refused
//   when the back-end requires sealed memory, and warned about otherwise;
// - the listening socket is only this user's (0600) unless --socket-mode says otherwise, and is
//   never created over a symlink or a file that is not a socket.
import { openSync, closeSync, statSync, writeFileSync, symlinkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FEATURES } from '../src/index.js';
import { EventFd, eventfdCreate, EFD_CLOEXEC, memfdCreate, close, native, UnixServer } from '../src/native/index.js';
import * as P from '../src/vhost-user/protocol.js';
import { encode, u64Payload, memTablePayload } from '../src/vhost-user/message.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { expectServesNext, closeSession } from './helpers/vhost-user-session.js';
import { nextEvent, until, sleep } from './helpers/within.js';
import { RawFrontEnd } from './helpers/vhost-user-frontend.js';
import { rig, guest, removeSocketDir, socketDir, type Rig } from './helpers/vhost-user-rig.js';
import { negotiate, F_PROTOCOL } from './helpers/vhost-user-setup.js';
import { netWorld } from './helpers/vhost-net-rig.js';
import { testFrame } from './helpers/vhost-net-frontend.js';

checkFdLeaks();
afterAll(removeSocketDir);

const R = P.Request;

/** A negotiated session (REPLY_ACK on) on a fresh rig; closes everything and checks the server still serves. */
async function session(body: (r: Rig, fe: RawFrontEnd) => Promise<void>, opts: Parameters<typeof rig>[0] = {}): Promise<void> {
  const r = rig(opts);
  const fe = RawFrontEnd.connect(r.path);
  try {
    await negotiate(fe, FEATURES.VERSION_1 | F_PROTOCOL);
    await body(r, fe);
  } finally {
    await closeSession(r, fe);
  }
}

describe('kick, call and err fds must be eventfds', () => {
  for (const request of ['SET_VRING_KICK', 'SET_VRING_CALL', 'SET_VRING_ERR'] as const) {
    it(`${request} with a regular file, a memfd or the front-end's own socket: refused, closed, never watched`, async () => {
      await session(async (r, fe) => {
        const file = openSync(process.execPath, 'r');
        const mem = memfdCreate('not-an-eventfd', 4096);
        try {
          for (const [fd, kind] of [[file, 'file'], [mem, 'memfd'], [fe.socket.fd, 'socket']] as const) {
            expect(await fe.acked(R[request], u64Payload(1n), [fd])).not.toBe(0n);
            expect(r.log.at(-1)).toMatch(new RegExp(`vring 1: the ${request.slice(10).toLowerCase()} fd is a ${kind}, not an eventfd`));
          }
          // The session goes on, and the kick of a real eventfd is still taken.
          const e = EventFd.create();
          expect(await fe.acked(R[request], u64Payload(1n), [e.fd])).toBe(0n);
          e.close();
        } finally {
          closeSync(file);
          close(mem);
        }
      });
    });
  }

  it('the front-end hands over its own socket and closes it: the session ends (nothing keeps the socket alive)', async () => {
    const r = rig();
    const fe = RawFrontEnd.connect(r.path);
    try {
      await negotiate(fe, FEATURES.VERSION_1 | F_PROTOCOL);
      await fe.send(R.SET_VRING_CALL, u64Payload(0n), [fe.socket.fd]);
      const ended = nextEvent(r.server, 'sessionEnd');
      fe.close();
      await ended;
      // A next front-end is served (before, every later connection was refused).
      await expectServesNext(r);
    } finally {
      r.close();
    }
  });
});

describe('signalling the front-end never blocks', () => {
  it('a blocking call eventfd whose counter is full: frames keep flowing, the worker does not stall', async () => {
    const w = await netWorld({ mode: 'io' });
    // Blocking (no EFD_NONBLOCK), counter at 2^64 - 2: one more write would block forever.
    const full = eventfdCreate(0, EFD_CLOEXEC);
    native.eventfdWrite(full, 0xffff_ffff_ffff_fffen);
    try {
      expect(await w.fe.acked(R.SET_VRING_CALL, u64Payload(0n), [full])).toBe(0n);
      const p = w.pairs[0];
      p.postRx(32);
      for (let round = 0; round < 4; round++) {
        const frames = Array.from({ length: 8 }, (_, i) => testFrame(64, round * 8 + i));
        p.send(frames);
        expect((await p.receive(8)).map((f) => f.frame)).toEqual(frames);
      }
      // The control plane still answers too.
      expect(await w.fe.getU64(R.GET_QUEUE_NUM)).toBe(4n);
    } finally {
      close(full);
      await w.close();
    }
  });
});

describe('a front-end that does not read its replies', () => {
  it('is not read either: replies wait in the socket, not in the back-end', async () => {
    await session(async (r, fe) => {
      const one = encode(R.GET_FEATURES, P.VERSION);
      const flood = new Uint8Array(one.length * 20_000);
      for (let i = 0; i < 20_000; i++) flood.set(one, i * one.length);
      const sent = fe.sendRaw(flood);
      let most = 0;
      for (let i = 0; i < 20; i++) {
        await sleep(10);
        most = Math.max(most, r.server.replyBacklog);
      }
      // At most the one reply the kernel had no room for is held by the back-end.
      expect(most).toBeLessThanOrEqual(1);
      let replies = 0;
      await until(() => {
        for (let m = fe.drain(); m > 0; m = fe.drain()) replies += m;
        return replies === 20_000;
      }, 'all 20000 replies', 20_000);
      await sent;
    });
  });
});

describe('the listening socket', () => {
  it('is created with mode 0600 unless told otherwise, never over a symlink or a file that is not a socket', async () => {
    const dir = socketDir();
    const path = join(dir, 'mode.sock');
    const r = rig();
    try {
      expect(statSync(r.path).mode & 0o777).toBe(0o600);
      const s = UnixServer.listen(path, { mode: 0o660 });
      expect(statSync(path).mode & 0o777).toBe(0o660);
      s.close();
      const target = join(dir, 'target');
      writeFileSync(target, 'precious');
      symlinkSync(target, join(dir, 'link.sock'));
      expect(() => UnixServer.listen(join(dir, 'link.sock'))).toThrow(/not a socket; refusing to replace it/);
      expect(() => UnixServer.listen(target)).toThrow(/not a socket; refusing to replace it/);
      expect(readFileSync(target, 'utf8')).toBe('precious');
    } finally {
      r.close();
    }
  });
});

describe('guest memory that could shrink under the mapping', () => {
  it('an unsealed memfd is refused with requireSealedMemory, accepted with a warning otherwise', async () => {
    const g = guest();
    const fd = memfdCreate('sealed', 1 << 20);
    try {
      // memfdCreate seals against shrinking: accepted without a warning.
      await session(async (r, fe) => {
        expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload([{ ...g.region, size: 1n << 20n }]), [fd])).toBe(0n);
        expect(r.log.filter((l) => l.includes('warning'))).toEqual([]);
      }, { requireSealedMemory: true });
      // A plain file cannot be sealed: refused when sealing is required.
      const file = openSync('/proc/self/exe', 'r');
      try {
        await session(async (r, fe) => {
          expect(await fe.acked(R.SET_MEM_TABLE, memTablePayload([{ ...g.region, size: 1n << 20n }]), [file])).not.toBe(0n);
          expect(r.log.at(-1)).toMatch(/cannot be sealed/);
        }, { requireSealedMemory: true });
      } finally {
        closeSync(file);
      }
    } finally {
      close(fd);
      g.close();
    }
  });
});
