// Protocol messages QEMU and DPDK use beyond the basics: memory slots (CONFIGURE_MEM_SLOTS:
// GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG, regions added and removed while rings run),
// RESET_DEVICE and RESET_OWNER, and the device status (SET_STATUS/GET_STATUS: FEATURES_OK is
// refused for features that do not go together, 0 resets the device). Bad input gets a nack or
// ends the session, and leaves no fd or mapping behind.
import { afterAll, describe, expect, it } from 'vitest';
import { ChainBatch, FEATURES, RING_FEATURES, MemoryPlan } from '../src/index.js';
import { mappings } from '../src/native/index.js';
import * as P from '../src/vhost-user/protocol.js';
import { singleRegionPayload, statePayload, readState, u64Payload, readU64 } from '../src/vhost-user/message.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { withSession, secondRegion } from './helpers/vhost-user-session.js';
import { removeSocketDir, MiB } from './helpers/vhost-user-rig.js';
import { setMemTable, setupRings, closeRings, F_PROTOCOL } from './helpers/vhost-user-setup.js';

checkFdLeaks();
afterAll(removeSocketDir);

const R = P.Request;
const PF = P.ProtocolFeature;

describe('memory slots', () => {
  it('offers CONFIGURE_MEM_SLOTS and RESET_DEVICE, and 32 slots', async () => {
    await withSession(async (r, _g, fe) => {
      const pf = await fe.getU64(R.GET_PROTOCOL_FEATURES);
      expect(pf & (1n << BigInt(PF.CONFIGURE_MEM_SLOTS))).not.toBe(0n);
      expect(pf & (1n << BigInt(PF.RESET_DEVICE))).not.toBe(0n);
      expect(await fe.getU64(R.GET_MAX_MEM_SLOTS)).toBe(32n);
    });
  });

  it('a region added while the rings run: they restart on the new table and reach buffers in it; removed again', async () => {
    await withSession(async (r, g, fe) => {
      expect(await setMemTable(fe, g)).toBe(0n);
      const rings = await setupRings(fe, g, 16);
      const second = secondRegion(g);
      try {
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(second.region), [second.fd])).toBe(0n);
        expect(mappings(r.memory)).toHaveLength(2);
        // Both rings were stopped and started again (the device side got the new region table).
        expect(r.events.slice(-4)).toEqual([
          { kind: 'stopped', index: 0 }, { kind: 'stopped', index: 1 }, { kind: 'ready', index: 0 }, { kind: 'ready', index: 1 },
        ]);
        // A buffer in the added region: the device finds the guest's bytes there.
        const add = new ChainBatch(g.engine, g.privatePlan, 1, 1);
        const at = 12 * MiB + 4096;
        g.engine.u8.set(Buffer.from('in the second region'), at);
        add.begin(1); add.read(at, 20); add.end();
        expect(rings[0].driver.add(add)).toBe(1);
        const pop = new ChainBatch(r.engine, new MemoryPlan(r.memory, { start: 9 * MiB, end: 10 * MiB }), 1, 1);
        expect(r.ready.get(0)!.device.pop(pop)).toBe(1);
        const seg = pop.segOffset(pop.firstSeg(0));
        expect(Buffer.from(r.engine.u8.subarray(seg, seg + 20)).toString()).toBe('in the second region');
        // Removing a region that is not there: refused, nothing changes.
        expect(await fe.acked(R.REM_MEM_REG, singleRegionPayload({ ...second.region, gpa: 64n * BigInt(MiB) }))).not.toBe(0n);
        expect(r.log.at(-1)).toMatch(/REM_MEM_REG: failed: .*no region at gpa 0x4000000/);
        expect(mappings(r.memory)).toHaveLength(2);
        expect(await fe.acked(R.REM_MEM_REG, singleRegionPayload(second.region))).toBe(0n);
        expect(mappings(r.memory)).toHaveLength(1);
        expect([...r.ready.keys()].sort()).toEqual([0, 1]);
      } finally {
        closeRings(rings);
        second.close();
      }
    });
  });

  it('removing the region that holds the rings leaves them stopped, with the reason in the log', async () => {
    await withSession(async (r, g, fe) => {
      expect(await setMemTable(fe, g)).toBe(0n);
      const rings = await setupRings(fe, g, 16);
      try {
        expect(await fe.acked(R.REM_MEM_REG, singleRegionPayload(g.region))).toBe(0n);
        expect(mappings(r.memory)).toEqual([]);
        expect(r.ready.size).toBe(0);
      } finally {
        closeRings(rings);
      }
    });
  });

  it('bad ADD_MEM_REG: overlapping, too big for the window, no fd, truncated; nothing mapped, nothing leaked', async () => {
    await withSession(async (r, g, fe) => {
      expect(await setMemTable(fe, g)).toBe(0n);
      const second = secondRegion(g);
      try {
        const overlap = { ...second.region, gpa: g.region.gpa + 4096n };
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(overlap), [second.fd])).not.toBe(0n);
        expect(r.log.at(-1)).toMatch(/overlaps region 0 in guest addresses/);
        const huge = { ...second.region, size: 1n << 40n };
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(huge), [second.fd])).not.toBe(0n);
        expect(mappings(r.memory)).toHaveLength(1);
        // A truncated region: the session ends (the payload cannot be read).
        await fe.send(R.ADD_MEM_REG, singleRegionPayload(second.region).subarray(0, 20), [second.fd]);
        await fe.closedByBackend();
        expect(r.log.join('\n')).toMatch(/ADD_MEM_REG: payload of 20 bytes, expected 40/);
      } finally {
        second.close();
      }
    });
  });

  it('ADD_MEM_REG without its fd ends the session', async () => {
    await withSession(async (r, g, fe) => {
      expect(await setMemTable(fe, g)).toBe(0n);
      const second = secondRegion(g);
      try {
        // No fd with the region: the front-end would believe it mapped; the session ends.
        await fe.send(R.ADD_MEM_REG, singleRegionPayload(second.region));
        await fe.closedByBackend();
        expect(r.log.join('\n')).toMatch(/ADD_MEM_REG: 0 file descriptors, expected 1/);
      } finally {
        second.close();
      }
    });
  });
});

describe('reset and status', () => {
  it('RESET_DEVICE stops and forgets every ring, resets features and status; the session goes on', async () => {
    await withSession(async (r, g, fe) => {
      expect(await setMemTable(fe, g)).toBe(0n);
      const rings = await setupRings(fe, g, 16);
      try {
        expect(await fe.acked(R.SET_STATUS, u64Payload(0x0fn))).toBe(0n);
        expect(await fe.acked(R.RESET_DEVICE)).toBe(0n);
        expect(r.ready.size).toBe(0);
        expect(await fe.getU64(R.GET_STATUS)).toBe(0n);
        // Set up again from scratch: the rings run again.
        expect(await fe.acked(R.SET_FEATURES, u64Payload(FEATURES.VERSION_1 | F_PROTOCOL))).toBe(0n);
        const again = await setupRings(fe, g, 16);
        expect([...r.ready.keys()].sort()).toEqual([0, 1]);
        closeRings(again);
      } finally {
        closeRings(rings);
      }
    });
  });

  it('FEATURES_OK is not set for features that do not go together (3.1.1); status 0 stops the rings, keeping their base', async () => {
    await withSession(async (r, g, fe) => {
      expect(await fe.acked(R.SET_FEATURES, u64Payload(RING_FEATURES.RING_PACKED | F_PROTOCOL))).toBe(0n);
      expect(await fe.acked(R.SET_STATUS, u64Payload(0x0bn))).toBe(0n); // ACKNOWLEDGE | DRIVER | FEATURES_OK
      expect(await fe.getU64(R.GET_STATUS)).toBe(0x03n);
      expect(r.log.at(-1)).toMatch(/FEATURES_OK not set: .*RING_PACKED.*VERSION_1/);
      expect(await fe.acked(R.SET_FEATURES, u64Payload(FEATURES.VERSION_1 | F_PROTOCOL))).toBe(0n);
      expect(await fe.acked(R.SET_STATUS, u64Payload(0x0bn))).toBe(0n);
      expect(await fe.getU64(R.GET_STATUS)).toBe(0x0bn);
      expect(await setMemTable(fe, g)).toBe(0n);
      const rings = await setupRings(fe, g, 16, [5, 9]);
      try {
        expect(await fe.acked(R.SET_STATUS, u64Payload(0n))).toBe(0n);
        expect(r.ready.size).toBe(0);
        expect(readState(await fe.call(R.GET_VRING_BASE, statePayload(1, 0)))).toEqual({ index: 1, num: 9 });
        expect(readU64(await fe.call(R.GET_QUEUE_NUM))).toBe(2n);
      } finally {
        closeRings(rings);
      }
    });
  });
});
