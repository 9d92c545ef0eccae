// Regression: QEMU before 8.0 (Debian 12 ships 7.2) sends ADD_MEM_REG from the vhost_dev of each
// queue pair of a multiqueue virtio-net, so a back-end with CONFIGURE_MEM_SLOTS gets every region
// once per queue pair (QEMU 8.0 made ADD/REM_MEM_REG one-time requests). The back-end refused the
// second copy as overlapping the first, QEMU's vhost_set_mem_table failed with EIO and it fell
// back to "userspace virtio": no frame reached the back-end (found by test/qemu-guest.test.ts).
// An identical region (guest address, size, user address, mmap offset) is now counted instead of
// mapped again, and REM_MEM_REG unmaps it at its last copy.
import { afterAll, describe, expect, it } from 'vitest';
import { mappings } from '../src/native/index.js';
import * as P from '../src/vhost-user/protocol.js';
import { singleRegionPayload } from '../src/vhost-user/message.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { withSession, secondRegion } from './helpers/vhost-user-session.js';
import { removeSocketDir } from './helpers/vhost-user-rig.js';
import { setMemTable, setupRings, closeRings } from './helpers/vhost-user-setup.js';

checkFdLeaks();
afterAll(removeSocketDir);

const R = P.Request;

describe('ADD_MEM_REG of a region already mapped (QEMU < 8.0, one per queue pair)', () => {
  it('is acknowledged without a second mapping or a ring restart; REM_MEM_REG unmaps at the last copy', async () => {
    await withSession(async (r, g, fe) => {
      expect(await setMemTable(fe, g)).toBe(0n);
      const rings = await setupRings(fe, g, 16);
      const second = secondRegion(g);
      try {
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(second.region), [second.fd])).toBe(0n);
        expect(mappings(r.memory)).toHaveLength(2);
        const events = r.events.length;
        // The same region from the second queue pair's vhost_dev, with its own fd.
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(second.region), [second.fd])).toBe(0n);
        expect(mappings(r.memory)).toHaveLength(2);
        expect(r.events.length).toBe(events); // the running rings were left alone
        expect([...r.ready.keys()].sort()).toEqual([0, 1]);
        // The initial table's region, added again the same way, is a repeat too.
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(g.region), [g.fd])).toBe(0n);
        expect(mappings(r.memory)).toHaveLength(2);
        // Two REM_MEM_REGs for the region added twice: mapped until the second.
        expect(await fe.acked(R.REM_MEM_REG, singleRegionPayload(second.region))).toBe(0n);
        expect(mappings(r.memory)).toHaveLength(2);
        expect(await fe.acked(R.REM_MEM_REG, singleRegionPayload(second.region))).toBe(0n);
        expect(mappings(r.memory)).toHaveLength(1);
        expect(await fe.acked(R.REM_MEM_REG, singleRegionPayload(second.region))).not.toBe(0n);
        expect(r.log.at(-1)).toMatch(/REM_MEM_REG: failed: .*no region at gpa 0xc00000/);
        expect([...r.ready.keys()].sort()).toEqual([0, 1]);
      } finally {
        closeRings(rings);
        second.close();
      }
    });
  });

  it('a region at the same guest address but another user address or mmap offset still overlaps: refused', async () => {
    await withSession(async (r, g, fe) => {
      expect(await setMemTable(fe, g)).toBe(0n);
      const second = secondRegion(g);
      try {
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(second.region), [second.fd])).toBe(0n);
        const moved = { ...second.region, uaddr: second.region.uaddr + 0x10_0000_0000n };
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(moved), [second.fd])).not.toBe(0n);
        expect(r.log.at(-1)).toMatch(/ADD_MEM_REG: failed: .*overlaps region 1 in guest addresses/);
        const shifted = { ...second.region, mmapOffset: 0x1000n };
        expect(await fe.acked(R.ADD_MEM_REG, singleRegionPayload(shifted), [second.fd])).not.toBe(0n);
        expect(mappings(r.memory)).toHaveLength(2);
      } finally {
        second.close();
      }
    });
  });
});
