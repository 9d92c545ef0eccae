// A vhost-user back-end under test and a guest for it: the back-end's shared memory, engine and
// server at a fresh socket path, with a recording device model (RecordingDevice: its events and
// the vrings it was handed, the MTU and RARPs it was sent; it runs nothing itself, so a test
// drives the handed DeviceQueues); and a guest memory
// (a memfd, also mapped into the test's own memory so a SplitDriver there can run the driver
// side), announced with gpa = the test's Wasm offset, so the driver's addresses are guest addresses.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSharedMemory, MemoryPlan, SUPPORTED, type Engine, type FeatureSet } from '../../src/index.js';
import { loadEngine } from '../../src/node.js';
import { memfdCreate, close, mapIntoMemory, unmapFromMemory } from '../../src/native/index.js';
import type { MemRegion } from '../../src/vhost-user/message.js';
import * as P from '../../src/vhost-user/protocol.js';
import type { StartedVring, VhostUserDevice } from '../../src/vhost-user/device-model.js';
import { readNetConfig, NET_S_LINK_UP } from '../../src/vhost-user/net/config.js';
import { VhostUserServer, type VhostUserServerOptions } from '../../src/vhost-user/server.js';

export const MiB = 1 << 20;

/**
 * The back-end's memory: private state below 16 MiB, guest memory window [16, 48) MiB, inflight
 * regions' window [48, 56) MiB (used by rigs given `inflight: { window: INFLIGHT_WINDOW }`), the
 * dirty log's window [56, 60) MiB (rigs given `dirtyLog: { window: LOG_WINDOW }`).
 */
let backendMemory: WebAssembly.Memory | undefined;
let backendEngine: Engine | undefined;
export function backend(): { memory: WebAssembly.Memory; engine: Engine } {
  backendMemory ??= createSharedMemory(60 * MiB);
  backendEngine ??= loadEngine(backendMemory);
  return { memory: backendMemory, engine: backendEngine };
}
export const WINDOW = { offset: 16 * MiB, size: 32 * MiB };
export const INFLIGHT_WINDOW = { offset: 48 * MiB, size: 8 * MiB };
export const LOG_WINDOW = { offset: 56 * MiB, size: 4 * MiB };

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

const PF = P.ProtocolFeature;

/** A device model that records what the back-end hands it and runs nothing (virtio-net's config space). */
export class RecordingDevice implements VhostUserDevice {
  readonly protocolFeatures = [PF.CONFIG, PF.NET_MTU, PF.RARP].reduce((s, b) => s | (1n << BigInt(b)), 0n);
  readonly vrings: number;
  readonly events: RecordedEvent[] = [];
  readonly ready = new Map<number, StartedVring>();
  mtu: number;
  rarpMac: Uint8Array | undefined;

  constructor(readonly features: FeatureSet, pairs: number, readonly mac: readonly number[], mtu: number) {
    this.vrings = 2 * pairs;
    this.mtu = mtu;
  }

  readConfig(offset: number, size: number): Uint8Array | undefined {
    return readNetConfig({ mac: this.mac, status: NET_S_LINK_UP, maxVirtqueuePairs: this.vrings / 2, mtu: this.mtu }, offset, size);
  }

  vringStarted(v: StartedVring): void {
    this.events.push({ kind: 'ready', index: v.index });
    this.ready.set(v.index, v);
  }

  vringStopped(index: number): void {
    this.events.push({ kind: 'stopped', index });
    this.ready.delete(index);
  }

  callChanged(index: number, fd: number | undefined): void {
    const v = this.ready.get(index);
    if (v) v.callFd = fd;
  }

  kicked(index: number): void {
    this.events.push({ kind: 'kick', index });
  }

  setMtu(mtu: number): void {
    this.mtu = mtu;
  }

  announce(mac: Uint8Array): void {
    this.rarpMac = mac;
  }
}

export interface Rig {
  path: string;
  server: VhostUserServer;
  memory: WebAssembly.Memory;
  engine: Engine;
  log: string[];
  device: RecordingDevice;
  events: RecordedEvent[];
  ready: Map<number, StartedVring>;
  close(): void;
}

export interface RigOptions extends Partial<VhostUserServerOptions> {
  features?: FeatureSet;
  maxQueuePairs?: number;
  mac?: readonly number[];
  mtu?: number;
}

/**
 * A server at a fresh path, with a RecordingDevice unless `device` is given. Each rig's device
 * state reuses the same plan range (one rig at a time).
 */
export function rig(opts: RigOptions = {}): Rig {
  const { memory, engine } = backend();
  const path = join(socketDir(), `vu${n++}.sock`);
  const log: string[] = [];
  const recording = new RecordingDevice(opts.features ?? SUPPORTED, opts.maxQueuePairs ?? 1, opts.mac ?? [0x52, 0x54, 0, 0x12, 0x34, 0x56], opts.mtu ?? 1500);
  const server = VhostUserServer.listen(path, {
    engine, plan: new MemoryPlan(memory, { start: 64 * 1024, end: 12 * MiB }), window: WINDOW,
    log: (l) => log.push(l), device: opts.device ?? recording, requireSealedMemory: opts.requireSealedMemory,
    // Tests send messages by the thousand in one session: no rate limit unless a test asks.
    messageTimeoutMs: opts.messageTimeoutMs, messageRate: opts.messageRate ?? 0, inflight: opts.inflight,
    dirtyLog: opts.dirtyLog, iommu: opts.iommu,
  });
  return {
    path, server, memory, engine, log, device: recording, events: recording.events, ready: recording.ready,
    close: () => server.close(),
  };
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

/** `seals`: the memfd's F_SEAL_* bits (default F_SEAL_SHRINK; 0 for a file the test can shrink). */
export function guest(size = 4 * MiB, seals?: number): Guest {
  const memory = createSharedMemory(16 * MiB);
  const engine = loadEngine(memory);
  const gpa = 8 * MiB;
  const fd = memfdCreate('guest-ram', size, seals);
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
