// A well-behaved front-end against the vhost-user back-end: one queue pair of split rings in a
// memfd the test also maps; the session's DeviceQueue pops what the test's driver wrote, its
// interrupt reaches the test's call eventfd, GET_VRING_BASE reports where it got to, and when the
// front-end goes the rings stop, the guest memory is unmapped and no fd is left open.
import { afterAll, describe, expect, it } from 'vitest';
import { ChainBatch, UsedBatch, MemoryPlan, FEATURES } from '../src/index.js';
import { mappings, eventfdWrite } from '../src/native/index.js';
import * as P from '../src/vhost-user/protocol.js';
import { readState, statePayload, readConfig, configPayload, u64Payload, readU64 } from '../src/vhost-user/message.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { nextEvent, until, within } from './helpers/within.js';
import { RawFrontEnd } from './helpers/vhost-user-frontend.js';
import { rig, guest, removeSocketDir, MiB } from './helpers/vhost-user-rig.js';
import { negotiate, setMemTable, setupRings, closeRings, F_PROTOCOL } from './helpers/vhost-user-setup.js';

checkFdLeaks();
afterAll(removeSocketDir);

const R = P.Request;

describe('vhost-user back-end, well-behaved front-end', () => {
  it('negotiates, maps guest memory, runs a split queue pair and reports the ring base', async () => {
    const r = rig();
    const g = guest();
    const fe = RawFrontEnd.connect(r.path);
    try {
      const offered = await negotiate(fe);
      expect(offered & F_PROTOCOL).toBe(F_PROTOCOL);
      expect(offered & FEATURES.VERSION_1).toBe(FEATURES.VERSION_1);
      expect(await fe.getU64(R.GET_QUEUE_NUM)).toBe(2n);
      expect(await setMemTable(fe, g)).toBe(0n);
      expect(mappings(r.memory)).toEqual([expect.objectContaining({ offset: 16 * MiB, length: 4 * MiB, fdOffset: 0 })]);

      const rings = await setupRings(fe, g, 64, [65534, 7]);
      expect(r.events).toEqual([{ kind: 'ready', index: 0 }, { kind: 'ready', index: 1 }]);
      const ring0 = r.ready.get(0)!;
      expect(ring0.layout).toBe('split');

      // The driver offers three chains: a request to read, a buffer to write.
      const add = new ChainBatch(g.engine, g.privatePlan, 8, 16);
      const collected = new UsedBatch(g.engine, g.privatePlan, 8);
      const buffers = g.plan.alloc(3 * 512, 64, 'buffers');
      for (let i = 0; i < 3; i++) {
        const at = buffers + i * 512;
        g.engine.u8.set(Buffer.from(`request ${i} from the guest`), at);
        add.begin(100 + i);
        add.read(at, 24);
        add.write(at + 256, 256);
        add.end();
      }
      expect(rings[0].driver.add(add)).toBe(3);
      const kicked = until(() => r.events.some((e) => e.kind === 'kick' && e.index === 0), 'kick on vring 0');
      rings[0].kick.signal();
      await kicked;

      // The back-end's device pops them from its own view of guest memory and answers.
      // Burst arrays for the device model: above the rig's ring-state plan, below the guest window.
      const plan = new MemoryPlan(r.memory, { start: 9 * MiB, end: 10 * MiB });
      const batch = new ChainBatch(r.engine, plan, 8, 16);
      const used = new UsedBatch(r.engine, plan, 8);
      expect(ring0.device.pop(batch)).toBe(3);
      for (let i = 0; i < 3; i++) {
        const rd = batch.firstSeg(i);
        expect([batch.nRead(i), batch.nWrite(i), batch.segLen(rd)]).toEqual([1, 1, 24]);
        const text = Buffer.from(r.engine.u8.subarray(batch.segOffset(rd), batch.segOffset(rd) + 24)).toString();
        expect(text).toBe(`request ${i} from the guest`);
        r.engine.u8.set(Buffer.from(`answer ${i}`), batch.segOffset(rd + 1));
        used.push(batch.id(i), 8);
      }
      expect(ring0.device.push(used)).toBe(3);
      const called = within<bigint>(5_000, 'call eventfd', (done) => rings[0].call.watch((c) => { rings[0].call.unwatch(); done(c); }));
      eventfdWrite(ring0.callFd!, 1);
      expect(await called).toBe(1n);
      expect(rings[0].driver.collect(collected)).toBe(3);
      expect([0, 1, 2].map((i) => [collected.id(i), collected.len(i)])).toEqual([[100, 8], [101, 8], [102, 8]]);
      expect(Buffer.from(g.engine.u8.subarray(buffers + 256, buffers + 264)).toString()).toBe('answer 0');

      // GET_VRING_BASE stops the ring and says where the device will read next (wrapped).
      const base = readState(await fe.call(R.GET_VRING_BASE, statePayload(0, 0)));
      expect(base).toEqual({ index: 0, num: (65534 + 3) & 0xffff });
      expect(r.events.at(-1)).toEqual({ kind: 'stopped', index: 0 });
      const base1 = readState(await fe.call(R.GET_VRING_BASE, statePayload(1, 0)));
      expect(base1).toEqual({ index: 1, num: 7 });

      // Restarting ring 0 (kick again) resumes from that base.
      expect(await fe.acked(R.SET_VRING_KICK, u64Payload(0n), [rings[0].kick.fd])).toBe(0n);
      expect(r.events.at(-1)).toEqual({ kind: 'ready', index: 0 });
      closeRings(rings);

      fe.close();
      await nextEvent(r.server, 'sessionEnd');
      expect(r.events.at(-1)).toEqual({ kind: 'stopped', index: 0 });
      expect(mappings(r.memory)).toEqual([]);
      expect(r.log.some((l) => l.includes('connection ended: the front-end hung up'))).toBe(true);
    } finally {
      fe.close();
      r.close();
      g.close();
    }
  });

  it('answers GET_CONFIG with exactly the bytes asked for, status and queue num and MTU', async () => {
    const r = rig({ mac: [2, 0, 0, 0xaa, 0xbb, 0xcc], mtu: 9000 });
    const fe = RawFrontEnd.connect(r.path);
    try {
      await negotiate(fe, FEATURES.VERSION_1 | F_PROTOCOL);
      const whole = readConfig(await fe.call(R.GET_CONFIG, configPayload(0, 0, new Uint8Array(12))));
      expect([...whole.data]).toEqual([2, 0, 0, 0xaa, 0xbb, 0xcc, 1, 0, 1, 0, 0x28, 0x23]);
      const mtu = readConfig(await fe.call(R.GET_CONFIG, configPayload(10, 0, new Uint8Array(2))));
      expect([mtu.offset, mtu.size, ...mtu.data]).toEqual([10, 2, 0x28, 0x23]);
      const outside = await fe.call(R.GET_CONFIG, configPayload(10, 0, new Uint8Array(4)));
      expect(outside.payload.length).toBe(0);
      expect(await fe.acked(R.SET_CONFIG, configPayload(0, 0, new Uint8Array(6)))).not.toBe(0n);
      expect(await fe.acked(R.SET_STATUS, u64Payload(0x0fn))).toBe(0n);
      expect(await fe.getU64(R.GET_STATUS)).toBe(0x0fn);
      expect(await fe.acked(R.NET_SET_MTU, u64Payload(1400n))).toBe(0n);
      expect(r.device.mtu).toBe(1400);
      expect(await fe.acked(R.SEND_RARP, u64Payload(0x0605_0403_0201n))).toBe(0n);
      expect([...r.device.rarpMac!]).toEqual([1, 2, 3, 4, 5, 6]);
      const mtu2 = readConfig(await fe.call(R.GET_CONFIG, configPayload(10, 0, new Uint8Array(2))));
      expect([...mtu2.data]).toEqual([0x78, 0x05]);
      // Offered: the back-end's own (MQ, REPLY_ACK, STATUS, RESET_DEVICE, CONFIGURE_MEM_SLOTS)
      // and the device model's (here CONFIG, NET_MTU, RARP).
      const PF = P.ProtocolFeature;
      const offered = [PF.MQ, PF.REPLY_ACK, PF.STATUS, PF.RESET_DEVICE, PF.CONFIGURE_MEM_SLOTS, PF.CONFIG, PF.NET_MTU, PF.RARP]
        .reduce((s, b) => s | (1n << BigInt(b)), 0n);
      expect(readU64(await fe.call(R.GET_PROTOCOL_FEATURES))).toBe(offered);
    } finally {
      fe.close();
      r.close();
    }
  });
});
