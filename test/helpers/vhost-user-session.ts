// A negotiated session against a fresh rig (REPLY_ACK, STATUS, RESET_DEVICE and memory slots on),
// torn down with every mapping checked gone, and a second region of guest memory for the
// memory-slot tests.
import { expect } from 'vitest';
import { FEATURES } from '../../src/index.js';
import { memfdCreate, close, mapIntoMemory, unmapFromMemory, mappings } from '../../src/native/index.js';
import * as P from '../../src/vhost-user/protocol.js';
import type { MemRegion } from '../../src/vhost-user/message.js';
import { nextEvent } from './within.js';
import { RawFrontEnd } from './vhost-user-frontend.js';
import { rig, guest, UADDR, MiB, type Rig, type Guest } from './vhost-user-rig.js';
import { negotiate, F_PROTOCOL } from './vhost-user-setup.js';

const PF = P.ProtocolFeature;
const PROTOCOL = [PF.MQ, PF.REPLY_ACK, PF.STATUS, PF.RESET_DEVICE, PF.CONFIGURE_MEM_SLOTS].reduce((s, b) => s | (1n << BigInt(b)), 0n);

/** A second region of guest memory: a 2 MiB memfd at gpa 12 MiB of the guest's memory. */
export function secondRegion(g: Guest): { fd: number; region: MemRegion; close(): void } {
  const size = 2 * MiB;
  const gpa = 12 * MiB;
  const fd = memfdCreate('guest-ram-2', size);
  mapIntoMemory(g.memory, gpa, fd, 0, size);
  return {
    fd, region: { gpa: BigInt(gpa), size: BigInt(size), uaddr: UADDR + 0x1000_0000n, mmapOffset: 0n },
    close: () => { unmapFromMemory(g.memory, gpa, size); close(fd); },
  };
}

/** After a session ended, the server serves the next front-end: it negotiates, then goes. */
export async function expectServesNext(r: Rig): Promise<void> {
  const again = RawFrontEnd.connect(r.path);
  try {
    expect(await again.getU64(P.Request.GET_FEATURES) & F_PROTOCOL).toBe(F_PROTOCOL);
  } finally {
    again.close();
    await nextEvent(r.server, 'sessionEnd');
  }
}

/**
 * Ends the front-end's session (waiting for the server to see it go), checks the server serves
 * the next front-end, closes the rig and checks nothing of the session stays mapped.
 */
export async function closeSession(r: Rig, fe: RawFrontEnd): Promise<void> {
  fe.close();
  if (r.server.session) await nextEvent(r.server, 'sessionEnd');
  try {
    await expectServesNext(r);
  } finally {
    r.close();
  }
  expect(mappings(r.memory)).toEqual([]);
}

/** Runs `body` in a negotiated session on a fresh rig and a 2 MiB guest; checks nothing stays mapped. */
export async function withSession(body: (r: Rig, g: Guest, fe: RawFrontEnd) => Promise<void>): Promise<void> {
  const r = rig();
  const g = guest(2 * MiB);
  const fe = RawFrontEnd.connect(r.path);
  try {
    await negotiate(fe, FEATURES.VERSION_1 | F_PROTOCOL, PROTOCOL);
    await body(r, g, fe);
  } finally {
    fe.close();
    if (r.server.session) await nextEvent(r.server, 'sessionEnd');
    r.close();
    g.close();
    expect(mappings(r.memory)).toEqual([]);
  }
}
