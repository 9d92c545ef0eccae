// Notification suppression by the books, for one direction: a side that asked to be notified and
// has caught up goes to sleep, and whatever the other side publishes meanwhile must wake it
// (2.7.7, 2.7.10; 2.8.10). The device sleeps until the driver kicks; the driver sleeps until the
// device interrupts.
import { agree } from './agree.js';

export class Sleeper {
  private asleep = false;
  private publishedWhileAsleep = 0;

  /**
   * @param wants the sleeping side asked to be notified (its NO_NOTIFY / NO_INTERRUPT / DISABLE flag is clear)
   * @param call the other side's decision: 'kick' or 'interrupt'
   * @param side the sleeping side: 'device' or 'driver'
   * @param flag the flag that turns the notification off, for messages
   */
  constructor(public wants: boolean, private readonly call: string, private readonly side: string, private readonly flag: string) {}

  /** The other side published `n` chains (made available, or used). */
  published(n: number): void {
    this.publishedWhileAsleep += n;
  }

  /** After the sleeping side's step: asleep if it wants notifications, works, and has nothing waiting. */
  settle(broken: boolean, waiting: boolean): void {
    this.asleep = this.wants && !broken && !waiting;
    // Asleep after this step means it has seen everything published so far.
    if (this.asleep) this.publishedWhileAsleep = 0;
  }

  /** Checks the other side's decision `rc` (1: notify); true when it had to wake a sleeper. */
  check(rc: number, flagsBind: boolean): boolean {
    let woke = false;
    if (this.asleep && this.publishedWhileAsleep > 0) {
      agree(rc, 1, `${this.call} missed while the ${this.side} sleeps`);
      woke = true;
    }
    if (flagsBind && !this.wants) agree(rc, 0, `${this.call} despite ${this.flag}`);
    return woke;
  }

  /** Notified, or reset: awake until its next step says otherwise. */
  wake(): void {
    this.asleep = false;
  }
}
