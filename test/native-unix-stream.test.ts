// The stream behaviour of UnixSocket: large sends wait for the kernel buffer (writable events)
// and arrive whole and in order, fds travel with the first byte of their send, pause() holds
// data back, and a hangup ends and closes the other side.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixServer, UnixSocket, memfdCreate, close, type Received } from '../src/native/index.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { nextEvent, sleep, until } from './helpers/within.js';

checkFdLeaks();

let dir = '';
let n = 0;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'vq-unix-stream-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function connected() {
  const server = UnixServer.listen(join(dir, `s${n++}.sock`));
  const accepted = nextEvent<[UnixSocket]>(server, 'connection');
  const client = UnixSocket.connect(server.path);
  const [conn] = await accepted;
  return { server, client, conn, done: (): void => { client.close(); conn.close(); server.close(); } };
}

/** Every chunk `socket` receives, in order. */
function collect(socket: UnixSocket): Received[] {
  const chunks: Received[] = [];
  socket.on('data', (r) => chunks.push(r));
  return chunks;
}

const bytesOf = (chunks: Received[]): Buffer => Buffer.concat(chunks.map((c) => c.data));
const pattern = (size: number, seed: number): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + seed + (i >> 12)) & 0xff));

describe('UnixSocket streams', () => {
  it('8 MiB in three queued sends arrive whole and in order; the fds come with the second send\'s first byte', async () => {
    const { client, conn, done } = await connected();
    const fd = memfdCreate('with-the-second-send', 4096);
    const chunks = collect(conn);
    try {
      const parts = [pattern(3 << 20, 1), pattern(4 << 20, 2), pattern(1 << 20, 3)];
      const settled: number[] = [];
      const sends = parts.map((p, i) => client.send(p, i === 1 ? [fd] : []).then(() => { settled.push(i); }));
      await Promise.all(sends);
      expect(settled).toEqual([0, 1, 2]);
      const total = parts.reduce((s, p) => s + p.length, 0);
      await until(() => bytesOf(chunks).length >= total, 'all bytes');
      expect(bytesOf(chunks).equals(Buffer.concat(parts))).toBe(true);
      expect(chunks.length).toBeGreaterThan(3); // more than the kernel buffers at once: it waited for writable
      // Exactly one chunk carries an fd: the one holding the second send's first byte (Linux may
      // glue bytes sent before it to the front of that chunk, never bytes sent after it).
      const withFds = chunks.map((c, i) => [i, c.fds.length] as const).filter(([, k]) => k > 0);
      expect(withFds).toHaveLength(1);
      const [at] = withFds[0];
      const start = bytesOf(chunks.slice(0, at)).length;
      expect(start).toBeLessThanOrEqual(parts[0].length);
      expect(start + chunks[at].data.length).toBeGreaterThan(parts[0].length);
      expect(start + chunks[at].data.length).toBeLessThanOrEqual(parts[0].length + parts[1].length);
      const got = chunks[at].fds[0];
      expect(readlinkSync(`/proc/self/fd/${got}`)).toBe('/memfd:with-the-second-send (deleted)');
      close(got);
    } finally {
      close(fd);
      done();
    }
  });

  it('pause() holds data back until resume()', async () => {
    const { client, conn, done } = await connected();
    const chunks = collect(conn);
    try {
      conn.pause();
      await client.send(Buffer.from('held'));
      await sleep(30);
      expect(chunks).toEqual([]);
      conn.resume();
      await until(() => chunks.length > 0, 'data after resume');
      expect(bytesOf(chunks).toString()).toBe('held');
    } finally {
      done();
    }
  });

  it("a peer's hangup ends and closes this side; sending into a closed socket fails", async () => {
    const { client, conn, done } = await connected();
    try {
      const ended = nextEvent(conn, 'end');
      const closed = nextEvent(conn, 'close');
      client.close();
      expect(client.closed).toBe(true);
      await ended;
      await closed;
      expect(conn.closed).toBe(true);
      await expect(conn.send(Buffer.from('late'))).rejects.toThrow(/^send fd \d+: the socket is closed$/);
    } finally {
      done();
    }
  });

  it('sending to a peer that has gone is EPIPE', async () => {
    const { client, conn, done } = await connected();
    try {
      conn.close(); // gone before the client's event loop hears of it
      await expect(client.send(Buffer.from('anyone?'))).rejects.toThrow(/^send fd \d+: EPIPE \(Broken pipe\)$/);
    } finally {
      done();
    }
  });

  it('fds need data to travel with; close() fails sends still queued', async () => {
    const { client, conn, done } = await connected();
    const fd = memfdCreate('x', 4096);
    try {
      await expect(client.send(Buffer.alloc(0), [fd])).rejects.toThrow(/fds need at least one byte of data/);
      conn.pause();
      const big = client.send(Buffer.alloc(16 << 20)); // more than the kernel takes while nobody reads
      await sleep(10);
      client.close();
      await expect(big).rejects.toThrow(/the socket was closed before it was sent/);
    } finally {
      close(fd);
      done();
    }
  });

  it('a server with no connection listener closes what it accepts (no leak)', async () => {
    const server = UnixServer.listen(join(dir, `s${n++}.sock`));
    try {
      const client = UnixSocket.connect(server.path);
      const ended = nextEvent(client, 'end');
      await ended; // the server accepted and closed it
      expect(client.closed).toBe(true);
    } finally {
      server.close();
    }
  });
});
