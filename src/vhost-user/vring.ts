// What the back-end knows about one vring between messages: Queue Size, addresses, base, the
// kick / call / err fds it owns (each replaced one is closed), whether it is enabled, and the
// engine DeviceQueue while it runs.
import { close, EventFd } from '../native/index.js';
import type { DeviceQueue } from '../queue-side.js';
import type { RingLayout } from '../ring.js';
import type { VringAddr } from './message.js';

export class Vring {
  num: number | undefined;
  addr: VringAddr | undefined;
  /** SET_VRING_BASE's value (packed: bits 0-14 index, bit 15 wrap counter), or the state at the last stop. */
  base: number | undefined;
  /** SET_VRING_ENABLE's last word (rings start disabled when protocol features are negotiated). */
  enabled = false;
  /** The engine queue while the ring runs, and the layout it was built with. */
  device: DeviceQueue | undefined;
  layout: RingLayout | undefined;
  private kickFd: EventFd | undefined;
  /** SET_VRING_KICK arrived (with an fd or the no-fd flag) since the ring last stopped. */
  private kickSet = false;
  private callFd: number | undefined;
  private errFd: number | undefined;

  constructor(readonly index: number) {}

  get started(): boolean {
    return this.kickSet;
  }

  /** Kicks come on an eventfd (else the front-end expects the device to poll). */
  get hasKickFd(): boolean {
    return this.kickFd !== undefined;
  }

  get running(): boolean {
    return this.device !== undefined;
  }

  get call(): number | undefined {
    return this.callFd;
  }

  /** Takes `fd` (undefined: the front-end polls) as the kick; `onKick` runs on each signal. */
  setKick(fd: number | undefined, onKick: () => void): void {
    this.kickFd?.close();
    this.kickFd = undefined;
    this.kickSet = true;
    if (fd === undefined) return;
    const e = new EventFd(fd);
    this.kickFd = e;
    try {
      e.watch(() => onKick());
    } catch (err) {
      this.kickFd = undefined;
      e.close();
      throw err;
    }
  }

  /** Forgets the kick (the ring stopped: a new SET_VRING_KICK starts it again). */
  dropKick(): void {
    this.kickFd?.close();
    this.kickFd = undefined;
    this.kickSet = false;
  }

  setCall(fd: number | undefined): void {
    if (this.callFd !== undefined) close(this.callFd);
    this.callFd = fd;
  }

  setErr(fd: number | undefined): void {
    if (this.errFd !== undefined) close(this.errFd);
    this.errFd = fd;
  }

  /** Closes every fd the ring owns. */
  closeFds(): void {
    this.dropKick();
    this.setCall(undefined);
    this.setErr(undefined);
  }
}
