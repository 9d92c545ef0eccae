// eventfd: counter semantics, non-blocking reads, and watchers that call back from the event
// loop, including when another thread signals, while the main thread keeps running.
import { describe, expect, it } from 'vitest';
import {
  eventfdCreate, eventfdWrite, eventfdRead, EventFd, EFD_NONBLOCK, EFD_CLOEXEC, EFD_SEMAPHORE, close, watchFd, POLL,
  memfdCreate,
} from '../src/native/index.js';
import { checkFdLeaks, openFds } from './helpers/fd-leaks.js';
import { NativePeer } from './helpers/native-peer.js';
import { within, until, sleep } from './helpers/within.js';

checkFdLeaks();


describe('eventfd', () => {
  it('adds writes into the counter; a read takes it all; an empty non-blocking read is null', () => {
    const fd = eventfdCreate(3);
    try {
      expect(eventfdRead(fd)).toBe(3n);
      expect(eventfdRead(fd)).toBeNull();
      expect(eventfdWrite(fd, 1)).toBe(true);
      expect(eventfdWrite(fd, 41n)).toBe(true);
      expect(eventfdRead(fd)).toBe(42n);
      expect(eventfdWrite(fd, 2n ** 60n + 7n)).toBe(true); // beyond a double's 53 bits: exact
      expect(eventfdRead(fd)).toBe(2n ** 60n + 7n);
    } finally {
      close(fd);
    }
  });

  it('with EFD_SEMAPHORE a read takes one; an overflowing write is refused (false), not blocked on', () => {
    const fd = eventfdCreate(2, EFD_NONBLOCK | EFD_CLOEXEC | EFD_SEMAPHORE);
    try {
      expect([eventfdRead(fd), eventfdRead(fd), eventfdRead(fd)]).toEqual([1n, 1n, null]);
      expect(eventfdWrite(fd, 2n ** 64n - 2n)).toBe(true); // the largest counter
      expect(eventfdWrite(fd, 1)).toBe(false); // EAGAIN
    } finally {
      close(fd);
    }
  });

  it('bad arguments and bad fds are clear errors', () => {
    const fd = eventfdCreate();
    try {
      expect(() => eventfdWrite(fd, 0)).toThrow(/^eventfdWrite: value must be in \[1, 2\^64 - 2\]$/);
      expect(() => eventfdWrite(fd, 2n ** 64n - 1n)).toThrow(/value must be in \[1, 2\^64 - 2\]/);
      expect(() => eventfdWrite(fd, 2n ** 64n)).toThrow(/value must be a bigint in \[0, 2\^64 - 1\]/);
      expect(() => eventfdWrite(fd, -1n)).toThrow(/value must be a bigint in \[0, 2\^64 - 1\]/);
      expect(() => eventfdCreate(0, 0x40000000)).toThrow(/^eventfdCreate: unknown flags 0x40000000$/);
      expect(() => eventfdRead(1_000_000)).toThrow(/^eventfdRead fd 1000000: EBADF/);
      expect(() => eventfdWrite(1_000_000, 1)).toThrow(/^eventfdWrite fd 1000000: EBADF/);
    } finally {
      close(fd);
    }
  });

  it('a watcher calls back from the event loop with the count, and stops calling once unwatched', async () => {
    const e = EventFd.create();
    try {
      const counts: bigint[] = [];
      const first = within<bigint>(5_000, 'first signal', (done) => e.watch((n) => { counts.push(n); done(n); }));
      e.signal(5);
      expect(counts).toEqual([]); // not synchronously: from the loop
      expect(await first).toBe(5n);
      e.signal(2);
      e.signal(3);
      await until(() => counts.length > 1, 'second signal');
      expect(counts).toEqual([5n, 5n]); // both writes before the loop ran: one wakeup, summed
      e.unwatch();
      e.signal(7);
      await sleep(30);
      expect(counts).toEqual([5n, 5n]);
      expect(e.take()).toBe(7n); // still there for whoever reads it
    } finally {
      e.close();
    }
  });

  it('a semaphore eventfd calls back once per unit', async () => {
    const e = EventFd.create(0, { semaphore: true });
    try {
      const counts: bigint[] = [];
      const done = within<void>(5_000, 'three units', (ok) => e.watch((n) => { counts.push(n); if (counts.length === 3) ok(); }));
      e.signal(3);
      await done;
      expect(counts).toEqual([1n, 1n, 1n]);
    } finally {
      e.close();
    }
  });

  it('another thread signals; the main thread keeps running timers while it waits', async () => {
    const peer = await NativePeer.start();
    const e = EventFd.create();
    let ticks = 0;
    const ticker = setInterval(() => { ticks++; }, 2);
    try {
      const signalled = within<bigint>(5_000, 'signal from the worker', (done) => e.watch(done));
      const sent = peer.call('signal', { fd: e.fd, value: 9, delayMs: 60 });
      expect(await signalled).toBe(9n);
      expect(await sent).toEqual({ ok: true, value: true });
      expect(ticks).toBeGreaterThan(3); // the loop ran timers during the wait: nothing blocked it
    } finally {
      clearInterval(ticker);
      e.close();
      expect(await peer.exit()).toBe(0);
    }
  });
});

describe('fd watchers', () => {
  it('one watcher per fd; close() refuses a watched fd until its watcher is closed', () => {
    const fd = eventfdCreate();
    const w = watchFd(fd, () => {});
    try {
      expect(() => watchFd(fd, () => {})).toThrow(/^Poll: fd \d+ already has a watcher$/);
      expect(() => close(fd)).toThrow(/^close: fd \d+ is still watched; close its watcher first$/);
    } finally {
      w.close();
    }
    expect(() => w.start(POLL.READABLE)).toThrow(/the watcher is closed/);
    close(fd);
  });

  it('refuses what epoll cannot watch, and bad arguments', () => {
    const m = memfdCreate('regular file', 4096);
    try {
      expect(() => watchFd(m, () => {})).toThrow(/^poll fd \d+: EPERM/); // a regular file
      expect(() => watchFd(1_000_000, () => {})).toThrow(/^poll fd 1000000: EBADF/);
      expect(() => watchFd(m, 'x' as unknown as () => void)).toThrow(/callback must be a function, got a string/);
      const e = eventfdCreate();
      const w = watchFd(e, () => {});
      expect(() => w.start(0)).toThrow(/events 0 is out of range/);
      expect(() => w.start(8)).toThrow(/events 8 is out of range/);
      w.close();
      close(e);
    } finally {
      close(m);
    }
  });

  it('the fd leak check sees an fd left open (it could fail)', () => {
    const before = openFds();
    const fd = eventfdCreate();
    const during = openFds();
    close(fd);
    expect(during.size).toBe(before.size + 1);
    expect(during.get(fd)).toBe('anon_inode:[eventfd]');
    expect(openFds().size).toBe(before.size);
  });
});
