// The driver-side used parsing target, for either layout: the engine's driver (checked on every
// call by CheckedDriver) against a device that is partly the engine's own device, popping and
// pushing honestly (now and then with a length one past the buffer, or out of order), and partly
// a hostile one writing the used ring directly (hostile-device.ts). A broken queue is held to
// its code for a few calls, then everything in flight is detached and both sides reset.
import type { RingLayout } from '../../src/index.js';
import { Rng, type FuzzCase } from './harness.js';
import { Trace } from './trace.js';
import { STICKY_CALLS, hostileStep, runSteps } from './case-loop.js';
import { CheckedDriver } from './checked-driver.js';
import { hostileDevice } from './hostile-device.js';
import { caseOps, drawAddressBase, drawParams, openWorld, paramsLabel, shuffled, type RingWorld } from './ring-world.js';

/** The engine's own device, used mostly honestly and not checked here (the driver is under test). */
class PeerDevice {
  /** Popped ids and their writable bytes, in pop order. */
  private held: { id: number; writeLen: number }[] = [];
  private readonly x;

  constructor(private readonly w: RingWorld, private readonly trace: Trace) {
    const e = w.engine.exports;
    this.x = w.layout === 'split'
      ? { pop: e.splitDevicePop, push: e.splitDevicePush, interrupt: e.splitDeviceInterruptNeeded }
      : { pop: e.packedDevicePop, push: e.packedDevicePush, interrupt: e.packedDeviceInterruptNeeded };
  }

  pop(rng: Rng): void {
    const b = this.w.popBatches[this.w.popBatches.length - 1]!;
    const n = this.x.pop(this.w.device.cb, b.chainsPtr, b.segsPtr, rng.chance(0.5) ? b.maxChains : 1 + rng.below(3), b.maxSegs);
    for (let i = 0; i < n; i++) this.held.push({ id: b.id(i), writeLen: b.writeLen(i) });
    this.trace.add(`device pop -> ${n}${n > 0 ? ': ' + Array.from({ length: n }, (_, i) => `${b.id(i)}/${b.writeLen(i)}w`).join(' ') : ''}`);
  }

  /** Returns some held buffers: in pop order with IN_ORDER (mostly), lengths mostly within bounds. */
  push(rng: Rng): string {
    if (this.held.length === 0) return 'empty';
    const u = this.w.usedBatch;
    u.clear();
    const n = 1 + rng.below(Math.min(this.held.length, u.capacity));
    let pick = this.held.slice(0, n);
    let how = 'ok';
    const honest = this.w.params.honest;
    if (!this.w.params.inOrder || (!honest && rng.chance(0.05))) {
      pick = shuffled(rng, this.held).slice(0, n);
      if (this.w.params.inOrder) how = 'out-of-order';
    }
    const over = !honest && rng.chance(0.03) ? rng.below(n) : -1;
    for (let i = 0; i < n; i++) {
      const c = pick[i]!;
      const len = i === over ? c.writeLen + 1 : rng.chance(0.5) ? c.writeLen : rng.below(c.writeLen + 1);
      if (i === over) how = 'too-long';
      u.push(c.id, len);
    }
    // The engine's device refuses (changing nothing) what it does not hold, in the order it wants.
    const rc = this.x.push(this.w.device.cb, u.ptr, n);
    this.trace.add(`device push(${Array.from({ length: n }, (_, i) => `${u.id(i)}/${u.len(i)}`).join(' ')}) -> ${rc}`);
    if (rc === n) {
      const done = new Set(pick.map((c) => c.id));
      this.held = this.held.filter((c) => !done.has(c.id));
    }
    return how;
  }

  interrupt(): void {
    this.x.interrupt(this.w.device.cb);
  }

  get broken(): boolean {
    return this.w.device.broken;
  }

  reset(): void {
    this.w.device.reset();
    this.trace.add('device reset');
    this.held = [];
  }
}

export function driverTarget(layout: RingLayout): FuzzCase {
  return (seed, features) => {
    const rng = new Rng(seed);
    const params = { ...drawParams(rng, layout), addressBase: drawAddressBase(rng) };
    const w = openWorld(params);
    const trace = new Trace();
    const drv = new CheckedDriver(w, features, trace);
    const dev = new PeerDevice(w, trace);
    const hostile = hostileDevice(w, drv);
    const hostileRate = params.honest ? 0 : rng.pick([0.02, 0.08, 0.2, 0.4]);
    features.add(`params:${paramsLabel(params)}`);
    features.add(`address-base:0x${params.addressBase.toString(16)}`);
    /** Takes everything back (checked) and starts both sides afresh, as after a device reset. */
    const restart = (): void => {
      drv.detachAll(rng);
      dev.reset();
      drv.reset();
    };
    const step = (i: number): void => {
      if (i % 32 === 0 && drv.brokenCode === 0) drv.checkFreeList();
      if ((drv.brokenCode !== 0 && drv.stickyCalls >= STICKY_CALLS) || (dev.broken && rng.chance(0.2))) return restart();
      if (rng.chance(hostileRate)) return hostileStep(hostile, rng, trace, features);
      switch (rng.below(24)) {
        case 0: case 1: case 2: case 3: case 4: drv.add(rng); break;
        case 5: case 6: case 7: case 8: case 9: case 13: drv.collect(rng); break;
        case 10: drv.kick(); break;
        case 11: drv.enableInterrupts(); break;
        case 12: drv.disableInterrupts(); break;
        case 14: if (rng.chance(0.05)) restart(); else drv.add(rng); break;
        case 15: case 16: case 17: case 18: dev.pop(rng); break;
        case 19: case 20: case 21: case 22: features.add(`device:push:${dev.push(rng)}`); break;
        default: dev.interrupt(); break;
      }
      if (params.honest && (w.device.broken || w.driver.broken)) {
        throw new Error(`with an honest device the ${w.driver.broken ? 'driver' : 'device'} broke: status ${w.driver.broken ? w.driver.status : w.device.status}`);
      }
    };
    // At the end: the free list whole, and everything in flight given back by detach.
    return runSteps(caseOps(rng, params.queueSize), trace, step, () => {
      if (drv.brokenCode === 0) drv.checkFreeList();
      restart();
    });
  };
}
