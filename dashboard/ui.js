// Building blocks the pages share: live blocks, error boxes, buttons that
// call the API and show what it answered.
import { api } from './api.js';
import { h, replace } from './dom.js';

export function errorBox(e) {
  const status = e && e.status ? ` (${e.status}${e.code ? ' ' + e.code : ''})` : '';
  return h('div', { class: 'error', role: 'alert' }, (e && e.message ? e.message : String(e)) + status);
}

// A part of a page that loads its data and draws it, again on every
// refresh: `draw` returns the nodes; an error is shown in its place.
export function block(draw) {
  const el = h('div', { class: 'block' }, h('p', { class: 'loading' }, 'Loading…'));
  let running = null;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          const nodes = await draw();
          replace(el, nodes);
        } catch (e) {
          replace(el, errorBox(e));
        }
      } while (again);
    })();
    try {
      await running;
    } finally {
      running = null;
    }
  };
  return { el, run };
}

// A button that calls the API; while it runs it is disabled, and what went
// wrong is shown next to it (a 409's reason, say).
export function action(label, run, opts = {}) {
  const out = h('span', { class: 'action-result', role: 'status' });
  const button = h('button', { type: 'button', class: opts.danger ? 'danger' : '' , 'aria-label': opts.ariaLabel || null}, label);
  button.addEventListener('click', async () => {
    if (opts.confirm && !window.confirm(opts.confirm)) return;
    button.disabled = true;
    replace(out);
    try {
      const r = await run();
      if (opts.done) opts.done(r);
    } catch (e) {
      replace(out, errorBox(e));
    } finally {
      button.disabled = false;
    }
  });
  return h('span', { class: 'action' }, button, out);
}

// A form whose submit calls `run(values)`; its errors are shown in it.
export function form(label, controls, run, opts = {}) {
  const out = h('div', { class: 'form-result', role: 'status' });
  const submit = h('button', { type: 'submit' }, opts.submit || label);
  const f = h('form', { class: 'form', 'aria-label': label }, controls, h('div', { class: 'form-actions' }, submit), out);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (opts.confirm && !window.confirm(opts.confirm)) return;
    submit.disabled = true;
    replace(out);
    try {
      const values = Object.fromEntries(new FormData(f).entries());
      const r = await run(values, f);
      if (opts.done) opts.done(r, out, f);
    } catch (e) {
      replace(out, errorBox(e));
    } finally {
      submit.disabled = false;
    }
  });
  return f;
}

// Pages of a list API: the first page, then "Load more" with its cursor.
export async function paged(path, drawRows) {
  const first = await api('GET', path);
  const items = [...first.items];
  const wrap = h('div', {});
  let cursor = first.next_cursor;
  const redraw = () => {
    const more = cursor
      ? h('button', { type: 'button', class: 'more', onclick: async (ev) => {
        ev.target.disabled = true;
        const sep = path.includes('?') ? '&' : '?';
        try {
          const next = await api('GET', `${path}${sep}cursor=${encodeURIComponent(cursor)}`);
          items.push(...next.items);
          cursor = next.next_cursor;
          redraw();
        } catch (e) {
          ev.target.disabled = false;
          replace(failure, errorBox(e));
        }
      } }, 'Load more')
      : null;
    const failure = h('div', { role: 'status' });
    replace(wrap, drawRows(items), more, failure);
  };
  redraw();
  return wrap;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function pageHeader(title, ...extra) {
  return h('header', { class: 'page-header' }, h('h1', {}, title), extra);
}
