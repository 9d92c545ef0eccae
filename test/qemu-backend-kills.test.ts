// The back-end SIGKILLed again and again under a QEMU guest's traffic, each kill accounted for
// (issue 14: "Kill and restart 100 times ... with a QEMU guest"): one guest (QEMU with
// reconnect=1) runs a vqpkt round per kill, io echo through `virtqueue vhost`; while the round
// sends, the harness kills the back-end and starts a new one on the same socket, and QEMU
// reconnects. VIRTQUEUE_QEMU_KILL_RUNS kills per layout (default 2 in `npm test`; the issue's
// campaign is 100).
//
// vqpkt -L checks the carrier right before each send, and sends past the qdisc: checked before
// its pacing wait instead, one frame per kill went into a device whose carrier had just gone and
// was lost unseen (the first runs, 2026-12-02, lost exactly that one frame per kill beyond
// QEMU's drops); checked right before the send through the qdisc, 1 kill in 100 still lost one
// (the carrier went between the check and the send).
import { describe, expect, it } from 'vitest';
import {
  describeGuest, skipWithoutQemu, startBackend, startGuest, type Backend,
} from './helpers/qemu.js';
import { qemuFixture } from './helpers/qemu-fixture.js';

const KILLS = Number(process.env.VIRTQUEUE_QEMU_KILL_RUNS ?? 2);
const MEM_MB = 256;
const FRAMES = 1800; // per round
const RATE = 600; // frames a second: a round sends for 3 s
const SIZE = 128;
const WAIT_MS = 3000; // after its last frame a round waits this long for the echo
const BURST = 32; // virtqueue vhost's --burst default
const script = [
  'i=0',
  `while [ $i -lt ${KILLS} ]; do`,
  `  vqpkt -L -i eth0 -n ${FRAMES} -s ${SIZE} -r ${RATE} -w ${WAIT_MS} -t k$i &`,
  '  vq_ask >/dev/null', // answered once the next back-end is up
  '  wait',
  '  i=$((i + 1))',
  'done',
].join('\n');

/**
 * Transmit chains QEMU used itself with length 0 after each disconnection (virtqueue_drop_all:
 * its link is down, what the guest sends is dropped), from its trace on stderr: the lines
 * `virtqueue_fill ... len 0` after the k-th "vhost VQ 0 ring restore failed" (QEMU's mark of a
 * back-end gone) and before the next.
 */
function qemuDropsPerKill(stderr: string): number[] {
  const perKill: number[] = [];
  for (const line of stderr.split('\n')) {
    if (/vhost VQ 0 ring restore failed/.test(line)) perKill.push(0);
    else if (perKill.length > 0 && /^virtqueue_fill .*\blen 0\b/.test(line)) perKill[perKill.length - 1]++;
  }
  return perKill;
}

describe.skipIf(skipWithoutQemu())('QEMU guest: the back-end SIGKILLed and restarted again and again, every frame accounted for', () => {
  const fx = qemuFixture('vq-kills');

  it.each(['split', 'packed'] as const)(`%s rings: ${KILLS} SIGKILLs`, async (layout) => {
    fx.ready();
    const socket = fx.at(`${layout}.sock`);
    const backends: Backend[] = [];
    const kills: number[] = [];
    let seed = 12345;
    const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
    const start = async (): Promise<Backend> => {
      const b = await startBackend({ socket, fwd: 'io', guestMemMb: MEM_MB, duration: 60 + KILLS * 10 });
      backends.push(b);
      return b;
    };
    await start();
    const guest = startGuest({
      socket, memMb: MEM_MB, reconnect: 1, script, packed: layout === 'packed', trace: ['virtqueue_fill', 'virtqueue_flush'],
      timeoutMs: 60_000 + KILLS * 15_000,
      answer: async () => {
        // Somewhere in the middle of the round's 3 s of sending (vqpkt starts within about a
        // second under TCG), the back-end dies; a new one takes over.
        await new Promise((r) => setTimeout(r, 1000 + rand() * 1500));
        kills.push(Date.now());
        await backends[backends.length - 1].kill();
        const next = await start();
        await next.waitFor(/front-end connected/, 15_000);
        return 'go';
      },
    });
    try {
      const g = await guest.exited;
      const last = backends[backends.length - 1];
      const summary = await last.stop();
      const msg = `${describeGuest(g, 60)}\n${backends.map((b, i) => `--- back-end ${i} ---\n${b.log()}`).join("\n")}\n${JSON.stringify(summary)}`;
      expect(g.timedOut, msg).toBe(false);
      expect(g.errors, msg).toEqual([]);
      expect(g.done, msg).toEqual([0]);
      expect(kills, msg).toHaveLength(KILLS);
      expect(g.vqpkt.map((r) => r.tag), msg).toEqual(Array.from({ length: KILLS }, (_, k) => `k${k}`));
      const drops = qemuDropsPerKill(g.stderr);
      const account = g.vqpkt.map((r, k) => ({
        kill: k, sent: r.sent, back: r.rx_unique, twice: r.rx_dup, lost: r.sent - r.rx_unique, droppedByQemu: drops[k] ?? 0,
        droppedBySocket: r.rx_drops, linkDownMs: r.held_ms,
      }));
      for (const a of account) {
        console.log(`kill ${a.kill} (${layout}): sent ${a.sent}, back ${a.back}, twice ${a.twice}, lost ${a.lost} (QEMU dropped ${a.droppedByQemu} while its link was down, the guest's socket ${a.droppedBySocket}); sending waited ${a.linkDownMs} ms for the link`);
      }
      const total = (f: 'sent' | 'back' | 'twice' | 'lost' | 'droppedByQemu'): number => account.reduce((n, a) => n + a[f], 0);
      console.log(`kills (${layout}): ${KILLS}; sent ${total('sent')}, back ${total('back')}, twice ${total('twice')} (at most ${Math.max(...account.map((a) => a.twice))} in one kill), lost ${total('lost')}, of which QEMU dropped ${total('droppedByQemu')}`);
      console.log(`KILL_ACCOUNT ${JSON.stringify({ layout, kills: KILLS, burst: BURST, account })}`);
      for (const a of account) {
        expect(a.sent, msg).toBe(FRAMES);
        // A frame the guest's kernel dropped on vqpkt's socket was delivered, but vqpkt forces a
        // buffer larger than a round needs, so none should be: both counts must be 0.
        expect(a.droppedBySocket, `kill ${a.kill}: frames the guest's socket dropped\n${msg}`).toBe(0);
        expect(a.lost - a.droppedByQemu, `kill ${a.kill}: frames lost that QEMU did not drop\n${msg}`).toBe(0);
        expect(a.twice, `kill ${a.kill}: frames back twice\n${msg}`).toBeLessThanOrEqual(BURST);
      }
      // The kills really took the link down and QEMU reconnected each time.
      expect(account.every((a) => a.linkDownMs > 0), msg).toBe(true);
      expect(summary.errors, msg).toBe(0);
    } finally {
      await guest.kill();
      await Promise.all(backends.map((b) => b.kill()));
    }
  }, 120_000 + KILLS * 18_000);
});
