// The device-side ring parsing target, for either layout: the engine's device (checked on every
// call by CheckedDevice) against a driver that is partly the engine's own driver, adding and
// collecting well-formed chains, and partly a hostile one writing the ring directly
// (hostile-driver.ts). Each case draws the queue's parameters (Queue Size, INDIRECT_DESC,
// IN_ORDER, EVENT_IDX, region cuts ...), how hostile the driver is, and a bounded number of
// operations; a broken queue is checked to stay broken for a few calls, then reset.
import type { RingLayout } from '../../src/index.js';
import { Rng, type FuzzCase } from './harness.js';
import { Trace } from './trace.js';
import { STICKY_CALLS, hostileStep, runSteps } from './case-loop.js';
import { fillAddBatch } from './chain-gen.js';
import { CheckedDevice } from './checked-device.js';
import { hostileDriver } from './hostile-driver.js';
import { caseOps, drawParams, openWorld, paramsLabel, type RingWorld } from './ring-world.js';

/** The engine's own driver, used honestly and not checked here (the device is under test). */
class HonestDriver {
  private token = 1;
  private readonly x;

  constructor(private readonly w: RingWorld, private readonly trace: Trace) {
    const e = w.engine.exports;
    this.x = w.layout === 'split'
      ? { add: e.splitDriverAdd, collect: e.splitDriverCollect, kick: e.splitDriverKickNeeded, detach: e.splitDriverDetach }
      : { add: e.packedDriverAdd, collect: e.packedDriverCollect, kick: e.packedDriverKickNeeded, detach: e.packedDriverDetach };
  }

  add(rng: Rng): void {
    const b = this.w.addBatch;
    const chains = fillAddBatch(this.w, rng, this.token);
    this.token += chains.length;
    const rc = this.x.add(this.w.driver.cb, b.chainsPtr, b.segsPtr, b.count);
    this.trace.add(`driver add(${chains.map((c) => `${c.segs}seg/${c.writeLen}w`).join(' ')}) -> ${rc}`);
  }

  collect(rng: Rng): void {
    const c = this.w.collectBatch;
    const rc = this.x.collect(this.w.driver.cb, c.ptr, rng.chance(0.5) ? c.capacity : 1 + rng.below(4));
    this.trace.add(`driver collect -> ${rc}`);
  }

  kick(): void {
    this.x.kick(this.w.driver.cb);
  }

  /** Takes back everything in flight and starts afresh (what a driver does after a device reset). */
  restart(): void {
    const c = this.w.collectBatch;
    for (let guard = 0; guard <= this.w.q && this.x.detach(this.w.driver.cb, c.ptr, c.capacity) > 0; guard++);
    this.w.driver.reset();
    this.trace.add('driver detach and reset');
  }

  get broken(): boolean {
    return this.w.driver.broken;
  }
}

export function deviceTarget(layout: RingLayout): FuzzCase {
  return (seed, features) => {
    const rng = new Rng(seed);
    const params = drawParams(rng, layout);
    const w = openWorld(params);
    const trace = new Trace();
    const dev = new CheckedDevice(w, features, trace);
    const driver = new HonestDriver(w, trace);
    const hostile = hostileDriver(w, dev);
    const hostileRate = params.honest ? 0 : rng.pick([0.02, 0.08, 0.2, 0.4]);
    features.add(`params:${paramsLabel(params)}`);
    const step = (i: number): void => {
      if (dev.brokenCode !== 0 && dev.stickyCalls >= STICKY_CALLS) {
        dev.reset();
        if (rng.chance(0.9)) driver.restart();
        return;
      }
      if (rng.chance(hostileRate)) return hostileStep(hostile, rng, trace, features);
      if (driver.broken && rng.chance(0.5)) driver.restart();
      switch (rng.below(24)) {
        case 0: case 1: case 2: case 3: case 4: case 5: case 6: dev.pop(rng); break;
        case 7: case 8: case 9: case 10: case 11: dev.push(rng); break;
        case 12: dev.unpop(rng); break;
        case 13: dev.interrupt(); break;
        case 14: dev.enableNotify(); break;
        case 15: dev.disableNotify(); break;
        case 16: {
          const r = rng.below(20);
          if (r === 0) { dev.reset(); driver.restart(); } else if (r === 1) dev.setRegions(rng); else dev.pop(rng);
          break;
        }
        case 17: case 18: case 19: case 20: driver.add(rng); break;
        case 21: case 22: driver.collect(rng); break;
        default: driver.kick(); break;
      }
      if (params.honest && (w.device.broken || driver.broken)) {
        throw new Error(`with an honest driver the ${w.device.broken ? 'device' : 'driver'} broke: status ${w.device.broken ? w.device.status : w.driver.status}`);
      }
      if (i % 32 === 0) dev.checkShadow();
    };
    // A last pop over the whole memory: healthy or broken, it keeps to its areas.
    return runSteps(caseOps(rng, params.queueSize), trace, step, () => {
      w.guard.fullNext();
      dev.pop(rng);
    });
  };
}
