// The API client: the signed-in credential, requests with it, and the event
// stream. The credential lives in sessionStorage (gone with the tab) and is
// sent only in the Authorization header, never in a URL.

const KEY = 'troupe.session';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

let session = null; // {kind: 'jwt', access, refresh, expiresAt} | {kind: 'key', key}
let refreshTimer = null;
let refreshing = null; // the refresh in flight: a refresh token works once
let onSignedOut = () => {};

function load() {
  try {
    session = JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    session = null;
  }
}

function save() {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
}

function credential() {
  if (!session) return null;
  return session.kind === 'key' ? session.key : session.access;
}

export function signedIn() {
  return session !== null;
}

export function whenSignedOut(fn) {
  onSignedOut = fn;
}

// Refreshes a JWT a minute before it expires (at three quarters of its life
// when that is shorter); a refused refresh signs out.
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!session || session.kind !== 'jwt') return;
  const left = session.expiresAt - Date.now();
  const wait = Math.max(1000, left > 240000 ? left - 60000 : left * 0.75);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), wait);
}

// One refresh at a time, whoever asks (the timer, several requests that got
// a 401 together): a refresh token is good once, and using one twice makes
// the server end every session of the user. The server refusing it (400,
// 401) signs out; a network error or a 503 is tried again later.
export function refresh() {
  refreshing ??= (async () => {
    const mine = session;
    if (!mine || mine.kind !== 'jwt') throw new ApiError(401, 'unauthenticated', 'not signed in with a password');
    let r;
    try {
      r = await fetch('/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: mine.refresh }),
      });
    } catch {
      r = null;
    }
    if (session !== mine) throw new ApiError(401, 'unauthenticated', 'signed out');
    if (r && r.ok) return adoptTokens(await r.json());
    const e = r ? await toError(r) : new ApiError(0, 'network', 'the server cannot be reached');
    if (r && (r.status === 400 || r.status === 401)) signOut('Your session ended; sign in again.');
    else {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => refresh().catch(() => {}), 10000);
    }
    throw e;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function adoptTokens(t) {
  session = { kind: 'jwt', access: t.access_token, refresh: t.refresh_token, expiresAt: Date.now() + t.expires_in * 1000 };
  save();
  scheduleRefresh();
}

export async function signInWithPassword(email, password) {
  const r = await fetch('/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (!r.ok) throw await toError(r);
  adoptTokens(await r.json());
}

export async function signInWithKey(key) {
  session = { kind: 'key', key };
  try {
    await api('GET', '/v1/auth/me');
  } catch (e) {
    session = null;
    throw e;
  }
  save();
}

export function signOut(message) {
  clearTimeout(refreshTimer);
  session = null;
  save();
  onSignedOut(message || '');
}

async function toError(r) {
  let body = null;
  try {
    body = await r.json();
  } catch {
    /* not JSON: a proxy's page */
  }
  const e = body && body.error;
  if (e) return new ApiError(r.status, e.code, e.message, e.details);
  return new ApiError(r.status, 'http_' + r.status, `the server answered ${r.status} ${r.statusText}`);
}

// One API call; JSON in and out. A 401 on a JWT tries one refresh first.
export async function api(method, path, body, retried) {
  const headers = { Authorization: `Bearer ${credential()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  if (r.status === 401 && session && session.kind === 'jwt' && !retried) {
    await refresh();
    return api(method, path, body, true);
  }
  if (r.status === 401 && session) {
    const e = await toError(r);
    signOut(e.message);
    throw e;
  }
  if (!r.ok) throw await toError(r);
  if (r.status === 204) return null;
  return r.json();
}

// The event stream: SSE read through fetch, so that the credential goes in
// a header. Reconnects after a drop, resuming after the last event seen.
export class EventStream {
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.last = null;
    this.abort = null;
    this.stopped = false;
    this.delay = 1000;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
  }

  async connect() {
    if (this.stopped || !signedIn()) return;
    this.abort = new AbortController();
    const url = this.last === null ? '/v1/events' : `/v1/events?after=${this.last}`;
    try {
      const r = await fetch(url, { headers: { Authorization: `Bearer ${credential()}`, Accept: 'text/event-stream' }, signal: this.abort.signal });
      if (r.status === 401) {
        // An expired token is refreshed; a revoked key signs out.
        if (session && session.kind === 'jwt') await refresh().catch(() => {});
        else signOut('The API key was refused; sign in again.');
      }
      if (!r.ok) throw new Error(String(r.status));
      this.onState('live');
      this.delay = 1000;
      await this.read(r.body.getReader());
    } catch {
      /* dropped or refused: retried below */
    }
    if (this.stopped) return;
    this.onState('reconnecting');
    setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, 15000);
  }

  async read(reader) {
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
        if (!data) continue;
        try {
          const ev = JSON.parse(data);
          if (typeof ev.id === 'number') this.last = ev.id;
          this.onEvent(ev);
        } catch {
          /* not an event */
        }
      }
    }
  }
}

load();
scheduleRefresh();
