// Live mode (/?live): the queues of a running `virtqueue sim --viz` or `virtqueue vhost --viz`,
// streamed as server-sent events (protocol in src/viz/stream.ts): a hello naming the run, frames
// (a ring image, the bytes of the rings read from the dataplane's shared memory, which the page
// draws as a Snapshot with the same readers; the workers' statistics, the source's counters),
// and an end with the run's summary. A frame it cannot read is named in the mode line.
// Kept light (issue 13): the browser parses the stream (EventSource) and each frame's data is
// decoded and drawn once, and only the newest frame's: a frame is kept until the next animation frame, and one
// that arrives meanwhile replaces it (at most one render per animation frame; none while the page
// is hidden, the newest shown when it is visible again). A render builds the same picture as the
// stepper's (render.ts) and patches only what changed into the nodes already on the page
// (morph.ts), whose column widths are fixed in live mode (style.css, main.live) so that new values
// do not move the layout. Descriptor rows and ring cells off screen (an IntersectionObserver's
// word, with a margin) are left as they were until they come back on screen: with 256-entry
// rings most of them are, and they are most of the page's nodes; a queue's columns wholly off
// screen skip style, layout and paint (content-visibility, once shown once: style.css).
import { LIVE_EVENTS, LIVE_PATH, decodeFrame, type LiveEnd, type LiveFrame, type LiveHello } from '../src/viz/stream.js';
import { renderQueue, renderPool, kv } from './render.js';
import { h, morph, type Kid, type VNode } from './morph.js';

function counters(c: Record<string, number | Record<string, number>>): Kid {
  const flat = Object.fromEntries(Object.entries(c).filter(([, v]) => typeof v === 'number'));
  const nested = Object.entries(c).filter(([, v]) => typeof v === 'object' && v !== null) as [string, Record<string, number>][];
  return [Object.keys(flat).length > 0 && kv('counters', flat), nested.map(([k, v]) => [h('h3', null, k), kv(`counters.${k}`, v)])];
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

/** The live view of one frame: the queues, then pools, counters, their rates and the workers. */
function livePicture(f: LiveFrame, perSecond: Record<string, string>): VNode[] {
  return [...f.snapshot.queues.map((q) => renderQueue(q)),
    h('div', null, f.snapshot.pools.map(renderPool), h('h3', null, 'counters'), counters(f.counters),
      h('h3', null, 'rates'), kv('rates', perSecond), f.workers.map((w, i) => [h('h3', null, `worker ${i}`), kv(`workers.${i}`, w)]))];
}

/** What live mode patches only while it is on screen (or near): descriptor rows and ring cells. */
const LAZY = 'table.descs tbody tr, .ring span';

export function connectLive(view: HTMLElement, mode: HTMLElement, path = LIVE_PATH): EventSource {
  const source = new EventSource(path);
  let hello = '';
  let frames = 0;
  let firstAt = 0;
  let renders = 0;
  let prev: { at: number; c: Map<string, number> } | undefined;
  /** The newest frame's data not yet shown, and whether an animation frame is asked for. */
  let pending: string | undefined;
  let asked = false;
  /** The frame last rendered and its picture, whose rows and cells off screen were left as they were (stale). */
  let shownFrame: LiveFrame | undefined;
  let picture: VNode[] = [];
  let stale = false;
  /** Once the stream ended: what #mode says (a render of the last frame after it leaves it). */
  let ended: string | undefined;
  // Rows and cells off screen are left alone; one coming back on screen while stale is brought up
  // to date at the next animation frame.
  const offscreen = new WeakSet<Element>();
  const io = new IntersectionObserver((entries) => {
    let back = false;
    for (const e of entries) {
      if (e.isIntersecting) back = offscreen.delete(e.target) || back;
      else offscreen.add(e.target);
    }
    if (back && stale) ask();
  }, { rootMargin: '25% 0px' });
  // Made while morphing (detached, so matched against LAZY once in place).
  const made: Element[] = [];
  const morphing = { skip: (el: Element) => offscreen.has(el), created: (el: Element) => { made.push(el); } };
  view.classList.add('live');

  const render = (): void => {
    asked = false;
    if (document.hidden || (pending === undefined && !stale)) return;
    if (pending !== undefined) {
      const data = pending;
      pending = undefined;
      let f: LiveFrame;
      try {
        f = decodeFrame(data);
      } catch (e) {
        // A frame the page cannot read is shown as such; the next one may be fine.
        mode.textContent = `live: ${hello}: a frame could not be read (${e instanceof Error ? e.message : String(e)})`;
        return;
      }
      const rate = frames > 1 ? (frames - 1) / Math.max(0.001, (performance.now() - firstAt) / 1000) : 0;
      mode.textContent = ended ?? `live: ${hello} (frame ${f.seq}, ${rate.toFixed(1)} updates/s)`;
      const flat = flatCounters(f.counters);
      const perSecond = rates(prev, f.at, flat);
      prev = { at: f.at, c: flat };
      picture = livePicture(f, perSecond);
      shownFrame = f;
    }
    stale = morph(view, picture, morphing);
    for (const el of made) if (el.matches(LAZY)) io.observe(el);
    made.length = 0;
    view.dataset.renders = String(++renders);
    // Once every column has been laid out once (its size remembered), those off screen may skip.
    if (renders === 1) requestAnimationFrame(() => requestAnimationFrame(() => view.classList.add('settled')));
  };
  const ask = (): void => {
    if (asked || (pending === undefined && !stale) || document.hidden) return;
    asked = true;
    requestAnimationFrame(render);
  };
  document.addEventListener('visibilitychange', ask);
  // For tests and the curious: the frame the view shows (rows and cells off screen excepted).
  Object.assign(globalThis, { vizLive: { get frame() { return shownFrame; } } });

  mode.textContent = `live: connecting to ${path}`;
  source.addEventListener(LIVE_EVENTS.hello, (ev) => {
    const hi = JSON.parse((ev as MessageEvent<string>).data) as LiveHello;
    hello = `${hi.source} ${Object.entries(hi.options).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`;
    mode.textContent = `live: ${hello}`;
  });
  source.addEventListener(LIVE_EVENTS.frame, (ev) => {
    if (frames++ === 0) firstAt = performance.now();
    view.dataset.frames = String(frames);
    pending = (ev as MessageEvent<string>).data;
    ask();
  });
  source.addEventListener(LIVE_EVENTS.end, (ev) => {
    const e = JSON.parse((ev as MessageEvent<string>).data) as LiveEnd;
    if (pending !== undefined) render(); // the last frame, before the end is told (or once visible)
    mode.textContent = ended = `live: ${hello} ended (${e.reason})`;
    source.close();
  });
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) mode.textContent = `live: ${path} unreachable (retrying)`;
  };
  return source;
}
