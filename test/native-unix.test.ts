// Unix sockets that pass fds: a memfd and an eventfd sent across work on the other side; extra
// fds are closed, never leaked; a server never replaces a live socket or a file that is not one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSharedMemory } from '../src/index.js';
import {
  UnixServer, UnixSocket, EventFd, memfdCreate, close, mapIntoMemory, unmapFromMemory, native, type Received,
} from '../src/native/index.js';
import { checkFdLeaks, openFds } from './helpers/fd-leaks.js';
import { fdFlags, O_CLOEXEC, O_NONBLOCK } from './helpers/fd-flags.js';
import { nextEvent, within } from './helpers/within.js';

checkFdLeaks();

let dir = '';
let n = 0;
const socketPath = (): string => join(dir, `s${n++}.sock`);
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'vq-unix-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A server at a fresh path, a client connected to it, and the server's side of the connection. */
async function connected(opts: Parameters<typeof UnixServer.listen>[1] = {}) {
  const path = socketPath();
  const server = UnixServer.listen(path, opts);
  const accepted = nextEvent<[UnixSocket]>(server, 'connection');
  const client = UnixSocket.connect(path);
  const [conn] = await accepted;
  const done = (): void => { client.close(); conn.close(); server.close(); };
  return { path, server, client, conn, done };
}

describe('fds across a Unix socket', () => {
  it('a memfd and an eventfd sent over work on the receiving side', async () => {
    const { client, conn, done } = await connected();
    const memfd = memfdCreate('passed-memory', 64 * 1024);
    const kick = EventFd.create();
    const memory = createSharedMemory(1 << 20);
    let received: Received | null = null;
    try {
      writeSync(memfd, Buffer.from('written by the sender'), 0, 21, 8192 + 3);
      const got = nextEvent<[Received]>(conn, 'data');
      await client.send(Buffer.from('SET_MEM_TABLE'), [memfd, kick.fd]);
      [received] = await got;
      expect(received.data.toString()).toBe('SET_MEM_TABLE');
      expect([received.fds.length, received.closedFds, received.truncated]).toEqual([2, 0, false]);
      const [theirMem, theirKick] = received.fds;
      expect(theirMem).not.toBe(memfd); // new fds, to the same files
      expect(readlinkSync(`/proc/self/fd/${theirMem}`)).toBe(readlinkSync(`/proc/self/fd/${memfd}`));
      expect(readlinkSync(`/proc/self/fd/${theirKick}`)).toBe('anon_inode:[eventfd]');
      expect(fdFlags(theirMem) & O_CLOEXEC).toBe(O_CLOEXEC); // received close-on-exec

      // The received memfd, mapped into the receiver's memory, is the sender's memory.
      mapIntoMemory(memory, 64 * 1024, theirMem, 0, 64 * 1024);
      const u8 = new Uint8Array(memory.buffer);
      expect(Buffer.from(u8.subarray(64 * 1024 + 8192 + 3, 64 * 1024 + 8192 + 24)).toString()).toBe('written by the sender');
      u8.set(Buffer.from('reply'), 64 * 1024 + 100);
      const back = Buffer.alloc(5);
      readSync(memfd, back, 0, 5, 100);
      expect(back.toString()).toBe('reply');

      // The received eventfd: the sender's signal wakes the receiver's watcher, and back.
      const theirs = new EventFd(theirKick);
      const woke = within<bigint>(5_000, 'kick on the received eventfd', (ok) => theirs.watch(ok));
      kick.signal(4);
      expect(await woke).toBe(4n);
      theirs.signal(6);
      expect(kick.take()).toBe(6n);
      theirs.close();
    } finally {
      unmapFromMemory(memory, 64 * 1024, 64 * 1024);
      if (received) close(received.fds[0]);
      close(memfd);
      kick.close();
      done();
    }
  });

  it('fds beyond maxFds are closed on arrival and counted, not leaked', async () => {
    const { client, conn, done } = await connected({ socket: { maxFds: 1 } });
    const sent = [memfdCreate('a', 4096), memfdCreate('b', 4096), memfdCreate('c', 4096)];
    try {
      const before = openFds().size;
      const got = nextEvent<[Received]>(conn, 'data');
      await client.send(Buffer.from('three fds'), sent);
      const [r] = await got;
      expect([r.fds.length, r.closedFds, r.truncated]).toEqual([1, 2, false]);
      expect(readlinkSync(`/proc/self/fd/${r.fds[0]}`)).toBe('/memfd:a (deleted)');
      expect(openFds().size).toBe(before + 1); // only the one handed over
      close(r.fds[0]);
    } finally {
      sent.forEach(close);
      done();
    }
  });

  it('with maxFds 0 every fd that arrives is closed', async () => {
    const { client, conn, done } = await connected({ socket: { maxFds: 0 } });
    const e = EventFd.create();
    try {
      const before = openFds().size;
      const got = nextEvent<[Received]>(conn, 'data');
      await client.send(Buffer.from('x'), [e.fd, e.fd]);
      const [r] = await got;
      expect([r.data.toString(), r.fds, r.closedFds]).toEqual(['x', [], 2]);
      expect(openFds().size).toBe(before);
    } finally {
      e.close();
      done();
    }
  });

  it('sockets are non-blocking and close-on-exec; both directions carry data', async () => {
    const { client, conn, done } = await connected();
    try {
      for (const fd of [client.fd, conn.fd]) expect(fdFlags(fd) & (O_NONBLOCK | O_CLOEXEC)).toBe(O_NONBLOCK | O_CLOEXEC);
      const toClient = nextEvent<[Received]>(client, 'data');
      await conn.send(Buffer.from('from the server'));
      expect((await toClient)[0].data.toString()).toBe('from the server');
    } finally {
      done();
    }
  });
});

describe('UnixServer.listen', () => {
  it('refuses to replace a live server, which keeps serving', async () => {
    const { path, server, done } = await connected();
    try {
      expect(() => UnixServer.listen(path))
        .toThrow(new RegExp(`^listen ${path}: a server is accepting there: EADDRINUSE \\(Address already in use\\)$`));
      const next = nextEvent<[UnixSocket]>(server, 'connection');
      const another = UnixSocket.connect(path);
      const [conn] = await next; // the refused listen's probe, or this client: either way it accepts
      conn.close();
      another.close();
    } finally {
      done();
    }
    expect(existsSync(path)).toBe(false); // close() removed its own socket
  });

  it('refuses to replace a file that is not a socket', () => {
    const path = socketPath();
    writeFileSync(path, 'precious');
    expect(() => UnixServer.listen(path)).toThrow(/^listen .*: not a socket; refusing to replace it: EEXIST \(File exists\)$/);
    expect(readFileSync(path, 'utf8')).toBe('precious');
  });

  it('replaces a stale socket (nobody accepting), which refuses connections until then', async () => {
    const path = socketPath();
    close(native.unixListen(path, 1, 0o600)); // a server that died without removing its socket
    expect(existsSync(path)).toBe(true);
    expect(() => UnixSocket.connect(path)).toThrow(new RegExp(`^connect ${path}: ECONNREFUSED \\(Connection refused\\)$`));
    const server = UnixServer.listen(path);
    try {
      const accepted = nextEvent<[UnixSocket]>(server, 'connection');
      const client = UnixSocket.connect(path);
      const [conn] = await accepted;
      conn.close();
      client.close();
    } finally {
      server.close();
    }
  });

  it('close() leaves alone a path that something else has taken over', () => {
    const path = socketPath();
    const server = UnixServer.listen(path);
    rmSync(path);
    writeFileSync(path, 'someone else');
    server.close();
    expect(readFileSync(path, 'utf8')).toBe('someone else');
  });

  it('connect and listen errors name the path and the errno', () => {
    const missing = join(dir, 'nobody-here.sock');
    expect(() => UnixSocket.connect(missing)).toThrow(new RegExp(`^connect ${missing}: ENOENT \\(No such file or directory\\)$`));
    const long = join(dir, 'x'.repeat(120));
    expect(() => UnixServer.listen(long)).toThrow(/^listen: path is \d+ bytes long, at most 107 allowed$/);
    expect(() => UnixSocket.connect(long)).toThrow(/^connect: path is \d+ bytes long, at most 107 allowed$/);
    expect(() => UnixServer.listen(join(dir, 'no-such-dir', 's.sock'))).toThrow(/^listen .*s\.sock: ENOENT/);
    let thrown: unknown = null;
    try {
      UnixSocket.connect(missing);
    } catch (e) {
      thrown = e;
    }
    expect((thrown as { code?: string } | null)?.code).toBe('ENOENT');
  });
});
