// Abuse limits on the front-end's side (issue 11, item 4), each named for what it guards: a
// back-end that sends half a reply and stalls, half a message while the port is up and stalls,
// floods unsolicited messages, or hands over memory (memfds) with its replies. Each ends with a
// clear error, the port down, the mempool whole and the fds it started with (checkFdLeaks); the
// front-end maps nothing a back-end sends. The fuzz target vhost-user-frontend.fuzz tries the same
// and more at random; these are the cases written out.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as P from '../src/vhost-user/protocol.js';
import { encode, u64Payload } from '../src/vhost-user/message.js';
import { allMappings, UnixServer } from '../src/native/index.js';
import { VirtioUserPort } from '../src/virtio-user/port.js';
import { FrontendError } from '../src/vhost-user/frontend-channel.js';
import { ScriptedBackend, type Misdeed } from './helpers/scripted-backend.js';
import { socketDir, removeSocketDir } from './helpers/vhost-user-rig.js';
import { within } from './helpers/within.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';

checkFdLeaks();

const TIMEOUT_MS = 200;
let n = 0;
let live: { close(): void }[] = [];
afterEach(() => { for (const x of live.splice(0)) x.close(); });
afterAll(removeSocketDir);

function pair(script: Partial<Record<number, Misdeed>> = {}): { be: ScriptedBackend; port: VirtioUserPort } {
  const socket = join(socketDir(), `abuse-${n++}.sock`);
  const be = new ScriptedBackend(socket, script);
  const port = VirtioUserPort.create({ socket, queueSize: 16, poolSize: 128, reconnect: false, replyTimeoutMs: TIMEOUT_MS });
  live.push(port, be);
  return { be, port };
}

const down = (port: VirtioUserPort): Promise<string> => within<string>(5_000, "the port's 'down'", (done) => port.once('down', done));

describe('front-end abuse limits', () => {
  it('half a reply, then a stall: the set-up fails within the reply timeout naming the request; nothing leaked', async () => {
    const { port } = pair({ [P.Request.GET_PROTOCOL_FEATURES]: 'half' });
    const t0 = performance.now();
    const err = await port.connect().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FrontendError);
    expect((err as Error).message).toMatch(/GET_PROTOCOL_FEATURES: no reply (within 200 ms|: half a message from the back-end)/);
    expect(performance.now() - t0).toBeLessThan(TIMEOUT_MS + 2_000);
    expect(port.pool.freeCount).toBe(port.pool.size);
  });

  it('half a message while the port is up, then a stall: the session ends after the timeout, named; the pool whole', async () => {
    const { be, port } = pair();
    await port.connect();
    const gone = down(port);
    be.sendRaw(encode(P.Request.GET_FEATURES, P.VERSION | P.FLAG_REPLY, u64Payload(0n)).subarray(0, 5));
    expect(await gone).toMatch(/^half a message from the back-end for 200 ms \(5 of 12 bytes\)$/);
    expect(port.up).toBe(false);
    expect(port.pool.freeCount).toBe(port.pool.size);
  });

  it('a flood of unsolicited messages while up: the session ends at 65, named; the pool whole', async () => {
    const { be, port } = pair();
    await port.connect();
    const gone = down(port);
    const one = encode(P.Request.GET_FEATURES, P.VERSION | P.FLAG_REPLY, u64Payload(0n));
    for (let i = 0; i < 1000; i++) be.sendRaw(one);
    expect(await gone).toBe('the back-end sent more than 64 messages nobody asked for');
    expect(port.pool.freeCount).toBe(port.pool.size);
  });

  for (const request of [P.Request.GET_FEATURES, P.Request.SET_MEM_TABLE] as const) {
    it(`memory handed over with the ${P.requestName(request)} reply (a 1 MiB memfd): refused, closed, nothing mapped`, async () => {
      const { port } = pair({ [request]: 'with-memfd' });
      const maps = allMappings().length; // the port's own memory mapped already
      const err = await port.connect().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(FrontendError);
      expect((err as Error).message).toMatch(new RegExp(`${P.requestName(request)}: 1 unexpected file descriptors with the reply`));
      expect(allMappings().length).toBe(maps);
      expect(port.pool.freeCount).toBe(port.pool.size);
    });
  }
});

describe('front-end: a back-end that resets the connection', () => {
  // Found by vhost-user-frontend.fuzz (seed 2175734978): a back-end that hung up with our requests
  // unread left the port's socket with POLLERR, which libuv reports as EBADF, so the session ended
  // with "socket error: poll fd N: EBADF", as if we had closed our own fd. The socket now reads on
  // POLLERR and the kernel names the failure (ECONNRESET), or the hang-up is seen as one.
  it('hangs up with our requests unread: the error names the reset or the hang-up, never EBADF; nothing leaked', async () => {
    const socket = join(socketDir(), `abuse-${n++}.sock`);
    const server = UnixServer.listen(socket);
    live.push(server);
    // Reads nothing; closes once the front-end has sent its first request.
    server.on('connection', (s) => { s.pause(); setTimeout(() => s.close(), 20); });
    const port = VirtioUserPort.create({ socket, queueSize: 16, poolSize: 128, reconnect: false, replyTimeoutMs: 2_000 });
    live.push(port);
    const err = await port.connect().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FrontendError);
    expect((err as Error).message).toMatch(/^vhost-user front-end: GET_FEATURES: no reply: (the back-end hung up|socket error: .*ECONNRESET.*)$/);
    expect((err as Error).message).not.toMatch(/EBADF/);
    expect(port.pool.freeCount).toBe(port.pool.size);
  });
});
