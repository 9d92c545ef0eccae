// A page picture as plain objects (render.ts builds it), written out either as HTML (the stepper:
// one innerHTML a change) or patched into the nodes already on the page (live mode: morph), where
// only the text and attributes that changed between two pictures are touched and the nodes stay
// the same objects. No framework: elements, attributes and text, nothing else.
//
// Text children are kept merged (no two strings side by side, no empty string), so an element's
// DOM child nodes are its kids one for one, whether made by create() or parsed from html().

/** An element: tag, attributes in order, children; `el` is its node on the page once made or patched. */
export interface VElement {
  tag: string;
  attrs: Record<string, string>;
  kids: VNode[];
  el?: Element;
}
export type VNode = VElement | string;
/** What h() takes as children: nodes, numbers (as text), lists of them, and nothing (null, undefined, false, ''). */
export type Kid = VNode | number | readonly Kid[] | null | undefined | false;

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => ESC[c]);

function pushKid(out: VNode[], k: Kid): void {
  if (k === null || k === undefined || k === false || k === '') return;
  if (Array.isArray(k)) { for (const x of k as readonly Kid[]) pushKid(out, x); return; }
  const v = typeof k === 'number' ? String(k) : k as VNode;
  const last = out.length - 1;
  if (typeof v === 'string' && typeof out[last] === 'string') out[last] += v;
  else out.push(v);
}

/** An element; attributes that are undefined, null or false are left out, the others written as strings. */
export function h(tag: string, attrs: Record<string, unknown> | null, ...kids: Kid[]): VElement {
  const a: Record<string, string> = {};
  if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null && v !== false) a[k] = String(v);
  const out: VNode[] = [];
  for (const k of kids) pushKid(out, k);
  return { tag, attrs: a, kids: out };
}

const VOID = new Set(['br', 'hr', 'img', 'input', 'wbr']);

/** The picture as HTML, text and attribute values escaped. */
export function html(n: VNode | readonly VNode[]): string {
  if (typeof n === 'string') return esc(n);
  if (Array.isArray(n)) return (n as readonly VNode[]).map(html).join('');
  const e = n as VElement;
  const attrs = Object.entries(e.attrs).map(([k, v]) => ` ${k}="${esc(v)}"`).join('');
  return VOID.has(e.tag) ? `<${e.tag}${attrs}>` : `<${e.tag}${attrs}>${e.kids.map(html).join('')}</${e.tag}>`;
}

/** Each element's children as they are shown now (set by create() and morph()). */
const SHOWN = new WeakMap<Node, readonly VNode[]>();

/** What morph() may be told: elements to leave as they are for now, and each element it makes. */
export interface MorphOptions {
  /** True: leave this element (attributes and children) showing what it shows; morph() then returns true. */
  skip?: (el: Element) => boolean;
  created?: (el: Element) => void;
}

/** A new DOM node for `n` (and its kids), remembered in n.el. */
export function create(n: VNode, doc: Document = document, opts?: MorphOptions): Node {
  if (typeof n === 'string') return doc.createTextNode(n);
  const el = doc.createElement(n.tag);
  for (const [k, v] of Object.entries(n.attrs)) el.setAttribute(k, v);
  for (const k of n.kids) el.append(create(k, doc, opts));
  n.el = el;
  SHOWN.set(el, n.kids);
  opts?.created?.(el);
  return el;
}

function patchAttrs(el: Element, prev: Record<string, string>, next: Record<string, string>): void {
  for (const k in next) if (prev[k] !== next[k]) el.setAttribute(k, next[k]);
  for (const k in prev) if (!(k in next)) el.removeAttribute(k);
}

/**
 * Makes `parent`'s children, which show what the last morph() (or create()) of it was given (none
 * the first time), show `next`: same-tag elements are kept and only their changed attributes and
 * text written; a node whose kind or tag changed is replaced; extra nodes are removed from the
 * end, missing ones appended. An element `opts.skip` names is left showing what it showed (a later
 * morph() brings it up to date); the answer is whether any was.
 */
export function morph(parent: Element, next: readonly VNode[], opts?: MorphOptions): boolean {
  const prev = SHOWN.get(parent) ?? [];
  const shown = next.slice();
  const common = Math.min(prev.length, next.length);
  let skipped = false;
  for (let i = 0; i < common; i++) {
    const p = prev[i];
    const n = next[i];
    if (typeof p !== 'string' && typeof n !== 'string' && p.tag === n.tag) {
      const el = p.el!;
      if (opts?.skip?.(el)) { shown[i] = p; skipped = true; continue; }
      n.el = el;
      patchAttrs(el, p.attrs, n.attrs);
      skipped = morph(el, n.kids, opts) || skipped;
    } else if (p !== n) {
      const node = parent.childNodes[i];
      if (typeof p === 'string' && typeof n === 'string') (node as Text).data = n;
      else parent.replaceChild(create(n, parent.ownerDocument, opts), node);
    }
  }
  while (parent.childNodes.length > next.length) parent.lastChild!.remove();
  for (let i = common; i < next.length; i++) parent.append(create(next[i], parent.ownerDocument, opts));
  SHOWN.set(parent, shown);
  return skipped;
}
