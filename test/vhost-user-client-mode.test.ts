// Client mode: the front-end listens (QEMU's `server=on`), the back-end connects with backoff
// until it is there, serves a session, and connects again after the front-end drops it.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MemoryPlan, SUPPORTED } from '../src/index.js';
import { UnixServer, UnixSocket, mappings } from '../src/native/index.js';
import * as P from '../src/vhost-user/protocol.js';
import { encode, readU64 } from '../src/vhost-user/message.js';
import { VhostUserServer } from '../src/vhost-user/server.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { nextEvent, within } from './helpers/within.js';
import { backend, socketDir, removeSocketDir, WINDOW, MiB, RecordingDevice } from './helpers/vhost-user-rig.js';

checkFdLeaks();
afterAll(removeSocketDir);

/** GET_FEATURES over a raw accepted socket: the reply's u64. */
async function getFeatures(sock: UnixSocket): Promise<bigint> {
  const reply = within<Buffer>(5_000, 'GET_FEATURES reply', (done) => sock.once('data', (got) => done(got.data)));
  await sock.send(encode(P.Request.GET_FEATURES, P.VERSION));
  const bytes = await reply;
  expect(bytes.length).toBe(P.HEADER_SIZE + 8);
  return readU64({ request: P.Request.GET_FEATURES, flags: 0, payload: bytes.subarray(P.HEADER_SIZE), fds: [] });
}

describe('vhost-user client mode', () => {
  it('retries until the front-end listens, and reconnects after a session ends', async () => {
    const { memory, engine } = backend();
    const path = join(socketDir(), 'front-end.sock');
    const log: string[] = [];
    const server = VhostUserServer.connect(path, {
      engine, plan: new MemoryPlan(memory, { start: 64 * 1024, end: 8 * MiB }), window: WINDOW,
      device: new RecordingDevice(SUPPORTED, 1, [2, 0, 0, 0, 0, 1], 1500),
      log: (l) => log.push(l),
    }, { minDelayMs: 5, maxDelayMs: 20 });
    const front = await within<UnixServer>(5_000, 'a failed connect', (done) => {
      const t = setInterval(() => {
        if (log.some((l) => l.startsWith(`connecting to ${path}`))) {
          clearInterval(t);
          done(UnixServer.listen(path));
        }
      }, 1);
    });
    try {
      const [first] = await nextEvent<[UnixSocket]>(front, 'connection');
      expect(await getFeatures(first) & (1n << 30n)).toBe(1n << 30n);
      first.close();
      await nextEvent(server, 'sessionEnd');
      const [second] = await nextEvent<[UnixSocket]>(front, 'connection');
      expect(await getFeatures(second) & SUPPORTED).toBe(SUPPORTED);
      second.close();
      await nextEvent(server, 'sessionEnd');
    } finally {
      server.close();
      front.close();
    }
    expect(mappings(memory)).toEqual([]);
  });
});
