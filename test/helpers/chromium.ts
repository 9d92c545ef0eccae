// Headless Chromium for the visualizer's end-to-end tests: Debian's /usr/bin/chromium driven by
// playwright-core, which never downloads a browser of its own. Without chromium the tests skip,
// unless VIRTQUEUE_REQUIRE_PEERS=1 (CI), when requireChromium() makes them fail.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { peersRequired } from './testpmd.js';

export const CHROMIUM = process.env.VIRTQUEUE_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/** Where the tests leave screenshots and exported traces (gitignored). */
export const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../test-artifacts/viz');

const MISSING = `${CHROMIUM} not found (Debian: apt-get install chromium; or set VIRTQUEUE_CHROMIUM to its path)`;

/** For describe.skipIf: true only when chromium is missing AND peers are not required. */
export const skipWithoutChromium = (): boolean => !peersRequired() && !existsSync(CHROMIUM);

export function requireChromium(): string {
  if (!existsSync(CHROMIUM)) throw new Error(peersRequired() ? `${MISSING}; VIRTQUEUE_REQUIRE_PEERS=1 forbids skipping` : MISSING);
  return CHROMIUM;
}

/**
 * A headless Chromium (close it in afterAll). Launch it from inside a test, not in beforeAll: a
 * failing beforeAll leaves its tests reported as skipped, and a missing chromium must fail them
 * (sharedChromium does that).
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: requireChromium(), args: CHROMIUM_ARGS, timeout: 30_000 });
}

/**
 * One browser for a test file, launched by the first test that opens a page (so a missing
 * chromium fails that test and each one after it); close() it in afterAll.
 */
export function sharedChromium(): { newPage(options?: BrowserContextOptions): Promise<Page>; close(): Promise<void> } {
  let browser: Promise<Browser> | undefined;
  return {
    async newPage(options) {
      browser ??= launchChromium();
      return (await browser).newPage(options);
    },
    async close() {
      await (await browser?.catch(() => undefined))?.close();
    },
  };
}

/** ARTIFACTS/name, the folder made. */
export function artifact(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return resolve(ARTIFACTS, name);
}
