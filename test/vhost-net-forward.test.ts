// The virtio-net device model behind the vhost-user back-end, driven by a raw front-end whose
// driver runs in the test: forwarding modes, the virtio_net_hdr (VIRTIO 1.2 5.1.6), mergeable
// receive buffers on and off (5.1.6.4), two queue pairs (5.1.2), and a new session after the
// front-end goes.
import * as P from '../src/vhost-user/protocol.js';
import { afterAll, describe, expect, it } from 'vitest';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { nextEvent, until, sleep } from './helpers/within.js';
import { removeSocketDir } from './helpers/vhost-user-rig.js';
import { netWorld } from './helpers/vhost-net-rig.js';
import { testFrame } from './helpers/vhost-net-frontend.js';

checkFdLeaks();
afterAll(removeSocketDir);

const sizes = [60, 64, 128, 333, 1000, 1514];
const header = (numBuffers: number): number[] => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, numBuffers & 0xff, numBuffers >> 8];

describe('virtio-net device model, forwarding', () => {
  it('io: frames the driver transmits come back intact, one buffer each, num_buffers 1', async () => {
    const w = await netWorld({ mode: 'io' });
    try {
      const p = w.pairs[0];
      p.postRx(64);
      const frames = Array.from({ length: 40 }, (_, i) => testFrame(sizes[i % sizes.length], i));
      p.send(frames.slice(0, 20));
      p.send(frames.slice(20));
      const got = await p.receive(40);
      expect(got.map((f) => [...f.header])).toEqual(frames.map(() => header(1)));
      expect(got.map((f) => f.frame)).toEqual(frames);
      expect(got.map((f) => f.lens)).toEqual(frames.map((f) => [12 + f.length]));
      await p.transmitted(40);
      const bytes = frames.reduce((s, f) => s + f.length, 0);
      await until(() => w.device.totals().txPackets === 40, 'the counters');
      expect(w.device.totals()).toMatchObject({ rxPackets: 40, rxBytes: bytes, txPackets: 40, txBytes: bytes, dropped: 0, txErrors: 0, rxErrors: 0 });
    } finally {
      await w.close();
    }
  });

  it('SEND_RARP: a broadcast RARP announcing the MAC reaches receiveq1 once a buffer is there', async () => {
    const w = await netWorld({ mode: 'rxonly' });
    try {
      const p = w.pairs[0];
      const mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
      const payload = new Uint8Array(8);
      payload.set(mac);
      await w.fe.send(P.Request.SEND_RARP, payload);
      // No receive buffer yet: the announcement waits, and goes out when one is posted.
      await new Promise((r) => setTimeout(r, 50));
      expect(w.device.totals().txPackets).toBe(0);
      p.postRx(4);
      const [got] = await p.receive(1);
      const f = got.frame;
      expect(f.length).toBe(60);
      expect([...f.subarray(0, 6)]).toEqual([255, 255, 255, 255, 255, 255]);
      expect([...f.subarray(6, 12)]).toEqual(mac);
      expect((f[12] << 8) | f[13]).toBe(0x8035); // RARP
      expect((f[20] << 8) | f[21]).toBe(3); // reverse request
      expect([...f.subarray(22, 28)]).toEqual(mac);
      expect([...f.subarray(32, 38)]).toEqual(mac);
      expect(w.device.totals().txPackets).toBe(1);
    } finally {
      await w.close();
    }
  });

  it('SEND_RARP to a front-end that goes before posting a buffer is dropped with its session, not sent to the next one', async () => {
    const w = await netWorld({ mode: 'rxonly' });
    try {
      const payload = new Uint8Array(8);
      payload.set([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
      await w.fe.send(P.Request.SEND_RARP, payload);
      expect(await w.fe.getU64(P.Request.GET_QUEUE_NUM)).toBe(4n); // the RARP was taken
      const ended = nextEvent(w.r.server, 'sessionEnd');
      w.fe.close();
      await ended;
      for (const p of w.pairs) p.close();
      await w.reconnect();
      const p = w.pairs[0];
      p.postRx(4);
      p.send([testFrame(64, 1)]);
      await p.transmitted(1);
      await until(() => w.device.totals().rxPackets === 1, 'the frame counted');
      await sleep(50);
      p.collect();
      expect(p.received).toEqual([]);
      expect(w.device.totals().txPackets).toBe(0);
    } finally {
      await w.close();
    }
  });

  it('macswap: frames come back with destination and source MAC swapped', async () => {
    const w = await netWorld({ mode: 'macswap' });
    try {
      const p = w.pairs[0];
      p.postRx(16);
      const frames = [testFrame(64, 1), testFrame(700, 2)];
      p.send(frames);
      const got = await p.receive(2);
      for (const [i, f] of got.entries()) {
        const sent = frames[i];
        expect([...f.frame.subarray(0, 6)]).toEqual([...sent.subarray(6, 12)]);
        expect([...f.frame.subarray(6, 12)]).toEqual([...sent.subarray(0, 6)]);
        expect(f.frame.subarray(12)).toEqual(sent.subarray(12));
      }
      // The front-end's transmit buffers are left as they were (the device only reads them).
      expect(w.g.engine.u8[w.pairs[0].txq.buf(0) + 12]).toBe(2);
      expect(w.g.engine.u8[w.pairs[0].txq.buf(0) + 12 + 5]).toBe(0x0d);
    } finally {
      await w.close();
    }
  });

  it('rxonly: counts and drops what the driver transmits, sends nothing', async () => {
    const w = await netWorld({ mode: 'rxonly' });
    try {
      const p = w.pairs[0];
      p.postRx(8);
      p.send(Array.from({ length: 50 }, (_, i) => testFrame(100, i)));
      await p.transmitted(50);
      await until(() => w.device.totals().rxPackets === 50, 'the counters');
      await new Promise((r) => setTimeout(r, 20));
      p.collect();
      expect(p.received).toEqual([]);
      expect(w.device.totals()).toMatchObject({ rxPackets: 50, rxBytes: 5000, txPackets: 0, dropped: 0, txErrors: 0, rxErrors: 0 });
    } finally {
      await w.close();
    }
  });

  it('txonly: fills every receive buffer with a 64-byte Ethernet/IPv4/UDP frame', async () => {
    const w = await netWorld({ mode: 'txonly' });
    try {
      const p = w.pairs[0];
      p.postRx(32);
      const got = await p.receive(32);
      for (const f of got) {
        expect([...f.header]).toEqual(header(1));
        expect(f.frame.length).toBe(64);
        expect([f.frame[12], f.frame[13], f.frame[14], f.frame[23]]).toEqual([0x08, 0x00, 0x45, 17]);
        // The IPv4 header checksum verifies: the one's complement sum of the header is 0xffff.
        let s = 0;
        for (let i = 14; i < 34; i += 2) s += (f.frame[i] << 8) | f.frame[i + 1];
        while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
        expect(s).toBe(0xffff);
      }
      await until(() => w.device.totals().txPackets === 32, 'the counters');
      expect(w.device.totals()).toMatchObject({ txPackets: 32, txBytes: 32 * 64, dropped: 0, txErrors: 0, rxErrors: 0 });
      p.postRx(8, 32);
      expect((await p.receive(8)).length).toBe(8);
    } finally {
      await w.close();
    }
  });
});

describe('virtio-net device model, receive buffers', () => {
  it('MRG_RXBUF: a 3000-byte frame over 2048-byte buffers spans two, num_buffers 2', async () => {
    const w = await netWorld({ mode: 'io', mergeable: true, rxBufSize: 2048 });
    try {
      const p = w.pairs[0];
      p.postRx(4);
      const big = testFrame(3000, 9);
      p.send([big, testFrame(80, 3)]);
      const [f, small] = await p.receive(2);
      expect(f.numBuffers).toBe(2);
      expect(f.lens).toEqual([2048, 12 + 3000 - 2048]);
      expect([...f.header]).toEqual(header(2));
      expect(f.frame).toEqual(big);
      expect([small.numBuffers, small.lens]).toEqual([1, [92]]);
      await until(() => w.device.totals().txPackets === 2, 'the counters');
      expect(w.device.totals()).toMatchObject({ rxPackets: 2, txPackets: 2, dropped: 0 });
    } finally {
      await w.close();
    }
  });

  it('without MRG_RXBUF: a frame too big for one buffer is dropped and counted, the buffer kept', async () => {
    const w = await netWorld({ mode: 'io', mergeable: false, rxBufSize: 2048 });
    try {
      const p = w.pairs[0];
      p.postRx(1);
      p.send([testFrame(3000, 9)]);
      await p.transmitted(1);
      await until(() => w.device.totals().dropped === 1, 'the drop counted');
      const small = testFrame(200, 4);
      p.send([small]);
      const [f] = await p.receive(1);
      expect(f.frame).toEqual(small);
      await until(() => w.device.totals().txPackets === 1, 'the counters');
      expect(w.device.totals()).toMatchObject({ rxPackets: 2, txPackets: 1, dropped: 1, txErrors: 0, rxErrors: 0 });
    } finally {
      await w.close();
    }
  });

  it('no receive buffers: frames are dropped and counted, not held', async () => {
    const w = await netWorld({ mode: 'io' });
    try {
      const p = w.pairs[0];
      p.send([testFrame(64, 1), testFrame(64, 2)]);
      await p.transmitted(2);
      await until(() => w.device.totals().dropped === 2, 'two drops');
      p.postRx(2);
      p.send([testFrame(64, 3)]);
      const [f] = await p.receive(1);
      expect(f.frame).toEqual(testFrame(64, 3));
    } finally {
      await w.close();
    }
  });
});

describe('virtio-net device model, queue pairs and sessions', () => {
  it('two queue pairs: each pair forwards its own frames back on its own receive queue', async () => {
    const w = await netWorld({ mode: 'io', pairs: 2 });
    try {
      const [a, b] = w.pairs;
      a.postRx(16);
      b.postRx(16);
      const fa = Array.from({ length: 5 }, (_, i) => testFrame(100 + i, i));
      const fb = Array.from({ length: 7 }, (_, i) => testFrame(500 + i, 100 + i));
      a.send(fa);
      b.send(fb);
      expect((await b.receive(7)).map((f) => f.frame)).toEqual(fb);
      expect((await a.receive(5)).map((f) => f.frame)).toEqual(fa);
      await until(() => w.device.totals().txPackets === 12, 'the counters');
      const per = w.device.perPair();
      expect(per.slice(0, 2).map((c) => [c.rxPackets, c.txPackets])).toEqual([[5, 5], [7, 7]]);
      expect(per.slice(2).every((c) => c.rxPackets === 0 && c.txPackets === 0)).toBe(true);
    } finally {
      await w.close();
    }
  });

  it('after the front-end goes the device resets and serves the next one', async () => {
    const w = await netWorld({ mode: 'io' });
    try {
      w.pairs[0].postRx(8);
      w.pairs[0].send([testFrame(64, 1)]);
      await w.pairs[0].receive(1);
      w.pairs[0].postRx(8, 8); // posted, never taken: the device holds no receive buffer between bursts
      expect(w.device.runningVrings()).toEqual([0, 1]);
      const ended = nextEvent(w.r.server, 'sessionEnd');
      w.fe.close();
      await ended;
      // The workers let go of every ring before the session's end was reported.
      expect(w.device.runningVrings()).toEqual([]);
      for (const p of w.pairs) p.close();
      await w.reconnect();
      const p = w.pairs[0];
      p.postRx(4);
      p.send([testFrame(90, 7)]);
      expect((await p.receive(1))[0].frame).toEqual(testFrame(90, 7));
      await until(() => w.device.totals().txPackets === 2, 'the counters');
      expect(w.device.totals()).toMatchObject({ rxPackets: 2, txPackets: 2, txErrors: 0, rxErrors: 0 });
    } finally {
      await w.close();
    }
  });
});
