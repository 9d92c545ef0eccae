// Real QEMU guests (Debian's kernel, a busybox initramfs, TCG) as vhost-user front-ends of
// `virtqueue vhost`. The guest's vqpkt sends raw frames (ethertype 0x88b5) on eth0 and counts
// the echo; each test checks the counts from both sides: the guest's (vqpkt's report and the
// interface counters, from the serial console) and the back-end's (its --json summary).
// test/helpers/qemu.ts builds the guest and runs the processes; README "QEMU guest" has the
// command line. Without qemu-system-x86_64, busybox-static or gcc these tests are skipped, unless
// VIRTQUEUE_REQUIRE_PEERS=1 (CI), which makes them fail.
import { describe, expect, it } from 'vitest';
import {
  describeGuest, lastCounters, skipWithoutQemu, startBackend, startGuest, type Backend, type Guest, type GuestOptions, type GuestResult,
} from './helpers/qemu.js';
import { qemuFixture } from './helpers/qemu-fixture.js';
import type { VhostCliResult, VhostFwd } from './helpers/testpmd.js';

const MEM_MB = 256;
const N = 1000; // frames per guest sender
const SIZE = 128; // bytes, destination MAC to the end of the payload
const RATE = 500; // frames per second
// Let the guest reclaim its last transmit buffers before it reads its counters.
const SETTLE = 'sleep 1';
const send = (extra = ''): string => `vqpkt -i eth0 -n ${N} -s ${SIZE} -r ${RATE}${extra ? ` ${extra}` : ''}`;

interface Run {
  guest: GuestResult;
  backend: VhostCliResult;
  log: string;
}

const why = (r: Run): string => `${describeGuest(r.guest)}\n--- virtqueue vhost ---\n${r.log}\n${JSON.stringify(r.backend)}`;

/** The guest ran its script to the end and powered off, with no VQ-ERROR. */
function expectClean(r: Run, boots = 1): void {
  const msg = why(r);
  if (process.env.VIRTQUEUE_QEMU_VERBOSE === '1') console.log(msg);
  expect(r.guest.timedOut, msg).toBe(false);
  expect(r.guest.code, msg).toBe(0);
  expect(r.guest.errors, msg).toEqual([]);
  expect(r.guest.boots, msg).toBe(boots);
  expect(r.guest.done, msg).toEqual([0]);
  expect(r.backend.errors, msg).toBe(0);
}

const LAYOUTS = ['split', 'packed'] as const;

describe.skipIf(skipWithoutQemu())('QEMU guests against virtqueue vhost', () => {
  let n = 0;
  const fx = qemuFixture('vq-qemu');
  const ready = fx.ready;

  /**
   * Starts the back-end and a guest (in the order the roles need), waits for the guest to power
   * off, stops the back-end with SIGINT and returns both sides' reports. Nothing outlives it.
   */
  async function run(
    g: Omit<GuestOptions, 'socket'>,
    b: { fwd: VhostFwd; queues?: number; client?: boolean },
  ): Promise<Run> {
    ready();
    const socket = fx.at(`g${++n}.sock`);
    let backend: Backend | undefined;
    let guest: Guest | undefined;
    try {
      const be = { socket, fwd: b.fwd, queues: b.queues, client: b.client, guestMemMb: MEM_MB, duration: 90 };
      if (g.server) {
        // QEMU listens; it waits for the back-end before the guest runs.
        guest = startGuest({ ...g, socket, memMb: MEM_MB });
        backend = await startBackend(be);
      } else {
        backend = await startBackend(be);
        guest = startGuest({ ...g, socket, memMb: MEM_MB });
      }
      const result = await guest.exited;
      const summary = await backend.stop();
      return { guest: result, backend: summary, log: backend.log() };
    } finally {
      await guest?.kill();
      await backend?.kill();
    }
  }

  it('split ring, rxonly: the back-end counts every frame the guest sent', async () => {
    const r = await run({ script: `${send()}\n${SETTLE}\nvq_counters eth0` }, { fwd: 'rxonly' });
    expectClean(r);
    const c = lastCounters(r.guest)!;
    const msg = why(r);
    expect(r.guest.vqpkt[0]?.sent, msg).toBe(N);
    expect(r.guest.vqpkt[0]?.send_errors, msg).toBe(0);
    // ipv6.disable=1 and no address: vqpkt's frames are all the guest sends.
    expect(c.tx_packets, msg).toBe(N);
    expect(r.backend.rx_packets, msg).toBe(c.tx_packets);
    expect(r.backend.rx_bytes, msg).toBe(c.tx_bytes);
    expect(r.backend.connections, msg).toBe(1);
  });

  it('packed ring, rxonly', async () => {
    const r = await run({ packed: true, script: `${send()}\n${SETTLE}\nvq_counters eth0` }, { fwd: 'rxonly' });
    expectClean(r);
    const c = lastCounters(r.guest)!;
    const msg = why(r);
    expect(r.guest.vqpkt[0]?.sent, msg).toBe(N);
    expect(c.tx_packets, msg).toBe(N);
    expect(r.backend.rx_packets, msg).toBe(c.tx_packets);
    expect(r.backend.connections, msg).toBe(1);
  });

  it.each(LAYOUTS)('two queue pairs (mq=on, --queues 2, two vCPUs): each pair carries one sender\'s frames, echoed (io), %s rings', async (layout) => {
    // virtio_net uses min(vCPUs, queue pairs) pairs and maps CPU k to transmit queue k (XPS);
    // io sends each frame back on the pair it came from.
    const script = [
      'ls /sys/class/net/eth0/queues | tr "\\n" " " | sed "s/^/VQ-QUEUES /"; echo',
      // Each sender its own destination MAC, so that each counts only the echo of its own frames.
      `${send('-c 0 -t q0 -d 02:00:00:00:00:10 -w 1500')} &`,
      `${send('-c 1 -t q1 -d 02:00:00:00:00:11 -w 1500')} &`,
      'wait',
      SETTLE,
      'vq_counters eth0',
    ].join('\n');
    const r = await run({ packed: layout === 'packed', queues: 2, smp: 2, script }, { fwd: 'io', queues: 2 });
    expectClean(r);
    const msg = why(r);
    expect(r.guest.console, msg).toMatch(/VQ-QUEUES rx-0 rx-1 tx-0 tx-1/);
    const byTag = Object.fromEntries(r.guest.vqpkt.map((v) => [v.tag, v]));
    for (const t of ['q0', 'q1']) {
      expect(byTag[t]?.sent, msg).toBe(N);
      expect(byTag[t]?.rx_same, msg).toBe(N);
    }
    const c = lastCounters(r.guest)!;
    expect(c.tx_packets, msg).toBe(2 * N);
    expect(c.rx_packets, msg).toBe(2 * N);
    expect(r.backend.rx_packets, msg).toBe(2 * N);
    expect(r.backend.tx_packets, msg).toBe(2 * N);
    const perQueue = r.backend.per_queue as { queue: number; rx_packets: number; tx_packets: number }[];
    expect(perQueue.map((q) => [q.rx_packets, q.tx_packets]), msg).toEqual([[N, N], [N, N]]);
    // QEMU sends NET_MQ without NET_CTRL_VQ (it keeps the control queue): FEATURES_OK is kept
    // (it was cleared before f2c7e85), and each region comes once per queue pair (QEMU < 8.0):
    // counted, not refused (refused before fef13d8, and QEMU fell back to userspace virtio).
    expect(r.log, msg).not.toMatch(/FEATURES_OK not set|ADD_MEM_REG: failed/);
  });

  it.each(LAYOUTS)('QEMU as the server (server=on,wait=off), virtqueue vhost --client, %s rings', async (layout) => {
    const r = await run({ packed: layout === 'packed', server: true, script: `${send()}\n${SETTLE}\nvq_counters eth0` }, { fwd: 'rxonly', client: true });
    expectClean(r);
    const c = lastCounters(r.guest)!;
    const msg = why(r);
    expect(r.guest.vqpkt[0]?.sent, msg).toBe(N);
    expect(c.tx_packets, msg).toBe(N);
    expect(r.backend.rx_packets, msg).toBe(N);
    expect(r.backend.role, msg).toBe('client');
  });

  it.each(LAYOUTS)('macswap: the guest receives its frames back with the MACs swapped, %s rings', async (layout) => {
    const r = await run({ packed: layout === 'packed', script: `${send('-w 1500')}\nvq_counters eth0` }, { fwd: 'macswap' });
    expectClean(r);
    const c = lastCounters(r.guest)!;
    const msg = why(r);
    const v = r.guest.vqpkt[0];
    expect(v?.sent, msg).toBe(N);
    expect(v?.rx, msg).toBe(N);
    expect(v?.rx_swapped, msg).toBe(N);
    expect(c.tx_packets, msg).toBe(N);
    expect(c.rx_packets, msg).toBe(N);
    expect(r.backend.rx_packets, msg).toBe(N);
    expect(r.backend.tx_packets, msg).toBe(N);
    expect(r.backend.dropped, msg).toBe(0);
  });

  it.each(LAYOUTS)('a guest that reboots: the rings are reset and set up again, traffic flows on the second boot, %s rings', async (layout) => {
    // vq_ask returns the boot count the harness saw on the console.
    const script = [
      'boot=$(vq_ask)',
      'echo "VQ-BOOT-NUMBER $boot"',
      'if [ "$boot" = 1 ]; then',
      `  vqpkt -i eth0 -n 200 -s ${SIZE} -r ${RATE} -w 1000`,
      `  ${SETTLE}`,
      '  vq_counters eth0',
      '  reboot -f',
      'fi',
      send('-w 1500'),
      'vq_counters eth0',
    ].join('\n');
    const r = await run({ packed: layout === 'packed', allowReboot: true, script }, { fwd: 'io' });
    expectClean(r, 2);
    const msg = why(r);
    expect(r.guest.console, msg).toMatch(/VQ-BOOT-NUMBER 1[\s\S]*VQ-BOOT-NUMBER 2/);
    expect(r.guest.vqpkt.map((v) => v.sent), msg).toEqual([200, N]);
    // io: every frame comes back unchanged, on both boots.
    expect(r.guest.vqpkt.map((v) => v.rx_same), msg).toEqual([200, N]);
    const [first, second] = r.guest.counters;
    expect(first.tx_packets, msg).toBe(200);
    expect(second.tx_packets, msg).toBe(N); // a new boot: counters from zero
    expect(second.rx_packets, msg).toBe(N);
    expect(r.backend.rx_packets, msg).toBe(N + 200);
    expect(r.backend.tx_packets, msg).toBe(N + 200);
    expect(r.backend.connections, msg).toBe(1); // the same connection across the reset
  });

  /** The back-end SIGKILLed mid-traffic and started again on the same socket; QEMU reconnects. */
  async function backendRestart(layout: 'split' | 'packed'): Promise<void> {
    ready();
    const socket = fx.at(`g${++n}.sock`);
    const script = [
      // Phase 1 runs in the background while the harness kills the back-end.
      `vqpkt -i eth0 -n 2000 -s ${SIZE} -r ${RATE} -t before &`,
      'vq_ask >/dev/null', // answered once the new back-end is up
      'wait',
      send('-t after -w 1500'),
      'vq_counters eth0',
    ].join('\n');
    let first: Backend | undefined;
    let second: Backend | undefined;
    let guest: Guest | undefined;
    try {
      first = await startBackend({ socket, fwd: 'io', guestMemMb: MEM_MB, duration: 90 });
      guest = startGuest({
        socket, memMb: MEM_MB, reconnect: 1, script, packed: layout === 'packed',
        answer: async () => {
          // The first back-end dies 1.5 s into phase 1; a new one listens on the same path.
          await new Promise((res) => setTimeout(res, 1_500));
          await first!.kill();
          second = await startBackend({ socket, fwd: 'io', guestMemMb: MEM_MB, duration: 90 });
          await second.waitFor(/front-end connected/, 15_000);
          await new Promise((res) => setTimeout(res, 2_000));
          return 'go';
        },
      });
      const g = await guest.exited;
      const b2 = second ? await second.stop() : undefined;
      const msg = `${describeGuest(g)}\n--- first virtqueue vhost ---\n${first.log()}\n--- second ---\n${second?.log()}\n${JSON.stringify(b2)}`;
      if (process.env.VIRTQUEUE_QEMU_VERBOSE === '1') console.log(msg);
      expect(g.timedOut, msg).toBe(false);
      expect(g.code, msg).toBe(0);
      expect(g.errors, msg).toEqual([]);
      expect(g.done, msg).toEqual([0]);
      expect(b2, msg).toBeDefined();
      const [before, after] = g.vqpkt;
      expect(before?.tag, msg).toBe('before');
      expect(after?.tag, msg).toBe('after');
      // After the reconnection every frame is echoed (io), by the second back-end.
      expect(after.sent, msg).toBe(N);
      expect(after.rx_same, msg).toBe(N);
      expect(b2!.connections, msg).toBe(1);
      expect(b2!.rx_packets, msg).toBeGreaterThanOrEqual(N);
      expect(b2!.tx_packets, msg).toBe(b2!.rx_packets);
      expect(b2!.errors, msg).toBe(0);
      // Phase 1 spans the kill: the second back-end echoed b2.rx_packets - N of its frames, the
      // first one the rest of what came back (what the guest sent while its link was down is lost).
      expect(before.sent, msg).toBe(2000);
      expect(before.rx_same - (b2!.rx_packets - N), msg).toBeGreaterThan(0);
      // README "What a restart guarantees": a frame may come back twice, at most one transmit
      // burst (--burst, 32 frames) per crash; after the reconnection nothing comes back twice
      // and nothing is missing.
      expect(before.rx_dup, msg).toBeLessThanOrEqual(32);
      expect(after.rx_dup, msg).toBe(0);
      expect(after.rx_unique, msg).toBe(N);
      // The second back-end resumed both rings from the first one's state file: for packed rings
      // the stale position QEMU resent is replaced by where the device was; for split rings QEMU
      // read the same position back from the used ring.
      const resumed = [...second!.log().matchAll(/vring (\d+): resumed from the state file \S+: (\d+) chains? in flight, position (.*) -> (.*)/g)];
      expect(resumed.map((m) => m[1]).sort(), msg).toEqual(['0', '1']);
      for (const m of resumed) {
        if (layout === 'packed') expect(m[3], msg).toBe('avail 0 (wrap 1), used 0 (wrap 1)');
        else {
          // Split: used where QEMU read it back from the used ring (its base); the ring is read
          // again past the chains in flight, which come first from the resubmission list.
          const [, base] = /^avail (\d+)/.exec(m[3])!;
          const [, avail, used] = /^avail (\d+), used (\d+)$/.exec(m[4])!;
          expect(Number(used), msg).toBe(Number(base));
          expect(Number(avail), msg).toBe((Number(used) + Number(m[2])) & 0xffff);
        }
      }
      if (layout === 'packed') expect(resumed.some((m) => m[4] !== m[3]), msg).toBe(true);
    } finally {
      await guest?.kill();
      await first?.kill();
      await second?.kill();
    }
  }

  // After a back-end crash QEMU resends, for a packed ring, the position of the ring's last start
  // (QEMU 7.2's virtio_queue_packed_restore_last_avail_idx restores nothing: a packed ring keeps
  // no index in guest memory), and virtio-net never sends GET/SET_INFLIGHT_FD. The new back-end
  // finds where the device was in its state file (<socket>.inflight: each ring's inflight region
  // and whose ring it tracked) and resumes there; for a split ring the position QEMU reads back
  // from the used ring is the same one.
  it.each(LAYOUTS)('the back-end SIGKILLed mid-traffic and started again: QEMU reconnects (reconnect=1) and traffic resumes, %s rings', (layout) => backendRestart(layout));
});
