// A handle ring (engine exports, called directly so every variant is exercised) next to a plain
// array model of it. Each step runs one call on both and compares the result, the handles moved,
// the untouched rest of the burst array, the counters and the four free-running indices.
import { expect } from 'vitest';
import * as R from '../../assembly/layout/handle-ring.js';
import * as E from '../../assembly/layout/errors.js';
import { MemoryPlan, type Engine, type EngineExports } from '../../src/index.js';
import { HandleRing } from '../../src/dataplane/handle-ring.js';

export interface RingParams {
  /** log2 of the capacity. */
  order: number;
  /** Where the indices start (near 2^32 in most runs, so they wrap). */
  start: number;
}

const SENTINEL = 0xdeadbeef;

/** Distinct 32-bit handles for distinct serials (an odd multiplier is a bijection mod 2^32). */
export const handleFor = (serial: number): number => Math.imul(serial + 1, 0x9e3779b1) >>> 0;

export class RingWorld {
  readonly ring: HandleRing;
  readonly capacity: number;
  readonly burstPtr: number;
  readonly burstCap: number;
  private readonly u32: Uint32Array;
  private readonly model: number[] = [];
  private serial = 0;
  private enqueued = 0;
  private dequeued = 0;
  readonly seen = { moved: 0, partial: 0, refusedFull: 0, refusedEmpty: 0, tooBig: 0 };

  constructor(readonly engine: Engine, readonly params: RingParams) {
    const plan = new MemoryPlan(engine.memory);
    this.capacity = 2 ** params.order;
    this.ring = HandleRing.create(engine, plan, { capacity: this.capacity, startIndex: params.start });
    this.burstCap = 2 * this.capacity + 2;
    this.burstPtr = plan.alloc(this.burstCap * 4, 64, 'test burst');
    this.u32 = engine.u32;
    this.checkAll();
  }

  get length(): number {
    return this.model.length;
  }

  private call(op: 'Enqueue' | 'Dequeue', bulk: boolean, multi: boolean, n: number): number {
    const side = op === 'Enqueue' ? (multi ? 'Mp' : 'Sp') : (multi ? 'Mc' : 'Sc');
    const name = `ring${op}${bulk ? 'Bulk' : 'Burst'}${side}` as keyof EngineExports;
    return (this.engine.exports[name] as (r: number, a: number, n: number) => number)(this.ring.addr, this.burstPtr, n);
  }

  enqueue(bulk: boolean, multi: boolean, n: number): number {
    const values = Array.from({ length: n }, (_, i) => handleFor(this.serial + i));
    this.u32.set(values, this.burstPtr >>> 2);
    const rc = this.call('Enqueue', bulk, multi, n);
    const room = this.capacity - this.model.length;
    if (bulk && n > this.capacity) {
      expect(rc).toBe(E.ERR_BAD_ARGUMENT);
      this.seen.tooBig++;
      return rc;
    }
    const want = n <= room ? n : bulk ? 0 : room;
    expect(rc).toBe(want);
    if (want < n) this.seen[want === 0 ? 'refusedFull' : 'partial']++;
    this.model.push(...values.slice(0, want));
    this.serial += want;
    this.enqueued += want;
    this.seen.moved += want;
    return rc;
  }

  dequeue(bulk: boolean, multi: boolean, n: number): number {
    this.u32.fill(SENTINEL, this.burstPtr >>> 2, (this.burstPtr >>> 2) + this.burstCap);
    const rc = this.call('Dequeue', bulk, multi, n);
    if (bulk && n > this.capacity) {
      expect(rc).toBe(E.ERR_BAD_ARGUMENT);
      this.seen.tooBig++;
      return rc;
    }
    const have = this.model.length;
    const want = n <= have ? n : bulk ? 0 : have;
    expect(rc).toBe(want);
    if (want < n) this.seen[want === 0 ? 'refusedEmpty' : 'partial']++;
    const out = Array.from(this.u32.subarray(this.burstPtr >>> 2, (this.burstPtr >>> 2) + this.burstCap));
    expect(out.slice(0, want)).toEqual(this.model.splice(0, want));
    // Nothing is written past the handles moved (a refused bulk writes nothing at all).
    expect(out.slice(want).every((v) => v === SENTINEL)).toBe(true);
    this.dequeued += want;
    return rc;
  }

  checkAll(): void {
    const x = this.engine.exports;
    const len = this.model.length;
    expect(x.ringCount(this.ring.addr)).toBe(len);
    expect(x.ringFreeCount(this.ring.addr)).toBe(this.capacity - len);
    const prod = (this.params.start + this.enqueued) >>> 0;
    const cons = (this.params.start + this.dequeued) >>> 0;
    expect(this.ring.indices()).toEqual({ prodHead: prod, prodTail: prod, consHead: cons, consTail: cons });
    expect(this.ring.status).toBe(0);
    expect(this.u32[(this.ring.addr + R.RING_MASK) >>> 2]).toBe(this.capacity - 1);
  }

  /** Whether the producer index has crossed 2^32 since the start. */
  get wrapped(): boolean {
    return this.params.start + this.enqueued > 0xffffffff;
  }
}
