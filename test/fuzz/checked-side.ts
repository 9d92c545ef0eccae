// What CheckedDevice and CheckedDriver share: one engine call of the side under test, run under
// the world's memory guard and checked the same way on both sides:
// - it writes nothing outside the side's private state and the areas the call may write;
// - a fault it reports about its peer is one of the side's known errors, breaks the queue, and
//   is named with its layout's spec section (known-errors.ts);
// - once broken, every call (until reset) fails with the same code and changes no byte at all.
import * as Q from '../../assembly/layout/queue.js';
import type { DriverHandle, DeviceHandle } from '../../src/virtqueue/queue-handles.js';
import type { Range } from '../helpers/memory-diff.js';
import type { Trace } from './trace.js';
import { errorName, peerFaultProblem } from './known-errors.js';
import { paramsLabel, privateRanges, type RingWorld } from './ring-world.js';

export abstract class CheckedSide {
  /** The status that broke the queue (0 while healthy). */
  brokenCode = 0;
  /** Calls made since the queue broke. */
  stickyCalls = 0;
  /** The side's private areas: control block, shadow state, order FIFO, indirect tables. */
  protected readonly own: Range[];
  /** CB_DETAIL: all a refused call (a caller error) may change. */
  protected readonly detail: Range;

  protected constructor(
    protected readonly w: RingWorld,
    private readonly side: 'driver' | 'device',
    private readonly handle: DriverHandle | DeviceHandle,
    private readonly peerErrors: ReadonlySet<number>,
    protected readonly features: Set<string>,
    protected readonly trace: Trace,
  ) {
    this.own = privateRanges(handle);
    this.detail = [handle.cb + Q.CB_DETAIL, handle.cb + Q.CB_DETAIL + 4];
  }

  protected fail(what: string): never {
    throw new Error(`${paramsLabel(this.w.params)}: ${what}`);
  }

  protected feature(f: string): void {
    this.features.add(f);
  }

  /**
   * Runs one engine call under the memory guard. On a broken queue the call must fail with the
   * breaking code and change nothing (the first such call is checked over the whole memory);
   * otherwise it may write its own areas and `allowed` (`callerError`: only CB_DETAIL, for a
   * refusal that must change nothing). Records a new break.
   */
  protected run(name: string, args: string, allowed: readonly Range[], call: () => number, callerError = false): number {
    const { w, side, handle } = this;
    const sticky = this.brokenCode !== 0;
    w.guard.before(sticky && this.stickyCalls === 0);
    const rc = call();
    this.trace.add(`${side} ${name}(${args}) -> ${rc < 0 ? errorName(rc) : rc}`);
    const strays = w.guard.strays(sticky ? [] : callerError ? [this.detail] : [...this.own, ...allowed]);
    if (strays.length > 0) this.fail(`${side} ${name} (rc ${rc}) wrote outside its areas at ${strays.slice(0, 4).join(', ')}`);
    if (sticky) {
      this.stickyCalls++;
      if (rc !== this.brokenCode) this.fail(`${side} ${name} on a queue broken by ${errorName(this.brokenCode)} returned ${rc}`);
      if (handle.status !== this.brokenCode) this.fail(`${side} ${name}: status changed from ${this.brokenCode} to ${handle.status} before a reset`);
      this.feature(`${name}:sticky`);
      return rc;
    }
    const status = handle.status;
    if (status !== 0) {
      if (rc < 0 && rc !== status) this.fail(`${side} ${name} returned ${rc} but marked the queue broken with ${status}`);
      const why = peerFaultProblem(status, w.engine.u32[(handle.cb + Q.CB_DETAIL) >>> 2]!, w.layout, `${side} ${name}`, this.peerErrors);
      if (why) this.fail(why);
      this.brokenCode = status;
      this.stickyCalls = 0;
      this.feature(`${name}:broke${rc > 0 ? '-after-some' : ''}:${errorName(status)}`);
    }
    return rc;
  }

  /** Checks a reset through the handle: only its own fields written, healthy afterwards. */
  protected checkedReset(allowed: readonly Range[]): void {
    const { w, side, handle } = this;
    w.guard.before(true);
    handle.reset();
    this.trace.add(`${side} reset`);
    const strays = w.guard.strays([...this.own, ...allowed]);
    if (strays.length > 0) this.fail(`${side} reset wrote outside its areas at ${strays.slice(0, 4).join(', ')}`);
    if (handle.status !== 0 || handle.inFlight !== 0) this.fail(`${side} reset left status ${handle.status}, inFlight ${handle.inFlight}`);
    this.brokenCode = 0;
    this.stickyCalls = 0;
  }
}
