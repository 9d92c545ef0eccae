// One named test per CVE class that virtio-net devices have had in their data path (DPDK's
// lib/vhost, QEMU's virtio-net, Linux vhost-net), written against this device's design: the
// Wasm engine walks and translates every chain (assembly/shared/), the net engine copies frames
// (assembly/net/), and the worker moves one burst per queue pair per poll. Each runs on split and
// packed rings against the real device on its worker, with a driver in the test whose chains are
// shaped by hand. The control-plane classes are in vhost-user-cve.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import type { RingLayout } from '../src/index.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { until, sleep } from './helpers/within.js';
import { removeSocketDir, MiB } from './helpers/vhost-user-rig.js';
import { netWorld, expectLogged, type NetWorld } from './helpers/vhost-net-rig.js';
import { testFrame, HDR, type GuestPair } from './helpers/vhost-net-frontend.js';

checkFdLeaks();
afterAll(removeSocketDir);

/** Guest memory of these tests: [8 MiB, 12 MiB) of the guest's 16 MiB Wasm memory, so there is memory on both sides of the one region. */
const GUEST = 4 * MiB;
const REGION_START = 8 * MiB;
const REGION_END = REGION_START + GUEST;

/** Sends one transmit chain of readable segments [offset, len], each its own descriptor. */
function sendChain(p: GuestPair, id: number, segs: [number, number][]): void {
  const q = p.txq;
  q.batch.clear();
  q.batch.begin(id);
  for (const [offset, len] of segs) q.batch.read(offset, len);
  q.batch.end();
  expect(q.driver.add(q.batch)).toBe(1);
  q.kick.signal();
}

/** A zero virtio_net_hdr then `frame`, written at `at`; returns the segments cut at `cuts` (offsets into header + frame). */
function layOut(w: NetWorld, at: number, frame: Uint8Array, cuts: number[]): [number, number][] {
  const u8 = w.g.engine.u8;
  u8.fill(0, at, at + HDR);
  u8.set(frame, at + HDR);
  const ends = [...cuts, HDR + frame.length];
  let from = 0;
  return ends.map((end) => {
    const seg: [number, number] = [at + from, end - from];
    from = end;
    return seg;
  });
}


describe.each<RingLayout>(['split', 'packed'])('%s rings', (layout) => {
  describe('CVE-2022-2132 (DPDK): a virtio-net header across more than two descriptors, or a chain that ends inside it', () => {
    // The class: copy_desc_to_mbuf() assumed the 12-byte header spans at most two descriptors;
    // a header over three made its remaining-length arithmetic wrap to nearly 4 GiB, and the
    // device allocated every mbuf it had. Here the header is skipped as a byte count across any
    // number of segments, and a chain shorter than a header is counted as a transmit error.
    it('a header cut 4+4+4 over three descriptors, then the frame: delivered intact', async () => {
      const w = await netWorld({ mode: 'io', layout, guestSize: GUEST });
      try {
        const p = w.pairs[0];
        p.postRx(8);
        const frame = testFrame(300, 1);
        sendChain(p, 60, layOut(w, p.txq.buf(60), frame, [4, 8, 12]));
        const [got] = await p.receive(1);
        expect(got.frame).toEqual(frame);
        expect(got.numBuffers).toBe(1);
      } finally {
        await w.close();
      }
    });

    it('a header in twelve one-byte descriptors with the frame split after it: delivered intact', async () => {
      const w = await netWorld({ mode: 'io', layout, guestSize: GUEST });
      try {
        const p = w.pairs[0];
        p.postRx(8);
        const frame = testFrame(200, 2);
        sendChain(p, 61, layOut(w, p.txq.buf(61), frame, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 100]));
        const [got] = await p.receive(1);
        expect(got.frame).toEqual(frame);
      } finally {
        await w.close();
      }
    });

    it('a chain of three descriptors that ends 8 bytes in, inside the header: a transmit error, the chain returned, nothing delivered; the next frame flows', async () => {
      const w = await netWorld({ mode: 'io', layout, guestSize: GUEST });
      try {
        const p = w.pairs[0];
        p.postRx(8);
        const at = p.txq.buf(62);
        sendChain(p, 62, [[at, 3], [at + 3, 3], [at + 6, 2]]);
        await p.transmitted(1);
        await until(() => w.device.totals().txErrors === 1, 'the transmit error counted');
        expect(w.device.totals()).toMatchObject({ rxPackets: 0, txPackets: 0, txErrors: 1 });
        p.collect();
        expect(p.received).toEqual([]);
        const frame = testFrame(64, 3);
        p.send([frame]);
        const [got] = await p.receive(1);
        expect(got.frame).toEqual(frame);
      } finally {
        await w.close();
      }
    });
  });

  describe('CVE-2018-1059 (DPDK): a buffer whose start is in guest memory and whose length runs past its region', () => {
    // The class: the address of a descriptor was translated, its length never checked against
    // the end of the region it started in, so the device read or wrote the host's memory beyond.
    // Here every segment is translated as a whole [addr, addr + len) range (regions.ts).
    it('transmit: a descriptor 64 bytes before the region end with length 200 stops the ring (BUFFER_NOT_IN_REGIONS), nothing is delivered', async () => {
      const w = await netWorld({ mode: 'io', layout, guestSize: GUEST });
      try {
        const p = w.pairs[0];
        p.postRx(8);
        sendChain(p, 63, [[REGION_END - 64, 200]]);
        await expectLogged(w, /vring 1: buffer lies outside every memory region \(VIRTIO 1\.2 §2\.[78]\.\d\) \[BUFFER_NOT_IN_REGIONS\]/);
        // Kicks on a stopped ring neither wake it nor repeat the report.
        p.txq.kick.signal();
        await sleep(20);
        p.collect();
        expect(p.received).toEqual([]);
        expect(w.device.totals()).toMatchObject({ rxPackets: 0, txPackets: 0 });
        expect(w.r.log.filter((l) => l.includes('BUFFER_NOT_IN_REGIONS'))).toHaveLength(1);
      } finally {
        await w.close();
      }
    });

    it('receive: a buffer 64 bytes before the region end with length 2048 stops the receive ring; no frame is published', async () => {
      const w = await netWorld({ mode: 'io', layout, guestSize: GUEST });
      try {
        const p = w.pairs[0];
        const q = p.rxq;
        q.batch.clear();
        q.batch.single(0, REGION_END - 64, 2048, true);
        expect(q.driver.add(q.batch)).toBe(1);
        q.kick.signal();
        p.send([testFrame(100, 4)]);
        await expectLogged(w, /vring 0: .*BUFFER_NOT_IN_REGIONS/);
        await sleep(20);
        p.collect();
        expect(p.received).toEqual([]);
        expect(w.device.totals().txPackets).toBe(0);
      } finally {
        await w.close();
      }
    });
  });

  describe('CVE-2020-10725 (DPDK): a descriptor address that does not translate, in a burst of small chains', () => {
    // The class: the packed-ring batch path (four one-descriptor chains at once) used the
    // translated address without checking the translation succeeded, so an address outside
    // guest memory dereferenced NULL. Here the one-descriptor fast path (chain-record.ts) checks
    // the region like the general walk does.
    it('four one-descriptor chains, the third outside every region: the ring stops with BUFFER_NOT_IN_REGIONS, no foreign byte is delivered', async () => {
      const w = await netWorld({ mode: 'io', layout, guestSize: GUEST });
      try {
        const p = w.pairs[0];
        p.postRx(8);
        const frames = [0, 1, 2, 3].map((i) => testFrame(64, 10 + i));
        const q = p.txq;
        q.batch.clear();
        frames.forEach((f, i) => {
          const at = i === 2 ? 4 * MiB : q.buf(i); // 4 MiB: the guest's private memory, in no region
          w.g.engine.u8.fill(0, at, at + HDR);
          w.g.engine.u8.set(f, at + HDR);
          q.batch.single(i, at, HDR + f.length, false);
        });
        expect(q.driver.add(q.batch)).toBe(4);
        q.kick.signal();
        await expectLogged(w, /vring 1: .*BUFFER_NOT_IN_REGIONS/);
        await sleep(20);
        p.collect();
        // Whatever came before the bad chain may have been delivered; nothing else.
        for (const got of p.received) expect(frames.slice(0, 2)).toContainEqual(got.frame);
      } finally {
        await w.close();
      }
    });
  });

  describe('CVE-2021-3748 (QEMU): a mergeable receive whose second buffer fails to map', () => {
    // The class: virtio-net's receive path kept a pointer into the first buffer's mapping to write
    // num_buffers at the end, and used it after an error path for a later buffer had unmapped
    // and freed it. Here buffers are claimed for the whole frame before any byte is written, so
    // a frame whose second buffer is bad writes nothing at all and publishes nothing.
    it('a 3000-byte frame over a good buffer and one outside every region: nothing written into the good one, nothing published', async () => {
      const w = await netWorld({ mode: 'io', layout, guestSize: GUEST, mergeable: true });
      try {
        const p = w.pairs[0];
        const q = p.rxq;
        const good = q.buf(0);
        w.g.engine.u8.fill(0xa5, good, good + 2048);
        q.batch.clear();
        q.batch.single(0, good, 2048, true);
        q.batch.single(1, 4 * MiB, 2048, true);
        expect(q.driver.add(q.batch)).toBe(2);
        q.kick.signal();
        p.send([testFrame(3000, 5)]);
        await expectLogged(w, /vring 0: .*BUFFER_NOT_IN_REGIONS/);
        await sleep(20);
        p.collect();
        expect(p.received).toEqual([]);
        expect(w.g.engine.u8.subarray(good, good + 2048).every((b) => b === 0xa5)).toBe(true);
      } finally {
        await w.close();
      }
    });
  });

  describe('CVE-2020-10724 (DPDK vhost-crypto): lengths from the guest trusted', () => {
    // The class: fields a guest writes into a request (key lengths there) sized a copy. The
    // virtio-net header a guest writes has such fields (hdr_len, gso_size, csum_start,
    // csum_offset, num_buffers); with no offload negotiated none of them sizes anything here.
    it('a header whose every field is 0xff..: the frame is forwarded exactly as long as its chain says', async () => {
      const w = await netWorld({ mode: 'io', layout, guestSize: GUEST });
      try {
        const p = w.pairs[0];
        p.postRx(8);
        const frame = testFrame(100, 6);
        const at = p.txq.buf(59);
        const segs = layOut(w, at, frame, [HDR]);
        w.g.engine.u8.fill(0xff, at, at + HDR);
        sendChain(p, 59, segs);
        const [got] = await p.receive(1);
        expect(got.frame).toEqual(frame);
        expect([...got.header]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
      } finally {
        await w.close();
      }
    });
  });
});
