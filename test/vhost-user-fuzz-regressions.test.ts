// Regressions found by the vhost-user session fuzzer (test/fuzz/vhost-user-session.fuzz.test.ts),
// each with the minimal message sequence that showed it. Every test ends with nothing left
// behind: no fd (checkFdLeaks), no mapping, and the server serving the next front-end.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mappings } from '../src/native/index.js';
import * as P from '../src/vhost-user/protocol.js';
import { encode, u64Payload } from '../src/vhost-user/message.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { expectServesNext } from './helpers/vhost-user-session.js';
import { nextEvent } from './helpers/within.js';
import { RawFrontEnd } from './helpers/vhost-user-frontend.js';
import { rig, removeSocketDir, type Rig } from './helpers/vhost-user-rig.js';

checkFdLeaks();
afterAll(removeSocketDir);

const R = P.Request;
const TIMEOUT_MS = 300;
let r: Rig;

beforeEach(() => {
  r = rig({ messageTimeoutMs: TIMEOUT_MS });
});

afterEach(async () => {
  await expectServesNext(r);
  r.close();
  expect(mappings(r.memory)).toEqual([]);
});

describe('a front-end that hangs up in the middle of a message', () => {
  // Seed 1148490992 (net server): SET_VRING_KICK cut after a few bytes, the front-end's own socket
  // attached, then the front-end closed. The back-end holds the fds of a message until it is
  // whole, so it held a copy of the front-end's end of the connection: the socket never reported
  // the hang-up and the session (and the server, which serves one at a time) stayed taken until
  // the message timeout (before that timeout existed, for ever).
  it('with its own socket attached to the first bytes: the session ends at the message timeout, the fd is closed', async () => {
    const fe = RawFrontEnd.connect(r.path);
    const ended = nextEvent<[string]>(r.server, 'sessionEnd', TIMEOUT_MS + 5_000);
    const kick = encode(R.SET_VRING_KICK, P.VERSION, u64Payload(1n));
    await fe.sendRaw(kick.subarray(0, 4), [fe.socket.fd]);
    fe.close();
    const [reason] = await ended;
    expect(reason).toMatch(new RegExp(`no complete message within ${TIMEOUT_MS} ms of its first byte \\(4 of the 12 header bytes arrived\\)`));
    expect(r.log.filter((l) => l.startsWith('connection ended: '))).toEqual([`connection ended: ${reason}`]);
  });
});
