// Fd leak check for the native bridge tests: the open fds of this process (/proc/self/fd) are
// listed before each test and must be the same number after it; a difference names the fds.
import { readdirSync, readlinkSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { afterEach, beforeEach, expect } from 'vitest';

/** Open fds of this process and what each refers to. */
export function openFds(): Map<number, string> {
  const fds = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the directory's own fd, closed by now
    }
    fds.set(Number(name), target);
  }
  return fds;
}

/** Installs hooks on the current file: every test ends with as many open fds as it started with. */
export function checkFdLeaks(): void {
  // /proc/self/fd is the whole process's: counting it only works when no other test file runs in
  // the same process, as with vitest's default `forks` pool (each file in its own child process).
  if (!isMainThread) throw new Error('fd leak checks need a process per test file (vitest pool "forks")');
  let before = new Map<number, string>();
  beforeEach(() => {
    before = openFds();
  });
  afterEach(() => {
    const after = openFds();
    const describe = (from: Map<number, string>, not: Map<number, string>): string[] =>
      [...from].filter(([fd, t]) => not.get(fd) !== t).map(([fd, t]) => `${fd} -> ${t}`);
    expect({ open: after.size, opened: describe(after, before), closed: describe(before, after) })
      .toEqual({ open: before.size, opened: [], closed: [] });
  });
}
