// Inflight I/O tracking, control-plane side (vhost-user.rst "Inflight I/O tracking",
// GET_INFLIGHT_FD and SET_INFLIGHT_FD). Each vring the device runs gets an inflight region that
// the engine keeps up to date (assembly/split|packed/inflight.ts); a back-end that restarts
// after a crash finds the regions again and resumes each ring where the device really was:
//   - from the front-end: GET_INFLIGHT_FD gets a sealed memfd of num_queues regions from the
//     back-end (zeroed; the front-end keeps it), SET_INFLIGHT_FD gives one back after a
//     reconnection. Rings started after that track into it.
//   - otherwise (QEMU's virtio-net never sends either) from the back-end's own state file
//     (inflight-state.ts), when one is configured: rings track into their slot of it.
// Either way the regions are mapped into a window of the back-end's Wasm memory set aside for
// them (InflightWindow), and unmapped when the ring stops (state file) or the session ends.
//
// A ring resumes from its region at its first start in a session: from the front-end's region
// when it was formatted before (version 1), from the state file when its record says the device
// was running that very ring (same guest memory file, addresses, size and layout) and was never
// told to stop with the front-end learning its position (GET_VRING_BASE, a device reset). The
// region's committed used position then replaces the base the front-end sent (after a crash
// QEMU resends a stale one for packed rings), and the chains that were in flight are popped again
// first, in the order they were popped, whatever order the others were used in (see the recovery
// exports).
import { fstatSync } from 'node:fs';
import * as I from '../../assembly/layout/inflight.js';
import { memfdCreate, close, mapIntoMemory, unmapFromMemory, PAGE_SIZE } from '../native/index.js';
import { inflightRegionSize, type InflightOptions } from '../virtqueue/inflight.js';
import type { RingLayout } from '../virtqueue/factory.js';
import type { DeviceQueue, RingPosition } from '../virtqueue/queue-side.js';
import { VirtqueueError } from '../errors.js';
import { ProtocolError, type MemRegion, type Message, type VringAddr } from './message.js';
import type { MemoryWindow } from './memory-table.js';
import { MAX_VRING_NUM } from './vring.js';
import { InflightStateFile, sameRing, type RingIdentity } from './inflight-state.js';

// -- The inflight description (GET_INFLIGHT_FD's payload and reply, SET_INFLIGHT_FD's payload) --

/** mmap_size u64, mmap_offset u64, num_queues u16, queue_size u16, 4 bytes of padding (as QEMU and DPDK send it). */
export const INFLIGHT_PAYLOAD_SIZE = 24;

export interface InflightDescription {
  mmapSize: bigint;
  mmapOffset: bigint;
  numQueues: number;
  queueSize: number;
}

export function readInflight(m: Message): InflightDescription {
  if (m.payload.length !== INFLIGHT_PAYLOAD_SIZE) {
    throw new ProtocolError(m.request, `payload of ${m.payload.length} bytes, expected ${INFLIGHT_PAYLOAD_SIZE} (an inflight description)`, true);
  }
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  return { mmapSize: v.getBigUint64(0, true), mmapOffset: v.getBigUint64(8, true), numQueues: v.getUint16(16, true), queueSize: v.getUint16(18, true) };
}

export function inflightPayload(d: InflightDescription): Uint8Array {
  const b = new Uint8Array(INFLIGHT_PAYLOAD_SIZE);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, d.mmapSize, true);
  v.setBigUint64(8, d.mmapOffset, true);
  v.setUint16(16, d.numQueues, true);
  v.setUint16(18, d.queueSize, true);
  return b;
}

// -- Window space ---------------------------------------------------------------------------------

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * Bytes of window that hold the largest region of each of `vrings` vrings (packed, 32768
 * entries), whether they come from the state file or in one buffer from the front-end.
 */
export const inflightWindowBytes = (vrings: number): number => vrings * roundUp(inflightRegionSize('packed', MAX_VRING_NUM), PAGE_SIZE);

/** Files mapped over a page-aligned window of the Wasm memory, each where the first gap fits it. */
export class InflightWindow {
  private readonly maps: { offset: number; size: number }[] = [];

  constructor(readonly memory: WebAssembly.Memory, readonly window: MemoryWindow) {
    const { offset, size } = window;
    if (offset % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || offset <= 0 || size <= 0 || offset + size > memory.buffer.byteLength) {
      throw new RangeError(`inflight window [${offset}, ${offset + size}) must be page-aligned and inside the ${memory.buffer.byteLength}-byte memory`);
    }
  }

  /** Maps `length` bytes (rounded up to pages) of `fd` from `fdOffset`; returns the Wasm offset. */
  map(fd: number, fdOffset: number, length: number): number {
    const size = roundUp(length, PAGE_SIZE);
    const taken = [...this.maps].sort((a, b) => a.offset - b.offset);
    let at = this.window.offset;
    for (const m of taken) {
      if (m.offset - at >= size) break;
      at = m.offset + m.size;
    }
    if (at + size > this.window.offset + this.window.size) {
      const free = this.window.size - this.maps.reduce((s, m) => s + m.size, 0);
      throw new Error(`no room for ${size} bytes in the back-end's ${this.window.size}-byte inflight window (${free} bytes free)`);
    }
    mapIntoMemory(this.memory, at, fd, fdOffset, size);
    this.maps.push({ offset: at, size });
    return at;
  }

  unmap(offset: number): void {
    const i = this.maps.findIndex((m) => m.offset === offset);
    if (i < 0) return;
    const [m] = this.maps.splice(i, 1);
    unmapFromMemory(this.memory, m.offset, m.size);
  }

  clear(): void {
    for (const m of [...this.maps]) this.unmap(m.offset);
  }
}

// -- A session's tracking -------------------------------------------------------------------------

/** Where a back-end keeps inflight regions: the window they are mapped into, and its state file. */
export interface InflightSpace {
  /** Page-aligned range of the Wasm memory set aside for inflight regions (not the guest memory window). */
  window: MemoryWindow;
  /** The back-end's own file, for front-ends that bring no region (undefined: none). */
  state?: InflightStateFile;
}

/** The buffer GET_INFLIGHT_FD made or SET_INFLIGHT_FD gave: num_queues regions of `stride` bytes. */
interface SharedBuffer {
  fd: number;
  offset: number;
  layout: RingLayout;
  numQueues: number;
  queueSize: number;
  stride: number;
}

/** A vring as the tracking needs to know it. */
export interface TrackedRing {
  index: number;
  layout: RingLayout;
  num: number;
  addr: VringAddr;
  /** SET_VRING_BASE's value (vring.ts says how each layout encodes it). */
  base?: number;
}

/**
 * A packed ring's SET_VRING_BASE with no used half (bits 16-31 zero) comes from a front-end that
 * starts its ring afresh: DPDK's virtio-user sends 0x8000 (slot 0, wrap 1) at every start, and
 * when it reconnects to a restarted back-end it first resets its packed rings, dropping what was
 * on them (virtio_user_server_reconnect: "Packets on the fly will be dropped when packed ring
 * reconnecting"). What the state file says the device had in flight is gone from that ring, so
 * the ring is not resumed from it. QEMU sends both halves (its position, or 0x8000_8000).
 */
const frontEndRestartsPacked = (ring: TrackedRing): boolean =>
  ring.layout === 'packed' && ring.base !== undefined && ring.base >>> 16 === 0;

const describe = (layout: RingLayout, p: RingPosition): string => layout === 'split'
  ? `avail ${p.nextAvail}, used ${p.nextUsed}`
  : `avail ${p.nextAvail} (wrap ${p.availWrap}), used ${p.nextUsed} (wrap ${p.usedWrap})`;

export class InflightTracking {
  private readonly window: InflightWindow;
  private readonly state: InflightStateFile | undefined;
  private shared: SharedBuffer | undefined;
  /** Vrings started in this session (only a first start resumes). */
  private readonly started = new Set<number>();
  /** Vring -> its state file region's mapping, while it runs. */
  private readonly stateMaps = new Map<number, number>();
  /** The files behind guest memory, by user address range: what a ring's identity names. */
  private readonly files = new Map<string, { uaddr: bigint; size: bigint; dev: bigint; ino: bigint; count: number }>();

  constructor(memory: WebAssembly.Memory, space: InflightSpace, private readonly vrings: number, private readonly log: (line: string) => void) {
    this.window = new InflightWindow(memory, space.window);
    this.state = space.state;
    if (this.state && this.state.vrings !== vrings) throw new RangeError(`the state file has ${this.state.vrings} vrings, the device ${vrings}`);
  }

  /** Why a description cannot be a buffer for this device's queues (null when it can). */
  private descriptionProblem(d: InflightDescription): string | null {
    if (d.numQueues < 1 || d.numQueues > this.vrings) return `num_queues ${d.numQueues}: the device has 1 to ${this.vrings} queues`;
    if (d.queueSize < 1 || d.queueSize > MAX_VRING_NUM) return `queue_size ${d.queueSize}: 1 to ${MAX_VRING_NUM}`;
    return null;
  }

  /**
   * GET_INFLIGHT_FD: a new zeroed, sealed memfd of num_queues regions of this layout, mapped and
   * replacing any previous buffer. Returns the reply's description and the fd to send (the
   * tracking keeps it until the buffer is replaced or the session ends). Throws with the reason.
   */
  getFd(d: InflightDescription, layout: RingLayout): { reply: InflightDescription; fd: number } {
    const problem = this.descriptionProblem(d);
    if (problem !== null) throw new Error(problem);
    const stride = inflightRegionSize(layout, d.queueSize);
    const size = roundUp(d.numQueues * stride, PAGE_SIZE);
    const fd = memfdCreate('vhost-inflight', size);
    let offset: number;
    try {
      offset = this.window.map(fd, 0, size);
    } catch (e) {
      close(fd);
      throw e;
    }
    new Uint8Array(this.window.memory.buffer, offset, size).fill(0);
    this.replaceShared({ fd, offset, layout, numQueues: d.numQueues, queueSize: d.queueSize, stride });
    return { reply: { mmapSize: BigInt(size), mmapOffset: 0n, numQueues: d.numQueues, queueSize: d.queueSize }, fd };
  }

  /**
   * SET_INFLIGHT_FD: maps the front-end's buffer (`fd`, which the tracking takes over when this
   * returns) after checking that it holds num_queues regions of queue_size entries, replacing
   * any previous buffer. Rings started after it resume from it. Throws with the reason (the fd
   * is then still the caller's).
   */
  setFd(d: InflightDescription, fd: number, layout: RingLayout): void {
    const problem = this.descriptionProblem(d);
    if (problem !== null) throw new Error(problem);
    const stride = inflightRegionSize(layout, d.queueSize);
    const need = d.numQueues * stride;
    if (d.mmapSize < BigInt(need)) {
      throw new Error(`mmap_size ${d.mmapSize} is smaller than ${d.numQueues} ${layout} queue regions of ${d.queueSize} entries (${need} bytes)`);
    }
    if (d.mmapSize > BigInt(this.window.window.size)) throw new Error(`mmap_size ${d.mmapSize} is larger than the back-end's ${this.window.window.size}-byte inflight window`);
    if (d.mmapOffset % BigInt(PAGE_SIZE) !== 0n) throw new Error(`mmap_offset 0x${d.mmapOffset.toString(16)} is not page-aligned`);
    const length = roundUp(need, PAGE_SIZE);
    const fileSize = fstatSync(fd, { bigint: true }).size;
    if (d.mmapOffset + BigInt(length) > fileSize) {
      throw new Error(`[0x${d.mmapOffset.toString(16)}, +${length}) reaches past the end of its ${fileSize}-byte file`);
    }
    const offset = this.window.map(fd, Number(d.mmapOffset), length);
    this.replaceShared({ fd, offset, layout, numQueues: d.numQueues, queueSize: d.queueSize, stride });
    this.started.clear();
  }

  private replaceShared(b: SharedBuffer): void {
    const old = this.shared;
    this.shared = b;
    if (old) {
      this.window.unmap(old.offset);
      close(old.fd);
    }
  }

  /** SET_MEM_TABLE mapped `regions` from `fds` (still open): remembers each file. */
  memoryReplaced(regions: readonly MemRegion[], fds: readonly number[]): void {
    this.files.clear();
    regions.forEach((r, i) => this.memoryAdded(r, fds[i]));
  }

  /** ADD_MEM_REG (a repeat of a mapped region too: REM_MEM_REG then takes one count off). */
  memoryAdded(r: MemRegion, fd: number): void {
    const key = `${r.uaddr}:${r.size}`;
    const known = this.files.get(key);
    if (known) { known.count++; return; }
    try {
      const st = fstatSync(fd, { bigint: true });
      this.files.set(key, { uaddr: r.uaddr, size: r.size, dev: st.dev, ino: st.ino, count: 1 });
    } catch (e) {
      this.log(`inflight: the file of the region at 0x${r.uaddr.toString(16)}: ${(e as Error).message}`);
    }
  }

  memoryRemoved(r: MemRegion): void {
    const key = `${r.uaddr}:${r.size}`;
    const known = this.files.get(key);
    if (known && --known.count === 0) this.files.delete(key);
  }

  private identity(ring: TrackedRing): RingIdentity | undefined {
    const a = ring.addr;
    for (const f of this.files.values()) {
      if (a.desc >= f.uaddr && a.desc - f.uaddr < f.size) {
        return { layout: ring.layout, num: ring.num, dev: f.dev, ino: f.ino, desc: a.desc, avail: a.avail, used: a.used };
      }
    }
    return undefined;
  }

  /**
   * Builds vring `ring`'s device through `build`, tracking into its region (and resuming from it,
   * see the top of this file); without a region for it, untracked. A region the front-end gave
   * that cannot be resumed refuses the ring (throws); the state file's own is formatted afresh
   * instead (logged).
   */
  startRing(ring: TrackedRing, build: (inflight: InflightOptions | undefined) => DeviceQueue): DeviceQueue {
    const first = !this.started.has(ring.index);
    const shared = this.shared;
    if (shared) {
      const problem = ring.index >= shared.numQueues ? `vring ${ring.index} is past its ${shared.numQueues} queues`
        : ring.layout !== shared.layout ? `it was laid out for ${shared.layout} rings`
          : ring.num > shared.queueSize ? `its regions hold ${shared.queueSize} entries, the ring has ${ring.num}` : null;
      if (problem === null) {
        const region = shared.offset + ring.index * shared.stride;
        const resume = first && new DataView(this.window.memory.buffer).getUint16(region + I.INFLIGHT_VERSION, true) !== 0;
        const device = build({ region, resume });
        this.started.add(ring.index);
        this.report(ring, device, 'the front-end\'s inflight region');
        return device;
      }
      this.log(`vring ${ring.index}: not tracked: the front-end's inflight buffer does not fit it: ${problem}`);
      this.started.add(ring.index);
      return build(undefined);
    }
    const state = this.state;
    const id = state ? this.identity(ring) : undefined;
    if (!state || !id) {
      if (state) this.log(`vring ${ring.index}: not tracked: its descriptor area is in no known guest memory file`);
      this.started.add(ring.index);
      return build(undefined);
    }
    const record = state.record(ring.index);
    const same = record.running && record.identity !== undefined && sameRing(record.identity, id);
    const fresh = frontEndRestartsPacked(ring);
    if (first && same && fresh) {
      this.log(`vring ${ring.index}: not resumed from the state file: the front-end starts its packed ring afresh ` +
        `(SET_VRING_BASE 0x${ring.base!.toString(16)}, no used half: DPDK's virtio-user resets its packed rings when it reconnects)`);
    }
    const resume = first && same && !fresh;
    const region = this.window.map(state.fd, state.slotOffset(ring.index), inflightRegionSize(ring.layout, ring.num));
    let device: DeviceQueue;
    try {
      try {
        // QEMU resends a stale packed position after a crash, and its own virtio-net may have used
        // the guest's buffers there in place while no back-end ran (see InflightOptions.usedInPlace).
        device = build({ region, resume, usedInPlace: resume && ring.layout === 'packed' });
      } catch (e) {
        if (!resume || !(e instanceof VirtqueueError)) throw e;
        this.log(`vring ${ring.index}: the state file's region cannot be resumed: ${e.message}; starting at the front-end's position`);
        device = build({ region, resume: false });
      }
    } catch (e) {
      this.window.unmap(region);
      throw e;
    }
    this.stateMaps.set(ring.index, region);
    this.started.add(ring.index);
    state.setRunning(ring.index, id);
    this.report(ring, device, `the state file ${state.path}`);
    return device;
  }

  private report(ring: TrackedRing, device: DeviceQueue, from: string): void {
    const r = device.recovered;
    if (!r) return;
    this.log(`vring ${ring.index}: resumed from ${from}: ${r.inflight} chain${r.inflight === 1 ? '' : 's'} in flight, ` +
      `position ${describe(ring.layout, r.from)} -> ${describe(ring.layout, r.to)}`);
  }

  /**
   * Vring `index` stopped (its device let go of it). `told`: the front-end learned its position
   * (GET_VRING_BASE) or reset the device, so there is nothing for a later back-end to resume.
   */
  ringStopped(index: number, told: boolean): void {
    const region = this.stateMaps.get(index);
    if (region !== undefined) {
      this.stateMaps.delete(index);
      this.window.unmap(region);
    }
    if (told && this.state) this.state.setStopped(index);
  }

  /** The session ends (every ring stopped first): unmaps everything, closes the buffer's fd. */
  close(): void {
    for (const region of this.stateMaps.values()) this.window.unmap(region);
    this.stateMaps.clear();
    if (this.shared) {
      const s = this.shared;
      this.shared = undefined;
      this.window.unmap(s.offset);
      close(s.fd);
    }
    this.window.clear();
  }
}
