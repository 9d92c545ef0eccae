// npm run bench:cross: a split and a packed virtqueue across two worker threads (driver on one,
// device on the other) at batch 1, 8 and 32. Runs are interleaved (split, packed, split, ...)
// and the median of each is reported, because on a 2-vCPU guest the cost of a cache line
// crossing between the two cores varies over time.
import { crossWorker, type CrossWorkerResult } from './cross-worker.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';
import type { RingLayout } from '../src/ring.js';

const QUEUE_SIZE = Number(process.env.VIRTQUEUE_BENCH_QUEUE ?? 256);
const PACKETS = Number(process.env.VIRTQUEUE_BENCH_PACKETS ?? 4_000_000);
const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 3);
const BATCHES = [1, 8, 32];
const LAYOUTS: RingLayout[] = ['split', 'packed'];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const runs = new Map<string, CrossWorkerResult[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const batch of BATCHES) {
      for (const layout of LAYOUTS) {
        const packets = batch === 1 ? PACKETS / 4 : PACKETS;
        const r = await crossWorker(layout, QUEUE_SIZE, batch, packets);
        const key = `${layout}/${batch}`;
        runs.set(key, [...(runs.get(key) ?? []), r]);
        process.stderr.write(`  round ${round + 1}/${ROUNDS} ${layout} batch ${batch}: ${r.mpps.toFixed(2)} Mpps\n`);
      }
    }
  }
  const rows: (string | number)[][] = [];
  const results = [];
  for (const batch of BATCHES) {
    const split = median(runs.get(`split/${batch}`)!.map((r) => r.mpps));
    const packed = median(runs.get(`packed/${batch}`)!.map((r) => r.mpps));
    const ratios = runs.get(`packed/${batch}`)!.map((r, i) => r.mpps / runs.get(`split/${batch}`)![i].mpps);
    rows.push([batch, split.toFixed(2), packed.toFixed(2), `${median(ratios).toFixed(2)}x`]);
    results.push({ batch, splitMpps: split, packedMpps: packed, packedVsSplit: median(ratios) });
  }
  const machine = machineInfo();
  console.log(`\nVirtqueue across two worker threads (driver | device), queue size ${QUEUE_SIZE}, 64-byte one-segment chains, median of ${ROUNDS}`);
  console.log(`Machine: ${describeMachine(machine)}\n`);
  console.log(table(['batch', 'split Mpps', 'packed Mpps', 'packed / split (median of pairs)'], rows));
  console.log(JSON.stringify({ bench: 'cross-worker', queueSize: QUEUE_SIZE, packets: PACKETS, rounds: ROUNDS, machine, results }));
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
