// Waking the consumer of a HandleRing (browser-safe). A HandleRing has no notification
// suppression of its own, so a sleeping consumer raises a flag word: the consumer sets it, then
// checks the ring; the producer enqueues, then checks the flag and, if set, clears it and rings
// the consumer's doorbell. Both sides are sequentially consistent atomics (the ring's indices
// are Wasm atomics too), so either the consumer sees the entries or the producer sees the flag.
import type { HandleRing } from './handle-ring.js';

export class RingWake {
  private readonly i32: Int32Array;
  private readonly at: number;

  /** `addr`: a 4-byte word in the shared memory; `ringDoorbell(w)` rings worker w's doorbell. */
  constructor(memory: WebAssembly.Memory, addr: number, private readonly consumer: number, private readonly ringDoorbell: (worker: number) => void) {
    this.i32 = new Int32Array(memory.buffer);
    this.at = addr >>> 2;
  }

  /** Consumer, before sleeping: raises the flag; true when `ring` is still empty (may sleep). */
  arm(ring: HandleRing): boolean {
    // [R23] raise the flag; pairs with [A23] in notify(). Then [A11] (ring.count): against the
    // producer's [R11] then [A23], either we see the entries or it sees the flag.
    Atomics.store(this.i32, this.at, 1);
    return ring.count === 0;
  }

  /** Consumer, after waking: lowers the flag (producers stop ringing). */
  disarm(): void {
    Atomics.store(this.i32, this.at, 0); // [R23] lower the flag; pairs with [A23] in notify()
  }

  /** Producer, after an enqueue: rings the consumer if it raised the flag. */
  notify(): void {
    // [A23] consume the flag (pairs with [R23] in arm/disarm), after the enqueue's [R11]. Load
    // first: the common case (consumer awake) costs no read-modify-write; the exchange makes sure
    // one producer rings once per arm.
    if (Atomics.load(this.i32, this.at) !== 0 && Atomics.exchange(this.i32, this.at, 0) !== 0) this.ringDoorbell(this.consumer);
  }
}
