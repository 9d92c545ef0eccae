// Raw access to a packed ring's memory (VIRTIO 1.2, 2.8), field by field. No rules enforced:
// tests use it to write what no correct driver or device would.
import * as P from '../assembly/layout/packed.js';
import type { RingAreas } from '../src/virtqueue/queue-side.js';

export interface PackedDesc {
  addr: bigint;
  len: number;
  id: number;
  flags: number;
}

export class RawPackedRing {
  readonly view: DataView;
  readonly areas: RingAreas;
  readonly size: number;

  constructor(view: DataView, areas: RingAreas) {
    this.view = view;
    this.areas = areas;
    this.size = areas.queueSize;
  }

  readDesc(slot: number, table = this.areas.desc): PackedDesc {
    const d = table + slot * P.PDESC_SIZE;
    return {
      addr: this.view.getBigUint64(d + P.PDESC_ADDR, true),
      len: this.view.getUint32(d + P.PDESC_LEN, true),
      id: this.view.getUint16(d + P.PDESC_ID, true),
      flags: this.view.getUint16(d + P.PDESC_FLAGS, true),
    };
  }

  writeDesc(slot: number, d: PackedDesc, table = this.areas.desc): void {
    const a = table + slot * P.PDESC_SIZE;
    this.view.setBigUint64(a + P.PDESC_ADDR, d.addr, true);
    this.view.setUint32(a + P.PDESC_LEN, d.len, true);
    this.view.setUint16(a + P.PDESC_ID, d.id, true);
    this.view.setUint16(a + P.PDESC_FLAGS, d.flags, true);
  }

  /** AVAIL/USED bits of a descriptor made available with driver wrap counter `wrap`. */
  static avail(wrap: number): number {
    return wrap ? P.PDESC_F_AVAIL : P.PDESC_F_USED;
  }

  /** AVAIL/USED bits of a descriptor marked used with device wrap counter `wrap`. */
  static used(wrap: number): number {
    return wrap ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0;
  }

  event(area: 'driver' | 'device'): { offWrap: number; flags: number } {
    const a = area === 'driver' ? this.areas.driver : this.areas.device;
    return { offWrap: this.view.getUint16(a + P.EVENT_OFF_WRAP, true), flags: this.view.getUint16(a + P.EVENT_FLAGS, true) };
  }

  setEvent(area: 'driver' | 'device', offWrap: number, flags: number): void {
    const a = area === 'driver' ? this.areas.driver : this.areas.device;
    this.view.setUint16(a + P.EVENT_OFF_WRAP, offWrap, true);
    this.view.setUint16(a + P.EVENT_FLAGS, flags, true);
  }
}
