// The forwarding a port's CLI runs (`virtqueue virtio-user`, `virtqueue vfio`): a Forwarder that
// the main thread polls, and with --workers N the queue pairs on Dataplane workers instead.
import { Forwarder, type FwdMode } from '../../src/virtio-user/forward.js';
import { VirtioUserWorkers, type WorkerPort } from '../../src/virtio-user/workers.js';
import type { PacketPort } from '../../src/virtio-user/packet-port.js';
import { firstLine, type CliIO } from '../common.js';

export interface ForwardingOptions {
  fwd: FwdMode;
  burst: number;
  frameSize: number;
  /** 0: the main thread polls (the Forwarder); N: N Dataplane workers. */
  workers: number;
  txFirst: boolean;
}

export interface Forwarding {
  fwd: Forwarder;
  workers: VirtioUserWorkers | undefined;
}

/**
 * Starts the forwarding of `port`; undefined when the workers cannot start (the port is closed
 * and the reason printed: the command exits 1).
 */
export async function startForwarding(port: PacketPort & WorkerPort & { close(): void }, o: ForwardingOptions, io: CliIO): Promise<Forwarding | undefined> {
  const fwd = new Forwarder(port, o.fwd, o.burst, o.frameSize);
  if (o.workers === 0) return { fwd, workers: undefined };
  try {
    const workers = await VirtioUserWorkers.start(port, { workers: o.workers, mode: o.fwd, burst: o.burst, frameSize: o.frameSize, txFirst: o.txFirst });
    return { fwd, workers };
  } catch (e) {
    port.close();
    io.stderr(`virtqueue: cannot start the dataplane: ${firstLine(e)}\n`);
    return undefined;
  }
}
