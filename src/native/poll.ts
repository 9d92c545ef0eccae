// Readiness of a raw fd from the event loop (libuv poll): what eventfd watchers and Unix sockets
// are built on. One watcher per fd; close the watcher before closing the fd.
import { native, type NativePoll, type PollCallback } from './binding.js';

export type { PollCallback } from './binding.js';

export const POLL = {
  READABLE: native.POLL_READABLE,
  WRITABLE: native.POLL_WRITABLE,
  /** The peer shut down its side (EPOLLRDHUP); data may still be left to read. */
  DISCONNECT: native.POLL_DISCONNECT,
} as const;

/** A watcher on `fd` (which it makes non-blocking). Call start() to begin. */
export function watchFd(fd: number, callback: PollCallback): NativePoll {
  return new native.Poll(fd, callback);
}

export type FdWatcher = NativePoll;
