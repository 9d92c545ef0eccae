// A vhost-user back-end under test and a guest for it: the back-end's shared memory, engine and
// server at a fresh socket path (with its log and listener events recorded); and a guest memory
// (a memfd, also mapped into the test's own memory so a SplitDriver there can run the driver
// side), announced with gpa = the test's Wasm offset, so the driver's addresses are guest addresses.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSharedMemory, MemoryPlan, SUPPORTED, type Engine } from '../../src/index.js';
import { loadEngine } from '../../src/node.js';
import { memfdCreate, close, mapIntoMemory, unmapFromMemory } from '../../src/native/index.js';
import type { MemRegion } from '../../src/vhost-user/message.js';
import type { ReadyRing } from '../../src/vhost-user/backend.js';
import { VhostUserServer, type VhostUserServerOptions } from '../../src/vhost-user/server.js';

export const MiB = 1 << 20;

/** The back-end's memory: private state below 16 MiB, guest memory window [16, 48) MiB. */
let backendMemory: WebAssembly.Memory | undefined;
let backendEngine: Engine | undefined;
export function backend(): { memory: WebAssembly.Memory; engine: Engine } {
  backendMemory ??= createSharedMemory(48 * MiB);
  backendEngine ??= loadEngine(backendMemory);
  return { memory: backendMemory, engine: backendEngine };
}
export const WINDOW = { offset: 16 * MiB, size: 32 * MiB };

let dir = '';
let n = 0;
export function socketDir(): string {
  dir ||= mkdtempSync(join(tmpdir(), 'vq-vhost-'));
  return dir;
}
export function removeSocketDir(): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
}

export interface RecordedEvent {
  kind: 'ready' | 'stopped' | 'kick';
  index: number;
}

export interface Rig {
  path: string;
  server: VhostUserServer;
  memory: WebAssembly.Memory;
  engine: Engine;
  log: string[];
  events: RecordedEvent[];
  ready: Map<number, ReadyRing>;
  close(): void;
}

/** A server at a fresh path. Each rig's device state reuses the same plan range (one rig at a time). */
export function rig(opts: Partial<VhostUserServerOptions> = {}): Rig {
  const { memory, engine } = backend();
  const path = join(socketDir(), `vu${n++}.sock`);
  const log: string[] = [];
  const events: RecordedEvent[] = [];
  const ready = new Map<number, ReadyRing>();
  const server = VhostUserServer.listen(path, {
    engine, plan: new MemoryPlan(memory, { start: 64 * 1024, end: 8 * MiB }), window: WINDOW,
    features: SUPPORTED, log: (l) => log.push(l),
    listener: {
      ringReady: (index, ring) => { events.push({ kind: 'ready', index }); ready.set(index, ring); },
      ringStopped: (index) => { events.push({ kind: 'stopped', index }); ready.delete(index); },
      kick: (index) => events.push({ kind: 'kick', index }),
    },
    ...opts,
  });
  return { path, server, memory, engine, log, events, ready, close: () => server.close() };
}

/** Guest memory: a memfd of `size` bytes mapped at `gpa` of the test's own memory. */
export interface Guest {
  fd: number;
  memory: WebAssembly.Memory;
  engine: Engine;
  gpa: number;
  size: number;
  /** Plan over guest memory (ring areas, buffers). */
  plan: MemoryPlan;
  /** Plan over the test's private memory (driver state, burst arrays). */
  privatePlan: MemoryPlan;
  /** The one region announced: user addresses start at UADDR. */
  region: MemRegion;
  uaddr(offset: number): bigint;
  close(): void;
}

export const UADDR = 0x7f00_0000_0000n;

export function guest(size = 4 * MiB): Guest {
  const memory = createSharedMemory(16 * MiB);
  const engine = loadEngine(memory);
  const gpa = 8 * MiB;
  const fd = memfdCreate('guest-ram', size);
  mapIntoMemory(memory, gpa, fd, 0, size);
  return {
    fd, memory, engine, gpa, size,
    plan: new MemoryPlan(memory, { start: gpa, end: gpa + size }),
    privatePlan: new MemoryPlan(memory, { start: 64 * 1024, end: gpa }),
    region: { gpa: BigInt(gpa), size: BigInt(size), uaddr: UADDR, mmapOffset: 0n },
    uaddr: (offset) => UADDR + BigInt(offset - gpa),
    close: () => {
      unmapFromMemory(memory, gpa, size);
      close(fd);
    },
  };
}
