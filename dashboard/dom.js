// DOM helpers. Every piece of stored text reaches the page through
// createTextNode or an attribute value, never through HTML parsing: there is
// no innerHTML anywhere in the dashboard.

const SVG = 'http://www.w3.org/2000/svg';

function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(el, c);
    return;
  }
  el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

// h('a', {href: '#/jobs'}, 'Jobs'): an element with attributes and children
// (strings become text nodes; arrays are flattened; null is skipped).
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// "3 min ago", "in 2 s"; the full timestamp goes in the title.
export function ago(iso) {
  if (!iso) return '—';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  const a = Math.abs(s);
  const text = a < 60 ? `${a} s` : a < 3600 ? `${Math.round(a / 60)} min` : a < 86400 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

export function time(iso) {
  return h('time', { datetime: iso || '', title: iso || '' }, ago(iso));
}

export function duration(fromIso, toIso) {
  if (!fromIso || !toIso) return '—';
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  return ms < 1000 ? `${ms} ms` : ms < 120000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60000)} min`;
}

export function short(id) {
  return id ? String(id).slice(0, 8) : '—';
}

export function num(x, digits = 2) {
  if (x === null || x === undefined) return '—';
  return Number.isInteger(x) ? String(x) : Number(x).toFixed(digits);
}

// A status word as a badge: the class carries the color, the text the meaning.
export function badge(status) {
  return h('span', { class: `badge badge-${String(status).replace(/[^a-z_]/g, '')}` }, String(status));
}

export function table(headers, rows, empty) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c)))))));
}

// A labelled form control: the label names it; a hint, if any, describes
// it (aria-describedby) without becoming part of its name.
let hints = 0;
export function field(label, control, hint) {
  let note = null;
  if (hint) {
    const id = `hint-${++hints}`;
    note = h('span', { class: 'hint', id }, hint);
    control.setAttribute('aria-describedby', id);
  }
  return h('div', { class: 'field' }, h('label', {}, h('span', { class: 'field-label' }, label), control), note);
}

export function select(name, options, value) {
  return h('select', { name },
    options.map(([v, t]) => h('option', { value: v, selected: v === value }, t)));
}
