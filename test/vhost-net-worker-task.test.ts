// The vhost-net worker task in this thread, over engine exports that count their calls: a busy
// poll makes one engine call per queue pair and direction, whatever the number of frames in the
// burst (nothing per frame crosses into Wasm from JS), and an idle worker's arm() turns kicks on
// and finds work that slipped in.
import { describe, expect, it } from 'vitest';
import {
  createSharedMemory, MemoryPlan, allocRing, createDriver, createDevice, ChainBatch, UsedBatch, FEATURES, Engine,
  type RingLayout, type EngineExports,
} from '../src/index.js';
import { engineModule } from '../src/node.js';
import { NetQueuePair, type NetMode } from '../src/virtio-net/queue-pair.js';
import { HandoffWriter, HANDOFF_SIZE } from '../src/vhost-user/handoff.js';
import { createTask, PAIR_SCRATCH_BYTES } from '../src/vhost-user/net/worker-task.js';
import type { TaskContext } from '../src/dataplane/task.js';

function counted(engine: Engine, onCall?: (name: string) => void): { engine: Engine; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const real = engine.exports as unknown as Record<string, (...a: number[]) => number>;
  const exports = Object.fromEntries(Object.keys(real).map((name) => [name, (...a: number[]) => {
    calls.set(name, (calls.get(name) ?? 0) + 1);
    onCall?.(name);
    return real[name](...a);
  }])) as unknown as EngineExports;
  const e = Object.create(engine) as Engine;
  Object.defineProperty(e, 'exports', { value: exports });
  return { engine: e, calls };
}

function world(layout: RingLayout, mode: NetMode, onCall?: (name: string) => void) {
  const memory = createSharedMemory(64 << 20);
  const real = Engine.instantiateSync(engineModule(), memory);
  const { engine, calls } = counted(real, onCall);
  const plan = new MemoryPlan(memory);
  const features = FEATURES.VERSION_1 | FEATURES.EVENT_IDX | (layout === 'packed' ? FEATURES.RING_PACKED : 0n);
  const rings = [0, 1].map(() => allocRing(plan, { layout, queueSize: 256 }));
  const drivers = rings.map((r) => createDriver(real, plan, layout, r, { features }));
  const devices = rings.map((r) => createDevice(real, plan, layout, r, { features, notify: true }));
  const q = NetQueuePair.create(real, plan, { hdrSize: 12, mergeable: false, mode });
  const handoffs = [0, 1].map((i) => new HandoffWriter(memory, plan.alloc(HANDOFF_SIZE, 64), i, () => undefined, () => false));
  for (const h of handoffs) h.clear();
  const ctx = { engine, memory, worker: 0, workers: 1, burst: 32, ringDoorbell: () => undefined, finish: () => undefined } as TaskContext;
  const task = createTask({ mode, pairs: [{ index: 0, netq: q.addr, rx: handoffs[0].addr, tx: handoffs[1].addr, scratch: plan.alloc(PAIR_SCRATCH_BYTES, 64) }] }, ctx);
  // Hand both rings over (no worker thread here: the task applies the change on its next poll).
  handoffs.forEach((h, i) => h.set({ cb: devices[i].cb, callFd: undefined, hdrSize: 12, mergeable: false }));
  const batch = new ChainBatch(real, plan, 256);
  const used = new UsedBatch(real, plan, 256);
  const bufs = plan.alloc(256 * 2048, 64);
  const post = (d: number, n: number, writable: boolean): void => {
    batch.clear();
    for (let i = 0; i < n; i++) batch.single(i, bufs + (d * 128 + i) * 2048, writable ? 2048 : 12 + 64, writable);
    expect(drivers[d].add(batch)).toBe(n);
  };
  const collect = (d: number): number => drivers[d].collect(used);
  return { task, calls, post, collect, devices, q, rings, handoffs, u16: real.u16 };
}

describe.each<RingLayout>(['split', 'packed'])('vhost-net worker task, %s rings', (layout) => {
  it('one engine call per busy poll, whatever the burst', () => {
    const w = world(layout, 'io');
    expect(w.task.poll(32)).toBe(0); // applies the handoff, nothing to move yet
    for (const frames of [1, 8, 32]) {
      w.post(0, frames, true);
      w.post(1, frames, false);
      w.calls.clear();
      expect(w.task.poll(32)).toBe(frames);
      expect(Object.fromEntries(w.calls)).toEqual({ netForward: 1 });
      expect(w.collect(0)).toBe(frames);
      expect(w.collect(1)).toBe(frames);
    }
    expect(w.q.counters()).toMatchObject({ rxPackets: 41, txPackets: 41, dropped: 0 });
  });

  it('txonly: one call fills a burst of receive buffers', () => {
    const w = world(layout, 'txonly');
    w.task.poll(32);
    w.post(0, 40, true);
    w.calls.clear();
    expect(w.task.poll(32)).toBe(32);
    expect(Object.fromEntries(w.calls)).toEqual({ netInject: 1, netForward: 1 });
    expect(w.collect(0)).toBe(32);
  });

  it('io: arm() enables kicks on the transmit ring only (posted receive buffers are no work) and refuses to sleep when a frame slipped in', () => {
    const w = world(layout, 'io');
    w.task.poll(32);
    w.post(0, 8, true); // receive buffers waiting: the worker may still sleep
    w.calls.clear();
    expect(w.task.arm!()).toBe(true);
    expect(Object.fromEntries(w.calls)).toEqual({ deviceEnableNotify: 1 });
    w.task.disarm!();
    w.post(1, 1, false);
    expect(w.task.arm!()).toBe(false);
    w.task.disarm!();
    expect(w.calls.get('deviceDisableNotify')).toBe(2);
  });

  it('CVE-2019-3900 (Linux vhost-net: no bound on the work one busy queue gets): a full transmit ring yields one burst per poll', () => {
    // The class: vhost-net's handlers looped while the guest kept its rings busy, starving every
    // other queue and the host. Here one poll moves at most one burst (32 chains) per queue pair
    // whatever the ring holds, then the worker goes on to its next pair and its control work.
    const w = world(layout, 'rxonly');
    w.task.poll(32);
    w.post(1, 128, false);
    w.calls.clear();
    const moved = [0, 1, 2, 3, 4].map(() => w.task.poll(32));
    expect(moved).toEqual([32, 32, 32, 32, 0]);
    expect(w.calls.get('netForward')).toBe(5);
    expect(w.collect(1)).toBe(128);
    expect(w.q.counters()).toMatchObject({ rxPackets: 128, txPackets: 0 });
  });

  it('txonly: receive buffers are its work, so arm() watches the receive ring too', () => {
    const w = world(layout, 'txonly');
    w.task.poll(32);
    w.calls.clear();
    expect(w.task.arm!()).toBe(true);
    expect(Object.fromEntries(w.calls)).toEqual({ deviceEnableNotify: 2 });
    w.task.disarm!();
    w.post(0, 1, true);
    expect(w.task.arm!()).toBe(false);
  });
});

describe('vhost-net worker task, rings handed over again', () => {
  it('a transmit ring that broke, handed over anew while the worker applies its receive ring: the new transmit ring is polled', () => {
    // Found by test/vhost-user-sigbus.test.ts: the worker cleared a ring's broken mark only if
    // the ring's change was there when sync() began, but applied a change published since (the
    // control plane hands the transmit ring over as soon as the receive ring's change is
    // acknowledged, when a session ends and when the next one starts). The next session's
    // transmit ring then stayed marked broken: never polled, its frames never forwarded.
    let during: (() => void) | undefined;
    const w = world('split', 'io', (name) => {
      if (name === 'deviceDisableNotify' && during) {
        const publish = during;
        during = undefined;
        publish();
      }
    });
    w.task.poll(32); // applies the handoff
    const availIdx = (w.rings[1].driver + 2) >>> 1;
    w.u16[availIdx] = 30000; // the front-end breaks its transmit ring: avail.idx jumps ahead
    expect(w.task.poll(32)).toBe(0);
    expect(w.handoffs[1].takeFault()).not.toBe(0); // AVAIL_IDX_JUMP, reported
    // Both rings handed over anew (reset): the transmit ring's change comes while the worker
    // applies the receive ring's (the control plane runs on another thread).
    w.u16[availIdx] = 0;
    w.devices[1].reset();
    const running = (i: number) => ({ cb: w.devices[i].cb, callFd: undefined, hdrSize: 12, mergeable: false });
    during = () => w.handoffs[1].set(running(1));
    w.handoffs[0].set(running(0));
    w.post(0, 1, true);
    w.post(1, 1, false);
    expect(w.task.poll(32)).toBe(1); // applies both changes and forwards the frame
    expect(during).toBeUndefined();
    expect(w.collect(1)).toBe(1);
    expect(w.collect(0)).toBe(1);
  });
});
