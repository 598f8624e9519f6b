// The dashboard: sign-in, navigation by URL hash, and live updates from the
// event stream. Pages draw themselves from the API; an event that concerns
// the open page makes it fetch again (at most every half second), so no page
// polls faster than its own 30 s clock.
import { api, EventStream, signedIn, signInWithKey, signInWithPassword, signOut, whenSignedOut } from './api.js';
import { field, h, replace } from './dom.js';
import { keys, overview, project, projects, usage } from './pages_more.js';
import { critique, critiques, job, jobs } from './pages_jobs.js';
import { playbook, playbooks } from './pages_playbooks.js';
import { errorBox } from './ui.js';

const NAV = [
  ['#/', 'Overview'], ['#/playbooks', 'Playbooks'], ['#/jobs', 'Jobs'], ['#/critiques', 'Critiques'],
  ['#/projects', 'Projects'], ['#/usage', 'Usage'], ['#/keys', 'API keys'],
];

const ROUTES = [
  [/^\/$/, overview], [/^\/playbooks$/, playbooks], [/^\/playbooks\/([\w-]+)$/, playbook],
  [/^\/jobs$/, jobs], [/^\/jobs\/([\w-]+)$/, job], [/^\/critiques$/, critiques], [/^\/critiques\/([\w-]+)$/, critique],
  [/^\/projects$/, projects], [/^\/projects\/([\w-]+)$/, project], [/^\/usage$/, usage], [/^\/keys$/, keys],
];

const app = document.getElementById('app');
let page = null; // {refresh, wants, leave}
let pending = null;
let stream = null;
let me = null;
const streamState = h('span', { class: 'stream-state', role: 'status', 'aria-live': 'polite' });
const main = h('main', { id: 'main', tabindex: '-1' });

const ctx = {
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  refresh() {
    return page && page.refresh();
  },
};

function onEvent(ev) {
  if (!page || !page.wants || !page.wants(ev)) return;
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    ctx.refresh();
  }, 500);
}

function layout() {
  const nav = h('nav', { 'aria-label': 'Main' }, h('ul', {}, NAV.map(([href, label]) => h('li', {}, h('a', { href }, label)))));
  replace(app,
    h('a', { href: '#main', class: 'skip', onclick: (ev) => { ev.preventDefault(); main.focus(); } }, 'Skip to the content'),
    h('header', { class: 'top' },
      h('a', { href: '#/', class: 'brand' }, 'troupe'), nav,
      h('div', { class: 'who' }, streamState, h('span', { class: 'muted' }, me ? me.email : ''),
        h('button', { type: 'button', onclick: () => signOut('') }, 'Sign out'))),
    main);
}

function markNav(path) {
  for (const a of app.querySelectorAll('nav a')) {
    const target = a.getAttribute('href').slice(1);
    const on = target === '/' ? path === '/' : path === target || path.startsWith(target + '/');
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  if (!signedIn()) return showSignIn('');
  if (!main.isConnected) layout();
  if (page && page.leave) page.leave();
  page = null;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, q] = hash.split('?');
  const params = new URLSearchParams(q || '');
  markNav(path);
  for (const [re, fn] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    const root = h('div', { class: 'page' });
    replace(main, root);
    try {
      const p = await fn(root, params, ctx, ...m.slice(1));
      page = p;
      await p.refresh();
    } catch (e) {
      replace(root, errorBox(e));
    }
    document.title = `${(root.querySelector('h1') || {}).textContent || 'troupe'} · troupe`;
    return;
  }
  replace(main, h('div', { class: 'page' }, h('h1', {}, 'Not found'), h('p', {}, 'No page here. '), h('a', { href: '#/' }, 'Go to the overview')));
}

function showSignIn(message) {
  if (stream) stream.stop();
  stream = null;
  if (page && page.leave) page.leave();
  page = null;
  clearTimeout(pending);
  pending = null;
  me = null;
  document.title = 'Sign in · troupe';
  const out = h('div', { role: 'status' }, message ? h('div', { class: 'notice' }, message) : null);
  const password = h('form', { class: 'form', 'aria-label': 'Sign in with email and password' },
    field('Email', h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit' }, 'Sign in')));
  const key = h('form', { class: 'form', 'aria-label': 'Sign in with an API key' },
    field('API key', h('input', { name: 'key', type: 'password', autocomplete: 'off', required: true, placeholder: 'tr_…' })),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit' }, 'Sign in with the key')));
  const submit = (f, run) => f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = f.querySelector('button[type=submit]');
    if (button.disabled) return;
    button.disabled = true;
    replace(out);
    const v = Object.fromEntries(new FormData(f).entries());
    try {
      await run(v);
      start();
    } catch (e) {
      replace(out, errorBox(e));
    } finally {
      button.disabled = false;
    }
  });
  submit(password, (v) => signInWithPassword(v.email, v.password));
  submit(key, (v) => signInWithKey(v.key.trim()));
  replace(app, h('main', { class: 'signin', id: 'main' },
    h('h1', {}, 'troupe'), h('p', { class: 'lead' }, 'Sign in to see your playbooks, their evolutions and your jobs.'), out,
    h('section', {}, h('h2', {}, 'Email and password'), password),
    h('section', {}, h('h2', {}, 'Or an API key'), key)));
  const first = app.querySelector('input');
  if (first) first.focus();
}

async function start() {
  if (stream) stream.stop();
  stream = null;
  try {
    me = await api('GET', '/v1/auth/me');
  } catch (e) {
    if (!signedIn()) return;
    me = null;
  }
  layout();
  stream = new EventStream(onEvent, (s) => {
    streamState.textContent = s === 'live' ? '● live' : '○ reconnecting';
    streamState.className = `stream-state ${s}`;
  });
  stream.start();
  route();
}

whenSignedOut((message) => showSignIn(message));
window.addEventListener('hashchange', () => signedIn() && route());
if (signedIn()) start();
else showSignIn('');
