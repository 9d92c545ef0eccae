// npm run bench: one-thread burst round trips (driver add -> device pop -> device push ->
// driver collect) for the Wasm engine and the plain-TypeScript reference model, split and
// packed, at batch 1, 8 and 32. Prints a table of Mpps with ratios, then one JSON line.
import { Bench } from 'tinybench';
import { engineRoundTrip, type RoundTrip } from './roundtrip.js';
import { referenceRoundTrip } from './reference-roundtrip.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';
import type { RingLayout } from '../src/virtqueue/factory.js';

const QUEUE_SIZE = 256;
const BATCHES = [1, 8, 32];
const LAYOUTS: RingLayout[] = ['split', 'packed'];
/** Packets per timed call: enough that timer overhead does not matter. */
const PACKETS_PER_CALL = 1024;
const time = Number(process.env.VIRTQUEUE_BENCH_MS ?? 500);

interface Row {
  layout: RingLayout;
  batch: number;
  impl: 'engine' | 'reference';
  mpps: number;
  rme: number;
}

async function main(): Promise<void> {
  const bench = new Bench({ time, warmupTime: Math.min(200, time / 2) });
  const meta = new Map<string, { layout: RingLayout; batch: number; impl: Row['impl']; packets: number }>();
  const add = (impl: Row['impl'], layout: RingLayout, batch: number, rt: RoundTrip | undefined) => {
    if (!rt) return;
    const rounds = Math.ceil(PACKETS_PER_CALL / batch);
    const name = `${impl} ${layout} batch ${batch}`;
    const packets = rt.run(rounds); // warm and check it moves what it should
    if (packets !== rounds * batch) throw new Error(`${name}: moved ${packets} packets, expected ${rounds * batch}`);
    meta.set(name, { layout, batch, impl, packets });
    bench.add(name, () => { rt.run(rounds); });
  };
  for (const layout of LAYOUTS) {
    for (const batch of BATCHES) {
      add('engine', layout, batch, engineRoundTrip(layout, QUEUE_SIZE, batch));
      add('reference', layout, batch, referenceRoundTrip(layout, QUEUE_SIZE, batch));
    }
  }
  process.stderr.write(`running ${bench.tasks.length} tasks, ${time} ms each...\n`);
  await bench.run();

  const rows: Row[] = [];
  for (const task of bench.tasks) {
    const m = meta.get(task.name)!;
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}${'error' in r ? `: ${String(r.error)}` : ''}`);
    rows.push({ ...m, mpps: m.packets / (r.period / 1000) / 1e6, rme: r.latency.rme });
  }
  const find = (impl: Row['impl'], layout: RingLayout, batch: number) =>
    rows.find((r) => r.impl === impl && r.layout === layout && r.batch === batch);
  const lines: (string | number)[][] = [];
  const results = [];
  for (const layout of LAYOUTS) {
    for (const batch of BATCHES) {
      const e = find('engine', layout, batch)!;
      const ref = find('reference', layout, batch);
      const ratio = ref ? e.mpps / ref.mpps : undefined;
      const vsSplit = layout === 'packed' ? e.mpps / find('engine', 'split', batch)!.mpps : undefined;
      lines.push([layout, batch, e.mpps.toFixed(2), ref ? ref.mpps.toFixed(2) : 'n/a',
        ratio ? `${ratio.toFixed(1)}x` : 'n/a', vsSplit ? `${vsSplit.toFixed(2)}x` : '']);
      results.push({ layout, batch, engineMpps: e.mpps, referenceMpps: ref?.mpps ?? null, engineVsReference: ratio ?? null, packedVsSplit: vsSplit ?? null, rme: e.rme });
    }
  }
  const machine = machineInfo();
  console.log(`\nBurst round trip, one thread, queue size ${QUEUE_SIZE}, 64-byte one-segment chains`);
  console.log(`Machine: ${describeMachine(machine)}\n`);
  console.log(table(['ring', 'batch', 'engine Mpps', 'reference Mpps', 'engine / reference', 'packed / split'], lines));
  console.log(JSON.stringify({ bench: 'ring-roundtrip', queueSize: QUEUE_SIZE, machine, results }));
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
