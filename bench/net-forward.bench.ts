// npm run bench:net: the engine's virtio-net data path in one thread (assembly/net/forward.ts).
// Engine drivers post 32 receive buffers and transmit 32 frames per round; one netForward call
// moves the burst. Timed: the netForward call alone. Rows: rxonly (pop and return the transmit
// chains: the per-burst cost without a copy), io (plus popping receive buffers and one copy per
// frame, header written in place), macswap (io plus the MAC swap), split and packed, 64 and
// 1518-byte frames. The copy's cost is the io / rxonly ratio of the same run.
// Inflight I/O tracking (vhost-user.rst "Inflight I/O tracking"): io at 64 B with both devices
// tracking into a region against the same without, runs alternating (off, on, off, on ...), the
// ratio of the medians. Dirty-page logging (vhost-user.rst "Migration") the same way: both
// devices marking every page they write in a log bitmap, against the same without.
//
// VIRTQUEUE_BENCH_ROUNDS (100000) bursts per row; VIRTQUEUE_BENCH_NET=inflight runs only the
// tracking comparison, =log only the logging one, =modes only the first table (default all).
import {
  createSharedMemory, MemoryPlan, allocRing, createDriver, createDevice, ChainBatch, UsedBatch, FEATURES, inflightRegionSize, type RingLayout,
} from '../src/index.js';
import { loadEngine } from '../src/node.js';
import { NetQueuePair, type NetMode } from '../src/virtio-net/queue-pair.js';
import { machineInfo, describeMachine } from './machine.js';
import { table } from './table.js';

const ROUNDS = Number(process.env.VIRTQUEUE_BENCH_ROUNDS ?? 100_000);
const BURST = 32;
const HDR = 12;

/** What both devices do besides the data path: inflight tracking, dirty-page logging, neither. */
type Extra = 'none' | 'inflight' | 'log';

/**
 * Nanoseconds per frame of netForward alone, over ROUNDS bursts of 32 (after a warm-up); with
 * `extra` both devices keep an inflight region or log into a dirty log covering the memory.
 */
function measure(layout: RingLayout, mode: NetMode, size: number, extra: Extra = 'none'): number {
  const memory = createSharedMemory(64 << 20);
  const engine = loadEngine(memory);
  const plan = new MemoryPlan(memory);
  const features = FEATURES.VERSION_1 | FEATURES.EVENT_IDX | (layout === 'packed' ? FEATURES.RING_PACKED : 0n);
  const [txR, rxR] = [0, 1].map(() => allocRing(plan, { layout, queueSize: 256 }));
  const txD = createDriver(engine, plan, layout, txR, { features });
  const rxD = createDriver(engine, plan, layout, rxR, { features });
  const pair = NetQueuePair.create(engine, plan, { hdrSize: HDR, mergeable: false, mode, burst: BURST });
  // Identity regions (gpa = Wasm offset): one bit per 4 KiB page of the whole memory.
  const logBytes = memory.buffer.byteLength / 4096 / 8;
  const bitmap = extra === 'log' ? plan.alloc(logBytes, 64, 'dirty log') : 0;
  const device = (ring: typeof txR) => createDevice(engine, plan, layout, ring, {
    features,
    inflight: extra === 'inflight' ? { region: plan.alloc(inflightRegionSize(layout, 256), 64, 'inflight region') } : undefined,
    log: extra === 'log' ? { bitmap, size: logBytes, usedGpa: BigInt(ring.device) } : undefined,
  });
  pair.attach(device(txR).cb, device(rxR).cb);
  const tb = new ChainBatch(engine, plan, BURST);
  const rb = new ChainBatch(engine, plan, BURST);
  const used = new UsedBatch(engine, plan, 256);
  const tx = Array.from({ length: BURST }, () => plan.alloc(2048, 64));
  const rx = Array.from({ length: BURST }, () => plan.alloc(2048, 64));
  let ns = 0;
  let frames = 0;
  for (let round = -1000; round < ROUNDS; round++) {
    tb.clear();
    rb.clear();
    for (let i = 0; i < BURST; i++) {
      tb.single(i, tx[i], HDR + size, false);
      rb.single(i, rx[i], 2048, true);
    }
    txD.add(tb);
    if (mode !== 'rxonly') rxD.add(rb); // rxonly never takes a receive buffer
    const t0 = performance.now();
    const n = pair.forward();
    const t1 = performance.now();
    if (n !== BURST) throw new Error(`${layout} ${mode} ${size}: forward took ${n} frames, expected ${BURST}`);
    if (round >= 0) { ns += (t1 - t0) * 1e6; frames += n; }
    txD.collect(used);
    if (mode !== 'rxonly' && rxD.collect(used) !== BURST) throw new Error(`${mode}: receive buffers not used`);
  }
  const c = pair.counters();
  if (c.dropped !== 0) throw new Error(`${layout} ${mode} ${size}: ${c.dropped} frames dropped`);
  return ns / frames;
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1];

/** io at 64 B, `extra` off and on, alternating RUNS times each: the medians and their ratio. */
function cost(extra: Extra): { rows: (string | number)[][]; results: unknown[] } {
  const RUNS = 3;
  const rows: (string | number)[][] = [];
  const results = [];
  for (const layout of ['split', 'packed'] as RingLayout[]) {
    const off: number[] = [];
    const on: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      off.push(measure(layout, 'io', 64));
      on.push(measure(layout, 'io', 64, extra));
    }
    const [a, b] = [median(off), median(on)];
    rows.push([layout, a.toFixed(1), b.toFixed(1), (b - a).toFixed(1), `${(b / a).toFixed(3)}x`]);
    results.push({ layout, frameBytes: 64, mode: 'io', nsPerFrame: { off: a, on: b }, runs: { off, on }, onVsOff: b / a });
    process.stderr.write(`  ${extra} ${layout}: off ${off.map((x) => x.toFixed(1)).join(' ')} ns, on ${on.map((x) => x.toFixed(1)).join(' ')} ns per frame\n`);
  }
  return { rows, results };
}

function main(): void {
  const which = process.env.VIRTQUEUE_BENCH_NET ?? 'all';
  const machine = machineInfo();
  if (which === 'all' || which === 'modes') modes(machine);
  if (which === 'all' || which === 'inflight') {
    const { rows, results } = cost('inflight');
    console.log(`\nInflight I/O tracking: io, 64-byte frames, ns per frame of netForward, tracking off and on (runs alternating, median of 3), ${ROUNDS} bursts per run`);
    console.log(`Machine: ${describeMachine(machine)}\n`);
    console.log(table(['ring', 'off ns', 'on ns', 'on - off ns', 'on / off'], rows));
    console.log(JSON.stringify({ bench: 'net-forward-inflight', burst: BURST, rounds: ROUNDS, machine, results }));
  }
  if (which === 'all' || which === 'log') {
    const { rows, results } = cost('log');
    console.log(`\nDirty-page logging: io, 64-byte frames, ns per frame of netForward, logging off and on (runs alternating, median of 3), ${ROUNDS} bursts per run`);
    console.log(`Machine: ${describeMachine(machine)}\n`);
    console.log(table(['ring', 'off ns', 'on ns', 'on - off ns', 'on / off'], rows));
    console.log(JSON.stringify({ bench: 'net-forward-log', burst: BURST, rounds: ROUNDS, machine, results }));
  }
}

function modes(machine: ReturnType<typeof machineInfo>): void {
  const rows: (string | number)[][] = [];
  const results = [];
  for (const layout of ['split', 'packed'] as RingLayout[]) {
    for (const size of [64, 1518]) {
      const rxonly = measure(layout, 'rxonly', size);
      const io = measure(layout, 'io', size);
      const macswap = measure(layout, 'macswap', size);
      rows.push([layout, size, rxonly.toFixed(1), io.toFixed(1), macswap.toFixed(1), (1e3 / io).toFixed(2), `${(io / rxonly).toFixed(2)}x`]);
      results.push({ layout, frameBytes: size, nsPerFrame: { rxonly, io, macswap }, ioMpps: 1e3 / io, ioVsRxonly: io / rxonly });
      process.stderr.write(`  ${layout} ${size} B: rxonly ${rxonly.toFixed(1)} ns, io ${io.toFixed(1)} ns, macswap ${macswap.toFixed(1)} ns per frame\n`);
    }
  }
  console.log(`\nvirtio-net data path in one thread: ns per frame of netForward, bursts of ${BURST}, ${ROUNDS} bursts per row`);
  console.log(`Machine: ${describeMachine(machine)}\n`);
  console.log(table(['ring', 'frame bytes', 'rxonly ns', 'io ns', 'macswap ns', 'io Mpps (one core)', 'io / rxonly'], rows));
  console.log(JSON.stringify({ bench: 'net-forward', burst: BURST, rounds: ROUNDS, machine, results }));
}

main();
