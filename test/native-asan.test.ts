// Which build of the native bridge a process loads: the release build, or with
// VIRTQUEUE_NATIVE=asan the AddressSanitizer + UBSan build that .ci/sanitize runs the native and
// vhost-user tests on. A process that asks for the sanitizer build without the sanitizer runtime
// preloaded gets a clear error instead of ASan aborting it.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { native, nativeAddonPath, nativeVariant } from '../src/native/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the native bridge build a process loads', () => {
  it('VIRTQUEUE_NATIVE: unset, empty or "release" is the release build, "asan" the sanitizer build, anything else an error', () => {
    expect([undefined, '', 'release', 'asan'].map((v) => nativeVariant(v === undefined ? {} : { VIRTQUEUE_NATIVE: v })))
      .toEqual(['release', 'release', 'release', 'asan']);
    expect(() => nativeVariant({ VIRTQUEUE_NATIVE: 'tsan' }))
      .toThrow('VIRTQUEUE_NATIVE=tsan: unknown build of the native bridge (expected "release" or "asan")');
    expect(nativeAddonPath('release')).toBe(`${root}build/Release/virtqueue_native.node`);
    expect(nativeAddonPath('asan')).toBe(`${root}build/Release/virtqueue_native_asan.node`);
  });

  it('this process loaded the build VIRTQUEUE_NATIVE names (under .ci/sanitize: the instrumented one, after the preloaded runtime)', () => {
    expect(native.PAGE_SIZE).toBeGreaterThan(0);
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const loaded = [...new Set(maps.match(/\/virtqueue_native(_asan)?\.node$/gm))];
    if (process.env.VIRTQUEUE_NATIVE === 'asan') {
      expect(loaded).toEqual(['/virtqueue_native_asan.node']);
      expect(maps).toMatch(/\/libasan\.so/);
    } else {
      expect(loaded).toEqual(['/virtqueue_native.node']);
      expect(maps).not.toMatch(/\/libasan\.so/);
    }
  });

  it('VIRTQUEUE_NATIVE=asan without the sanitizer runtime preloaded: loading fails with what to do, the process is not aborted', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, VIRTQUEUE_NATIVE: 'asan' };
    delete env.LD_PRELOAD;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', [
      "try { await import('./dist/src/native/index.js'); console.log('loaded'); }",
      'catch (e) { console.log(e.message); process.exitCode = 3; }',
    ].join('\n')], { cwd: root, env, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/^VIRTQUEUE_NATIVE=asan: (the AddressSanitizer runtime is not loaded: run with LD_PRELOAD=|the sanitizer build is not at .*: run `npm run build:native:asan`)/);
  });

  it('an unknown VIRTQUEUE_NATIVE: loading fails naming it', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e',
      "try { await import('./dist/src/native/index.js'); } catch (e) { console.log(e.message); process.exitCode = 3; }"],
    { cwd: root, env: { ...process.env, VIRTQUEUE_NATIVE: 'msan' }, encoding: 'utf8', timeout: 30_000 });
    expect({ status: r.status, stdout: r.stdout.trim() })
      .toEqual({ status: 3, stdout: 'VIRTQUEUE_NATIVE=msan: unknown build of the native bridge (expected "release" or "asan")' });
  });
});
