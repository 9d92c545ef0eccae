// A fixed-capacity FIFO of u32 values (head ids waiting for something) in a typed array.
export class U32Fifo {
  private readonly items: Uint32Array;
  private readonly mask: number;
  private first = 0;
  count = 0;

  /** Room for `capacity` values, rounded up to a power of two. */
  constructor(capacity: number) {
    let n = 1;
    while (n < capacity) n *= 2;
    this.items = new Uint32Array(n);
    this.mask = n - 1;
  }

  push(v: number): void {
    if (this.count > this.mask) throw new Error(`U32Fifo overflow (capacity ${this.mask + 1})`);
    this.items[(this.first + this.count) & this.mask] = v;
    this.count++;
  }

  /** Removes and returns the oldest value; the caller checks `count` first. */
  shift(): number {
    const v = this.items[this.first];
    this.first = (this.first + 1) & this.mask;
    this.count--;
    return v;
  }
}
