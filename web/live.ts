// Live mode (/?live): the queues of a running `virtqueue sim --viz` or `virtqueue vhost --viz`,
// streamed as server-sent events (protocol in src/viz/stream.ts): a hello naming the run, frames
// (a Snapshot read from the dataplane's shared memory, the workers' statistics, the source's
// counters) rendered as they come, and an end with the run's summary.
import { LIVE_EVENTS, LIVE_PATH, decodeFrame, type LiveEnd, type LiveHello } from '../src/viz/stream.js';
import { renderQueue, renderPool, kv, esc } from './render.js';

function counters(c: Record<string, number | Record<string, number>>): string {
  const flat = Object.fromEntries(Object.entries(c).filter(([, v]) => typeof v === 'number'));
  const nested = Object.entries(c).filter(([, v]) => typeof v === 'object' && v !== null) as [string, Record<string, number>][];
  return (Object.keys(flat).length ? kv('counters', flat) : '') + nested.map(([k, v]) => `<h3>${esc(k)}</h3>${kv(`counters.${k}`, v)}`).join('');
}

/** The counters as 'name' or 'group.name' paths to numbers. */
function flatCounters(c: Record<string, number | Record<string, number>>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === 'number') out.set(k, v);
    else if (typeof v === 'object' && v !== null) for (const [n, x] of Object.entries(v)) if (typeof x === 'number') out.set(`${k}.${n}`, x);
  }
  return out;
}

/** Each counter's change a second between two frames (read times `at`, ms), e.g. 'moved/s'. */
function rates(prev: { at: number; c: Map<string, number> } | undefined, at: number, c: Map<string, number>): Record<string, string> {
  if (!prev || at <= prev.at) return {};
  const dt = (at - prev.at) / 1000;
  return Object.fromEntries([...c].filter(([k]) => prev.c.has(k)).map(([k, v]) => [`${k}/s`, ((v - prev.c.get(k)!) / dt).toFixed(0)]));
}

export function connectLive(view: HTMLElement, mode: HTMLElement, path = LIVE_PATH): EventSource {
  const source = new EventSource(path);
  let hello = '';
  let frames = 0;
  let firstAt = 0;
  let prev: { at: number; c: Map<string, number> } | undefined;
  mode.textContent = `live: connecting to ${path}`;
  source.addEventListener(LIVE_EVENTS.hello, (ev) => {
    const h = JSON.parse((ev as MessageEvent<string>).data) as LiveHello;
    hello = `${h.source} ${Object.entries(h.options).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`;
    mode.textContent = `live: ${hello}`;
  });
  source.addEventListener(LIVE_EVENTS.frame, (ev) => {
    const f = decodeFrame((ev as MessageEvent<string>).data);
    const now = performance.now();
    if (frames++ === 0) firstAt = now;
    const rate = frames > 1 ? (frames - 1) / Math.max(0.001, (now - firstAt) / 1000) : 0;
    mode.textContent = `live: ${hello} (frame ${f.seq}, ${rate.toFixed(1)} updates/s)`;
    view.dataset.frames = String(frames);
    const workers = f.workers.map((w, i) => `<h3>worker ${i}</h3>${kv(`workers.${i}`, w)}`).join('');
    const flat = flatCounters(f.counters);
    const perSecond = rates(prev, f.at, flat);
    prev = { at: f.at, c: flat };
    view.innerHTML = f.snapshot.queues.map((q) => renderQueue(q)).join('') +
      `<div>${f.snapshot.pools.map(renderPool).join('')}<h3>counters</h3>${counters(f.counters)}` +
      `<h3>rates</h3>${kv('rates', perSecond)}${workers}</div>`;
  });
  source.addEventListener(LIVE_EVENTS.end, (ev) => {
    const e = JSON.parse((ev as MessageEvent<string>).data) as LiveEnd;
    mode.textContent = `live: ${hello} ended (${e.reason})`;
    source.close();
  });
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) mode.textContent = `live: ${path} unreachable (retrying)`;
  };
  return source;
}
