// The back-end killed with SIGKILL mid-traffic under DPDK's virtio-user as the front-end, split
// and packed, with every frame accounted for from testpmd's own counters.
//
// Set-up: testpmd listens (net_virtio_user0,...,server=1) and forwards in io mode between that
// port and a net_null port: net_null hands testpmd 64-byte frames as fast as it asks, testpmd
// transmits them to our `virtqueue vhost --client --fwd io`, which sends each one back on the
// same queue pair, and testpmd passes what it receives to net_null (which frees it). Each kill
// is followed by a new `virtqueue vhost` on the same socket and state file; virtio-user
// reconnects by itself (from its link state interrupt).
//
// What DPDK 22.11's virtio-user sends on reconnect (drivers/net/virtio/virtio_user_ethdev.c,
// virtio_user_server_reconnect, and virtio_user_dev.c, virtio_user_kick_queue): no inflight
// messages (it does not offer PROTOCOL_F_INFLIGHT_SHMFD), SET_VRING_BASE 0 on split rings (the
// back-end is expected to resume from the used index in the ring, as DPDK's vhost library does)
// and, on packed rings, 0x8000 after resetting its own rings to their first state and dropping
// what was on them ("Packets on the fly will be dropped when packed ring reconnecting").
//
// The account. testpmd's port counters (its driver's: a frame is counted sent when it is put on
// the transmit ring, received when taken from the receive ring) are read only when nothing
// moves: after each kill the test waits for two periodic readings in a row to agree before it
// starts the next back-end. By then testpmd has taken every frame the dead device had published
// on the receive ring, and has filled the transmit ring: net_null never stops, so the frames
// waiting for a device are exactly QT (the transmit ring's size, one descriptor per frame).
// Between two such readings (one back-end's life, k) T_k frames were sent and R_k received, and:
//
//   split:  R_k = O_(k-1) + T_k - O_k + D_k      packed:  R_k = T_k - O_k + D_k
//
// O_k = QT (what waited on the transmit ring when back-end k died; testpmd's port start waits
// for the first back-end, so the account starts after a first, unaccounted kill). Split rings survive the reconnect: the
// next back-end resumes at the used index from the state file and takes all O_k (none lost).
// Packed rings do not: virtio-user resets them and frees the O_k frames (lost, by DPDK's choice,
// not the device's). D_k is the only freedom the spec leaves: transmit chains the device had
// taken (popped, marked in flight in the region) and not returned when it died. The device
// publishes in this order (assembly/net/forward.ts netForward): the burst's receive buffers, then
// its transmit chains. So a kill between the two leaves n_k transmit chains in flight whose
// frames testpmd already received: a split ring's next back-end takes them again and they arrive
// twice (D_k = n_k); a packed ring's reset drops them after they arrived (counted received,
// D_k = n_k of the O_k). A kill anywhere else leaves the in-flight chains' frames undelivered
// (their receive buffers were written but never published; taken again on split rings, dropped
// with the ring on packed ones): D_k = 0. Frames copied into receive buffers that were never
// published are not frames received: nobody counted them, and the buffers are used again.
// So per kill the test asserts, for split rings, that D_k (computed from testpmd's counts) is 0
// or n_k, where n_k is the in-flight count the next back-end reports when it resumes the ring
// from the state file. A device that dropped a frame for want of a receive buffer (as a NIC
// does) would break that account, and none does on split rings here: testpmd keeps QR = 4 QT
// receive buffers posted, more than it ever leaves unread.
// Packed rings: the device does drop frames for want of receive buffers here, but only after
// virtio-user's packed reconnect (a first back-end drops none; every later one drops 0.05 to 1%,
// with or without a state file). A probe of the ring at each drop (a scratch build, 2026-12-02)
// found at 2,716 of 2,846 drops no descriptor of the 1024-entry receive ring in available form:
// every buffer used and not yet taken back by testpmd, whose receive side falls behind its
// transmit side after the reset (it reports no RX-nombuf); at 51 the device's next descriptor was
// made available just after its check, at 79 only other slots were. A killed back-end's drop count
// dies with it, so testpmd's counts cannot tell those drops from frames lost at the kill. What is asserted
// is the other side of the bound: no frame arrives more often than the spec allows, D_k <= n_k,
// where n_k is what the dead device's region still marks in flight (the ring is not resumed: an
// upper bound, a push under way when it died still marks its batch). The loss is printed.
//
// VIRTQUEUE_DPDK_BACKEND_KILL_RUNS (default 3) accounted kills per layout; the figures are
// printed per kill, summarised, and as one JSON line (DPDK_KILL_ACCOUNT).
import { mkdtempSync, openSync, readSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestpmd, skipWithoutPeers, requirePeers, type Testpmd, type PpsSample } from './helpers/testpmd.js';
import { startBackend, type Backend } from './helpers/qemu.js';
import { readPackedRegion } from './helpers/inflight-region.js';
import * as I from '../assembly/layout/inflight.js';
import { PAGE_SIZE } from '../src/native/index.js';

const RUNS = Number(process.env.VIRTQUEUE_DPDK_BACKEND_KILL_RUNS ?? 3);
/**
 * Both rings have QUEUE_SIZE entries (virtio-user's queue_size); testpmd keeps at most QT frames
 * on the transmit ring (--txd caps its free descriptors) and QR buffers on the receive ring.
 */
const QUEUE_SIZE = 1024;
const QT = 256;
const QR = 1024;
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface KillAccount {
  kill: number;
  /** Frames testpmd put on the transmit ring and took from the receive ring in this back-end's life. */
  sent: number;
  received: number;
  /** Transmit chains in flight when the back-end died (n_k) and the ones whose frames had arrived (D_k). */
  inflight: number;
  duplicated: number;
  /** Packed: frames on the transmit ring virtio-user dropped at the reconnect, not delivered before. */
  lost: number;
}

/** The counters of testpmd's port `port` once two periodic readings after `from` agree. */
async function quiet(front: Testpmd, port: number, from: number, what: string): Promise<{ rx: number; tx: number; at: number }> {
  const end = Date.now() + 20_000;
  for (;;) {
    const s = front.samples().slice(from).filter((x: PpsSample) => x.port === port && x.rxPackets !== undefined && x.txPackets !== undefined);
    for (let i = 1; i < s.length; i++) {
      if (s[i].rxPackets === s[i - 1].rxPackets && s[i].txPackets === s[i - 1].txPackets) {
        return { rx: s[i].rxPackets!, tx: s[i].txPackets!, at: front.samples().length };
      }
    }
    if (Date.now() > end) throw new Error(`${what}: testpmd's port ${port} counters never settled\n${front.tail(30)}`);
    await delay(200);
  }
}

/** Head entries the packed region of vring `index` in the state file marks in flight. */
function packedMarked(stateFile: string, index: number, q: number): number {
  const headerBytes = Math.ceil((I.STATE_RECORDS + 2 * I.STATE_RECORD_SIZE) / PAGE_SIZE) * PAGE_SIZE;
  const slotBytes = Math.ceil(I.STATE_SLOT / PAGE_SIZE) * PAGE_SIZE;
  const b = Buffer.alloc(I.IPACKED_HEADER_SIZE + q * I.IPACKED_DESC_SIZE);
  const fd = openSync(stateFile, 'r');
  try { readSync(fd, b, 0, b.length, headerBytes + index * slotBytes); } finally { closeSync(fd); }
  const r = readPackedRegion(new DataView(b.buffer, b.byteOffset, b.length), 0, q);
  if (r.version !== I.INFLIGHT_VERSION_1 || r.descNum !== q) throw new Error(`state file vring ${index}: version ${r.version}, desc_num ${r.descNum}`);
  return r.desc.filter((d) => d.inflight === 1).length;
}

describe.skipIf(skipWithoutPeers())('DPDK virtio-user (server=1) and a virtqueue vhost --client killed and restarted', () => {
  let dir: string;
  let n = 0;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'vq-dpdk-kill-')); });
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it.each(['split', 'packed'] as const)('%s rings: every frame accounted for across kills', async (layout) => {
    requirePeers();
    const socket = join(dir, `k${++n}.sock`);
    const stateFile = `${socket}.inflight`;
    let front: Testpmd | undefined;
    let back: Backend | undefined;
    /** The port testpmd gave virtio-user (found from the first counters: the only one with a ring to fill). */
    const port = 0;
    try {
      front = await startTestpmd({
        name: `vqkill${n}`, forwardMode: 'io', lcores: '0@0,1@1', timeoutMs: 60_000,
        vdev: `net_virtio_user0,path=${socket},server=1,queues=1,queue_size=${QUEUE_SIZE}${layout === 'packed' ? ',packed_vq=1' : ''}`,
        ealArgs: ['--vdev', 'net_null0'], extraArgs: [`--txd=${QT}`, `--rxd=${QR}`],
      });
      const start = (): Promise<Backend> => startBackend({ socket, fwd: 'io', client: true, guestMemMb: 2048, duration: 600 });
      const moving = async (what: string): Promise<void> => {
        const from = front!.samples().length + 1; // the sample under way may predate the restart
        const end = Date.now() + 20_000;
        for (;;) {
          await delay(300);
          if (front!.samples().slice(from).some((x) => x.port === port && x.rxPps > 0 && x.txPps > 0)) return;
          if (Date.now() > end) throw new Error(`${what}: testpmd receives nothing\n${front!.tail(30)}\n--- back-end ---\n${back!.log()}`);
        }
      };
      const connected = async (b: Backend, what: string): Promise<void> => {
        await b.waitFor(/front-end connected|connected to|SET_MEM_TABLE/, 30_000)
          .catch((e: Error) => { throw new Error(`${what}: ${e.message}\n--- testpmd ---\n${front!.tail(30)}`); });
        await moving(what);
      };
      // testpmd's port start waits for the first back-end, so the account starts after a first,
      // unaccounted kill: from then on every life starts and ends at a quiet reading.
      back = await start();
      await connected(back, 'first back-end');
      await back.kill();
      let q = await quiet(front, port, front.samples().length + 1, 'after the first kill');
      back = await start();
      await connected(back, 'second back-end');
      const account: KillAccount[] = [];
      for (let k = 1; k <= RUNS; k++) {
        await delay(100 + Math.floor(Math.random() * 400));
        await back.kill();
        const dead = back;
        const settled = await quiet(front, port, front.samples().length + 1, `after kill ${k}`);
        const marked = layout === 'packed' ? packedMarked(stateFile, 1, QUEUE_SIZE) : 0;
        back = await start();
        await connected(back, `back-end after kill ${k}`);
        const log = back.log();
        expect(log, log).not.toMatch(/broken|not started|error/i);
        let inflight: number;
        if (layout === 'split') {
          const m = /vring 1: resumed from the state file \S+: (\d+) chains? in flight/.exec(log);
          expect(m, `${log}\n--- dead back-end ---\n${dead.log()}`).not.toBeNull();
          inflight = Number(m![1]);
        } else {
          expect(log, log).toMatch(/vring 1: not resumed from the state file: the front-end starts its packed ring afresh/);
          inflight = marked;
        }
        const sent = settled.tx - q.tx;
        const received = settled.rx - q.rx;
        // split: R = O_(k-1) + T - O_k + D; packed: R = T - O_k + D; O_(k-1) = O_k = QT (the ring filled).
        const duplicated = layout === 'split' ? received - sent : received - sent + QT;
        const a: KillAccount = { kill: k, sent, received, inflight, duplicated, lost: layout === 'packed' ? QT - duplicated : 0 };
        account.push(a);
        console.log(`dpdk kill ${layout} ${k}: sent ${sent}, received ${received}, in flight ${inflight}, ` +
          `${layout === 'split' ? `received twice ${duplicated}` : `delivered before the reset ${duplicated}, lost with the ring ${a.lost}`}`);
        if (layout === 'split') expect([0, inflight], `kill ${k}: ${JSON.stringify(a)}`).toContain(duplicated);
        else expect(duplicated, `kill ${k}: ${JSON.stringify(a)}`).toBeLessThanOrEqual(inflight);
        q = settled;
      }
      const last = back;
      back = undefined;
      const summary = await last.stop();
      const end = await quiet(front, port, front.samples().length + 1, 'after the last back-end stopped');
      console.log(`dpdk final ${layout}: sent ${end.tx - q.tx}, received ${end.rx - q.rx}, last back-end ${JSON.stringify(summary)}`);
      // A graceful stop (SIGINT) takes nothing from the transmit ring that it cannot deliver: the
      // back-end stops the receive ring first, and io leaves the transmit ring alone from then on
      // (before that fix every graceful stop dropped the waiting frames, up to QT). Split rings
      // account for it exactly: one more life, ended by SIGINT too, gives R = T (O before and
      // after is QT, D is 0). Packed rings cannot: virtio-user drops its ring at the reconnect.
      let graceful: { sent: number; received: number; dropped: number[] } | undefined;
      if (layout === 'split') {
        back = await start();
        await connected(back, 'back-end after the graceful stop');
        await delay(500);
        const more = back;
        back = undefined;
        const summary2 = await more.stop();
        const end2 = await quiet(front, port, front.samples().length + 1, 'after the second graceful stop');
        graceful = { sent: end2.tx - end.tx, received: end2.rx - end.rx, dropped: [Number(summary.dropped), Number(summary2.dropped)] };
        console.log(`dpdk graceful stop ${layout}: ${JSON.stringify(graceful)}`);
      }
      const f = await front.stop();
      front = undefined;
      const sum = (key: keyof KillAccount): number => account.reduce((s, a) => s + a[key], 0);
      const twice = account.filter((a) => a.duplicated > 0).length;
      console.log(
        `dpdk restart (${layout}): ${RUNS} kills; sent ${sum('sent')}, received ${sum('received')}; chains in flight at the kills ${sum('inflight')} ` +
        `(${account.filter((a) => a.inflight > 0).length} kills with some); kills after the receive publish: ${twice} (${sum('duplicated')} frames ` +
        `${layout === 'split' ? 'received twice' : 'delivered, then dropped with the ring'}); lost ${sum('lost')}; ` +
        `last back-end: errors ${summary.errors}, dropped ${summary.dropped}; testpmd totals rx ${f.ports.find((p) => p.port === port)?.rxPackets}`,
      );
      console.log(`DPDK_KILL_ACCOUNT ${JSON.stringify({ layout, kills: RUNS, txRing: QT, account })}`);
      expect(summary.errors).toBe(0);
      expect(account.length).toBe(RUNS);
      if (graceful) {
        expect(graceful.dropped, JSON.stringify(graceful)).toEqual([0, 0]);
        expect(graceful.sent, JSON.stringify(graceful)).toBeGreaterThan(0);
        expect(graceful.received, JSON.stringify(graceful)).toBe(graceful.sent);
      }
    } finally {
      await back?.kill();
      await front?.stop();
    }
  }, 60_000 + RUNS * 15_000);
});
