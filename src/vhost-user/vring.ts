// One vring as the back-end knows it (vhost-user.rst "Ring states"): Queue Size, addresses,
// base, the kick / call / err fds it owns (each replaced one is closed), whether it is enabled,
// and the engine DeviceQueue while it runs. Also how its three areas are found in guest memory
// (SET_VRING_ADDR), how its DeviceQueue is built from the vhost-user ring state, and how that
// state is encoded in SET_VRING_BASE and GET_VRING_BASE for either layout.
import type { DirtyLogOptions } from '../virtqueue/dirty-log.js';
import { close, EventFd } from '../native/index.js';
import { splitAreaSizes } from '../virtqueue/layout.js';
import * as PK from '../../assembly/layout/packed.js';
import * as S from '../../assembly/layout/split.js';
import { createDevice, type RingLayout } from '../virtqueue/factory.js';
import type { DeviceQueue, Region, RingAreas, RingPosition } from '../virtqueue/queue-side.js';
import type { InflightOptions } from '../virtqueue/inflight.js';
import type { Engine } from '../engine.js';
import type { MemoryPlan } from '../memory.js';
import type { FeatureSet } from '../features.js';
import type { VringAddr } from './message.js';

/** Largest Queue Size for either layout (VIRTIO 1.2 2.7, 2.8). */
export const MAX_VRING_NUM = 32768;

/** Why `num` cannot be this layout's Queue Size (null when it can). */
export function vringNumProblem(num: number, layout: RingLayout): string | null {
  if (num === 0) return 'queue size 0';
  if (num > MAX_VRING_NUM) return `queue size ${num} is above ${MAX_VRING_NUM}`;
  if (layout === 'split' && (num & (num - 1)) !== 0) return `queue size ${num} is not a power of two (split ring)`;
  return null;
}

export interface AreaSpec {
  name: 'descriptor' | 'driver' | 'device';
  uaddr: bigint;
  size: number;
  align: number;
}

/** The three areas of a ring: where each starts (a front-end address), its size and alignment. */
export function areaSpecs(layout: RingLayout, num: number, a: VringAddr): AreaSpec[] {
  if (layout === 'split') {
    const s = splitAreaSizes(num);
    return [
      { name: 'descriptor', uaddr: a.desc, size: s.desc, align: 16 },
      { name: 'driver', uaddr: a.avail, size: s.avail, align: 2 },
      { name: 'device', uaddr: a.used, size: s.used, align: 4 },
    ];
  }
  return [
    { name: 'descriptor', uaddr: a.desc, size: num * PK.PDESC_SIZE, align: 16 },
    { name: 'driver', uaddr: a.avail, size: PK.EVENT_SIZE, align: 4 },
    { name: 'device', uaddr: a.used, size: PK.EVENT_SIZE, align: 4 },
  ];
}

/**
 * The ring's areas as Wasm offsets, or a string saying which area is outside every region or
 * misaligned. `translate` maps [uaddr, uaddr + size) to a Wasm offset when it is inside one region.
 */
export function vringAreas(layout: RingLayout, num: number, addr: VringAddr,
                           translate: (uaddr: bigint, size: number) => number | undefined): RingAreas | string {
  const out: Partial<Record<AreaSpec['name'], number>> = {};
  for (const s of areaSpecs(layout, num, addr)) {
    const at = translate(s.uaddr, s.size);
    if (at === undefined) return `${s.name} area [0x${s.uaddr.toString(16)}, +${s.size}) is not inside one memory region`;
    if (at % s.align !== 0) return `${s.name} area at 0x${s.uaddr.toString(16)} is not ${s.align}-byte aligned`;
    out[s.name] = at;
  }
  return { queueSize: num, desc: out.descriptor!, driver: out.driver!, device: out.device! };
}


// -- Ring state in SET_VRING_BASE / GET_VRING_BASE ----------------------------------------------
//
// vhost-user.rst, "Ring states" and SET_VRING_BASE: for a split ring the value is the index of
// the next available ring entry the device reads (last_avail_idx); the used index is not in it:
// "the back-end must read the used index from the used ring in guest memory". For a packed ring
// bits 0-14 are the next available descriptor index and bit 15 its (Driver Ring) wrap counter,
// bits 16-30 the next used descriptor index and bit 31 the (Device Ring) wrap counter. QEMU sends
// and expects all 32 bits; DPDK's front-end sends only the low half (and takes used = avail),
// so a value whose high half is 0 starts the used side where the available side starts.

/** The packed ring position a SET_VRING_BASE value stands for. */
export function packedBaseToPosition(base: number): RingPosition {
  const nextAvail = base & 0x7fff;
  const availWrap = (base >>> 15) & 1;
  const hi = base >>> 16;
  if (hi === 0) return { nextAvail, availWrap, nextUsed: nextAvail, usedWrap: availWrap };
  return { nextAvail, availWrap, nextUsed: hi & 0x7fff, usedWrap: (hi >>> 15) & 1 };
}

/** The GET_VRING_BASE value for a device's position (split: last_avail_idx; packed: both halves). */
export function vringBase(layout: RingLayout, p: RingPosition): number {
  if (layout === 'split') return p.nextAvail & 0xffff;
  return ((p.nextAvail & 0x7fff) | ((p.availWrap & 1) << 15) | ((p.nextUsed & 0x7fff) << 16) | ((p.usedWrap & 1) << 31)) >>> 0;
}

/** Why a SET_VRING_BASE value cannot start a ring of `num` entries (null when it can). */
export function vringBaseProblem(layout: RingLayout, base: number, num: number | undefined): string | null {
  if (layout === 'split') return base > 0xffff ? `base ${base} is above 65535 (a split ring's index is 16 bits)` : null;
  const p = packedBaseToPosition(base);
  if (num !== undefined && (p.nextAvail >= num || p.nextUsed >= num)) {
    return `packed base 0x${base.toString(16)}: available index ${p.nextAvail} or used index ${p.nextUsed} is not below the queue size ${num}`;
  }
  return null;
}

export interface RingDeviceSpec {
  layout: RingLayout;
  areas: RingAreas;
  features: FeatureSet;
  regions: Region[];
  /** SET_VRING_BASE's value. */
  base: number;
  /** Ask for kicks from the start (false: the front-end polls, or the device model decides). */
  notify: boolean;
  /** Inflight I/O tracking into this region (inflight.ts); none when undefined. */
  inflight?: InflightOptions;
  /** Dirty-page logging into this bitmap (dirty-log.ts); none when undefined. */
  log?: DirtyLogOptions;
  /** `regions` are an IOTLB's, keyed by IOVA: a buffer outside them is a miss (DeviceHandleOptions.iotlb). */
  iotlb?: boolean;
}

/** Where a vring's device starts: its SET_VRING_BASE value, and for a split ring its used ring. */
function startPosition(engine: Engine, s: RingDeviceSpec): RingPosition {
  if (s.layout === 'packed') return packedBaseToPosition(s.base);
  // The used index comes from guest memory (see above): used.idx, a u16 at offset 2 of the used ring.
  const usedIdx = engine.u16[(s.areas.device + S.USED_IDX) >>> 1];
  return { nextAvail: s.base & 0xffff, availWrap: 0, nextUsed: usedIdx, usedWrap: 0 };
}

/** Builds the engine's device side of a vring from its vhost-user state. */
export function buildRingDevice(engine: Engine, plan: MemoryPlan, s: RingDeviceSpec): DeviceQueue {
  return createDevice(engine, plan, s.layout, s.areas, {
    features: s.features, regions: s.regions, notify: s.notify, start: startPosition(engine, s), inflight: s.inflight, log: s.log,
    iotlb: s.iotlb,
  });
}

export class Vring {
  num: number | undefined;
  addr: VringAddr | undefined;
  /** SET_VRING_BASE's value, or the state at the last stop (encoded as GET_VRING_BASE answers it). */
  base: number | undefined;
  /** SET_VRING_ENABLE's last word (rings start disabled when protocol features are negotiated). */
  enabled = false;
  /** The engine queue while the ring runs, and the layout it was built with. */
  device: DeviceQueue | undefined;
  layout: RingLayout | undefined;
  private kickFd: EventFd | undefined;
  /** SET_VRING_KICK arrived (with an fd or the no-fd flag) since the ring last stopped. */
  private kickSet = false;
  private callFd: number | undefined;
  private errFd: number | undefined;

  constructor(readonly index: number) {}

  get started(): boolean {
    return this.kickSet;
  }

  /** Kicks come on an eventfd (else the front-end expects the device to poll). */
  get hasKickFd(): boolean {
    return this.kickFd !== undefined;
  }

  get running(): boolean {
    return this.device !== undefined;
  }

  get call(): number | undefined {
    return this.callFd;
  }

  /**
   * Takes `fd` (undefined: the front-end polls) as the kick; `onKick` runs on each signal with
   * the kicks taken; `onError` if the fd fails (the kick is then dropped: the ring polls).
   */
  setKick(fd: number | undefined, onKick: (count: number) => void, onError: (e: Error) => void = () => undefined): void {
    this.kickFd?.close();
    this.kickFd = undefined;
    this.kickSet = true;
    if (fd === undefined) return;
    const e = new EventFd(fd);
    this.kickFd = e;
    try {
      e.watch((count) => onKick(Number(count)), (err) => {
        if (this.kickFd === e) { this.kickFd = undefined; e.close(); }
        onError(err);
      });
    } catch (err) {
      this.kickFd = undefined;
      e.close();
      throw err;
    }
  }

  /** Forgets the kick (the ring stopped: a new SET_VRING_KICK starts it again). */
  dropKick(): void {
    this.kickFd?.close();
    this.kickFd = undefined;
    this.kickSet = false;
  }

  setCall(fd: number | undefined): void {
    if (this.callFd !== undefined) close(this.callFd);
    this.callFd = fd;
  }

  setErr(fd: number | undefined): void {
    if (this.errFd !== undefined) close(this.errFd);
    this.errFd = fd;
  }

  /** Back to a ring nobody set up: no num, addresses or base, disabled, every fd closed. */
  forget(): void {
    this.closeFds();
    this.num = this.addr = this.base = undefined;
    this.enabled = false;
  }

  /** Closes every fd the ring owns. */
  closeFds(): void {
    this.dropKick();
    this.setCall(undefined);
    this.setErr(undefined);
  }
}
