// Loads the native bridge (build/Release/virtqueue_native.node, built by `npm install` or
// `npm run build:native` from native/*.c) and types what it exports. Node-only and Linux-only:
// nothing on the browser-safe path (src/index.ts) imports src/native/.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A libuv poll watcher on one fd (native/poll.c). */
export interface NativePoll {
  /** Watches for `events` (POLL_READABLE | POLL_WRITABLE | POLL_DISCONNECT); replaces the previous set. */
  start(events: number): void;
  stop(): void;
  /** Stops for good and releases the fd (close() refuses an fd that still has a watcher). */
  close(): void;
  /** Whether a started watcher keeps the process running (it does by default). */
  ref(): void;
  unref(): void;
}

/** Called from the event loop: `error` is an errno name (e.g. "EBADF") or null. */
export type PollCallback = (error: string | null, events: number) => void;

export interface NativeMapping {
  /** Address of the memory's backing store. */
  base: number;
  offset: number;
  length: number;
  /** The fd given when mapping (the mapping keeps the file; the fd may since be closed). */
  fd: number;
  fdOffset: number;
  /** Made by this thread (only that thread can unmap it). */
  thisThread: boolean;
}

export interface NativeReceived {
  /** Bytes received; empty when the peer hung up. */
  data: Buffer;
  /** Fds that came with them (close-on-exec; the caller owns them). */
  fds: number[];
  /** Fds that came beyond maxFds: closed by the bridge, never leaked. */
  closedFds: number;
  /** MSG_CTRUNC: the kernel had more control data than fit (and dropped it). */
  truncated: boolean;
}

export interface NativeBinding {
  memfdCreate(name: string, size: number): number;
  close(fd: number): void;
  fdSeals(fd: number): number;
  setNonBlocking(fd: number): void;
  mapIntoMemory(view: Uint8Array, offset: number, fd: number, fdOffset: number, length: number): void;
  unmapFromMemory(view: Uint8Array, offset: number, length: number): void;
  mappings(): NativeMapping[];
  memoryBase(view: Uint8Array): number;
  readonly PAGE_SIZE: number;
  eventfdCreate(initial: number, flags: number): number;
  eventfdWrite(fd: number, value: number | bigint): boolean;
  eventfdRead(fd: number): bigint | null;
  readonly EFD_NONBLOCK: number;
  readonly EFD_CLOEXEC: number;
  readonly EFD_SEMAPHORE: number;
  Poll: new (fd: number, callback: PollCallback) => NativePoll;
  readonly POLL_READABLE: number;
  readonly POLL_WRITABLE: number;
  readonly POLL_DISCONNECT: number;
  unixListen(path: string, backlog: number, mode: number): number;
  unixAccept(fd: number): number | null;
  unixConnect(path: string): number;
  unixSend(fd: number, data: Uint8Array, fds: readonly number[]): number | null;
  unixReceive(fd: number, maxBytes: number, maxFds: number): NativeReceived | null;
}

/** Path of the built addon, from src/native/ (vitest) or dist/src/native/ (compiled). */
export function nativeAddonPath(): string {
  const here = fileURLToPath(import.meta.url);
  const up = here.includes('/dist/') ? '../../../' : '../../';
  return fileURLToPath(new URL(`${up}build/Release/virtqueue_native.node`, import.meta.url));
}

function load(): NativeBinding {
  const path = nativeAddonPath();
  try {
    return createRequire(import.meta.url)(path) as NativeBinding;
  } catch (e) {
    const why = (e as Error).message;
    throw new Error(`cannot load the native bridge at ${path}: run \`npm run build:native\` (${why})`);
  }
}

/** The native bridge, loaded once per thread. */
export const native: NativeBinding = load();
