// The visualizer's stepper (sim/stepper/): each step against the engine's own state, faults with
// the error and section they produce, time travel restoring the exact bytes, a trace replayed
// identically and a tampered one caught. Split and packed.
import { describe, expect, it } from 'vitest';
import { createSharedMemory } from '../src/memory.js';
import { loadEngine } from '../src/node.js';
import { StepSession, StepRefused, stepFeatureNames } from '../sim/stepper/session.js';
import { Timeline } from '../sim/stepper/timeline.js';
import { replayTrace } from '../sim/stepper/replay.js';
import { digestBytes, parseTrace, traceJson, TraceError, type StepConfig, type StepOp } from '../sim/stepper/trace.js';
import { takeSnapshot } from '../src/viz/snapshot.js';

const engine = loadEngine(createSharedMemory(4 << 20));
const config = (layout: 'split' | 'packed', features: string[] = [], segments = 2): StepConfig =>
  ({ layout, queueSize: 8, features: stepFeatureNames(layout, features), segments });

/** Bytes one saved state of the test configuration takes. */
const t0Bytes = (layout: 'split' | 'packed'): number => new StepSession(engine, config(layout, ['EVENT_IDX'])).save().bytes.length;

const SCRIPT: StepOp[] = [
  { op: 'add', n: 3 }, { op: 'notify' }, { op: 'pop', n: 2 }, { op: 'push', n: 1 }, { op: 'collect' },
  { op: 'add', n: 2 }, { op: 'pop', n: 4 }, { op: 'reorder' }, { op: 'push', n: 3 }, { op: 'collect' },
  { op: 'add', n: 4 }, { op: 'notify' }, { op: 'pop', n: 4 }, { op: 'delay', n: 1 }, { op: 'push', n: 4 },
  { op: 'push', n: 4 }, { op: 'collect' },
];

describe.each(['split', 'packed'] as const)('stepper, %s', (layout) => {
  it('each step moves the engine and the snapshot as the spec says, and the pool is whole at the end', () => {
    const s = new StepSession(engine, config(layout));
    const source = { name: 'q', layout, areas: s.areas, driverCb: s.driver.cb, deviceCb: s.device.cb };
    let outstanding = 0, held = 0;
    for (const op of SCRIPT) {
      const r = s.apply(op);
      expect(r.error).toBeUndefined();
      if (op.op === 'add') outstanding += r.n;
      if (op.op === 'pop') held += r.n;
      if (op.op === 'push') held -= r.n;
      if (op.op === 'collect') outstanding -= r.n;
      const snap = takeSnapshot(engine, [source], [{ name: 'pool', addr: s.pool.addr }]);
      const q = snap.queues[0];
      expect(q.anomalies).toEqual([]);
      expect(s.driver.inFlight).toBe(outstanding);
      expect(s.device.inFlight).toBe(held);
      expect(s.held.length).toBe(held);
      expect(q.chains.length).toBe(outstanding);
      expect(q.counters.device).toBe(held);
      expect(snap.pools[0].inUse).toBe(outstanding * 2);
    }
    expect(outstanding).toBe(0);
    const added = s.counters.added;
    expect(added).toBeGreaterThanOrEqual(8);
    expect(s.counters).toMatchObject({ popped: added, pushed: added, collected: added, errors: 0 });
    expect(s.counters.bytesUsed).toBe(added * 64);
    expect(s.pool.freeCount).toBe(s.pool.size);
  });

  it('a dropped notification reaches nobody', () => {
    const s = new StepSession(engine, config(layout));
    s.apply({ op: 'add', n: 1 });
    s.apply({ op: 'drop-notify' });
    expect(s.apply({ op: 'notify' }).n).toBe(0);
    expect(s.notified).toBe(false);
    expect(s.counters.kicksDropped).toBe(1);
    s.apply({ op: 'add', n: 1 });
    expect(s.apply({ op: 'notify' }).n).toBe(1);
    expect(s.notified).toBe(true);
  });

  const corruptions = layout === 'split'
    ? [['addr', 'BUFFER_NOT_IN_REGIONS', '2.7.5', 'device'], ['link', 'NEXT_OUT_OF_RANGE', '2.7.5', 'device'], ['used-id', 'USED_ID_OUT_OF_RANGE', '2.7.8', 'driver']]
    : [['addr', 'BUFFER_NOT_IN_REGIONS', '2.8.4', 'device'], ['link', 'PACKED_ID_OUT_OF_RANGE', '2.8.13', 'device'], ['used-id', 'USED_ID_OUT_OF_RANGE', '2.8.22', 'driver']];
  it.each(corruptions)('corrupt %s: %s (§%s) met by the %s, where it was written', (what, name, section, side) => {
    const s = new StepSession(engine, config(layout, [], 1));
    s.apply({ op: 'add', n: 2 });
    if (what === 'used-id') { s.apply({ op: 'pop', n: 2 }); s.apply({ op: 'push', n: 1 }); }
    else s.apply({ op: 'pop', n: 1 });
    const slot = layout === 'split' ? 1 : 1; // the second chain: descriptor 1 / ring slot 1
    s.apply({ op: 'corrupt', what: what as 'addr' });
    const r = s.apply(what === 'used-id' ? { op: 'collect' } : { op: 'pop', n: 1 });
    expect(r.error).toBe(name);
    expect(s.lastFault).toMatchObject({ name, section, side, at: what === 'used-id' ? 4 : 3 });
    expect(s.lastFault!.index).toBe(what === 'used-id' ? 0 : slot);
    expect(s.lastFault!.message).toContain(`§${section}`);
    // A reset takes every chain back and the queue works again.
    s.apply({ op: 'reset' });
    expect(s.pool.freeCount).toBe(s.pool.size);
    expect(s.apply({ op: 'add', n: 1 }).n).toBe(1);
    const again = s.apply({ op: 'pop', n: 1 });
    expect(again.n).toBe(1);
    expect(again.error).toBeUndefined();
  });

  it('refuses a corruption with nothing to corrupt, and a delay with nothing held', () => {
    const s = new StepSession(engine, config(layout));
    expect(() => s.apply({ op: 'corrupt', what: 'addr' })).toThrow(StepRefused);
    expect(() => s.apply({ op: 'corrupt', what: 'used-id' })).toThrow(StepRefused);
    expect(() => s.apply({ op: 'delay', n: 2 })).toThrow(StepRefused);
    expect(s.counters.ops).toBe(0);
  });

  it('time travel: seeking back restores the exact bytes of that point, and forward again', () => {
    const t = new Timeline(engine, config(layout, ['EVENT_IDX']));
    const bytesAt: Uint8Array[][] = [t.session.stateBytes()];
    for (let lap = 0; lap < 4; lap++) for (const op of SCRIPT) { t.apply(op); bytesAt.push(t.session.stateBytes()); }
    expect(t.checkpointCount).toBe(1); // 68 operations: only point 0 so far
    for (const k of [5, 0, 33, t.length, 17]) {
      t.seek(k);
      expect(t.position).toBe(k);
      expect(t.session.stateBytes()).toEqual(bytesAt[k]);
    }
    // A new step in the past drops the future.
    t.seek(3);
    t.apply({ op: 'collect' });
    expect(t.length).toBe(4);
  });

  it('long histories: checkpoints bound the work of a scrub and thin out within their budget, bytes still exact', () => {
    const t = new Timeline(engine, config(layout, ['EVENT_IDX']), {}, { checkpointBytes: 40 * (t0Bytes(layout)) });
    const bytesAt: Uint8Array[][] = [t.session.stateBytes()];
    let i = 0;
    while (t.length < 3000) {
      const op = SCRIPT[i++ % SCRIPT.length];
      try { t.apply(op); } catch (e) { if (!(e instanceof StepRefused)) throw e; continue; }
      bytesAt.push(t.session.stateBytes());
    }
    // 3000 / 128 = 23 checkpoints would fit 40 states; budget of 40: none thinned yet.
    expect(t.checkpointCount).toBe(24);
    for (const k of [2999, 1, 1500, 129, 128, 127, 3000, 0]) {
      t.seek(k);
      expect(t.session.stateBytes(), `point ${k}`).toEqual(bytesAt[k]);
      expect(t.session.counters.ops).toBe(k);
    }
    const small = new Timeline(engine, config(layout, ['EVENT_IDX']), {}, { checkpointBytes: 6 * t0Bytes(layout) });
    for (const e of t.history) small.apply(e.op);
    expect(small.checkpointCount).toBeLessThanOrEqual(6);
    small.seek(1777);
    expect(small.session.stateBytes()).toEqual(bytesAt[1777]);
  });

  it('a trace replays identically, and a tampered one is caught at the operation that differs', () => {
    const t = new Timeline(engine, config(layout, ['IN_ORDER'], 3));
    for (const op of [...SCRIPT.filter((o) => o.op !== 'reorder'), { op: 'corrupt', what: 'addr' } as StepOp].slice(0, 12)) {
      try { t.apply(op); } catch (e) { if (!(e instanceof StepRefused)) throw e; }
    }
    const text = traceJson(t.toTrace());
    const report = replayTrace(engine, parseTrace(text));
    expect(report).toMatchObject({ identical: true, matched: t.length, ops: t.length });
    expect(report.digest).toBe(t.history[t.length - 1].result.digest);
    const tampered = JSON.parse(text);
    tampered.ops[4] = { op: 'pop', n: 1 };
    const bad = replayTrace(engine, parseTrace(JSON.stringify(tampered)));
    expect(bad.identical).toBe(false);
    expect(bad.mismatch?.at).toBeLessThanOrEqual(4);
  });
});

describe('trace format', () => {
  it('digest: 16 hex digits that tell apart one flipped bit, the order of ranges and where they split', () => {
    const bytes = Uint8Array.from({ length: 203 }, (_, i) => (i * 37) & 0xff);
    const d = digestBytes([bytes]);
    expect(d).toMatch(/^[0-9a-f]{16}$/);
    expect(digestBytes([bytes.slice()])).toBe(d);
    expect(digestBytes([bytes.subarray(1)])).toBe(digestBytes([bytes.slice(1)]));
    const seen = new Set([d]);
    for (const bit of [0, 7, 8 * 100 + 3, 8 * 202 + 7]) {
      const b = bytes.slice();
      b[bit >> 3] ^= 1 << (bit & 7);
      seen.add(digestBytes([b]));
    }
    seen.add(digestBytes([bytes.subarray(0, 100), bytes.subarray(100)]));
    seen.add(digestBytes([bytes.subarray(100), bytes.subarray(0, 100)]));
    seen.add(digestBytes([bytes.subarray(0, 101), bytes.subarray(101)]));
    seen.add(digestBytes([bytes, new Uint8Array(0)]));
    expect(seen.size).toBe(9);
  });

  it.each([
    ['{', /not JSON/],
    ['{"format":"x"}', /format must be/],
    ['{"format":"virtqueue-trace","version":2}', /version 2/],
    ['{"format":"virtqueue-trace","version":1,"config":{"layout":"split","queueSize":6,"features":["VERSION_1"],"segments":1},"ops":[],"results":[]}', /not a split Queue Size/],
    ['{"format":"virtqueue-trace","version":1,"config":{"layout":"packed","queueSize":6,"features":["VERSION_1"],"segments":1},"ops":[],"results":[]}', /RING_PACKED must be/],
    ['{"format":"virtqueue-trace","version":1,"config":{"layout":"split","queueSize":8,"features":["VERSION_1","NET_MQ"],"segments":1},"ops":[],"results":[]}', /only VERSION_1/],
    ['{"format":"virtqueue-trace","version":1,"config":{"layout":"split","queueSize":8,"features":["VERSION_1"],"segments":1},"ops":[{"op":"add","n":9}],"results":[{"n":0,"digest":"0000000000000000"}]}', /ops\[0\]\.n must be/],
    ['{"format":"virtqueue-trace","version":1,"config":{"layout":"split","queueSize":8,"features":["VERSION_1"],"segments":1},"ops":[{"op":"fly"}],"results":[{"n":0,"digest":"0000000000000000"}]}', /ops\[0\]\.op must be/],
    ['{"format":"virtqueue-trace","version":1,"config":{"layout":"split","queueSize":8,"features":["VERSION_1"],"segments":1},"ops":[{"op":"notify"}],"results":[]}', /one entry per operation/],
  ])('refuses %s', (text, why) => {
    expect(() => parseTrace(text)).toThrow(TraceError);
    expect(() => parseTrace(text)).toThrow(why);
  });
});
