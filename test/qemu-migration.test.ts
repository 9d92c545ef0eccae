// Live migration of a QEMU guest under traffic between two QEMU processes on this machine, each
// with its own `virtqueue vhost` back-end (vhost-user.rst "Migration"): the source's back-end
// logs every page it writes into QEMU's dirty log (VHOST_F_LOG_ALL, LOG_SHMFD, SET_LOG_BASE),
// the destination waits with -incoming, the source is migrated over QMP (`migrate` to a unix
// socket), and the guest's vqpkt loop keeps sending and counting the echo across the switch.
// Reported (a line, and one JSON line MIGRATION_REPORT): QEMU's downtime, the longest gap between
// echo reports seen from the host (ms without frames) and the frames lost. Skipped without QEMU,
// like qemu-guest.test.ts.
//
// The emulator's own flake: with QEMU 7.2 under TCG (Debian 12) the migrated guest's kernel
// sometimes crashes within a second of resuming at the destination (list_del corruption in the
// page allocator, a corrupt hrtimer, "scheduling while atomic"), about one migration in ten. It
// is not the back-end's: with DPDK's net_vhost on both sides instead of ours the same migration
// crashed the same way in 3 of 24 runs, and over 23 migrations with our back-ends the
// destination's guest memory, read before it resumed (-S, pmemsave), was byte for byte the
// source's. So a migration whose destination kernel crashes (GUEST_CRASH), or hangs (no report
// within HUNG_MS of the switch), is run again from the start, at most ATTEMPTS times, each
// printed; any other failure fails at once.
import { describe, expect, it } from 'vitest';
import {
  describeGuest, qmpConnect, skipWithoutQemu, startBackend, startGuest, type Backend, type Guest, type Qmp, type VqpktReport, parseVqpkt,
} from './helpers/qemu.js';
import { qemuFixture } from './helpers/qemu-fixture.js';

const MEM_MB = 128;
/** vqpkt rounds: each sends FRAMES frames at RATE/s and waits 100 ms for the echo, then reports. */
const ROUNDS = Number(process.env.VIRTQUEUE_MIGRATION_ROUNDS ?? 80);
const FRAMES = 40;
const RATE = 400;
/** Rounds reported by the source before it is migrated. */
const BEFORE = 5;
/** Migrations tried when the destination's guest kernel crashes (see above). */
const ATTEMPTS = 3;
/** A guest kernel that crashed or hung (its console). */
const GUEST_CRASH = /Kernel panic|BUG: |Oops|general protection fault|list_del corruption|watchdog: BUG/;
/** A destination silent this long after the switch has hung (see migrateOnce). */
const HUNG_MS = 60_000;
const script = [
  'i=0',
  `while [ $i -lt ${ROUNDS} ]; do`,
  `  vqpkt -i eth0 -n ${FRAMES} -s 128 -r ${RATE} -w 100 -t r$i || echo "VQ-ERROR vqpkt round $i"`,
  '  i=$((i + 1))',
  'done',
].join('\n');

interface Line { at: number; side: 'source' | 'destination'; report: VqpktReport }

describe.skipIf(skipWithoutQemu())('QEMU live migration between two virtqueue vhost back-ends', () => {
  const fx = qemuFixture('vq-mig');

  it.each(['split', 'packed'] as const)('%s rings: the guest migrates under traffic and its traffic goes on at the destination', async (layout) => {
    fx.ready();
    const crashes: string[] = [];
    for (let attempt = 1; ; attempt++) {
      const crash = await migrateOnce(layout, attempt, crashes.length);
      if (crash === undefined) return;
      crashes.push(crash);
      console.log(`migration (${layout}), attempt ${attempt}: the destination's guest kernel crashed or hung (QEMU TCG, see the file's header):\n${crash}`);
      if (attempt === ATTEMPTS) throw new Error(`${layout}: the destination's guest kernel crashed or hung in all ${ATTEMPTS} migrations:\n${crashes.join('\n---\n')}`);
    }
  }, ATTEMPTS * 170_000);

  /**
   * One migration, checked; resolves with the destination's console tail when its guest kernel
   * crashed (GUEST_CRASH), undefined when everything passed.
   */
  async function migrateOnce(layout: 'split' | 'packed', attempt: number, crashesBefore: number): Promise<string | undefined> {
    const at = (name: string): string => fx.at(`${layout}-${attempt}-${name}`);
    const lines: Line[] = [];
    const record = (side: Line['side']) => (l: string): void => {
      const i = l.indexOf('VQPKT');
      if (i >= 0) lines.push({ at: Date.now(), side, report: parseVqpkt(l.slice(i)) });
    };
    const backends: Backend[] = [];
    const guests: Guest[] = [];
    let qmp: Qmp | undefined;
    try {
      const be = (socket: string): Promise<Backend> => startBackend({ socket, fwd: 'io', guestMemMb: MEM_MB, duration: 150 });
      backends.push(await be(at('src.sock')), await be(at('dst.sock')));
      const common = { script, packed: layout === 'packed', memMb: MEM_MB, timeoutMs: 140_000 };
      const source = startGuest({ ...common, socket: at('src.sock'), qmp: at('src.qmp'), onLine: record('source') });
      guests.push(source);
      const destination = startGuest({
        ...common, socket: at('dst.sock'), qmp: at('dst.qmp'), incoming: `unix:${at('mig.sock')}`, onLine: record('destination'),
      });
      guests.push(destination);
      await source.waitFor(new RegExp(`VQPKT tag=r${BEFORE - 1} `), 60_000);

      qmp = await qmpConnect(at('src.qmp'));
      const t0 = Date.now();
      await qmp.execute('migrate', { uri: `unix:${at('mig.sock')}` });
      let info: { status?: string; downtime?: number; 'total-time'?: number; ram?: { transferred?: number; 'dirty-sync-count'?: number }; 'error-desc'?: string } = {};
      for (;;) {
        info = (await qmp.execute('query-migrate')) as typeof info;
        if (info.status === 'completed' || info.status === 'failed' || info.status === 'cancelled') break;
        if (Date.now() - t0 > 90_000) throw new Error(`migration still ${info.status} after 90 s: ${JSON.stringify(info)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const migratedAt = Date.now();
      expect(info.status, JSON.stringify(info)).toBe('completed');
      await qmp.execute('quit').catch(() => undefined);
      qmp.close();
      qmp = undefined;
      const src = await source.exited;

      // A destination that reports nothing within HUNG_MS of the switch has hung: a guest whose
      // device stopped would still report (vqpkt gives up on a frame after 1 s of a full ring,
      // so a round of FRAMES ends within FRAMES s), so silence is the guest kernel's (the same
      // emulator flake as a crash, without an oops; seen once in a loaded CI run: 3 frames
      // through the destination's back-end, then no console line for 140 s). Run again, as a crash.
      // (A guest that exited without a report goes on to the checks below, which fail.)
      const reported = await destination.waitFor(/VQPKT/, HUNG_MS).then(() => true, (e: Error) => /guest exited/.test(e.message));
      if (!reported) {
        const d = await destination.kill();
        const tail = d.console.split('\n').filter((l) => l.trim() !== '').slice(-25).join('\n');
        return GUEST_CRASH.test(d.console) ? tail : `hung: no report within ${HUNG_MS / 1000} s of the switch\n${tail}`;
      }
      // A crashed guest kernel is stopped at once (a hung one would run to the timeout).
      const crashed = await Promise.race([
        destination.waitFor(GUEST_CRASH, 150_000).then(() => true, () => false),
        destination.exited.then(() => false),
      ]);
      if (crashed) await new Promise((r) => setTimeout(r, 1_000)); // the rest of the oops
      const dst = crashed ? await destination.kill() : await destination.exited;
      if (GUEST_CRASH.test(dst.console)) return dst.console.split('\n').filter((l) => l.trim() !== '').slice(-25).join('\n');
      const [a, b] = await Promise.all(backends.map((x) => x.stop()));
      const why = `${describeGuest(dst)}\n--- source ---\n${describeGuest(src, 10)}\n--- source back-end ---\n${backends[0].log()}\n--- destination back-end ---\n${backends[1].log()}`;
      expect(dst.timedOut, why).toBe(false);
      expect(dst.errors, why).toEqual([]);
      expect(dst.done, why).toEqual([0]);
      // The source's back-end logged into QEMU's dirty log; the destination's never had to.
      expect(backends[0].log(), why).toMatch(/SET_LOG_BASE: a \d+-byte log mapped/);
      expect(a.errors + b.errors, why).toBe(0);

      // Every round reported once, in order, across both sides.
      const rounds = lines.map((l) => l.report.tag);
      expect(rounds, why).toEqual(Array.from({ length: ROUNDS }, (_, i) => `r${i}`));
      const after = lines.filter((l) => l.side === 'destination');
      expect(after.length, why).toBeGreaterThan(0);
      const sent = lines.reduce((n, l) => n + l.report.sent, 0);
      const echoed = lines.reduce((n, l) => n + l.report.rx_same, 0);
      expect(sent, why).toBe(ROUNDS * FRAMES);
      // Traffic goes on at the destination: its last rounds get every echo back.
      for (const l of after.slice(-3)) expect(l.report.rx_same, why).toBe(FRAMES);
      const lost = sent - echoed;
      // A migration duplicates nothing: every frame the guest sent came back at most once.
      const duplicated = lines.reduce((n, l) => n + l.report.rx_dup, 0);
      expect(duplicated, why).toBe(0);
      // Longest time between two reports with echoes (the host's clock), against the usual one.
      const gaps = lines.slice(1).map((l, i) => l.at - lines[i].at);
      const usual = [...gaps].sort((x, y) => x - y)[Math.floor(gaps.length / 2)];
      const longest = Math.max(...gaps);
      console.log(
        `migration (${layout}): QEMU total ${info['total-time']} ms, downtime ${info.downtime} ms, ` +
        `${info.ram?.['dirty-sync-count']} dirty syncs, ${((info.ram?.transferred ?? 0) / 2 ** 20).toFixed(1)} MiB; ` +
        `migrate -> completed ${migratedAt - t0} ms; reports every ${usual} ms, longest gap ${longest} ms ` +
        `(~${longest - usual} ms without frames); frames sent ${sent}, echoed ${echoed}, lost ${lost}, duplicated ${duplicated} ` +
        `(source rounds ${lines.length - after.length}, destination rounds ${after.length}); ` +
        `attempt ${attempt} (${crashesBefore} destination guest crashes before it)`,
      );
      console.log(`MIGRATION_REPORT ${JSON.stringify({
        layout, qemuTotalMs: info['total-time'], qemuDowntimeMs: info.downtime, dirtySyncs: info.ram?.['dirty-sync-count'],
        transferredBytes: info.ram?.transferred, migrateToCompletedMs: migratedAt - t0, reportEveryMs: usual, longestGapMs: longest,
        msWithoutFrames: longest - usual, framesSent: sent, framesEchoed: echoed, framesLost: lost, framesDuplicated: duplicated,
        sourceRounds: lines.length - after.length, destinationRounds: after.length, attempt, guestCrashesBefore: crashesBefore,
      })}`);
      // Frames are lost only around the switch: at most the rounds the switch fell in.
      expect(lost, why).toBeLessThanOrEqual(2 * FRAMES);
      return undefined;
    } finally {
      qmp?.close();
      await Promise.all(guests.map((g) => g.kill()));
      await Promise.all(backends.map((x) => x.kill()));
    }
  }
});
