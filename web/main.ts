// The visualizer page. Local mode (the default): the engine's Wasm module instantiated over a
// shared WebAssembly.Memory (a SharedArrayBuffer: the server sends the cross-origin isolation
// headers that allow it), one queue stepped by the controls (sim/stepper/), every operation
// recorded for time travel, and the picture read straight from that memory by the snapshot
// reader (src/viz/snapshot.ts) after each change. Live mode (/?live): snapshots streamed by
// `virtqueue sim --viz` or `virtqueue vhost --viz`, rendered the same way and patched into the page
// in place (live.ts).
import { Engine } from '../src/engine.js';
import { createSharedMemory } from '../src/memory.js';
import { takeSnapshot, type Snapshot } from '../src/viz/snapshot.js';
import { Timeline } from '../sim/stepper/timeline.js';
import { StepRefused, stepFeatureNames, type StepCounters } from '../sim/stepper/session.js';
import { parseTrace, traceJson, checkConfig, STEP_FEATURES, type StepConfig, type StepOp, type Corruption } from '../sim/stepper/trace.js';
import { renderQueue, renderPool, kv, type FaultMark } from './render.js';
import { esc, h, html } from './morph.js';
import { connectLive } from './live.js';
import { LIVE_PAGE_QUERY } from '../src/viz/stream.js';
import { describeOp, nextPlayOp } from './play.js';
import { availablePending } from '../sim/stepper/faults.js';

/** Memory for the local queue: rings, control blocks, pool buffers of a 1024-entry queue fit with room to spare. */
const MEMORY_BYTES = 8 << 20;

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
};

interface Local {
  engine: Engine;
  timeline: Timeline;
  playing: ReturnType<typeof setInterval> | undefined;
  playStep: number;
  /** For rates: counters and time at the previous render while playing. */
  last: { t: number; c: StepCounters } | undefined;
  rates: Record<string, string>;
}

let local: Local | undefined;

function message(text: string, refused = false): void {
  const m = $('message');
  m.textContent = text;
  m.className = refused ? 'refused' : '';
}

function configFromControls(): StepConfig {
  const layout = ($<HTMLSelectElement>('layout').value === 'packed' ? 'packed' : 'split') as StepConfig['layout'];
  const chosen = STEP_FEATURES.filter((f) => $<HTMLInputElement>(`f-${f}`).checked);
  return checkConfig({
    layout, queueSize: Number($<HTMLInputElement>('queue-size').value),
    features: stepFeatureNames(layout, chosen), segments: Number($<HTMLSelectElement>('segments').value),
  });
}

function controlsFromConfig(c: StepConfig): void {
  $<HTMLSelectElement>('layout').value = c.layout;
  $<HTMLInputElement>('queue-size').value = String(c.queueSize);
  $<HTMLSelectElement>('segments').value = String(c.segments);
  for (const f of STEP_FEATURES) $<HTMLInputElement>(`f-${f}`).checked = c.features.includes(f);
}

/** The picture of the current point, read from the shared memory. */
function snapshot(l: Local): Snapshot {
  const s = l.timeline.session;
  return takeSnapshot(l.engine, [{ name: 'queue', layout: s.layout, areas: s.areas, driverCb: s.driver.cb, deviceCb: s.device.cb }],
    [{ name: 'buffers', addr: s.pool.addr }]);
}

function render(): void {
  const l = local!;
  const t = l.timeline;
  const s = t.session;
  const snap = snapshot(l);
  const f = s.lastFault;
  const fault: FaultMark | undefined = f && { area: f.area, index: f.index, name: f.name, section: f.section, message: f.message, op: f.at + 1 };
  const scrub = $<HTMLInputElement>('scrub');
  scrub.max = String(t.length);
  scrub.value = String(t.position);
  $('scrub-out').textContent = `${t.position} / ${t.length}`;
  if (l.playing) {
    const now = performance.now();
    if (l.last && now - l.last.t >= 1000) {
      const dt = (now - l.last.t) / 1000;
      l.rates = { 'ops/s': ((s.counters.ops - l.last.c.ops) / dt).toFixed(1), 'chains/s': ((s.counters.collected - l.last.c.collected) / dt).toFixed(1) };
    }
    if (!l.last || now - l.last.t >= 1000) l.last = { t: now, c: { ...s.counters } };
  }
  const state = {
    notified: s.notified ? 'yes' : availablePending(s) ? 'no: chains wait (play pops only when notified; device pop by hand)' : 'no',
    'drop next notify': s.dropNextNotify ? 'armed' : 'no',
    'reorder next push': s.reorderNextPush ? 'armed' : 'no',
    'held by device': s.held.map((c) => (c.delay ? `${c.id}(delay ${c.delay})` : String(c.id))).join(' ') || '-',
  };
  const history = t.history.map((e, i) => `<li data-op="${i + 1}" class="${i + 1 === t.position ? 'now' : i >= t.position ? 'future' : ''}${e.result.error ? ' err' : ''}">` +
    `${esc(describeOp(e.op))} &rarr; ${e.result.error ? esc(e.result.error) : e.result.n}</li>`).join('');
  $('view').innerHTML = html([...snap.queues.map((q) => renderQueue(q, fault)),
    h('div', null, snap.pools.map(renderPool), h('h3', null, 'counters'), kv('counters', s.counters),
      h('h3', null, 'rates'), kv('rates', l.rates), h('h3', null, 'stepper'), kv('stepper', state))]) +
    `<div><h3>history (click to go there)</h3><ol id="log" start="1">${history}</ol></div>`;
  // Keep the current operation in view inside the log only (scrolling the page would move the controls).
  const log = document.getElementById('log');
  const now = document.querySelector<HTMLElement>('#log li.now');
  if (log && now) log.scrollTop = Math.max(0, now.offsetTop - log.clientHeight / 2); // the list is its items' offsetParent
}

/** Applies one operation at the current point; refusals are shown, not recorded. */
function apply(op: StepOp): boolean {
  const l = local!;
  try {
    const e = l.timeline.apply(op);
    message(`${describeOp(op)}: ${e.result.error ? `${e.result.error} (see the error box)` : e.result.n}`);
    render();
    return !e.result.error;
  } catch (err) {
    if (!(err instanceof StepRefused) && !(err instanceof RangeError)) throw err;
    message(`${describeOp(op)} refused: ${err.message}`, true);
    return false;
  }
}

function burst(): number {
  const n = Math.floor(Number($<HTMLInputElement>('burst').value));
  return Math.min(Math.max(1, Number.isFinite(n) ? n : 1), local!.timeline.config.queueSize);
}

function opFor(name: string): StepOp {
  switch (name) {
    case 'add': case 'pop': case 'push': case 'delay': return { op: name, n: burst() };
    case 'notify': case 'collect': case 'drop-notify': case 'reorder': case 'reset': return { op: name };
    default: throw new Error(`no operation ${name}`);
  }
}

function newQueue(config: StepConfig, timeline?: Timeline): void {
  pause();
  local!.timeline = timeline ?? new Timeline(local!.engine, config);
  local!.playStep = 0;
  render();
}

function pause(): void {
  const l = local!;
  if (l.playing) clearInterval(l.playing);
  l.playing = undefined;
  l.last = undefined;
  $('play').textContent = 'play';
}

function play(): void {
  const l = local!;
  pause();
  const speed = Number($<HTMLInputElement>('speed').value);
  $('play').textContent = 'pause';
  l.playing = setInterval(() => {
    // Up to one cycle of phases: the first that the session accepts is applied.
    for (let tries = 0; tries < 5; tries++) {
      const op = nextPlayOp(l.timeline.session, l.playStep++, burst());
      if (!op) continue;
      try {
        const e = l.timeline.apply(op);
        if (e.result.error) { pause(); message(`stopped: ${describeOp(op)} met ${e.result.error}`); }
        render();
        return;
      } catch (err) {
        if (!(err instanceof StepRefused)) { pause(); throw err; }
      }
    }
    render();
  }, 1000 / speed);
}

function download(name: string, text: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function wire(): void {
  document.querySelectorAll<HTMLButtonElement>('button[data-op]').forEach((b) => {
    b.addEventListener('click', () => { pause(); apply(opFor(b.dataset.op!)); });
  });
  $('corrupt').addEventListener('click', () => {
    pause();
    apply({ op: 'corrupt', what: $<HTMLSelectElement>('corruption').value as Corruption });
  });
  $('new-queue').addEventListener('click', () => {
    try { newQueue(configFromControls()); message('new queue'); } catch (e) { message((e as Error).message, true); }
  });
  $('play').addEventListener('click', () => (local!.playing ? pause() : play()));
  const speed = $<HTMLInputElement>('speed');
  speed.addEventListener('input', () => { $('speed-out').textContent = speed.value; if (local!.playing) play(); });
  $('scrub').addEventListener('input', () => {
    pause();
    local!.timeline.seek(Number($<HTMLInputElement>('scrub').value));
    render();
  });
  $('view').addEventListener('click', (ev) => {
    const li = (ev.target as HTMLElement).closest<HTMLElement>('#log li');
    if (!li) return;
    pause();
    local!.timeline.seek(Number(li.dataset.op));
    render();
  });
  $('export').addEventListener('click', () => {
    pause();
    const c = local!.timeline.config;
    download(`virtqueue-${c.layout}-${c.queueSize}-${local!.timeline.length}ops.json`, traceJson(local!.timeline.toTrace()));
  });
  $<HTMLInputElement>('import').addEventListener('change', async (ev) => {
    const input = ev.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    try {
      const trace = parseTrace(await file.text());
      controlsFromConfig(trace.config);
      newQueue(trace.config, Timeline.fromTrace(local!.engine, trace));
      message(`imported ${file.name}: ${trace.ops.length} operations, replayed identically`);
    } catch (e) {
      message(`${file.name}: ${(e as Error).message}`, true);
    }
    input.value = '';
  });
}

async function startLocal(): Promise<void> {
  if (!globalThis.crossOriginIsolated) {
    throw new Error('this page needs cross-origin isolation for SharedArrayBuffer: open it from `virtqueue viz`');
  }
  const wasm = await fetch('/build/virtqueue.wasm');
  if (!wasm.ok) throw new Error(`/build/virtqueue.wasm: ${wasm.status} (run \`npm run build\`)`);
  const memory = createSharedMemory(MEMORY_BYTES);
  const engine = await Engine.instantiate(await wasm.arrayBuffer(), memory);
  local = { engine, timeline: new Timeline(engine, configFromControls()), playing: undefined, playStep: 0, last: undefined, rates: {} };
  $('controls').hidden = false;
  $('mode').textContent = `local: the engine in this page over a ${memory.buffer.byteLength >> 20} MiB shared WebAssembly.Memory`;
  wire();
  render();
  // For tests and the curious: the engine, the history and a fresh snapshot.
  Object.assign(globalThis, { viz: { engine, get timeline() { return local!.timeline; }, snapshot: () => snapshot(local!) } });
}

async function start(): Promise<void> {
  try {
    if (new URLSearchParams(location.search).has(LIVE_PAGE_QUERY)) connectLive($('view'), $('mode'));
    else await startLocal();
    document.body.dataset.ready = 'yes';
  } catch (e) {
    $('mode').textContent = (e as Error).message;
    document.body.dataset.ready = 'failed';
  }
}

void start();
