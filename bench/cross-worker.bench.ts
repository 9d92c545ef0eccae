// npm run bench:cross: a split and a packed virtqueue, with and without IN_ORDER, across two
// worker threads (driver on one, device on the other) at batch 1, 8 and 32. Runs are interleaved
// and the median of each is reported, because on a 2-vCPU guest the cost of a cache line
// crossing between the two cores varies over time.
import { crossWorker } from './cross-worker.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';
import { FEATURES, type FeatureSet } from '../src/index.js';
import type { RingLayout } from '../src/virtqueue/factory.js';

const QUEUE_SIZE = Number(process.env.VIRTQUEUE_BENCH_QUEUE ?? 256);
const PACKETS = Number(process.env.VIRTQUEUE_BENCH_PACKETS ?? 4_000_000);
const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 3);
const BATCHES = [1, 8, 32];
const CONFIGS: { name: string; layout: RingLayout; features: FeatureSet }[] = [
  { name: 'split', layout: 'split', features: FEATURES.VERSION_1 },
  { name: 'packed', layout: 'packed', features: FEATURES.VERSION_1 | FEATURES.RING_PACKED },
  { name: 'split in-order', layout: 'split', features: FEATURES.VERSION_1 | FEATURES.IN_ORDER },
  { name: 'packed in-order', layout: 'packed', features: FEATURES.VERSION_1 | FEATURES.RING_PACKED | FEATURES.IN_ORDER },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const runs = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const batch of BATCHES) {
      for (const c of CONFIGS) {
        const packets = batch === 1 ? PACKETS / 4 : PACKETS;
        const r = await crossWorker(c.layout, QUEUE_SIZE, batch, packets, c.features);
        const key = `${c.name}/${batch}`;
        runs.set(key, [...(runs.get(key) ?? []), r.mpps]);
        process.stderr.write(`  round ${round + 1}/${ROUNDS} ${c.name} batch ${batch}: ${r.mpps.toFixed(2)} Mpps\n`);
      }
    }
  }
  const rows: (string | number)[][] = [];
  const results = [];
  for (const batch of BATCHES) {
    const row: (string | number)[] = [batch];
    const result: Record<string, number> = { batch };
    for (const c of CONFIGS) {
      const m = median(runs.get(`${c.name}/${batch}`)!);
      row.push(m.toFixed(2));
      result[c.name] = m;
    }
    // Interleaved runs: compare each packed run with the split run next to it.
    const split = runs.get(`split/${batch}`)!;
    const ratio = median(runs.get(`packed/${batch}`)!.map((v, i) => v / split[i]));
    row.push(`${ratio.toFixed(2)}x`);
    rows.push(row);
    results.push({ ...result, packedVsSplit: ratio });
  }
  const machine = machineInfo();
  console.log(`\nVirtqueue across two worker threads (driver | device), queue size ${QUEUE_SIZE}, 64-byte one-segment chains, median of ${ROUNDS} interleaved runs, Mpps`);
  console.log(`Machine: ${describeMachine(machine)}\n`);
  console.log(table(['batch', ...CONFIGS.map((c) => c.name), 'packed / split'], rows));
  console.log(JSON.stringify({ bench: 'cross-worker', queueSize: QUEUE_SIZE, packets: PACKETS, rounds: ROUNDS, machine, results }));
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
