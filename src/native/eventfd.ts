// eventfd: vhost-user's kick and call notifications. Plain functions over the fd, and EventFd,
// which owns one and can call back from the event loop when it is signalled.
import { native } from './binding.js';
import { watchFd, POLL, type FdWatcher } from './poll.js';

export const EFD_NONBLOCK: number = native.EFD_NONBLOCK;
export const EFD_CLOEXEC: number = native.EFD_CLOEXEC;
export const EFD_SEMAPHORE: number = native.EFD_SEMAPHORE;

/** A new eventfd (by default non-blocking and close-on-exec). */
export function eventfdCreate(initial = 0, flags = EFD_NONBLOCK | EFD_CLOEXEC): number {
  return native.eventfdCreate(initial, flags);
}

/** Adds `value` (1 to 2^64 - 2) to the counter. False if it would overflow (non-blocking fd). */
export function eventfdWrite(fd: number, value: number | bigint = 1): boolean {
  return native.eventfdWrite(fd, value);
}

/** Takes the counter (or 1 of it, with EFD_SEMAPHORE); null when it is zero (non-blocking fd). */
export function eventfdRead(fd: number): bigint | null {
  return native.eventfdRead(fd);
}

/** One eventfd, owned: close() closes it. */
export class EventFd {
  private watcher: FdWatcher | null = null;
  private closed = false;

  /** Adopts `fd` (e.g. one received from a peer). */
  constructor(readonly fd: number) {}

  static create(initial = 0, opts: { semaphore?: boolean } = {}): EventFd {
    return new EventFd(eventfdCreate(initial, EFD_NONBLOCK | EFD_CLOEXEC | (opts.semaphore ? EFD_SEMAPHORE : 0)));
  }

  signal(value: number | bigint = 1): boolean {
    return eventfdWrite(this.fd, value);
  }

  take(): bigint | null {
    return eventfdRead(this.fd);
  }

  /**
   * Calls `onSignal` with the count taken each time the eventfd is signalled (from the event
   * loop; the main thread never blocks). With EFD_SEMAPHORE it is called once per unit. While
   * watched, the eventfd keeps the process running unless unref() is called. A failure (the
   * poll reports an error, reading fails) stops the watch and goes to `onError` when given
   * (else it is thrown from the event loop).
   */
  watch(onSignal: (count: bigint) => void, onError?: (e: Error) => void): void {
    if (this.closed) throw new Error(`eventfd ${this.fd} is closed`);
    this.unwatch();
    const fail = (e: Error): void => {
      if (this.watcher === w) this.unwatch();
      if (onError) onError(e); else throw e;
    };
    const w = watchFd(this.fd, (error) => {
      if (error !== null) return fail(new Error(`eventfd ${this.fd}: ${error}`));
      // Level-triggered: at most a bounded number per wakeup; the loop comes back for the rest.
      for (let i = 0; i < 1024 && this.watcher === w; i++) {
        let count: bigint | null;
        try {
          count = this.take();
        } catch (e) {
          return fail(e as Error);
        }
        if (count === null) break;
        onSignal(count);
      }
    });
    this.watcher = w;
    w.start(POLL.READABLE);
  }

  unwatch(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  unref(): void {
    this.watcher?.unref();
  }

  close(): void {
    if (this.closed) return;
    this.unwatch();
    this.closed = true;
    native.close(this.fd);
  }
}
