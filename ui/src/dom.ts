// A tiny element builder: text is always set as text (never HTML).
//
// It refuses what the content security policy blocks anyway, so the mistake shows
// at once instead of silently doing nothing: a `style` attribute (set sizes through
// the CSSOM, `el.style.width = …`, or use <progress>/<meter>) and `on…` handler
// attributes (use `on()`).
type Attrs = Record<string, string | number | boolean | undefined>;
export type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Attrs, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    const name = k.toLowerCase();
    if (name === "style") throw new Error(`h(${tag}): no style attribute (the CSP blocks it): set el.style.* or use a class`);
    if (name.startsWith("on")) throw new Error(`h(${tag}): no ${k} attribute (the CSP blocks inline handlers): use on()`);
    if (v === undefined || v === false) continue;
    if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: HTMLElement, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
}

export function on<E extends HTMLElement, K extends keyof HTMLElementEventMap>(
  el: E,
  type: K,
  f: (e: HTMLElementEventMap[K]) => void,
): E {
  el.addEventListener(type, f as EventListener);
  return el;
}

export function clear(el: HTMLElement): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** Replaces the children of `el`. */
export function fill(el: HTMLElement, ...children: Child[]): void {
  clear(el);
  append(el, ...children);
}
