// When traffic flowed in one direction: from the sample before a counter first moved to the
// sample where it last moved. Rates over that span say what the back-end sustained; rates over
// the whole run would count the wait for a front-end (testpmd takes seconds to start) as idle.
export class ActivitySpan {
  private prevAt: number;
  private lastCount = 0;
  private first = -1;
  private last = -1;

  constructor(startedAt: number) {
    this.prevAt = startedAt;
  }

  sample(now: number, count: number): void {
    if (count !== this.lastCount) {
      if (this.first < 0) this.first = this.prevAt;
      this.last = now;
      this.lastCount = count;
    }
    this.prevAt = now;
  }

  /** Seconds between the first and the last movement (0 when nothing moved). */
  get seconds(): number {
    return this.first < 0 ? 0 : (this.last - this.first) / 1000;
  }
}
