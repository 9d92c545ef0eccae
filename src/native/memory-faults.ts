// Faults of mapped files that shrank under their mapping. The native SIGBUS guard
// (native/fault-guard.c) turns each into zero pages over the whole mapping (the access that
// faulted reads zeros, on whatever thread it was) and a record; here the records are read, and
// heard of from this thread's event loop through an eventfd the guard writes to.
import { native, type NativeMemoryFault } from './binding.js';
import { eventfdRead } from './eventfd.js';
import { memoryBaseAddress, type SharedMemoryLike } from './mapping.js';
import { watchFd, POLL, type FdWatcher } from './poll.js';

export type MemoryFault = NativeMemoryFault;

/** Faults caught so far in this process (every thread's). */
export function memoryFaultCount(): number {
  return native.memoryFaultCount();
}

/**
 * The faults numbered after `after` (seq), oldest first. The guard remembers the last 64: older
 * ones are left out (a gap in seq says how many).
 */
export function memoryFaults(after = 0): MemoryFault[] {
  return native.memoryFaults(after);
}

/** Whether the SIGBUS guard is installed (it is from the first mapIntoMemory on). */
export function sigbusGuardInstalled(): boolean {
  return native.sigbusGuardInstalled();
}

type Listener = (fault: MemoryFault) => void;
interface Subscription {
  /** Faults up to this seq happened before it subscribed. */
  after: number;
  listener: Listener;
}
interface Watch {
  fd: number;
  watcher: FdWatcher;
  /** Last seq handed to the listeners. */
  seen: number;
  subscriptions: Set<Subscription>;
}

/** This thread's eventfd watch, while anyone listens. */
let watch: Watch | undefined;

function dispatch(w: Watch): void {
  while (eventfdRead(w.fd) !== null);
  for (const fault of native.memoryFaults(w.seen)) {
    w.seen = fault.seq;
    for (const s of [...w.subscriptions]) if (fault.seq > s.after && w.subscriptions.has(s)) s.listener(fault);
  }
}

function startWatch(): Watch {
  const fd = native.memoryFaultWatch();
  let watcher: FdWatcher;
  try {
    watcher = watchFd(fd, (error) => {
      if (error !== null) throw new Error(`memory fault eventfd ${fd}: ${error}`);
      if (watch?.fd === fd) dispatch(watch);
    });
  } catch (e) {
    native.memoryFaultUnwatch(fd);
    throw e;
  }
  watcher.start(POLL.READABLE);
  watcher.unref(); // listening for faults never keeps the process running
  return { fd, watcher, seen: native.memoryFaultCount(), subscriptions: new Set() };
}

function stopWatch(w: Watch): void {
  if (watch === w) watch = undefined;
  w.watcher.close();
  native.memoryFaultUnwatch(w.fd);
}

/**
 * Calls `listener` from this thread's event loop for every fault caught from now on (whichever
 * thread faulted). Returns the function that stops it. While anyone listens the thread holds one
 * eventfd, closed when the last listener stops.
 */
export function onMemoryFault(listener: Listener): () => void {
  const w = watch ?? (watch = startWatch());
  const s: Subscription = { after: native.memoryFaultCount(), listener };
  w.subscriptions.add(s);
  return () => {
    if (w.subscriptions.delete(s) && w.subscriptions.size === 0) stopWatch(w);
  };
}

/**
 * The next fault caught (in `memory`'s mappings, when given); rejects after `timeoutMs` (default:
 * never).
 */
export function nextMemoryFault(opts: { memory?: SharedMemoryLike; timeoutMs?: number } = {}): Promise<MemoryFault> {
  const base = opts.memory === undefined ? undefined : memoryBaseAddress(opts.memory);
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const stop = onMemoryFault((f) => {
      if (base !== undefined && f.base !== base) return;
      if (timer) clearTimeout(timer);
      stop();
      resolve(f);
    });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        stop();
        reject(new Error(`no memory fault within ${opts.timeoutMs} ms`));
      }, opts.timeoutMs);
    }
  });
}
