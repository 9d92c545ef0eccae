// Fds Node cannot make itself: memfds (shared memory a peer can map), and closing any fd the
// bridge hands out.
import { native } from './binding.js';

/**
 * An anonymous shared-memory file of `size` bytes (memfd_create, close-on-exec), sealed against
 * shrinking so nothing mapped from it can lose its pages. Read and write it with fs.readSync /
 * fs.writeSync, map it with mapIntoMemory, pass it to a peer with UnixSocket.send.
 */
export function memfdCreate(name: string, size: number): number {
  return native.memfdCreate(name, size);
}

/** Closes an fd. Refused (EBUSY) while a watcher still watches it: close the watcher first. */
export function close(fd: number): void {
  native.close(fd);
}
