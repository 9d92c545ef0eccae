// Threads come and go: a worker's mappings are undone when it ends (and only it can unmap them
// while it runs), and a worker ended with a watcher still running neither crashes the process
// nor keeps the fd marked as watched.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readSync } from 'node:fs';
import { createSharedMemory } from '../src/index.js';
import {
  memfdCreate, close, mappings, unmapFromMemory, eventfdCreate, eventfdWrite, watchFd, nativeAddonPath,
} from '../src/native/index.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';
import { NativePeer } from './helpers/native-peer.js';
import { until } from './helpers/within.js';

checkFdLeaks();

const MiB = 1 << 20;

describe('the native bridge across threads', () => {
  it("a worker's mapping is seen by every thread, unmappable only by the worker, and undone when it ends", async () => {
    const memory = createSharedMemory(2 * MiB);
    const u8 = new Uint8Array(memory.buffer);
    const fd = memfdCreate('worker-mapped', 64 * 1024);
    const peer = await NativePeer.start();
    try {
      expect(await peer.call('map', { memory, offset: MiB, fd, length: 64 * 1024 })).toEqual({ ok: true });
      expect(mappings(memory)).toEqual([{ offset: MiB, length: 64 * 1024, fd, fdOffset: 0, thisThread: false }]);
      u8[MiB + 1] = 0x99; // this thread stores through the worker's mapping
      expect(() => unmapFromMemory(memory, MiB, 64 * 1024)).toThrow(/^unmapFromMemory: \[1048576, 1114112\) was mapped by another thread$/);
      const theirs = (await peer.call('mappings')).value as { thisThread: boolean }[];
      expect(theirs.map((m) => m.thisThread)).toEqual([true]);
    } finally {
      expect(await peer.exit()).toBe(0);
    }
    expect(mappings(memory)).toEqual([]); // the worker's environment cleanup undid it
    expect(u8[MiB + 1]).toBe(0); // zero pages again
    u8[MiB + 1] = 1; // and usable
    const b = Buffer.alloc(2);
    readSync(fd, b, 0, 2, 0);
    expect(b[1]).toBe(0x99); // the file kept what was stored while mapped
    close(fd);
  });

  it('a worker can unmap its own mapping; a second overlapping map from another thread is refused', async () => {
    const memory = createSharedMemory(2 * MiB);
    const fd = memfdCreate('worker-mapped', 64 * 1024);
    const peer = await NativePeer.start();
    try {
      expect((await peer.call('map', { memory, offset: MiB, fd, length: 64 * 1024 })).ok).toBe(true);
      const again = await peer.call('map', { memory, offset: MiB + 4096, fd, length: 4096 });
      expect(again).toMatchObject({ ok: false, code: 'EEXIST' });
      expect(again.message).toMatch(/overlaps the mapping at offset 1048576/);
      expect(await peer.call('unmap', { memory, offset: MiB, length: 64 * 1024 })).toEqual({ ok: true });
      expect(mappings(memory)).toEqual([]);
    } finally {
      expect(await peer.exit()).toBe(0);
      close(fd);
    }
  });

  it('a worker that exits with a watcher running: no crash, and the fd can be watched and closed here', async () => {
    const fd = eventfdCreate();
    const peer = await NativePeer.start();
    try {
      expect(await peer.call('watch', { fd })).toEqual({ ok: true });
      eventfdWrite(fd, 1);
      await until(() => peer.events.length > 0, "the worker's watcher firing");
      expect(() => close(fd)).toThrow(/still watched/);
    } finally {
      expect(await peer.exit()).toBe(0);
    }
    // The worker's environment cleanup closed its watcher: this thread can watch the fd now.
    const w = watchFd(fd, () => {});
    w.close();
    close(fd);
  });

  it('a worker terminated from outside with a watcher running: the same', async () => {
    const fd = eventfdCreate();
    const peer = await NativePeer.start();
    expect(await peer.call('watch', { fd })).toEqual({ ok: true });
    await peer.worker.terminate();
    expect(await peer.exited).toBe(1);
    expect(() => watchFd(fd, () => {}).close()).not.toThrow();
    close(fd);
  });

  it('a process that ends with live mappings and watchers (ref\'d or not) exits cleanly', () => {
    const script = `
      const native = require(${JSON.stringify(nativeAddonPath())});
      const memory = new WebAssembly.Memory({ initial: 4, maximum: 4, shared: true });
      const fd = native.memfdCreate('left-mapped', 65536);
      native.mapIntoMemory(new Uint8Array(memory.buffer), 65536, fd, 0, 65536);
      const a = native.eventfdCreate(0, native.EFD_NONBLOCK);
      const b = native.eventfdCreate(0, native.EFD_NONBLOCK);
      const pa = new native.Poll(a, () => {}); pa.start(native.POLL_READABLE); pa.unref();
      const pb = new native.Poll(b, () => { console.log('fired'); process.exit(3); }); pb.start(native.POLL_READABLE);
      setTimeout(() => native.eventfdWrite(b, 1), 10);
    `;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect({ status: run.status, signal: run.signal, stdout: run.stdout, stderr: run.stderr })
      .toEqual({ status: 3, signal: null, stdout: 'fired\n', stderr: '' });
  });

  it('garbage collection: a started watcher nobody holds keeps firing; a stopped one is closed when collected', () => {
    const script = `
      const native = require(${JSON.stringify(nativeAddonPath())});
      const a = native.eventfdCreate(0, native.EFD_NONBLOCK);
      const b = native.eventfdCreate(0, native.EFD_NONBLOCK);
      (() => { new native.Poll(a, () => { native.eventfdRead(a); console.log('a fired'); }).start(native.POLL_READABLE); })();
      (() => { new native.Poll(b, () => {}); })(); // never started
      try { new native.Poll(b, () => {}); } catch (e) { console.log(e.code); }
      const collect = (left) => {
        global.gc();
        setImmediate(() => {
          try { new native.Poll(b, () => {}).close(); console.log('b free'); native.eventfdWrite(a, 1); }
          catch (e) { if (left > 0) collect(left - 1); else console.log('b still watched'); }
        });
      };
      collect(20);
      process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message); process.exit(0); });
      const c = native.eventfdCreate(1, native.EFD_NONBLOCK);
      setTimeout(() => new native.Poll(c, () => { throw new Error('thrown in a callback'); }).start(native.POLL_READABLE), 200);
    `;
    const run = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect({ status: run.status, stdout: run.stdout, stderr: run.stderr })
      .toEqual({ status: 0, stdout: 'EBUSY\nb free\na fired\nuncaught: thrown in a callback\n', stderr: '' });
  });
});
