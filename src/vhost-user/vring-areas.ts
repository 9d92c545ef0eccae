// A vring's three areas from SET_VRING_ADDR: each translated from front-end user addresses to a
// Wasm offset, whole inside one region and at its spec alignment, or refused with the reason.
import { splitAreaSizes } from '../layout.js';
import * as PK from '../../assembly/layout/packed.js';
import type { RingAreas } from '../queue-side.js';
import type { RingLayout } from '../ring.js';
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

interface AreaSpec {
  name: 'descriptor' | 'driver' | 'device';
  uaddr: bigint;
  size: number;
  align: number;
}

function areaSpecs(layout: RingLayout, num: number, a: VringAddr): AreaSpec[] {
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
