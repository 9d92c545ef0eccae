// The virtio-net device configuration space (VIRTIO 1.2 5.1.4) as GET_CONFIG reads it:
// mac[6], status u16, max_virtqueue_pairs u16, mtu u16, little-endian.

export interface NetConfig {
  /** Six bytes. */
  mac: readonly number[];
  /** VIRTIO_NET_S_LINK_UP (1), VIRTIO_NET_S_ANNOUNCE (2). */
  status: number;
  maxVirtqueuePairs: number;
  mtu: number;
}

export const NET_S_LINK_UP = 1;
export const NET_CONFIG_SIZE = 12;

export function netConfigBytes(c: NetConfig): Uint8Array {
  if (c.mac.length !== 6 || c.mac.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new RangeError(`mac must be six bytes, got [${c.mac.join(', ')}]`);
  }
  const b = new Uint8Array(NET_CONFIG_SIZE);
  const v = new DataView(b.buffer);
  b.set(c.mac, 0);
  v.setUint16(6, c.status, true);
  v.setUint16(8, c.maxVirtqueuePairs, true);
  v.setUint16(10, c.mtu, true);
  return b;
}

/** Bytes [offset, offset + size) of the space, or undefined when that is not inside it. */
export function readNetConfig(c: NetConfig, offset: number, size: number): Uint8Array | undefined {
  const all = netConfigBytes(c);
  if (offset > all.length || size > all.length - offset) return undefined;
  return all.slice(offset, offset + size);
}
