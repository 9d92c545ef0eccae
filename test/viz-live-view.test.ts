// The page's live mode patches the view in place (issue 13, web/live.ts and web/morph.ts), in
// headless Chromium against a running `virtqueue sim --viz`: the descriptor rows and ring cells
// are the same DOM nodes from one render to the next while their text and owners change, and
// what they show is the frame the page says it shows (globalThis.vizLive.frame); renders are
// coalesced (never more than the frames received); while the page is hidden nothing is rendered,
// and once visible again the newest frame is; rows off screen are left as they were and brought
// up to date once scrolled into view.
import { afterAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { sharedChromium, skipWithoutChromium } from './helpers/chromium.js';
import { startVizCli } from './helpers/viz-cli.js';
import { sleep, untilAsync } from './helpers/within.js';

const browser = sharedChromium();
afterAll(async () => { await browser.close(); });

interface Counts { frames: number; renders: number; seq: number }

const counts = (page: Page): Promise<Counts> => page.evaluate(() => {
  const view = document.getElementById('view')!;
  const live = (globalThis as unknown as { vizLive?: { frame?: { seq: number } } }).vizLive;
  return { frames: Number(view.dataset.frames ?? 0), renders: Number(view.dataset.renders ?? 0), seq: live?.frame?.seq ?? 0 };
});

/**
 * In one task (no render can come between): whether the rows and ring cells are the nodes kept at
 * `keep` (saving them first when `keep` is true), their text, the rows and avail ring cells on
 * screen that differ from the frame the page says it shows, and how many off screen do (left as
 * they were).
 */
const inspect = (page: Page, keep: boolean) => page.evaluate((save) => {
  type Desc = { index: number; addr: string; len: number; owner: string; chain: number | null };
  type Frame = { seq: number; snapshot: { queues: { name: string; descriptors: Desc[]; split: { avail: { ring: number[] } } | null }[] }; workers: Record<string, number>[] };
  const g = globalThis as unknown as { vizLive: { frame: Frame }; kept?: Element[] };
  const nodes = Array.from(document.querySelectorAll('table.descs tbody tr, .ring span'));
  if (save) g.kept = nodes;
  const kept = g.kept!;
  const f = g.vizLive.frame;
  const mismatches: string[] = [];
  let offscreenStale = 0;
  const check = (el: Element, same: boolean, what: () => string): void => {
    const r = el.getBoundingClientRect();
    if (r.bottom > 0 && r.top < innerHeight) { if (!same) mismatches.push(what()); } else if (!same) offscreenStale++;
  };
  for (const q of f.snapshot.queues) {
    const section = document.querySelector(`section[data-queue="${q.name}"]`)!;
    const rows = Array.from(section.querySelectorAll<HTMLTableRowElement>('table.descs tbody tr'));
    if (rows.length !== q.descriptors.length) mismatches.push(`${q.name}: ${rows.length} rows, ${q.descriptors.length} descriptors`);
    rows.forEach((r, i) => {
      const d = q.descriptors[i];
      const cells = Array.from(r.cells).map((c) => c.textContent);
      check(r, r.dataset.owner === d?.owner && cells[0] === String(d.index) && cells[1] === d.addr && cells[2] === String(d.len) && !!cells[5]?.startsWith(d.owner),
        () => `${q.name} row ${i}: ${r.dataset.owner} ${cells.join('|')} against ${JSON.stringify(d)}`);
    });
    section.querySelectorAll('[data-ring="avail"] span').forEach((c, i) => {
      check(c, c.textContent === String(q.split?.avail.ring[i]), () => `${q.name} avail ${i}: ${c.textContent} against ${q.split?.avail.ring[i]}`);
    });
  }
  f.workers.forEach((w, i) => {
    const shown = document.querySelector(`[data-k="workers.${i}.packets"]`)?.textContent;
    if (shown !== String(w.packets)) mismatches.push(`workers.${i}.packets: ${shown} against ${w.packets}`);
  });
  return {
    seq: f.seq,
    count: nodes.length,
    same: nodes.length === kept.length && nodes.every((n, i) => n === kept[i]),
    text: nodes.map((n) => `${n.getAttribute('data-owner') ?? n.className}:${n.textContent}`).join('\n'),
    mismatches,
    offscreenStale,
  };
}, keep);

/** Opens the page in live mode on a `sim --viz` with queues of `queueSize`, in a viewport `height` tall; runs `body`; no page error. */
async function onLivePage(height: number, queueSize: number, body: (page: Page, run: ReturnType<typeof startVizCli>) => Promise<void>): Promise<void> {
  const page = await browser.newPage({ viewport: { width: 1280, height } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const run = startVizCli(['sim', '--viz', '0', '--queue-size', String(queueSize), '--packets', '4000000000']);
  try {
    await page.goto(`${await run.url}?live`);
    await body(page, run);
    expect(errors).toEqual([]);
  } finally {
    await page.close();
    run.child.kill('SIGKILL');
  }
}

describe.skipIf(skipWithoutChromium())('the page in live mode patches the view in place (Chromium)', () => {
  it('rows and ring cells stay the same nodes while they change, show the frame rendered, and nothing renders while hidden', async () => {
    // Tall enough for every row and cell to be on screen (off screen ones are left as they were).
    await onLivePage(3000, 32, async (page, run) => {
      await untilAsync(async () => (await counts(page)).renders >= 2, 'two renders', 20_000);
      const first = await inspect(page, true);
      expect(first.mismatches).toEqual([]);
      expect(first.offscreenStale).toBe(0);
      expect(first.count).toBe(2 * (32 + 2 * 32)); // two split queues: 32 descriptor rows, avail and used rings of 32 cells
      // The traffic moves the rings: wait for a render whose rows or cells read differently.
      let later = first;
      await untilAsync(async () => (later = await inspect(page, false)).text !== first.text, 'the rows and cells changing', 20_000);
      expect(later.seq).toBeGreaterThan(first.seq);
      expect(later.same).toBe(true);
      expect(later.mismatches).toEqual([]);
      const c = await counts(page);
      expect(c.renders).toBeLessThanOrEqual(c.frames);

      // Hidden: frames keep arriving, nothing renders.
      await page.evaluate(() => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await sleep(100); // an animation frame asked for before
      const hidden = await counts(page);
      await untilAsync(async () => (await counts(page)).frames >= hidden.frames + 5, 'five frames while hidden', 10_000);
      const stillHidden = await counts(page);
      expect(stillHidden.renders).toBe(hidden.renders);
      expect(stillHidden.seq).toBe(hidden.seq);

      // Visible again: the newest frame is rendered, into the same nodes.
      await page.evaluate(() => {
        delete (document as unknown as { hidden?: boolean }).hidden; // the prototype's getter again
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await untilAsync(async () => (await counts(page)).renders > hidden.renders, 'a render once visible', 10_000);
      const shown = await inspect(page, false);
      expect(shown.seq).toBeGreaterThan(hidden.seq);
      expect(shown.same).toBe(true);
      expect(shown.mismatches).toEqual([]);
      run.child.kill('SIGINT');
      expect((await run.done).status).toBe(0);
    });
  }, 90_000);

  it('rows and cells off screen are left as they were, and brought up to date once scrolled into view', async () => {
    await onLivePage(600, 64, async (page) => {
      await untilAsync(async () => (await counts(page)).renders >= 3, 'three renders', 20_000);
      // The second queue starts below the first's 64 rows: off screen, its rows fall behind the frame shown.
      let before = await inspect(page, true);
      await untilAsync(async () => (before = await inspect(page, false)).offscreenStale > 0, 'rows off screen behind the frame shown', 20_000);
      expect(before.mismatches).toEqual([]);
      const { renders } = await counts(page);
      await page.evaluate(() => document.querySelector('section[data-queue="receiveq1"] table.descs')!.scrollIntoView());
      await untilAsync(async () => (await counts(page)).renders >= renders + 2, 'two renders after the scroll', 10_000);
      const after = await inspect(page, false);
      expect(after.mismatches).toEqual([]);
      expect(after.same).toBe(true);
    });
  }, 90_000);
});
