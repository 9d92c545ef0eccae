// A vhost-user back-end with the virtio-net device model attached, a guest and a connected,
// negotiated front-end with `pairs` queue pairs: the whole world of one vhost-net test.
import { FEATURES, MemoryPlan, type RingLayout } from '../../src/index.js';
import { NetDevice, type NetMode as FwdMode } from '../../src/vhost-user/net/index.js';
import { RawFrontEnd } from './vhost-user-frontend.js';
import { rig, guest, backend, MiB, type Rig, type Guest } from './vhost-user-rig.js';
import { negotiate, setMemTable, F_PROTOCOL } from './vhost-user-setup.js';
import { setupPair, type GuestPair } from './vhost-net-frontend.js';
import { until } from './within.js';

export interface NetWorld {
  r: Rig;
  g: Guest;
  fe: RawFrontEnd;
  device: NetDevice;
  pairs: GuestPair[];
  /** A new front-end session on the same server and device (the previous one must be closed). */
  reconnect(): Promise<void>;
  /** Ends everything; resolves once the device's workers have stopped (returns the pcap frame count). */
  close(): Promise<number>;
}

export interface NetWorldOptions {
  mode?: FwdMode;
  pairs?: number;
  devicePairs?: number;
  mergeable?: boolean;
  rxBufSize?: number;
  num?: number;
  pcap?: { path: string; maxFrames: number };
  workers?: number;
  workerModule?: string;
  layout?: RingLayout;
  /** Bytes of guest memory (default 8 MiB, up to the end of the guest's Wasm memory). */
  guestSize?: number;
  /** Seals of the guest memory's memfd (default F_SEAL_SHRINK; 0: the test can shrink it). */
  guestSeals?: number;
  /** Protocol features the front-end asks for (default PROTOCOL). */
  protocol?: bigint;
  /** The back-end's dirty log window (default none: no logging offered). */
  dirtyLog?: { window: { offset: number; size: number } };
}

/** The virtio-net device on its workers behind a server, with no front-end yet. */
export interface NetServer {
  r: Rig;
  device: NetDevice;
  /** Closes the server and stops the workers; resolves with the frames in the capture, if any. */
  close(): Promise<number>;
}

export interface NetServerOptions {
  mode?: FwdMode;
  pairs?: number;
  workers?: number;
  pcap?: { path: string; maxFrames: number };
  /** Module the workers run (default: the device's own worker task). */
  workerModule?: string;
  dirtyLog?: { window: { offset: number; size: number } };
}

export async function netDevice(o: NetServerOptions = {}): Promise<NetServer> {
  const { memory, engine } = backend();
  let sink: string[] = [];
  const early = sink;
  // Queue pair blocks and burst arrays: above the rig's ring-state plan (which ends at 12 MiB: 9 ring slots of RING_SLOT_BYTES), below the guest window.
  const device = await NetDevice.start({
    engine, plan: new MemoryPlan(memory, { start: 12 * MiB, end: 16 * MiB }), pairs: o.pairs ?? 1, mode: o.mode ?? 'io',
    pcap: o.pcap, workers: o.workers, workerModule: o.workerModule, log: (l) => sink.push(l),
  });
  const r = rig({ device, dirtyLog: o.dirtyLog });
  r.log.push(...early);
  sink = r.log;
  return {
    r, device,
    close: async () => {
      r.close();
      return (await device.close()).pcapFrames;
    },
  };
}

export async function netWorld(o: NetWorldOptions = {}): Promise<NetWorld> {
  const pairs = o.pairs ?? 1;
  const devicePairs = o.devicePairs ?? Math.max(pairs, 4);
  const { r, device, close } = await netDevice({ mode: o.mode, pairs: devicePairs, workers: o.workers, pcap: o.pcap, workerModule: o.workerModule, dirtyLog: o.dirtyLog });
  const g = guest(o.guestSize ?? 8 * MiB, o.guestSeals);
  const w: NetWorld = {
    r, g, device, fe: undefined as unknown as RawFrontEnd, pairs: [],
    reconnect: async () => {
      // The previous session's rings and buffers are gone: plan guest memory afresh.
      g.plan = new MemoryPlan(g.memory, { start: g.gpa, end: g.gpa + g.size });
      g.privatePlan = new MemoryPlan(g.memory, { start: 64 * 1024, end: g.gpa });
      const fe = RawFrontEnd.connect(r.path);
      w.fe = fe;
      let features = FEATURES.VERSION_1 | F_PROTOCOL;
      if (o.mergeable) features |= FEATURES.NET_MRG_RXBUF;
      if (pairs > 1) features |= FEATURES.NET_MQ | FEATURES.NET_CTRL_VQ;
      if (o.layout === 'packed') features |= FEATURES.RING_PACKED;
      await negotiate(fe, features, o.protocol);
      await setMemTable(fe, g);
      w.pairs = [];
      for (let k = 0; k < pairs; k++) w.pairs.push(await setupPair(fe, g, k, o.num ?? 64, o.rxBufSize ?? 2048, o.layout));
    },
    close: async () => {
      w.fe?.close();
      for (const p of w.pairs) p.close();
      g.close();
      return close();
    },
  };
  try {
    await w.reconnect();
  } catch (e) {
    await w.close();
    throw e;
  }
  return w;
}

/** Waits until the device's log has a line matching `what` (engine errors the workers met are read into the log on the way); fails with the log. */
export async function expectLogged(w: NetWorld, what: RegExp): Promise<void> {
  await until(() => {
    w.device.totals();
    return w.r.log.some((l) => what.test(l));
  }, `a log line matching ${what}`).catch((e: Error) => {
    throw new Error(`${e.message}; the log:\n${w.r.log.join('\n')}`);
  });
}
