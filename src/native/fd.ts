// Fds Node cannot make itself: memfds (shared memory a peer can map), and closing any fd the
// bridge hands out.
import { readlinkSync, fstatSync } from 'node:fs';
import { native } from './binding.js';

/**
 * An anonymous shared-memory file of `size` bytes (memfd_create, close-on-exec), sealed against
 * shrinking so nothing mapped from it can lose its pages. Read and write it with fs.readSync /
 * fs.writeSync, map it with mapIntoMemory, pass it to a peer with UnixSocket.send. `seals`
 * (F_SEAL_* bits, default F_SEAL_SHRINK) are the seals it gets; 0 leaves it unsealed, a file
 * that can be shrunk under its mappings as a careless or hostile peer's could.
 */
export function memfdCreate(name: string, size: number, seals?: number): number {
  return native.memfdCreate(name, size, seals);
}

/** Closes an fd. Refused (EBUSY) while a watcher still watches it: close the watcher first. */
export function close(fd: number): void {
  native.close(fd);
}

/** F_SEAL_* bits (fcntl(2)). */
export const F_SEAL_SEAL = 1;
export const F_SEAL_SHRINK = 2;
export const F_SEAL_GROW = 4;
export const F_SEAL_WRITE = 8;

/** The seals of a memfd (F_SEAL_* bits); -1 when the file cannot carry seals (not a memfd). */
export function fdSeals(fd: number): number {
  return native.fdSeals(fd);
}

/** Sets O_NONBLOCK on the fd's open file description. */
export function setNonBlocking(fd: number): void {
  native.setNonBlocking(fd);
}

export type FdKind = 'eventfd' | 'memfd' | 'file' | 'socket' | 'pipe' | 'other';

/**
 * What an fd is, from the kernel's own description of it (/proc/self/fd and fstat): an eventfd
 * is the anon inode "[eventfd]", a memfd a file named "/memfd:...". Throws for a closed fd.
 */
export function fdKind(fd: number): FdKind {
  const target = readlinkSync(`/proc/self/fd/${fd}`);
  if (target === 'anon_inode:[eventfd]') return 'eventfd';
  if (target.startsWith('/memfd:')) return 'memfd';
  if (target.startsWith('socket:')) return 'socket';
  if (target.startsWith('pipe:')) return 'pipe';
  const st = fstatSync(fd);
  return st.isFile() ? 'file' : 'other';
}
