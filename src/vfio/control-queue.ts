// virtio-net's control virtqueue, driver side (VIRTIO 1.2 5.1.6.5): one command at a time, as a
// chain of two descriptors over a small buffer in the DMA-mapped memory: struct virtio_net_ctrl
// (class, command, data) for the device to read, then the ack byte for it to write. The port
// sends VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET (5.1.6.5.5) on it; the queue runs polled (no vector).
import * as L from '../../assembly/layout/virtio-pci.js';
import type { Engine } from '../engine.js';
import type { FeatureSet } from '../features.js';
import type { MemoryPlan } from '../memory.js';
import type { RingLayout } from '../virtqueue/factory.js';
import { PortRing, type RingLink } from '../virtio-user/queue.js';

/** Entries of the control queue's ring: a command at a time needs two descriptors. */
export const CONTROL_QUEUE_SIZE = 16;
/** Bytes of the command buffer: the header and data, then the ack byte at ACK_AT. */
const BUFFER_SIZE = 64;
const ACK_AT = 32;
const MAX_DATA = ACK_AT - L.NET_CTRL_DATA;
/** The chain's token. */
const TOKEN = 1;

const sleepMs = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };

export class ControlQueue {
  readonly ring: PortRing;
  private readonly buffer: number;
  /** Commands the device acknowledged with VIRTIO_NET_OK. */
  commands = 0;

  constructor(private readonly engine: Engine, shared: MemoryPlan, priv: MemoryPlan, layout: RingLayout, features: FeatureSet, link: RingLink) {
    this.ring = new PortRing(engine, shared, priv, layout, CONTROL_QUEUE_SIZE, features, link);
    this.buffer = shared.alloc(BUFFER_SIZE, 64, 'virtio-net control command');
    this.ring.driver.disableInterrupts();
  }

  /**
   * Sends `class`/`command` with `data` and waits (bounded, polling) until the device uses the
   * chain: its ack (VIRTIO_NET_OK or VIRTIO_NET_ERR). The driver's checks apply to the used
   * entry; a device that never answers, or answers short, is an Error naming the command.
   */
  command(cls: number, command: number, data: Uint8Array, what: string, timeoutMs = 1000): number {
    if (data.length > MAX_DATA) throw new RangeError(`control queue: ${data.length} bytes of data, at most ${MAX_DATA}`);
    const u8 = this.engine.u8;
    const at = this.buffer;
    u8.fill(0, at, at + BUFFER_SIZE);
    u8[at + L.NET_CTRL_CLASS] = cls;
    u8[at + L.NET_CTRL_COMMAND] = command;
    u8.set(data, at + L.NET_CTRL_DATA);
    u8[at + ACK_AT] = 0xff; // neither VIRTIO_NET_OK nor VIRTIO_NET_ERR until the device writes it
    const r = this.ring;
    const b = r.batch;
    b.clear();
    b.begin(TOKEN);
    b.read(at, L.NET_CTRL_DATA + data.length);
    b.write(at + ACK_AT, 1);
    b.end();
    if (r.driver.add(b) !== 1) throw new Error(`control queue: ${what}: the ring has no room (a command is still the device's)`);
    r.notify();
    const end = Date.now() + timeoutMs;
    for (;;) {
      r.used.clear();
      if (r.driver.collect(r.used, 1) === 1) break;
      if (Date.now() > end) throw new Error(`control queue: ${what}: the device did not use the command within ${timeoutMs} ms (VIRTIO 1.2 5.1.6.5)`);
      sleepMs(1);
    }
    if (r.used.len(0) < 1) throw new Error(`control queue: ${what}: the device used the command without writing its ack (used length ${r.used.len(0)})`);
    const ack = u8[at + ACK_AT];
    if (ack === L.NET_CTRL_OK) this.commands++;
    return ack;
  }

  /** VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET (5.1.6.5.5): the device spreads traffic over `pairs` queue pairs; an Error unless it acks VIRTIO_NET_OK. */
  setQueuePairs(pairs: number): void {
    if (!Number.isInteger(pairs) || pairs < L.NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > L.NET_CTRL_MQ_VQ_PAIRS_MAX) {
      throw new RangeError(`VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET: ${pairs} queue pairs, ${L.NET_CTRL_MQ_VQ_PAIRS_MIN} to ${L.NET_CTRL_MQ_VQ_PAIRS_MAX}`);
    }
    const data = new Uint8Array(L.NET_CTRL_MQ_VQ_PAIRS_SIZE);
    new DataView(data.buffer).setUint16(0, pairs, true);
    const what = `VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET ${pairs}`;
    const ack = this.command(L.NET_CTRL_MQ, L.NET_CTRL_MQ_VQ_PAIRS_SET, data, what);
    if (ack !== L.NET_CTRL_OK) throw new Error(`control queue: the device refused ${what} (ack ${ack}, VIRTIO 1.2 5.1.6.5.5)`);
  }

  /** A fresh ring after a device reset (the buffer's command, if any, is dropped). */
  reset(): void {
    this.ring.reset();
    this.ring.driver.disableInterrupts();
  }

  close(): void {
    this.ring.close();
  }
}
