// The page's live mode end to end, in headless Chromium (test/helpers/chromium.ts): attached to a
// running `virtqueue sim --viz` and to a `virtqueue vhost --viz` under DPDK testpmd traffic, it
// shows the running queues and its counters advance. Screenshots go to test-artifacts/viz/.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { artifact, sharedChromium, skipWithoutChromium } from './helpers/chromium.js';
import { startVizCli } from './helpers/viz-cli.js';
import { freePort } from './helpers/free-port.js';
import { requirePeers, skipWithoutPeers, startTestpmd, startVirtqueueVhost } from './helpers/testpmd.js';
import { untilAsync as until } from './helpers/within.js';

// Launched by the first test (not in beforeAll, whose failure would only mark them skipped).
const browser = sharedChromium();
afterAll(async () => { await browser.close(); });

/** The page's value under data-k `key` as a number (NaN when absent). */
const shown = (page: Page, key: string): Promise<number> =>
  page.evaluate((k) => Number(document.querySelector(`[data-k="${k}"]`)?.textContent ?? 'NaN'), key);

/** Opens `url` in live mode and waits until `key` grows by at least `by` across frames. */
async function watchGrow(page: Page, url: string, key: string, by: number): Promise<{ first: number; last: number; frames: number }> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await until(async () => Number.isFinite(await shown(page, key)), `the page showing ${key}`, 20_000).catch((e: Error) => {
    throw new Error(`${e.message}; page errors: ${errors.join('; ') || 'none'}`);
  });
  const first = await shown(page, key);
  let last = first;
  await until(async () => (last = await shown(page, key)) >= first + by, `${key} growing by ${by} (from ${first})`, 20_000);
  const frames = await page.evaluate(() => Number(document.querySelector<HTMLElement>('[data-frames]')?.dataset.frames ?? 0));
  expect(errors).toEqual([]);
  return { first, last, frames };
}

describe.skipIf(skipWithoutChromium())('the page in live mode (Chromium)', () => {
  it('attached to virtqueue sim --viz: both queues shown, worker counters advancing', async () => {
    const page = await browser.newPage();
    const run = startVizCli(['sim', '--viz', '0', '--queue-size', '64', '--packets', '4000000000']);
    try {
      const url = `${await run.url}?live`;
      const r = await watchGrow(page, url, 'workers.1.packets', 1000);
      expect(r.last).toBeGreaterThan(r.first);
      // The counters' rates, from one frame to the next: frames are moving.
      await until(async () => (await shown(page, 'rates.moved/s')) > 0, 'a positive rates.moved/s', 10_000);
      expect(r.frames).toBeGreaterThan(1);
      const mode = await page.textContent('#mode');
      expect(mode).toMatch(/live: sim .*updates\/s/);
      const rows = await page.locator('table.descs tbody tr').count();
      expect(rows).toBe(2 * 64); // transmitq1 and receiveq1, every descriptor
      await page.screenshot({ path: artifact('live-sim.png'), fullPage: true });
      run.child.kill('SIGINT');
      expect((await run.done).status).toBe(0);
      await until(async () => /ended \(SIGINT\)/.test((await page.textContent('#mode')) ?? ''), 'the page showing the end', 10_000);
    } finally {
      await page.close();
      run.child.kill('SIGKILL');
    }
  }, 90_000);

  it.skipIf(skipWithoutPeers())('attached to virtqueue vhost --viz under testpmd io traffic: the pair counters advance', async () => {
    requirePeers();
    const page = await browser.newPage();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vq-viz-live-'));
    const socket = path.join(dir, 'vhost.sock');
    const port = await freePort();
    let back, front;
    try {
      back = await startVirtqueueVhost({ socket, fwd: 'io', duration: 60, extraArgs: ['--viz', String(port)], timeoutMs: 20_000 });
      front = await startTestpmd({
        name: `vqvizlive${process.pid}`, vdev: `net_virtio_user0,path=${socket}`, forwardMode: 'io', txFirst: true,
        lcores: '0@1,1@1', timeoutMs: 30_000,
      });
      const r = await watchGrow(page, `http://127.0.0.1:${port}/?live`, 'counters.pair0.rxPackets', 10_000);
      expect(r.last).toBeGreaterThan(r.first);
      expect(await shown(page, 'counters.pair0.txPackets')).toBeGreaterThan(0);
      await until(async () => (await shown(page, 'rates.pair0.rxPackets/s')) > 0, 'a positive rates.pair0.rxPackets/s', 10_000);
      expect(await page.textContent('#mode')).toMatch(/live: vhost/);
      expect(await page.locator('table.descs').count()).toBe(2); // receiveq1 and transmitq1
      await page.screenshot({ path: artifact('live-vhost-testpmd.png'), fullPage: true });
    } finally {
      await page.close();
      await front?.stop().catch(() => undefined);
      await back?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
