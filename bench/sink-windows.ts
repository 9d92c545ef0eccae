// Frames counted at a host-side sink, attributed to the run that sent them (bench/vfio.bench.ts).
// The guest says when each run begins and ends (console lines); every frame the sink reads
// between a begin and the matching end (plus a grace period for what was still in flight) goes
// to that run's window, with the time it came: the rate is measured at the same place, with the
// same clock, whichever driver sent the frames. Frames outside every window are counted as stray.
import { median } from '../test/helpers/testpmd.js';

export interface SinkWindow {
  label: string;
  frames: number;
  bytes: number;
  /** When the first and last frame came (ms, the clock given to SinkWindows). */
  first?: number;
  last?: number;
  /** Frames per bucket of `bucketMs`, from the first frame on. */
  buckets: number[];
  bucketMs: number;
}

export class SinkWindows {
  readonly done: SinkWindow[] = [];
  stray = 0;
  private open?: SinkWindow;
  private closing?: ReturnType<typeof setTimeout>;

  constructor(private readonly bucketMs = 250, private readonly now: () => number = () => performance.now()) {}

  /** A run begins: the window still open (if any) closes. */
  begin(label: string): void {
    this.close();
    this.open = { label, frames: 0, bytes: 0, buckets: [], bucketMs: this.bucketMs };
  }

  /** The run ended: its window closes after `graceMs` (or when the next one begins). */
  end(graceMs: number): void {
    if (!this.open || this.closing) return;
    this.closing = setTimeout(() => this.close(), graceMs);
  }

  /** Closes the open window now. */
  close(): void {
    if (this.closing) clearTimeout(this.closing);
    this.closing = undefined;
    if (this.open) this.done.push(this.open);
    this.open = undefined;
  }

  /** A frame of `length` bytes came. */
  frame(length: number): void {
    const w = this.open;
    if (!w) {
      this.stray++;
      return;
    }
    const t = this.now();
    w.first ??= t;
    w.last = t;
    w.frames++;
    w.bytes += length;
    const b = Math.floor((t - w.first) / w.bucketMs);
    while (w.buckets.length <= b) w.buckets.push(0);
    w.buckets[b]++;
  }

  /** The closed window of this label, if any. */
  get(label: string): SinkWindow | undefined {
    return this.done.find((w) => w.label === label);
  }
}

export interface WindowRate {
  /** Frames per second from the first frame to the last (bench/vfio.bench.ts's figure). */
  mean: number;
  /**
   * Frames per second at the steady state: the median of the full buckets, the first and the last
   * left out (start-up and the tail); the mean when fewer than three remain.
   */
  steady: number;
  /** Mean frame length (bytes). */
  frameBytes: number;
}

export function windowRate(w: SinkWindow): WindowRate {
  const span = w.first !== undefined && w.last !== undefined ? (w.last - w.first) / 1000 : 0;
  const mean = w.frames > 1 && span > 0 ? (w.frames - 1) / span : 0;
  const interior = w.buckets.slice(1, -1);
  const steady = interior.length >= 3 ? median(interior) / (w.bucketMs / 1000) : mean;
  return { mean, steady, frameBytes: w.frames ? w.bytes / w.frames : 0 };
}
