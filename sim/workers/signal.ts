// A notification between two simulator tasks on (possibly) different workers: a shared word of
// queue bits (RX_BIT | TX_BIT) and the worker to wake. The sender ORs its bits in and rings the
// receiver's doorbell; the receiver takes all bits at once. This carries the virtio kicks
// (driver -> NIC: kickNeeded() said so) and interrupts (NIC -> driver: interruptNeeded()).
import type { TaskContext } from '../../src/dataplane/task.js';

export class Signal {
  private readonly i32: Int32Array;
  private readonly at: number;

  constructor(memory: WebAssembly.Memory, addr: number, private readonly ctx: TaskContext, private readonly target: number) {
    this.i32 = new Int32Array(memory.buffer);
    this.at = addr >>> 2;
  }

  /** Sends `bits` (nothing when 0). */
  send(bits: number): void {
    if (bits === 0) return;
    // The OR comes before the doorbell's Atomics.add (in ctx.ringDoorbell): a receiver that read its
    // doorbell before the add wakes (or does not sleep); one that read it after sees the bits
    // in pending().
    Atomics.or(this.i32, this.at, bits);
    this.ctx.ringDoorbell(this.target);
  }

  /** Takes every bit sent so far; pairs with send's Atomics.or. */
  take(): number {
    return Atomics.load(this.i32, this.at) === 0 ? 0 : Atomics.exchange(this.i32, this.at, 0);
  }

  /** Whether bits are waiting (arm() checks it after enabling notifications). */
  get pending(): boolean {
    return Atomics.load(this.i32, this.at) !== 0;
  }
}
