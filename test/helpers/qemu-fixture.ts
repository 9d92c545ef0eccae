// The setup every QEMU guest test file shares: a temp dir for its sockets and files, and the
// guest's kernel and base initramfs built once before the first test (the kernel download, vqpkt
// and the cpio are not counted in any test's time). A missing tool or a kernel that cannot be
// fetched fails every test through ready(), not the hook, which would leave them counted as skipped.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { buildBaseInitramfs, ensureKernel, requireQemu } from './qemu.js';

export interface QemuFixture {
  /** A path in the file's temp dir. */
  at(name: string): string;
  /** Throws the setup's error, if it had one. Call it first in each test. */
  ready(): void;
}

/** Registers the hooks in the calling describe block; `prefix` names the temp dir. */
export function qemuFixture(prefix: string): QemuFixture {
  let dir = '';
  let setupError: Error | undefined;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    try {
      buildBaseInitramfs(requireQemu(), ensureKernel());
    } catch (e) {
      setupError = e as Error;
    }
  }, 180_000);
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });
  return {
    at: (name) => path.join(dir, name),
    ready: () => { if (setupError) throw setupError; },
  };
}
