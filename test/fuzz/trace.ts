// The last operations of a fuzz case, for the failure message (VIRTQUEUE_FUZZ_TRACE=1 prints
// every one as it runs): what to write into a regression test.
const KEEP = 40;
const MAX_LINE = 2000;
const printAll = process.env.VIRTQUEUE_FUZZ_TRACE === '1';

export class Trace {
  private readonly last: string[] = [];
  private n = 0;

  add(line: string): void {
    if (printAll) console.log(`${this.n} ${line}`);
    this.last[this.n++ % KEEP] = line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)} ...` : line;
  }

  /** The kept lines, oldest first, numbered. */
  tail(): string {
    const from = Math.max(0, this.n - KEEP);
    const out: string[] = [];
    for (let i = from; i < this.n; i++) out.push(`  ${i}: ${this.last[i % KEEP]}`);
    return out.join('\n');
  }
}
