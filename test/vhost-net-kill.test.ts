// A front-end killed with SIGKILL in the middle of io traffic, again and again, alternating split
// and packed rings (VIRTQUEUE_KILL_RUNS, default 100): after each kill the back-end takes every
// ring back from its worker, unmaps guest memory and closes every fd the session had, and the
// next front-end is served. The front-end is a process of its own (helpers/frontend-process.ts),
// so the kill is a real one: the kernel closes its socket and fds mid-burst.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { mappings } from '../src/native/index.js';
import { nextEvent, within } from './helpers/within.js';
import { removeSocketDir } from './helpers/vhost-user-rig.js';
import { netDevice } from './helpers/vhost-net-rig.js';

afterAll(removeSocketDir);

const RUNS = Number(process.env.VIRTQUEUE_KILL_RUNS ?? 100);
const child = fileURLToPath(new URL('../dist/test/helpers/frontend-process.js', import.meta.url));
const openFds = (): number => readdirSync('/proc/self/fd').length;

/** Starts the front-end process and resolves once frames flow through the back-end. */
function startFrontEnd(socket: string, layout: 'split' | 'packed'): Promise<ChildProcess> {
  const p = spawn(process.execPath, [child, socket, layout], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  return within<ChildProcess>(15_000, `${layout} front-end flowing`, (done) => {
    let line = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => {
      line += d;
      if (line.includes('"flowing"')) done(p);
    });
    p.on('exit', (code) => { if (!line.includes('"flowing"')) throw new Error(`front-end exited (${code}) before traffic: ${err}`); });
  });
}

describe('front-ends killed mid-traffic', () => {
  it(`${RUNS} SIGKILLs in a row, split and packed: the back-end lets go of everything each time and serves the next`, async () => {
    const w = await netDevice({ mode: 'io' });
    try {
      const baseFds = openFds();
      let frames = 0;
      for (let run = 0; run < RUNS; run++) {
        const layout = run % 2 === 0 ? 'split' : 'packed';
        const fe = await startFrontEnd(w.r.path, layout);
        const closed = new Promise((r) => fe.once('close', r));
        expect(w.device.runningVrings(), `run ${run}: both rings on the worker`).toEqual([0, 1]);
        // Kill it somewhere in the middle of a burst, at a varying point.
        await new Promise((r) => setTimeout(r, run % 7));
        const ended = nextEvent<[string]>(w.r.server, 'sessionEnd', 10_000);
        fe.kill('SIGKILL');
        const [reason] = await ended;
        expect(reason, `run ${run}`).toMatch(/hung up|socket/);
        expect(w.device.runningVrings(), `run ${run}: rings taken back`).toEqual([]);
        expect(mappings(w.r.memory), `run ${run}: guest memory unmapped`).toEqual([]);
        await closed; // the child's stdio pipes are the test's own fds
        expect(openFds(), `run ${run}: fds back to the baseline`).toBe(baseFds);
        const c = w.device.totals();
        expect(c.rxPackets, `run ${run}: frames flowed`).toBeGreaterThan(frames);
        frames = c.rxPackets;
        // io: every frame taken was sent back or dropped; the device held nothing when the front-end died.
        expect(c.txPackets + c.dropped).toBe(c.rxPackets);
        expect(c.txErrors + c.rxErrors).toBe(0);
      }
      expect(w.device.failures).toBe(0);
      expect(w.r.log.filter((l) => /engine stopped|failure|cannot/.test(l))).toEqual([]);
    } finally {
      await w.close();
    }
  }, 300_000);
});
