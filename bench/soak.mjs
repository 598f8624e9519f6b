// The soak's traffic and its checks (issue 17), driven by bench/soak, which
// starts the server and gives this script its address, keys and the PG*
// environment of its database. Node 20 with --experimental-websocket; no npm
// package: fetch for HTTP and SSE, the built-in WebSocket, psql for SQL.
//
// For --minutes it runs, at once:
//   outcomes      --outcome-rate a second over 40 playbooks of one user (threshold 10,
//                 so evolutions run all the time), some with an Idempotency-Key and
//                 some of those sent twice; a second user posts to 5 playbooks of its own
//   evolutions    a manual trigger on a random playbook every 2 s
//   critiques     5 plan critiques a second, each posted and read back
//   noop jobs     100 queued each second by a producer inside the database (with NOTIFY)
//   reads         playbooks, jobs, outcome pages, status
//   keys          a key created, used, revoked and refused, every 500 ms
//   sign-in       a login and a refresh every 20 s
//   subscribers   one WebSocket auditor of every event for the whole run, and 16
//                 subscribers that join (SSE or WebSocket, by playbook or by topic,
//                 from `after` a recent id) and leave after 1-8 s
// and samples the server's RSS every 5 s. Every minute, and once more after
// the queue has drained, it checks the invariants in the database; at the end
// it compares what every subscriber received with the event log.
//
// Writes the results as markdown to --results and exits 1 when a check failed.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

function options(argv) {
  const o = { minutes: 20, 'outcome-rate': 800 };
  for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['address', 'key', 'other-key', 'user-id', 'pid', 'email', 'password', 'results'])
    if (!o[k]) throw new Error(`--${k} is required`);
  o.minutes = Number(o.minutes);
  o['outcome-rate'] = Number(o['outcome-rate']);
  return o;
}

const opts = options(process.argv.slice(2));
const base = `http://${opts.address}`;
const started = Date.now();
const runMs = opts.minutes * 60_000;
const deadline = started + runMs;
const running = () => Date.now() < deadline;
const minute = () => Math.floor((Date.now() - started) / 60_000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];

// ---- counting ---------------------------------------------------------------

const perMinute = []; // minute → {requests, s2xx, s4xx, s5xx, errors, outcomes, ...}
function tally(name, n = 1) {
  const m = minute();
  perMinute[m] ??= { requests: 0, s2xx: 0, s4xx: 0, s5xx: 0, errors: 0, outcomes: 0, versions: 0,
    critiques: 0, noops: 0, sessions: 0, keys: 0, events: 0 };
  perMinute[m][name] += n;
}
const statuses = new Map(); // "op status" → count
const unexpected = []; // the first few answers no operation expects
let unexpectedCount = 0;
const failures = []; // failed checks, with what was found

function note(op, status, expected, body) {
  const k = `${op} ${status}`;
  statuses.set(k, (statuses.get(k) ?? 0) + 1);
  tally('requests');
  if (status >= 500) tally('s5xx');
  else if (status >= 400) tally('s4xx');
  else if (status >= 200 && status < 300) tally('s2xx');
  if (!expected.includes(status)) {
    unexpectedCount++;
    if (unexpected.length < 20) unexpected.push({ op, status, body: String(body).slice(0, 300) });
  }
}

async function call(op, method, path, { key = opts.key, body, headers = {}, expect = [200] } = {}) {
  let res, text;
  try {
    res = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    text = await res.text();
  } catch (e) {
    tally('errors');
    statuses.set(`${op} error`, (statuses.get(`${op} error`) ?? 0) + 1);
    if (unexpected.length < 20) unexpected.push({ op, status: 'error', body: String(e.cause ?? e) });
    unexpectedCount++;
    return null;
  }
  note(op, res.status, expect, text);
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, doc };
}

const psqlArgs = (query) => ['-qtAX', '-v', 'ON_ERROR_STOP=1', '-c', query];
// Before and after the traffic: blocking is fine.
function sql(query) {
  return execFileSync('psql', psqlArgs(query), { encoding: 'utf8', maxBuffer: 1 << 30 }).trim();
}
// During the traffic: the event loop keeps serving it.
async function sqlAsync(query) {
  return (await execFileAsync('psql', psqlArgs(query))).stdout.trim();
}

// ---- setup --------------------------------------------------------------------

const ace = ['## STRATEGIES & INSIGHTS',
  '[sai-00001] helpful=0 harmful=0 :: Check the API pagination before concluding a list is complete.',
  '[sai-00002] helpful=0 harmful=0 :: Re-read the task statement after drafting the answer.',
  '## COMMON MISTAKES',
  '[cm-00003] helpful=0 harmful=0 :: Do not trust cached credentials across tenants.'].join('\n') + '\n';
const bulletIds = ['sai-00001', 'sai-00002', 'cm-00003'];

async function makePlaybook(key, name) {
  const r = await call('create_playbook', 'POST', '/v1/playbooks',
    { key, body: { name, evolution_threshold: 10, content: ace }, expect: [201] });
  if (!r || r.status !== 201) throw new Error(`could not create a playbook: ${JSON.stringify(r)}`);
  return r.doc.id;
}
const playbooks = [];
for (let i = 0; i < 40; i++) playbooks.push(await makePlaybook(opts.key, `soak-${i}`));
const otherPlaybooks = [];
for (let i = 0; i < 5; i++) otherPlaybooks.push(await makePlaybook(opts['other-key'], `other-${i}`));
const otherSet = new Set(otherPlaybooks);

// ---- traffic --------------------------------------------------------------------

// `perSecond` calls of `fn` a second, paced from the start (no drift), while running.
async function paced(perSecond, fn) {
  const step = 1000 / perSecond;
  let next = Date.now();
  while (running()) {
    await fn();
    next += step;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -1000) next = Date.now(); // far behind: do not burst to catch up
  }
}

let outcomeSeq = 0;
const sentKeys = []; // idempotency keys sent once, to send again
async function postOutcome() {
  const pb = pick(playbooks);
  const n = ++outcomeSeq;
  const body = { task_description: `soak task ${n}`, outcome: pick(['success', 'success', 'failure', 'partial']),
    bullet_ids: [pick(bulletIds)], reasoning_trace: 'looked at the listing, then the next page' };
  const headers = {};
  let expect = [201];
  if (n % 50 === 0 && sentKeys.length) { // a retry of an earlier request
    const [p, k, b] = pick(sentKeys);
    const r = await call('outcome_replay', 'POST', `/v1/playbooks/${p}/outcomes`,
      { body: b, headers: { 'Idempotency-Key': k }, expect: [200] });
    return r;
  }
  if (n % 10 === 0) {
    headers['Idempotency-Key'] = `soak-${n}`;
    if (sentKeys.length < 1000) sentKeys.push([pb, `soak-${n}`, body]);
  }
  const r = await call('outcome', 'POST', `/v1/playbooks/${pb}/outcomes`, { body, headers, expect });
  if (r?.status === 201) tally('outcomes');
  return r;
}

async function otherOutcome() {
  const r = await call('other_outcome', 'POST', `/v1/playbooks/${pick(otherPlaybooks)}/outcomes`,
    { key: opts['other-key'], body: { task_description: 'the other tenant', outcome: 'success' }, expect: [201] });
  if (r?.status === 201) tally('outcomes');
}

async function manualEvolution() {
  // 202 (queued or already active), 422 (nothing pending) are both answers a client gets.
  await call('evolve', 'POST', `/v1/playbooks/${pick(playbooks)}/evolutions`, { body: {}, expect: [202, 422] });
}

async function critique() {
  const steps = 3 + Math.floor(Math.random() * 4);
  const plan = [];
  for (let i = 1; i <= steps; i++)
    plan.push({ id: `s${i}`, text: i === steps ? 'deploy the migration to production' : `prepare the release notes part ${i}`,
      depends_on: i > 1 ? [`s${i - 1}`] : [] });
  const r = await call('critique', 'POST', '/v1/critiques',
    { body: { goal: 'ship the release safely with verified backups', plan }, expect: [202] });
  if (r?.status !== 202) return;
  tally('critiques');
  await call('critique_read', 'GET', `/v1/critiques/${r.doc.job_id}`);
}

async function enqueueNoops() {
  try {
    await sqlAsync(`INSERT INTO jobs (id, kind, user_id, payload) SELECT gen_random_uuid(), 'noop',` +
      ` '${opts['user-id']}', '{"step_ms": 1}' FROM generate_series(1, 100); SELECT pg_notify('troupe_jobs', 'noop')`);
    tally('noops', 100);
  } catch (e) {
    failures.push(`enqueueing noop jobs failed: ${e.message}`);
  }
}

async function read() {
  const pb = pick(playbooks);
  await call('read_playbook', 'GET', `/v1/playbooks/${pb}`);
  await call('read_outcomes', 'GET', `/v1/playbooks/${pb}/outcomes?limit=10`);
  await call('read_jobs', 'GET', '/v1/jobs?limit=20');
  await call('read_status', 'GET', '/v1/status');
}

async function keyCycle() {
  const made = await call('key_create', 'POST', '/v1/auth/api-keys',
    { body: { name: `soak-${Date.now()}`, scopes: ['playbooks:read'] }, expect: [201] });
  if (made?.status !== 201) return;
  tally('keys');
  await call('key_use', 'GET', '/v1/playbooks?limit=1', { key: made.doc.key });
  await call('key_revoke', 'DELETE', `/v1/auth/api-keys/${made.doc.id}`, { expect: [204] });
  await call('key_revoked_use', 'GET', '/v1/playbooks?limit=1', { key: made.doc.key, expect: [401] });
}

async function signIn() {
  const login = await fetch(`${base}/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: opts.email, password: opts.password }) }).catch(() => null);
  if (!login) { tally('errors'); unexpectedCount++; return; }
  const tokens = await login.json().catch(() => ({}));
  note('login', login.status, [200], JSON.stringify(tokens));
  if (login.status !== 200) return;
  await call('me', 'GET', '/v1/auth/me', { key: tokens.access_token });
  const refreshed = await fetch(`${base}/v1/auth/refresh`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: tokens.refresh_token }) }).catch(() => null);
  if (!refreshed) { tally('errors'); unexpectedCount++; return; }
  note('refresh', refreshed.status, [200], await refreshed.text());
}

// ---- subscribers --------------------------------------------------------------

let newestSeen = 0; // the newest id the auditor received
const auditor = { after: null, ids: [], sessions: 0, closes: [] };
const sessions = []; // {transport, filter: {playbook_id} | {topics}, after, ids}

// A WebSocket subscriber: `opened` says whether the upgrade succeeded, `done`
// gives the close code.
function subscribeWs(query, onEvent) {
  const ws = new WebSocket(`ws://${opts.address}/v1/events/ws?${query}&access_token=${opts.key}`);
  const s = { ws };
  s.done = new Promise((r) => { ws.onclose = (c) => r(c.code); });
  s.opened = new Promise((r) => { ws.onopen = () => r(true); ws.onerror = () => r(false); });
  ws.onmessage = (m) => onEvent(JSON.parse(m.data));
  return s;
}

async function runAuditor() {
  auditor.after = Number(sql('SELECT coalesce(max(id), 0) FROM events'));
  while (running()) {
    const after = auditor.ids.length ? auditor.ids[auditor.ids.length - 1] : auditor.after;
    auditor.sessions++;
    const s = subscribeWs(`after=${after}`, (e) => {
      auditor.ids.push(e.id);
      if (e.id > newestSeen) newestSeen = e.id;
      if (otherSet.has(e.data?.playbook_id)) failures.push(`the auditor received another user's event ${e.id}`);
      tally('events');
    });
    const opened = await s.opened;
    const code = await Promise.race([s.done, sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
    if (code === null) {
      s.ws.close(1000);
      await s.done;
      break;
    }
    auditor.closes.push(opened ? code : `refused ${code}`);
    await sleep(200);
  }
}

async function churn(n) {
  while (running()) {
    const filter = Math.random() < 0.6 ? { playbook_id: pick(playbooks) }
      : { topics: pick([['playbook.version_created', 'job.completed'], ['outcome.recorded'], ['critique.iteration', 'job.started']]) };
    const query = filter.playbook_id ? `playbook_id=${filter.playbook_id}` : `topics=${filter.topics.join(',')}`;
    const after = newestSeen;
    const session = { transport: n % 2 ? 'ws' : 'sse', filter, after, ids: [] };
    const stayMs = 1000 + Math.random() * 7000;
    tally('sessions');
    if (session.transport === 'ws') {
      const s = subscribeWs(`${query}&after=${after}`, (e) => session.ids.push(e.id));
      if (await s.opened) {
        const code = await Promise.race([s.done, sleep(stayMs).then(() => null)]);
        if (code !== null) session.refused = `closed by the server: ${code}`;
        s.ws.close(1000);
        await s.done;
      } else {
        session.refused = `refused: ${await s.done}`;
      }
    } else {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), stayMs);
      try {
        const res = await fetch(`${base}/v1/events?${query}&after=${after}`,
          { headers: { Authorization: `Bearer ${opts.key}` }, signal: abort.signal });
        note('sse', res.status, [200], '');
        const decoder = new TextDecoder();
        let buffer = '';
        for await (const chunk of res.body) {
          buffer += decoder.decode(chunk, { stream: true });
          let at;
          while ((at = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, at);
            buffer = buffer.slice(at + 2);
            const id = /^id: (\d+)$/m.exec(frame);
            if (id) session.ids.push(Number(id[1]));
          }
        }
      } catch (e) {
        if (e.name !== 'AbortError') { session.refused = String(e); tally('errors'); }
      } finally {
        clearTimeout(timer);
      }
    }
    sessions.push(session);
  }
}

// ---- memory and invariants --------------------------------------------------------

const rss = []; // [seconds since start, MB]
function sampleRss() {
  const status = readFileSync(`/proc/${opts.pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)[1]);
  rss.push([(Date.now() - started) / 1000, kb / 1024]);
}

// Each check is a query answering the number of rows that break it.
const invariants = {
  'pending_outcomes equals the unprocessed outcomes of every playbook':
    `SELECT count(*) FROM playbooks p WHERE p.pending_outcomes <>
       (SELECT count(*) FROM outcomes o WHERE o.playbook_id = p.id AND o.processed_at IS NULL)`,
  'at most one active evolution per playbook':
    `SELECT count(*) FROM (SELECT playbook_id FROM jobs WHERE kind = 'evolution'
       AND status IN ('queued', 'running') GROUP BY 1 HAVING count(*) > 1) x`,
  'no running job without a live lease':
    `SELECT count(*) FROM jobs WHERE status = 'running'
       AND (lease_expires_at IS NULL OR lease_expires_at < now() - interval '1 second')`,
  'every processed outcome was processed by exactly one completed evolution, which counted it':
    `SELECT (SELECT count(*) FROM outcomes o LEFT JOIN jobs j ON j.id = o.evolution_job_id
              WHERE o.processed_at IS NOT NULL AND (j.id IS NULL OR j.status <> 'completed'))
          + (SELECT count(*) FROM jobs j LEFT JOIN (SELECT evolution_job_id, count(*) AS n FROM outcomes
              WHERE evolution_job_id IS NOT NULL GROUP BY 1) o ON o.evolution_job_id = j.id
              WHERE j.kind = 'evolution' AND j.status = 'completed'
              AND coalesce(j.outcomes_processed, 0) <> coalesce(o.n, 0))`,
  'no evolution wrote two versions, and version numbers have no gaps':
    `SELECT (SELECT count(*) FROM (SELECT created_by_job_id FROM playbook_versions
              WHERE created_by_job_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) x)
          + (SELECT count(*) FROM (SELECT playbook_id FROM playbook_versions GROUP BY 1
              HAVING max(version_number) <> count(*)) y)`,
};
const invariantLog = []; // {when, name, broken, ms}
// Asynchronous: the traffic goes on while the database answers.
async function checkInvariants(when) {
  for (const [name, query] of Object.entries(invariants)) {
    const t0 = Date.now();
    const broken = Number(await sqlAsync(query));
    invariantLog.push({ when, name, broken, ms: Date.now() - t0 });
    if (broken) failures.push(`${when}: ${name}: ${broken} rows break it`);
  }
}

// ---- the run ------------------------------------------------------------------------

sampleRss();
const rssTimer = setInterval(sampleRss, 5000);
let checks = 0;
const pendingChecks = [];
const checkTimer = setInterval(() => { pendingChecks.push(checkInvariants(`minute ${++checks}`)); }, 60_000);
const traffic = [runAuditor()];
for (let i = 0; i < 16; i++) traffic.push(paced(opts['outcome-rate'] / 16, postOutcome));
traffic.push(paced(20, otherOutcome));
traffic.push(paced(0.5, manualEvolution));
traffic.push(paced(5, critique));
traffic.push(paced(1, enqueueNoops));
for (let i = 0; i < 2; i++) traffic.push(paced(20, read));
traffic.push(paced(2, keyCycle));
traffic.push(paced(0.05, signIn));
for (let i = 0; i < 16; i++) traffic.push(churn(i));
await Promise.all(traffic);
clearInterval(checkTimer);
await Promise.all(pendingChecks);
clearInterval(rssTimer);
sampleRss();

// Drained: nothing queued or running (evolutions the last outcomes queued finish).
const drainStart = Date.now();
while (Number(sql("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")) > 0) {
  if (Date.now() - drainStart > 300_000) { failures.push('the queue did not drain within 5 minutes'); break; }
  await sleep(500);
}
const drainedS = (Date.now() - drainStart) / 1000;
await checkInvariants('after the drain');
const leftRunning = Number(sql("SELECT count(*) FROM jobs WHERE status = 'running'"));
const failedJobs = sql("SELECT coalesce(string_agg(kind || ': ' || n, ', '), 'none') FROM (SELECT kind, count(*) n FROM jobs WHERE status = 'failed' GROUP BY 1) x");

// ---- the event log against what was delivered ---------------------------------------

const events = new Map(); // id → [topic, playbook_id]
for (const line of sql(`SELECT id, topic, coalesce(playbook_id::text, '') FROM events
    WHERE user_id = '${opts['user-id']}' ORDER BY id`).split('\n')) {
  if (!line) continue;
  const [id, topic, pb] = line.split('|');
  events.set(Number(id), [topic, pb]);
}
const logIds = [...events.keys()];
function compare(what, received, after, matches) {
  for (let i = 1; i < received.length; i++)
    if (received[i] <= received[i - 1]) return `${what}: id ${received[i]} after ${received[i - 1]}`;
  if (!received.length) return null;
  const last = received[received.length - 1];
  // logIds is sorted: the range (after, last] by binary search, then the filter.
  let lo = 0, hi = logIds.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (logIds[mid] <= after) lo = mid + 1; else hi = mid; }
  const expected = [];
  for (let i = lo; i < logIds.length && logIds[i] <= last; i++)
    if (matches(events.get(logIds[i]))) expected.push(logIds[i]);
  const got = new Set(received);
  const missing = expected.filter((id) => !got.has(id));
  const wanted = new Set(expected);
  const extra = received.filter((id) => !wanted.has(id));
  if (!missing.length && !extra.length) return null;
  const show = (ids) => ids.slice(0, 5).map((id) => `${id} (${events.get(id)?.[0] ?? 'not in the log'})`).join(', ');
  return `${what}: received ${received.length} events in (${after}, ${last}], the log holds ${expected.length};` +
    ` missing ${missing.length}${missing.length ? `: ${show(missing)}` : ''}; not in the log ${extra.length}${extra.length ? `: ${show(extra)}` : ''}`;
}
const auditorProblem = compare('the auditor', auditor.ids, auditor.after, () => true);
if (auditorProblem) failures.push(auditorProblem);
if (auditor.closes.length) failures.push(`the auditor's stream was closed ${auditor.closes.length} times (codes ${auditor.closes.join(', ')})`);
let sessionProblems = 0, sessionEvents = 0, refused = 0;
for (const s of sessions) {
  if (s.refused !== undefined) { refused++; continue; }
  sessionEvents += s.ids.length;
  const problem = compare(`a ${s.transport} subscriber of ${JSON.stringify(s.filter)}`, s.ids, s.after,
    ([topic, pb]) => (s.filter.playbook_id ? pb === s.filter.playbook_id : s.filter.topics.includes(topic)));
  if (problem) { sessionProblems++; if (sessionProblems <= 5) failures.push(problem); }
}
if (refused) failures.push(`${refused} subscriber sessions were refused or failed`);
if (sessionProblems > 5) failures.push(`… ${sessionProblems} subscriber sessions in all did not match the log`);

// ---- memory ---------------------------------------------------------------------------

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : 0; };
const warmupS = Math.min(300, runMs / 4000);
const afterWarmup = median(rss.filter(([t]) => t >= warmupS && t < warmupS + 60).map(([, m]) => m));
const atEnd = median(rss.filter(([t]) => t >= runMs / 1000 - 60).map(([, m]) => m));
const growth = afterWarmup ? (atEnd - afterWarmup) / afterWarmup * 100 : 0;
if (growth >= 10) failures.push(`RSS grew ${growth.toFixed(1)} % after the warm-up (${afterWarmup.toFixed(1)} → ${atEnd.toFixed(1)} MB)`);
const s5xx = perMinute.reduce((a, m) => a + (m?.s5xx ?? 0), 0);
const errors = perMinute.reduce((a, m) => a + (m?.errors ?? 0), 0);
if (s5xx) failures.push(`${s5xx} answers were 5xx`);
if (errors) failures.push(`${errors} requests failed without an answer`);
if (unexpectedCount) failures.push(`${unexpectedCount} answers were not what the operation expects`);
// The server's own log (JSON lines, level warn and above): an error is a failure.
const logLevels = {};
const logMessages = {}; // "level: message" → count
const logErrors = [];
for (const line of (opts['server-log'] ? readFileSync(opts['server-log'], 'utf8') : '').split('\n')) {
  let entry;
  try { entry = JSON.parse(line); } catch { continue; }
  logLevels[entry.level] = (logLevels[entry.level] ?? 0) + 1;
  const said = `${entry.level}: ${entry.message}`;
  logMessages[said] = (logMessages[said] ?? 0) + 1;
  if (['error', 'fatal', 'critical'].includes(entry.level) && logErrors.length < 5) logErrors.push(line.slice(0, 300));
}
if (logErrors.length) failures.push(`the server logged errors, e.g. ${logErrors.join(' / ')}`);

// ---- the report -------------------------------------------------------------------------

const rows = perMinute.map((m, i) => m && `| ${i + 1} | ${m.requests} | ${m.s2xx} | ${m.s4xx} | ${m.s5xx} | ${m.errors} | ${m.outcomes} | ${m.critiques} | ${m.noops} | ${m.keys} | ${m.sessions} | ${m.events} | ${(median(rss.filter(([t]) => t >= i * 60 && t < (i + 1) * 60).map(([, v]) => v)) || 0).toFixed(1)} |`).filter(Boolean);
const totals = {
  outcomes: Number(sql('SELECT count(*) FROM outcomes')),
  processed: Number(sql('SELECT count(*) FROM outcomes WHERE processed_at IS NOT NULL')),
  versions: Number(sql('SELECT count(*) FROM playbook_versions WHERE created_by_job_id IS NOT NULL')),
  jobs: sql("SELECT string_agg(kind || ' ' || status || ': ' || n, ', ' ORDER BY kind, status) FROM (SELECT kind, status, count(*) n FROM jobs GROUP BY 1, 2) x"),
  events: Number(sql('SELECT count(*) FROM events')),
};
const status = failures.length ? 'FAILED' : 'every check held';
const md = `# Soak ${new Date(started).toISOString().slice(0, 10)}, commit ${opts.commit ?? '?'}: ${status}

${opts.machine ?? ''}
\`bench/soak ${opts.minutes}\`: ${opts.minutes} minutes of mixed traffic against one \`troupe serve\`
(release build, embedded Postgres with fsync and synchronous commit on), then a drain
(${drainedS.toFixed(1)} s until nothing was queued or running) and the checks.

## Checks

${failures.length ? failures.map((f) => `- ✗ ${f}`).join('\n') : '- ✓ no failure'}
${Object.keys(invariants).map((name) => {
    const all = invariantLog.filter((l) => l.name === name);
    const bad = all.filter((l) => l.broken);
    return `- ${bad.length ? '✗' : '✓'} ${name}: checked ${all.length} times (every minute and after the drain, the slowest in ${Math.max(...all.map((l) => l.ms))} ms), ${bad.length ? `broken ${bad.length} times` : 'held every time'}`;
  }).join('\n')}
- ${auditorProblem ? '✗' : '✓'} event log: the auditor (one WebSocket for the whole run) received ${auditor.ids.length} events, ${auditorProblem ? auditorProblem : 'exactly the log\'s events for its user in id order, none missing, none twice'}; its stream was reconnected ${auditor.sessions - 1} times
- ${sessionProblems ? '✗' : '✓'} ${sessions.length} subscriber sessions (SSE and WebSocket, by playbook or topic, each from \`after\` a recent id, 1-8 s) received ${sessionEvents} events; ${sessionProblems} differed from the log; ${refused} were refused
- ${s5xx ? '✗' : '✓'} 5xx answers: ${s5xx}; requests without an answer: ${errors}; answers an operation did not expect: ${unexpectedCount}
- ${growth < 10 ? '✓' : '✗'} RSS: ${afterWarmup.toFixed(1)} MB after the warm-up (minute ${Math.round(warmupS / 60) + 1}), ${atEnd.toFixed(1)} MB in the last minute: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} % (limit 10 %); first sample ${rss[0][1].toFixed(1)} MB, peak ${Math.max(...rss.map(([, m]) => m)).toFixed(1)} MB
- the server's log lines by level: ${JSON.stringify(logLevels)}${Object.keys(logMessages).length ? ` (${Object.entries(logMessages).map(([m, n]) => `${n}× ${m}`).join('; ')})` : ''}
- jobs still running after the drain: ${leftRunning}; failed jobs: ${failedJobs}

## Totals

${totals.outcomes} outcomes (${totals.processed} processed), ${totals.versions} versions written by evolutions,
${totals.events} events; jobs: ${totals.jobs}.

## Per minute

| minute | requests | 2xx | 4xx | 5xx | no answer | outcomes | critiques | noop jobs | keys | subscriber sessions | auditor events | RSS MB (median) |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

## Answers by operation

${[...statuses.entries()].sort().map(([k, v]) => `- ${k}: ${v}`).join('\n')}
${unexpected.length ? `\nFirst unexpected answers:\n\n${unexpected.map((u) => `- ${u.op} ${u.status}: \`${u.body.replace(/`/g, "'")}\``).join('\n')}\n` : ''}
## RSS samples (every 5 s: seconds, MB)

${rss.map(([t, m]) => `${t.toFixed(0)}:${m.toFixed(1)}`).join(' ')}
`;
writeFileSync(opts.results, md);
console.log(md.split('## Totals')[0]);
process.exit(failures.length ? 1 : 0);
