// The device's polling loop, on the main thread with the vhost-user socket. Each turn polls the
// queues in a tight loop for at most `sliceMs` (stopping early when a round finds nothing), then
// yields with setImmediate so socket messages, eventfd kicks and timers are handled between
// turns: the control plane stays responsive whatever the load. After `idleTurns` turns with
// nothing to do it sleeps `idleSleepMs` at a time instead of spinning (a kick, through wake(),
// ends the sleep at once). Kick suppression is left as the rings negotiated it: the device
// polls, so it never re-arms or disarms notifications itself.
export interface PollerOptions {
  sliceMs?: number;
  idleTurns?: number;
  idleSleepMs?: number;
}

export class Poller {
  private readonly sliceMs: number;
  private readonly idleTurns: number;
  private readonly idleSleepMs: number;
  private idle = 0;
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Turns taken and turns that slept (for the curious). */
  turns = 0;
  sleeps = 0;

  constructor(private readonly work: () => number, opts: PollerOptions = {}) {
    this.sliceMs = opts.sliceMs ?? 1;
    this.idleTurns = opts.idleTurns ?? 256;
    this.idleSleepMs = opts.idleSleepMs ?? 1;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.immediate = setImmediate(this.turn);
  }

  stop(): void {
    this.running = false;
    if (this.immediate) clearImmediate(this.immediate);
    if (this.timer) clearTimeout(this.timer);
    this.immediate = this.timer = undefined;
  }

  /** Something arrived (a kick, a ring started): poll now if asleep. */
  wake(): void {
    this.idle = 0;
    if (!this.running || !this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.immediate = setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.immediate = this.timer = undefined;
    if (!this.running) return;
    this.turns++;
    const end = performance.now() + this.sliceMs;
    let did = 0;
    for (;;) {
      const w = this.work();
      did += w;
      if (w === 0 || performance.now() >= end) break;
    }
    if (did > 0) this.idle = 0;
    else this.idle++;
    if (this.idle < this.idleTurns) {
      this.immediate = setImmediate(this.turn);
    } else {
      this.sleeps++;
      this.timer = setTimeout(this.turn, this.idleSleepMs);
    }
  };
}
