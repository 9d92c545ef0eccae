// The visualizer page end to end, in headless Chromium (Debian's, through playwright-core): the
// engine instantiated in the page over a SharedArrayBuffer; a scripted sequence stepped with the
// page's buttons while the same operations run on a StepSession here in Node, and after every
// step the page's shown indices, owners and counters checked against the Node engine's state and
// the page's queue bytes against Node's, byte for byte; play; scrubbing back restoring an earlier
// state exactly; a corrupt descriptor's error shown with its section on the descriptor; an
// exported trace replayed identically by `virtqueue sim --replay` and imported back. Split and
// packed. Screenshots go to test-artifacts/viz/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import * as Q from '../assembly/layout/queue.js';
import * as S from '../assembly/layout/split.js';
import * as PK from '../assembly/layout/packed.js';
import { createSharedMemory } from '../src/memory.js';
import { loadEngine } from '../src/node.js';
import { takeSnapshot } from '../src/viz/snapshot.js';
import { StepSession, StepRefused, stepFeatureNames } from '../sim/stepper/session.js';
import type { StepConfig, StepOp } from '../sim/stepper/trace.js';
import { startVizServer, type VizServer } from '../cli/viz/server.js';
import { artifact, sharedChromium, skipWithoutChromium } from './helpers/chromium.js';

const run = promisify(execFile);
const CLI = new URL('../bin/virtqueue.js', import.meta.url).pathname;
const engine = loadEngine(createSharedMemory(8 << 20));

/** Two laps and more of an 8-entry ring (indices and wrap counters roll over), with faults that keep it healthy. */
const SCRIPT: StepOp[] = [];
for (let lap = 0; lap < 3; lap++) {
  SCRIPT.push(
    { op: 'add', n: 3 }, { op: 'notify' }, { op: 'pop', n: 2 }, { op: 'push', n: 1 }, { op: 'collect' },
    { op: 'add', n: 2 }, { op: 'drop-notify' }, { op: 'notify' }, { op: 'pop', n: 4 }, { op: 'reorder' }, { op: 'push', n: 3 },
    { op: 'collect' }, { op: 'add', n: 4 }, { op: 'pop', n: 4 }, { op: 'delay', n: 1 }, { op: 'push', n: 4 }, { op: 'push', n: 4 },
    { op: 'collect' },
  );
}
// A drop-notify meets no notification that was needed when the device had asked for none: one
// more cycle spends it, and a device pop re-arms the device (play needs its notifications).
SCRIPT.push({ op: 'add', n: 1 }, { op: 'notify' }, { op: 'pop', n: 8 }, { op: 'push', n: 8 }, { op: 'collect' });

interface PageState { bytes: number[][]; digest: string; k: Record<string, string>; owners: string[]; position: number; length: number }

async function pageState(page: Page): Promise<PageState> {
  return page.evaluate(() => {
    const t = (globalThis as unknown as { viz: { timeline: { position: number; length: number; session: { stateBytes(): Uint8Array[]; digest(): string } } } }).viz.timeline;
    return {
      bytes: t.session.stateBytes().map((b) => Array.from(b)),
      digest: t.session.digest(),
      k: Object.fromEntries(Array.from(document.querySelectorAll<HTMLElement>('[data-k]')).map((e) => [e.dataset.k!, e.textContent ?? ''])),
      owners: Array.from(document.querySelectorAll<HTMLElement>('table.descs tbody tr')).map((tr) => tr.dataset.owner ?? ''),
      position: t.position, length: t.length,
    };
  });
}

async function newQueue(page: Page, c: StepConfig): Promise<void> {
  await page.selectOption('#layout', c.layout);
  await page.fill('#queue-size', String(c.queueSize));
  await page.selectOption('#segments', String(c.segments));
  for (const f of ['EVENT_IDX', 'INDIRECT_DESC', 'IN_ORDER']) await page.setChecked(`#f-${f}`, c.features.includes(f));
  await page.click('#new-queue');
}

async function step(page: Page, op: StepOp): Promise<void> {
  if ('n' in op) await page.fill('#burst', String(op.n));
  if (op.op === 'corrupt') {
    await page.selectOption('#corruption', op.what);
    await page.click('#corrupt');
  } else {
    await page.click(`button[data-op="${op.op}"]`);
  }
}

/** What the page must show, read from the Node session's engine memory (not from its snapshot code). */
function expectedFields(s: StepSession): Record<string, number> {
  const cb = (cbAddr: number, f: number): number => engine.u32[(cbAddr + f) >>> 2];
  const u16 = (at: number): number => engine.view.getUint16(at, true);
  const d = s.driver.cb, v = s.device.cb;
  const common = {
    'driver.numFree': s.driver.numFree, 'driver.inFlight': s.driver.inFlight, 'device.inFlight': s.device.inFlight,
    'pool.buffers.inUse': s.pool.inUse, 'pool.buffers.free': s.pool.freeCount,
    ...Object.fromEntries(Object.entries(s.counters).map(([k, n]) => [`counters.${k}`, n])),
  };
  if (s.layout === 'split') {
    return {
      ...common,
      'avail.idx': engine.view.getUint16(s.areas.driver + S.AVAIL_IDX, true), 'used.idx': engine.view.getUint16(s.areas.device + S.USED_IDX, true),
      'avail.flags': u16(s.areas.driver + S.AVAIL_FLAGS), 'used.flags': u16(s.areas.device + S.USED_FLAGS),
      // The event index fields after each ring (2.7.6, 2.7.8): what EVENT_IDX's notifications turn on.
      'avail.used_event': u16(s.areas.driver + S.AVAIL_RING + S.AVAIL_ELEM_SIZE * s.config.queueSize),
      'used.avail_event': u16(s.areas.device + S.USED_RING + S.USED_ELEM_SIZE * s.config.queueSize),
      'driver.availIdx': cb(d, Q.SDRV_AVAIL_IDX) & 0xffff, 'driver.lastUsed': cb(d, Q.SDRV_LAST_USED) & 0xffff,
      'device.lastAvail': cb(v, Q.SDEV_LAST_AVAIL) & 0xffff, 'device.usedIdx': cb(v, Q.SDEV_USED_IDX) & 0xffff,
    };
  }
  return {
    ...common,
    'driver.nextAvail': cb(d, Q.PDRV_NEXT_AVAIL), 'driver.availWrap': cb(d, Q.PDRV_AVAIL_WRAP),
    'driver.nextUsed': cb(d, Q.PDRV_NEXT_USED), 'driver.usedWrap': cb(d, Q.PDRV_USED_WRAP),
    'device.nextAvail': cb(v, Q.PDEV_NEXT_AVAIL), 'device.availWrap': cb(v, Q.PDEV_AVAIL_WRAP),
    'device.nextUsed': cb(v, Q.PDEV_NEXT_USED), 'device.usedWrap': cb(v, Q.PDEV_USED_WRAP),
    // The event suppression structures (2.8.10): off_wrap's offset and wrap bit, in each area.
    'driverEvent.desc': u16(s.areas.driver + PK.EVENT_OFF_WRAP) & 0x7fff, 'driverEvent.wrap': u16(s.areas.driver + PK.EVENT_OFF_WRAP) >> PK.EVENT_WRAP_SHIFT,
    'deviceEvent.desc': u16(s.areas.device + PK.EVENT_OFF_WRAP) & 0x7fff, 'deviceEvent.wrap': u16(s.areas.device + PK.EVENT_OFF_WRAP) >> PK.EVENT_WRAP_SHIFT,
  };
}

function expectPageMatches(p: PageState, s: StepSession, what: string): void {
  expect(p.bytes, `${what}: queue bytes`).toEqual(s.stateBytes().map((b) => Array.from(b)));
  const want = expectedFields(s);
  const shown = Object.fromEntries(Object.keys(want).map((k) => [k, Number(p.k[k])]));
  expect(shown, `${what}: shown values`).toEqual(want);
  const snap = takeSnapshot(engine, [{ name: 'queue', layout: s.layout, areas: s.areas, driverCb: s.driver.cb, deviceCb: s.device.cb }]).queues[0];
  expect(p.owners, `${what}: owners`).toEqual(snap.descriptors.map((d) => d.owner));
  // Descriptors not free are exactly those the driver's engine state has out (split: table entries; packed: ring slots).
  expect(p.owners.filter((o) => o !== 'free').length, `${what}: owned descriptors`).toBe(s.config.queueSize - s.driver.numFree);
}

describe.skipIf(skipWithoutChromium())('visualizer page in headless Chromium', () => {
  const browser = sharedChromium();
  let server: VizServer;

  beforeAll(async () => {
    server = await startVizServer({ port: 0 });
  });
  afterAll(async () => {
    await browser.close();
    await server?.close();
  });

  /** A page on the visualizer; the browser starts with the first (in the test, so a missing chromium fails each test). */
  async function openPage(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready]', { timeout: 15_000 });
    expect(await page.getAttribute('body', 'data-ready'), (await page.textContent('#mode')) ?? '').toBe('yes');
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
    expect(problems).toEqual([]);
    return page;
  }

  it.each(['split', 'packed'] as const)('%s: steps, play, time travel, a corrupt descriptor, export and replay', async (layout) => {
    const page = await openPage();
    const config: StepConfig = { layout, queueSize: 8, features: stepFeatureNames(layout, layout === 'packed' ? ['EVENT_IDX'] : []), segments: 2 };
    await newQueue(page, config);
    const s = new StepSession(engine, config);
    expect(await page.evaluate(() => (globalThis as unknown as { viz: { timeline: { config: unknown } } }).viz.timeline.config)).toEqual(s.config);
    expectPageMatches(await pageState(page), s, 'fresh queue');

    // The script, step by step: each page step against the same step here.
    const bytesAt: number[][][] = [s.stateBytes().map((b) => Array.from(b))];
    for (const [i, op] of SCRIPT.entries()) {
      let refused = false;
      try { s.apply(op); } catch (e) { if (!(e instanceof StepRefused)) throw e; refused = true; }
      await step(page, op);
      const p = await pageState(page);
      if (refused) expect(await page.textContent('#message')).toContain('refused');
      else bytesAt.push(s.stateBytes().map((b) => Array.from(b)));
      expect(p.position).toBe(s.counters.ops);
      expectPageMatches(p, s, `step ${i + 1} (${op.op})`);
    }
    expect(s.counters.errors).toBe(0);
    expect(s.counters.collected).toBeGreaterThan(12);
    await page.screenshot({ path: artifact(`${layout}-stepped.png`), fullPage: true });

    // Time travel: back to point 7, byte for byte; a history line takes it to point 3; the end again.
    const end = s.counters.ops;
    await page.fill('#scrub', '7');
    let p = await pageState(page);
    expect(p.position).toBe(7);
    expect(p.bytes).toEqual(bytesAt[7]);
    expect(await page.textContent('#scrub-out')).toBe(`7 / ${end}`);
    await page.click('#log li[data-op="3"]');
    expect((await pageState(page)).bytes).toEqual(bytesAt[3]);
    await page.fill('#scrub', String(end));
    p = await pageState(page);
    expectPageMatches(p, s, 'back at the end');

    // Play at full speed for a while, then pause: the page's own cycle, recorded like any step.
    await page.fill('#speed', '60');
    await page.click('#play');
    await page.waitForFunction((n) => (globalThis as unknown as { viz: { timeline: { length: number } } }).viz.timeline.length >= n, end + 40, { timeout: 10_000 });
    await page.click('#play');
    p = await pageState(page);
    expect(p.length).toBeGreaterThanOrEqual(end + 40);
    expect(Number(p.k['counters.collected'])).toBeGreaterThan(s.counters.collected);
    expect(Number(p.k['counters.errors'])).toBe(0);

    // A corrupt descriptor: the device meets it on its next pop; the error is shown on that descriptor with its section.
    // Play stopped anywhere in its cycle: finish it (the device returns all, the driver collects) so there is room.
    for (const op of [{ op: 'pop', n: 8 }, { op: 'push', n: 8 }, { op: 'collect' }, { op: 'add', n: 2 }, { op: 'corrupt', what: 'link' }, { op: 'pop', n: 8 }] as StepOp[]) {
      await step(page, op);
      expect(await page.textContent('#message'), `${op.op} after play`).not.toContain('refused');
    }
    const [name, section] = layout === 'split' ? ['NEXT_OUT_OF_RANGE', '2.7.5'] : ['PACKED_ID_OUT_OF_RANGE', '2.8.13'];
    await page.waitForSelector('#fault');
    expect(await page.getAttribute('#fault', 'data-name')).toBe(name);
    expect(await page.getAttribute('#fault', 'data-section')).toBe(section);
    expect(await page.textContent('#fault')).toContain(`§${section}`);
    const fault = await page.evaluate(() => (globalThis as unknown as { viz: { timeline: { session: { lastFault: { index: number } } } } }).viz.timeline.session.lastFault);
    expect(await page.getAttribute('tr.fault', 'data-index')).toBe(String(fault.index));
    expect(await page.textContent('tr.fault .badge')).toBe(`${name} §${section}`);
    expect(await page.getAttribute(`#log li[data-op="${(await pageState(page)).length}"]`, 'class')).toContain('err');
    await page.screenshot({ path: artifact(`${layout}-corrupt.png`), fullPage: true });

    // Export: the download is a trace that `virtqueue sim --replay` reproduces identically.
    const final = await pageState(page);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    const file = artifact(`${layout}-trace.json`);
    await download.saveAs(file);
    const { stdout } = await run(process.execPath, [CLI, 'sim', '--replay', file, '--json'], { timeout: 30_000 });
    const report = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(report).toMatchObject({ identical: true, ops: final.length, matched: final.length, digest: final.digest, layout });
    expect(report.errors).toContain(name);
    // A trace with one operation changed is caught there.
    const trace = JSON.parse(readFileSync(file, 'utf8'));
    const at = trace.ops.findIndex((o: StepOp) => o.op === 'collect');
    trace.ops.splice(at, 1, { op: 'notify' });
    const tampered = artifact(`${layout}-tampered.json`);
    writeFileSync(tampered, JSON.stringify(trace));
    const bad = await run(process.execPath, [CLI, 'sim', '--replay', tampered], { timeout: 30_000 }).then(() => undefined, (e: { code: number; stdout: string }) => e);
    expect(bad?.code).toBe(1);
    expect(bad?.stdout).toContain(`DIFFERS at operation ${at + 1} (notify)`);

    // Import it back into a fresh page: the same history, at its end, the same bytes.
    const again = await openPage();
    await again.setInputFiles('#import', file);
    await again.waitForFunction((n) => (globalThis as unknown as { viz: { timeline: { length: number } } }).viz.timeline.length === n, final.length);
    const imported = await pageState(again);
    expect(imported.digest).toBe(final.digest);
    expect(imported.bytes).toEqual(final.bytes);
    expect(await again.textContent('#message')).toContain('replayed identically');
    expect(await again.inputValue('#layout')).toBe(layout);
    await again.close();
    await page.close();
  });

  it.each([
    ['split', ['INDIRECT_DESC', 'EVENT_IDX', 'IN_ORDER'], 3],
    ['packed', ['INDIRECT_DESC', 'IN_ORDER'], 3],
  ] as const)('%s with %j, %i descriptors a chain: every step shown as the engine has it', async (layout, features, segments) => {
    const page = await openPage();
    const config: StepConfig = { layout, queueSize: 8, features: stepFeatureNames(layout, [...features]), segments };
    await newQueue(page, config);
    const s = new StepSession(engine, config);
    for (const [i, op] of SCRIPT.entries()) {
      try { s.apply(op); } catch (e) { if (!(e instanceof StepRefused)) throw e; }
      await step(page, op);
      expectPageMatches(await pageState(page), s, `step ${i + 1} (${op.op})`);
    }
    // Under IN_ORDER the engine refuses each reversed push (a device must use buffers in order,
    // 2.7.9 / 2.8.8) without breaking the queue; otherwise the script's faults keep it healthy.
    expect(s.counters.errors).toBe(features.includes('IN_ORDER') ? SCRIPT.filter((op) => op.op === 'reorder').length : 0);
    expect([s.driver.broken, s.device.broken]).toEqual([false, false]);
    expect(s.counters.collected).toBeGreaterThan(12);
    // Each chain takes one ring descriptor, through its indirect table.
    expect(await page.$$eval('#chains li', (lis) => lis.every((li) => li.textContent!.includes('indirect')))).toBe(true);
    await page.screenshot({ path: artifact(`${layout}-indirect-in-order.png`), fullPage: true });
    await page.close();
  });

  it('refuses a trace that is not one, naming what is wrong', async () => {
    const page = await openPage();
    const file = artifact('not-a-trace.json');
    writeFileSync(file, JSON.stringify({ format: 'virtqueue-trace', version: 1, config: { layout: 'split', queueSize: 6, features: ['VERSION_1'], segments: 1 }, ops: [], results: [] }));
    await page.setInputFiles('#import', file);
    await page.waitForFunction(() => document.getElementById('message')!.textContent!.includes('Queue Size'));
    expect(await page.getAttribute('#message', 'class')).toBe('refused');
    await page.close();
  });
});
