// Catches an engine call that writes where it must not: a copy of the memory taken before the
// call, compared after it outside the ranges the call may write (test/helpers/memory-diff.ts).
// Every call copies the planned part of the memory (rings, private state, batches, buffers:
// cheap); every `fullEvery`-th call, and any call asked to, copies and compares the whole
// memory, so a stray write past the plan is caught too.
import { changesOutside, type Range } from '../helpers/memory-diff.js';

export class MemoryGuard {
  private readonly snap: Uint8Array;
  private len = 0;
  private calls = 0;
  private wholeNext = false;
  /** Calls checked over the whole memory. */
  fullChecks = 0;

  constructor(private readonly u8: Uint8Array, private readonly planEnd: number, private readonly fullEvery: number) {
    this.snap = new Uint8Array(u8.length);
  }

  /** Makes the next call's check cover the whole memory. */
  fullNext(): void {
    this.wholeNext = true;
  }

  /** Takes the copy before a call; `full` makes it a copy of the whole memory. */
  before(full = false): void {
    const whole = full || this.wholeNext || ++this.calls % this.fullEvery === 0;
    this.wholeNext = false;
    this.len = whole ? this.u8.length : this.planEnd;
    if (whole) this.fullChecks++;
    this.snap.set(this.u8.subarray(0, this.len));
  }

  /** The bytes the call changed outside `allowed` ("offset: old -> new"), empty when none. */
  strays(allowed: readonly Range[]): string[] {
    return changesOutside(this.snap.subarray(0, this.len), this.u8.subarray(0, this.len), allowed);
  }

  /** Whether any byte of [start, end) changed since `before`. */
  changed(start: number, end: number): boolean {
    return Buffer.compare(this.snap.subarray(start, end), this.u8.subarray(start, end)) !== 0;
  }
}
