// Model-based tests of the handle ring (assembly/dataplane/handle-ring): every export, in every
// mode, against a plain array. Sequential (one thread): what is checked is each call's contract -
// bulk all or nothing, burst as many as possible, FIFO order, the counters, the free-running
// indices across the 2^32 wrap - and the caller errors. The waiting path of the Mp/Mc variants is
// driven by a second thread at the end; test/dataplane-stress.test.ts runs real concurrent traffic.
// Runs per property: VIRTQUEUE_PROPERTY_RUNS (default 200).
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as R from '../assembly/layout/handle-ring.js';
import * as E from '../assembly/layout/errors.js';
import { createSharedMemory, MemoryPlan, VirtqueueError } from '../src/index.js';
import { engineModule, loadEngine } from '../src/node.js';
import { HandleBurst, HandleRing, type RingWait } from '../src/dataplane/handle-ring.js';
import { RingWorld, handleFor, type RingParams } from './helpers/ring-world.js';
import { BoundedCaller } from './helpers/bounded-call.js';

const RUNS = Number(process.env.VIRTQUEUE_PROPERTY_RUNS ?? 200);
const ENOUGH = RUNS >= 100;
const memory = createSharedMemory(4 << 20);
const engine = loadEngine(memory);

class Step implements fc.Command<RingWorld, object> {
  constructor(readonly label: string, readonly act: (w: RingWorld) => unknown) {}
  check(): boolean { return true; }
  run(w: RingWorld): void {
    this.act(w);
    w.checkAll();
  }
  toString(): string { return this.label; }
}

// Counts are raw numbers taken modulo what the ring could use (0 .. 2 * capacity + 2), so bulks
// larger than the capacity, bursts larger than the content and zero-length calls all occur.
const moveArb = (op: 'enqueue' | 'dequeue') =>
  fc.record({ bulk: fc.boolean(), multi: fc.boolean(), n: fc.nat(1 << 16), small: fc.boolean() }).map(({ bulk, multi, n, small }) => {
    const mode = op === 'enqueue' ? (multi ? 'mp' : 'sp') : (multi ? 'mc' : 'sc');
    return new Step(`${op} ${bulk ? 'bulk' : 'burst'} ${mode} ${n}${small ? '' : ' (any)'}`, (w) => {
      // "small" counts stay within the capacity, so most calls move something.
      const k = small ? n % (w.capacity + 1) : n % (w.burstCap + 1);
      return op === 'enqueue' ? w.enqueue(bulk, multi, k) : w.dequeue(bulk, multi, k);
    });
  });

const paramsArb: fc.Arbitrary<RingParams> = fc.record({
  order: fc.integer({ min: 0, max: 6 }),
  start: fc.oneof(
    { weight: 1, arbitrary: fc.constant(0) },
    { weight: 4, arbitrary: fc.integer({ min: -64, max: 15 }).map((d) => (0xfffffff0 + d) >>> 0) },
    { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }) },
  ),
});

describe('handle ring: engine and array model agree', () => {
  it('on random sequences of bulk and burst enqueues and dequeues in every mode', () => {
    const totals = { moved: 0, partial: 0, refusedFull: 0, refusedEmpty: 0, tooBig: 0 };
    let wrapped = 0;
    fc.assert(
      fc.property(paramsArb, fc.commands([moveArb('enqueue'), moveArb('dequeue')], { maxCommands: 80, size: 'large' }), (params, cmds) => {
        const w = new RingWorld(engine, params);
        fc.modelRun(() => ({ model: w, real: {} }), cmds);
        // Whatever is left comes out, in order.
        while (w.length > 0) w.dequeue(false, true, Math.min(w.length, w.capacity));
        w.checkAll();
        for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += w.seen[k];
        if (w.wrapped) wrapped++;
      }),
      { numRuns: RUNS },
    );
    if (ENOUGH) {
      expect(totals.moved).toBeGreaterThan(0);
      expect(totals.partial).toBeGreaterThan(0); // bursts cut short by a full or empty ring
      expect(totals.refusedFull).toBeGreaterThan(0);
      expect(totals.refusedEmpty).toBeGreaterThan(0);
      expect(totals.tooBig).toBeGreaterThan(0);
      expect(wrapped).toBeGreaterThan(RUNS / 10);
    }
  });

  for (const [producer, consumer] of [['sp', 'sc'], ['sp', 'mc'], ['mp', 'sc'], ['mp', 'mc']] as const) {
    it(`keeps FIFO order and exact counts across the 2^32 index wrap (${producer}/${consumer})`, () => {
      const plan = new MemoryPlan(memory);
      const start = 0xfffffff0;
      const ring = HandleRing.create(engine, plan, { capacity: 8, producer, consumer, startIndex: start });
      expect([ring.producer, ring.consumer]).toEqual([producer, consumer]);
      const burst = HandleBurst.alloc(engine, plan, 8);
      let sent = 0;
      let got = 0;
      for (let round = 0; round < 40; round++) {
        const n = 1 + (round % 5);
        burst.fill(Array.from({ length: n }, (_, i) => handleFor(sent + i)));
        const bulk = round % 2 === 0;
        const moved = bulk ? ring.enqueueBulk(burst) : ring.enqueueBurst(burst);
        expect(moved).toBe(bulk && 8 - (sent - got) < n ? 0 : Math.min(n, 8 - (sent - got)));
        sent += moved;
        expect(ring.count).toBe(sent - got);
        const k = (round % 3 === 0) ? ring.dequeueBulk(burst, 3) : ring.dequeueBurst(burst, 4);
        expect(burst.toArray()).toEqual(Array.from({ length: k }, (_, i) => handleFor(got + i)));
        got += k;
        expect([ring.count, ring.freeCount]).toEqual([sent - got, 8 - (sent - got)]);
      }
      const ix = ring.indices();
      expect(sent).toBeGreaterThan(16); // the indices did cross 2^32 ...
      expect(ix.prodTail).toBe((start + sent) >>> 0);
      expect(ix.prodTail).toBeLessThan(start); // ... and read as small numbers now
      expect(ix.consTail).toBe((start + got) >>> 0);
    });
  }
});

describe('handle ring: caller errors change nothing', () => {
  // A memory of its own: the other tests re-plan theirs from the start.
  const memory = createSharedMemory(1 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const ring = HandleRing.create(engine, plan, { capacity: 16 });
  const x = engine.exports;

  it('refuses an address that is not a ring header', () => {
    const burst = HandleBurst.alloc(engine, plan, 4);
    for (const addr of [0, ring.addr + 4, burst.ptr, memory.buffer.byteLength]) {
      expect(x.ringEnqueueBurstMp(addr, burst.ptr, 1)).toBe(E.ERR_BAD_CONTROL_BLOCK);
      expect(x.ringDequeueBulkSc(addr, burst.ptr, 1)).toBe(E.ERR_BAD_CONTROL_BLOCK);
      expect(x.ringCount(addr)).toBe(E.ERR_BAD_CONTROL_BLOCK);
      expect(x.ringInit(addr)).toBe(E.ERR_BAD_CONTROL_BLOCK);
    }
  });

  it('refuses a burst array outside memory, naming it in the detail', () => {
    const end = memory.buffer.byteLength;
    expect(x.ringEnqueueBulkSp(ring.addr, end - 8, 3)).toBe(E.ERR_OUT_OF_MEMORY_BOUNDS);
    expect(x.ringDequeueBurstMc(ring.addr, end - 4, 0x40000000)).toBe(E.ERR_OUT_OF_MEMORY_BOUNDS);
    expect(engine.u32[(ring.addr + R.RING_DETAIL) >>> 2]).toBe(end - 4);
    expect([ring.count, ring.indices().prodHead]).toEqual([0, 0]);
  });

  it('refuses a configuration whose capacity is not a power of two up to 2^28', () => {
    for (const cap of [0, 3, 24, R.RING_MAX_CAPACITY * 2]) {
      const addr = plan.alloc(R.RING_ENTRIES + 64, R.RING_ALIGN);
      engine.u32[(addr + R.RING_KIND) >>> 2] = R.KIND_RING;
      engine.u32[(addr + R.RING_CAPACITY) >>> 2] = cap;
      expect(x.ringInit(addr)).toBe(E.ERR_BAD_CONFIG);
    }
    // A capacity whose entries would run past the end of memory.
    const last = memory.buffer.byteLength - R.RING_ENTRIES;
    engine.u32[(last + R.RING_KIND) >>> 2] = R.KIND_RING;
    engine.u32[(last + R.RING_CAPACITY) >>> 2] = 2;
    expect(x.ringInit(last)).toBe(E.ERR_BAD_CONFIG);
    expect(() => HandleRing.create(engine, plan, { capacity: 12 })).toThrow(RangeError);
  });

  it('the host handle turns codes into VirtqueueErrors and checks burst sizes', () => {
    const small = HandleBurst.alloc(engine, plan, 32);
    small.count = 20;
    const e = (() => { try { ring.enqueueBulk(small); } catch (err) { return err; } })();
    expect(e).toBeInstanceOf(VirtqueueError);
    expect((e as VirtqueueError).code).toBe(E.ERR_BAD_ARGUMENT); // a bulk of 20 can never fit 16
    expect((e as VirtqueueError).message).toMatch(/^ring enqueue bulk: .*BAD_ARGUMENT, detail 20/);
    expect(() => ring.dequeueBurst(small, 33)).toThrow(RangeError);
    expect(ring.enqueueBurst(small)).toBe(16);
    expect(ring.enqueueBurst(small, 0)).toBe(0);
    expect(() => HandleRing.attach(engine, small.ptr)).toThrow(/no ring header/);
  });
});

describe('handle ring: a multi-producer waits for earlier producers, within a bound', () => {
  const caller = new BoundedCaller(engineModule(), 20_000);
  afterAll(() => caller.close());

  /** A ring where a producer (consumer) reserved two entries and has not published them. */
  function stuck(side: 'producer' | 'consumer', spinLimit: number, wait: RingWait) {
    const plan = new MemoryPlan(memory);
    const ring = HandleRing.create(engine, plan, { capacity: 8, spinLimit, startIndex: 0xfffffffe, wait });
    expect(ring.wait).toBe(wait);
    const burst = HandleBurst.alloc(engine, plan, 8).fill([1, 2, 3, 4]);
    expect(ring.enqueueBulk(burst)).toBe(4);
    const head = side === 'producer' ? R.RING_PROD_HEAD : R.RING_CONS_HEAD;
    Atomics.add(engine.u32, (ring.addr + head) >>> 2, 2); // the reservation of a thread that stopped
    return { ring, burst, tail: (ring.addr + (side === 'producer' ? R.RING_PROD_TAIL : R.RING_CONS_TAIL)) >>> 2 };
  }

  for (const wait of ['spin', 'sleep'] as const) {
    describe(`waiting by ${wait === 'spin' ? 'spinning' : 'sleeping'}`, () => {
      it('publishes in order: a waiting producer completes once the earlier one publishes', async () => {
        const { ring, burst, tail } = stuck('producer', 0, wait);
        const call = caller.call(memory, 'ringEnqueueBulkMp', [ring.addr, burst.ptr, 1]);
        await new Promise((r) => setTimeout(r, 50)); // let it start waiting (it is correct either way)
        expect(Atomics.load(engine.u32, tail)).toBe(2); // start + 4, wrapped; nothing published past it
        Atomics.add(engine.u32, tail, 2); // the earlier producer publishes its two entries
        expect(await call).toBe(1);
        expect([ring.count, ring.indices().prodTail, ring.status]).toEqual([7, 5, 0]);
      });

      it('a waiting consumer completes once the earlier one releases', async () => {
        const { ring, burst, tail } = stuck('consumer', 0, wait);
        const call = caller.call(memory, 'ringDequeueBurstMc', [ring.addr, burst.ptr, 5]);
        await new Promise((r) => setTimeout(r, 50));
        Atomics.add(engine.u32, tail, 2);
        expect(await call).toBe(2); // entries 3 and 4: the two before them were the stopped consumer's
        expect(burst.handles.subarray(0, 2)).toEqual(new Uint32Array([3, 4]));
        expect([ring.count, ring.status]).toEqual([0, 0]);
      });

      for (const side of ['producer', 'consumer'] as const) {
        it(`a ${side} that never publishes: the next one gives up after the spin limit and the ring breaks`, () => {
          const { ring, burst } = stuck(side, 5000, wait);
          const x = engine.exports;
          const rc = side === 'producer' ? x.ringEnqueueBulkMp(ring.addr, burst.ptr, 1) : x.ringDequeueBulkMc(ring.addr, burst.ptr, 1);
          expect(rc).toBe(E.ERR_RING_STALLED);
          expect(ring.broken).toBe(true);
          // Sticky: every data-path call now fails fast, whatever its mode ...
          expect(x.ringEnqueueBurstSp(ring.addr, burst.ptr, 1)).toBe(E.ERR_RING_STALLED);
          expect(x.ringDequeueBurstSc(ring.addr, burst.ptr, 1)).toBe(E.ERR_RING_STALLED);
          expect(() => ring.enqueueBulk(burst, 1)).toThrow(/RING_STALLED/);
          // ... the counters still answer, and ringInit makes it usable again.
          expect(ring.count).toBeGreaterThanOrEqual(0);
          ring.reinit();
          expect([ring.broken, ring.count, ring.enqueueBulk(burst, 4), ring.dequeueBulk(burst, 4)]).toEqual([false, 0, 4, 4]);
        });
      }

      it('other waiters return the status as soon as the ring is broken', async () => {
        const { ring, burst } = stuck('producer', 0, wait);
        const call = caller.call(memory, 'ringEnqueueBulkMp', [ring.addr, burst.ptr, 1]);
        await new Promise((r) => setTimeout(r, 50));
        // Another waiter broke the ring. A marker code instead of ERR_RING_STALLED tells the two
        // ways out apart: a waiter that saw the status returns it; one that ran out of polls
        // itself (after the default limit, a second or more) would return ERR_RING_STALLED.
        const marker = -99;
        Atomics.store(engine.i32, (ring.addr + R.RING_STATUS) >>> 2, marker);
        expect(await call).toBe(marker);
      });
    });
  }
});
