// Regressions found by the model-based properties (test/split.model.test.ts). Each case is the
// shrunk counterexample written out as explicit steps: once against the engine alone (what was
// wrong, in spec terms) and once replayed through the lock-step world (splitWorld), which also
// compares the engine with the reference model after every step. The fast-check seeds and paths
// are recorded for the history; they replay only with the generators as they were then.
import { describe, expect, it } from 'vitest';
import * as E from '../assembly/layout/errors.js';
import * as S from '../assembly/layout/split.js';
import { RING_FEATURES, VirtqueueError } from '../src/index.js';
import { splitAreaSizes, usedEventOffset } from '../src/virtqueue/layout.js';
import { splitPair } from './helpers/split-pair.js';
import { splitWorld, type SplitParams } from './helpers/split-layout.js';
import { tamperAvail } from './helpers/split-commands.js';

const BIG = 1 << 20;

const params = (o: Partial<SplitParams>): SplitParams => ({
  queueSize: 1, startIdx: 0, eventIdx: false, indirect: false, indirectMax: 1,
  interrupts: false, notify: false, cuts: [], ...o,
});

/** The VirtqueueError code a handle call throws, or 0 when it returns normally. */
function codeOf(call: () => unknown): number {
  try {
    call();
    return 0;
  } catch (e) {
    if (e instanceof VirtqueueError) return e.code;
    throw e;
  }
}

describe('split ring regressions', () => {
  // Engine bug (driver). Seed 711907784, path "9:0:0:0:2:3:2:3:3:3:3:3:3"; shrunk to
  // {queueSize 1, INDIRECT_DESC, indirectMax 8}: add([r1,r1]).
  // splitDriverAdd accepted a chain of more segments than Queue Size whenever an indirect table
  // could hold it. 2.7.5.3.1 says a driver MUST NOT create a descriptor chain longer than Queue
  // Size, and the engine's own device enforces it: it popped that chain as CHAIN_TOO_LONG and
  // broke the queue. Now the driver refuses the burst (caller error, nothing changes).
  it('driver refuses a chain longer than Queue Size even when an indirect table could hold it (2.7.5.3.1)', () => {
    const p = splitPair({ queueSize: 1, features: RING_FEATURES.INDIRECT_DESC, indirectMax: 8 });
    p.add.begin(7);
    p.add.read(p.buffers, 1);
    p.add.read(p.buffers + 128, 1);
    p.add.end();
    expect(codeOf(() => p.driver.add(p.add))).toBe(E.ERR_BAD_ARGUMENT);
    expect(p.driver.numFree).toBe(1);
    expect(p.driver.broken).toBe(false);
    expect(p.raw.availIdx).toBe(0);
    expect(p.device.pop(p.popped)).toBe(0);
    expect(p.device.broken).toBe(false);

    // With room in the queue the same chain still goes through one indirect descriptor.
    const q2 = splitPair({ queueSize: 2, features: RING_FEATURES.INDIRECT_DESC, indirectMax: 8 });
    q2.add.begin(7);
    q2.add.read(q2.buffers, 1);
    q2.add.read(q2.buffers + 128, 1);
    q2.add.end();
    expect(q2.driver.add(q2.add)).toBe(1);
    expect(q2.driver.numFree).toBe(1);
    expect(q2.device.pop(q2.popped)).toBe(1);
    expect([q2.popped.descs(0), q2.popped.nRead(0)]).toEqual([1, 2]);

    const w = splitWorld(params({ indirect: true, indirectMax: 8 }));
    expect(w.add([[{ len: 1, writable: false }, { len: 1, writable: false }]], true)).toBe(E.ERR_BAD_ARGUMENT);
    w.checkAll();
  });

  // Engine bug (device). Seed 1696252510, path
  // "132:1:1:1:1:1:1:1:3:2:2:2:3:3:6:5:5:5:5:5:5:5:6:6:6:6:6:6"; shrunk to {queueSize 64}:
  // craft([{len 0, flags WRITE|NEXT, next 1}, {len 17, flags 0}]), pop.
  // 2.7.4.2: the driver MUST place device-writable descriptors after device-readable ones. The
  // device checked the order by counting writable *segments*, and a zero-length writable
  // descriptor yields none, so a readable descriptor after it passed. It now tracks writable
  // descriptors.
  it('a zero-length device-writable descriptor before a readable one breaks 2.7.4.2', () => {
    const p = splitPair({ queueSize: 4, noDriver: true });
    p.raw.writeDesc(0, { addr: BigInt(p.buffers), len: 0, flags: S.DESC_F_WRITE | S.DESC_F_NEXT, next: 1 });
    p.raw.writeDesc(1, { addr: BigInt(p.buffers), len: 17, flags: 0, next: 0 });
    p.raw.publish(0);
    let err: unknown;
    try { p.device.pop(p.popped); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(VirtqueueError);
    expect((err as VirtqueueError).code).toBe(E.ERR_WRITABLE_BEFORE_READABLE);
    expect((err as VirtqueueError).detail).toBe(1);
    expect(p.device.status).toBe(E.ERR_WRITABLE_BEFORE_READABLE);

    // The other way round (empty readable, then writable) is a well-formed chain.
    const ok = splitPair({ queueSize: 4, noDriver: true });
    ok.raw.writeDesc(0, { addr: BigInt(ok.buffers), len: 0, flags: S.DESC_F_NEXT, next: 1 });
    ok.raw.writeDesc(1, { addr: BigInt(ok.buffers), len: 17, flags: S.DESC_F_WRITE, next: 0 });
    ok.raw.publish(0);
    expect(ok.device.pop(ok.popped)).toBe(1);
    expect([ok.popped.nRead(0), ok.popped.nWrite(0), ok.popped.writeLen(0)]).toEqual([0, 1, 17]);

    const w = splitWorld(params({ queueSize: 64 }), true);
    w.tamperDesc(0, { addr: BigInt(w.p.arena), len: 0, flags: S.DESC_F_WRITE | S.DESC_F_NEXT, next: 1 }, false);
    w.tamperDesc(1, { addr: BigInt(w.p.arena), len: 17, flags: 0, next: 0 }, false);
    tamperAvail(w, 0, 0, 1);
    expect(w.pop(0, BIG).rc).toBe(E.ERR_WRITABLE_BEFORE_READABLE);
    w.checkAll();
  });

  // Engine bug (device, memory safety). Seed -598032443, path
  // "440:0:0:0:0:4:12:12:8:8:8:8:8:8:8:8:8:8:8:8:9:8:8:9:9:10"; shrunk to {queueSize 1}:
  // add([r1]), pop, craft([{len 48}]) (a rogue driver re-publishes descriptor 0), pop, push 2.
  // splitDevicePush accepted more records than Queue Size when a rule-breaking driver had made
  // the device pop that many, and copied them in two runs: the second ran past the end of the
  // used ring (over avail_event and whatever followed). The used ring holds Queue Size
  // elements (2.7.8); such a burst is now refused as a caller error.
  // Since then the device also keeps a private record of the heads it holds, so the rogue
  // re-publication is refused at pop (HEAD_IN_FLIGHT, 2.7.13.1) and the device never holds more
  // than Queue Size chains; push still refuses more than Queue Size records, and records for
  // heads it does not hold.
  it('push of more than Queue Size records is refused instead of writing past the used ring (2.7.8)', () => {
    const p = splitPair({ queueSize: 1, noDriver: true });
    p.raw.writeDesc(0, { addr: BigInt(p.buffers), len: 8, flags: 0, next: 0 });
    p.raw.publish(0);
    expect(p.device.pop(p.popped)).toBe(1);
    p.raw.publish(0);
    expect(codeOf(() => p.device.pop(p.popped))).toBe(E.ERR_HEAD_IN_FLIGHT);
    expect(p.device.inFlight).toBe(1);
    p.device.reset();
    p.raw.availIdx = 0;
    p.raw.publish(0);
    expect(p.device.pop(p.popped)).toBe(1);
    const end = p.ring.used + splitAreaSizes(1).used;
    p.engine.u8.fill(0xaa, end, end + 8);
    const before = p.engine.u8.slice(p.ring.used, end + 8);
    p.used.clear();
    for (let i = 0; i < 3; i++) p.used.push(0, 4);
    expect(codeOf(() => p.device.push(p.used))).toBe(E.ERR_BAD_ARGUMENT);
    p.used.clear();
    p.used.push(0, 4);
    p.used.push(0, 4);
    expect(codeOf(() => p.device.push(p.used))).toBe(E.ERR_BAD_ARGUMENT);
    expect(p.engine.u8.slice(p.ring.used, end + 8)).toEqual(before);
    expect(p.device.inFlight).toBe(1);
    expect(p.device.broken).toBe(false);
    // A burst the ring can hold still goes through.
    p.used.clear();
    p.used.push(0, 4);
    expect(p.device.push(p.used)).toBe(1);
    expect(p.raw.usedIdx).toBe(1);
    expect(p.engine.u8.slice(end, end + 8)).toEqual(new Uint8Array(8).fill(0xaa));

    const w = splitWorld(params({}), true);
    w.add([[{ len: 1, writable: false }]]);
    w.pop(0, BIG);
    w.tamperDesc(0, { addr: BigInt(w.p.arena), len: 48, flags: 0, next: 0 }, false);
    tamperAvail(w, 0, 0, 1);
    w.pop(0, BIG); // refused now: head 0 is still in flight, and the queue is broken
    expect(w.push([{ pick: 0, len: -1 }, { pick: 0, len: 0 }])).toBe(E.ERR_HEAD_IN_FLIGHT);
    w.checkAll();
  });

  // Test bookkeeping bug (the engine and the reference were right). Seed -2079816354, path
  // "39:0:0:1:1:2:2:11:10:10:10:11:10:11:12:11:11:12"; shrunk to {queueSize 1, startIdx 65488,
  // EVENT_IDX, interrupts on}: add, pop, push, collect, interruptNeeded.
  // The world's "no missed interrupt" invariant counted the push as unseen by the sleeping driver,
  // although the driver had collected it (and moved used_event past it) before the device
  // looked. With EVENT_IDX the device must not interrupt for it (2.7.7.2).
  it('no interrupt for a used entry the driver collected before the device asked (2.7.7.2)', () => {
    const w = splitWorld(params({ startIdx: 65488, eventIdx: true, interrupts: true }));
    w.add([[{ len: 1, writable: false }]]);
    w.checkAll();
    w.pop(0, BIG);
    w.push([{ pick: 0, len: -1 }]);
    expect(w.collect(BIG).rc).toBe(1);
    const usedEvent = w.p.engine.view.getUint16(w.p.ring.avail + usedEventOffset(1), true);
    expect(usedEvent).toBe(65489);
    expect(w.interrupt()).toBe(0);
    w.checkAll();
  });
});
