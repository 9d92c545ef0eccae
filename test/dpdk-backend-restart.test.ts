// The back-end killed with SIGKILL mid-traffic under DPDK's virtio-user as the front-end, split
// and packed: testpmd listens (net_virtio_user0,...,server=1) and forwards in io mode what our
// `virtqueue vhost --client --fwd txonly` sends it, back to us. Each kill is followed by a new
// `virtqueue vhost` on the same socket and state file; virtio-user reconnects by itself (from its
// link state interrupt: with --tx-first testpmd turns that interrupt off and never reconnects,
// so no burst is sent first here).
//
// What DPDK 22.11's virtio-user sends on reconnect (drivers/net/virtio/virtio_user_ethdev.c,
// virtio_user_server_reconnect, and virtio_user_dev.c, virtio_user_kick_queue): no inflight
// messages (it does not offer PROTOCOL_F_INFLIGHT_SHMFD), SET_VRING_BASE 0 on split rings (the
// back-end is expected to resume from the used index in the ring, as DPDK's vhost library does)
// and, on packed rings, 0x8000 after resetting its own rings to their first state and dropping
// what was on them ("Packets on the fly will be dropped when packed ring reconnecting").
//
// Checked per kill: the new back-end serves both ways (testpmd's receive and transmit rates are
// above 0 again after the restart) and reports no ring error; split rings resume from the state
// file (its log says so). Printed: testpmd's frame counts and the last back-end's. Not checked:
// an exact account of the frames lost at each kill (a SIGKILLed back-end prints no counts).
// VIRTQUEUE_DPDK_BACKEND_KILL_RUNS (default 3) kills per layout.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestpmd, skipWithoutPeers, requirePeers, type Testpmd } from './helpers/testpmd.js';
import { startBackend, type Backend } from './helpers/qemu.js';

const RUNS = Number(process.env.VIRTQUEUE_DPDK_BACKEND_KILL_RUNS ?? 3);
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skipWithoutPeers())('DPDK virtio-user (server=1) and a virtqueue vhost --client killed and restarted', () => {
  let dir: string;
  let n = 0;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'vq-dpdk-kill-')); });
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it.each(['split', 'packed'] as const)('%s rings: every restarted back-end serves the reconnected testpmd', async (layout) => {
    requirePeers();
    const socket = join(dir, `k${++n}.sock`);
    let front: Testpmd | undefined;
    let back: Backend | undefined;
    const logs: string[] = [];
    /** Whether a periodic sample of testpmd's taken after the `from`th shows frames both ways. */
    const flowing = (from: number): boolean => front!.samples().slice(from).some((x) => x.port === 0 && x.rxPps > 0 && x.txPps > 0);
    try {
      front = await startTestpmd({
        name: `vqkill${n}`, forwardMode: 'io', lcores: '0@0,1@1', timeoutMs: 60_000,
        vdev: `net_virtio_user0,path=${socket},server=1,queues=1${layout === 'packed' ? ',packed_vq=1' : ''}`,
      });
      const start = (): Promise<Backend> => startBackend({ socket, fwd: 'txonly', client: true, guestMemMb: 2048, duration: 600 });
      back = await start();
      await back.waitFor(/front-end connected|connected to|SET_MEM_TABLE/, 30_000);
      // Traffic circulates: testpmd receives frames every second.
      const moving = async (what: string): Promise<void> => {
        const from = front!.samples().length + 1; // the sample under way may predate the restart
        const end = Date.now() + 20_000;
        for (;;) {
          await delay(500);
          if (flowing(from)) return;
          if (Date.now() > end) throw new Error(`${what}: testpmd receives nothing\n${front!.tail(30)}\n--- back-end ---\n${back!.log()}`);
        }
      };
      await moving('first back-end');
      for (let k = 0; k < RUNS; k++) {
        await back.kill();
        logs.push(back.log());
        back = await start();
        await back.waitFor(/front-end connected|connected to|SET_MEM_TABLE/, 30_000)
          .catch((e: Error) => { throw new Error(`${e.message}\n--- testpmd ---\n${front!.tail(30)}`); });
        await moving(`back-end ${k + 2} (after kill ${k + 1})`);
        expect(back.log(), back.log()).not.toMatch(/broken|not started|error/i);
        // Split: the position comes from the state file (DPDK sends base 0 and expects the used
        // index to be read back). Packed: DPDK reset its rings, so nothing is resumed.
        if (layout === 'split') expect(back.log(), back.log()).toMatch(/vring 0: resumed from the state file/);
        else expect(back.log(), back.log()).toMatch(/vring 0: not resumed from the state file: the front-end starts its packed ring afresh \(SET_VRING_BASE 0x8000/);
      }
      const last = back;
      back = undefined;
      const summary = await last.stop();
      logs.push(last.log());
      const f = await front.stop();
      front = undefined;
      const port = f.ports.find((p) => p.port === 0);
      expect(port, f.output.slice(-2000)).toBeDefined();
      const resumed = logs.filter((l) => /vring \d: resumed from the state file/.test(l)).length;
      console.log(
        `dpdk restart (${layout}): ${RUNS} kills; testpmd sent ${port!.txPackets}, received ${port!.rxPackets} ` +
        `; last back-end: sent ${summary.tx_packets}, received ${summary.rx_packets}; ` +
        `back-ends that resumed a ring from the state file: ${resumed}`,
      );
      expect(summary.errors).toBe(0);
      expect(port!.rxPackets).toBeGreaterThan(0);
    } finally {
      await back?.kill();
      await front?.stop();
    }
  }, 60_000 + RUNS * 10_000);
});
