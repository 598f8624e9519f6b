// The overview, projects and system maps, usage and API keys.
import { api } from './api.js';
import { badge, field, h, num, replace, short, table, time } from './dom.js';
import { barChart, moduleGraph } from './charts.js';
import { action, block, form, pageHeader, paged } from './ui.js';

function card(label, value, note) {
  return h('div', { class: 'card' }, h('div', { class: 'card-value' }, String(value)), h('div', { class: 'card-label' }, label), note ? h('div', { class: 'muted' }, note) : null);
}

function age(s) {
  if (!s) return '—';
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
}

export async function overview(root, params, ctx) {
  const stats = block(async () => {
    const [s, status] = await Promise.all([api('GET', '/v1/jobs/stats'), api('GET', '/v1/status')]);
    const kinds = Object.entries(s.by_kind);
    const sum = (f) => kinds.reduce((t, [, k]) => t + k[f], 0);
    const points = s.per_minute.map((m) => ({ label: m.at.slice(11, 16), values: { completed: m.completed, failed: m.failed, 'queue depth': m.queued } }));
    return [
      h('div', { class: 'cards' },
        card('queued', sum('queued')), card('running', sum('running')), card('failed in 24 h', sum('failed_24h')),
        card('oldest queued', age(s.oldest_queued_age_s))),
      h('h2', {}, 'Jobs by kind'),
      table(['Kind', 'Queued', 'Running', 'Completed in 24 h', 'Failed in 24 h'], kinds.map(([k, x]) => [
        h('a', { href: `#/jobs?kind=${k}` }, k), String(x.queued), String(x.running), String(x.completed_24h),
        x.failed_24h ? h('a', { href: `#/jobs?kind=${k}&status=failed` }, String(x.failed_24h)) : '0']),
      'No jobs yet: evolutions start when a playbook reaches its outcome threshold.'),
      h('h2', {}, 'The last hour'),
      barChart('Jobs finished per minute, and the queue depth at the end of each minute', points,
        [['completed', 'series-ok'], ['failed', 'series-bad']], ['queue depth', 'series-line']),
      h('h2', {}, 'Nodes'),
      table(['Node', 'Role', 'Address', 'State', 'Running jobs', 'Heartbeat', 'Version'], (status.nodes || []).map((n) => [
        h('code', {}, n.id), n.role, n.address || '—', badge(n.draining ? 'draining' : n.up ? 'up' : 'down'), String(n.running_jobs ?? '—'), time(n.heartbeat_at), n.version]),
      'No node has registered.'),
    ];
  });
  replace(root, pageHeader('Overview'), stats.el);
  // The chart's minutes move on even when nothing happens: redrawn every 30 s.
  const timer = setInterval(stats.run, 30000);
  return { refresh: stats.run, wants: (ev) => ev.topic.startsWith('job.') || ev.topic.endsWith('.queued'), leave: () => clearInterval(timer) };
}

export async function projects(root, params, ctx) {
  const list = block(async () => paged('/v1/projects?limit=50', (items) =>
    table(['Project', 'Repository', 'Ref', 'Status', 'Created'], items.map((p) => [
      h('a', { href: `#/projects/${p.id}` }, p.name), h('code', { class: 'clip' }, p.repository_url), p.ref || 'default', badge(p.status), time(p.created_at),
    ]), 'No projects yet: add a repository below and troupe maps its languages, modules and dependencies.')));
  const create = form('Add a repository', [
    field('Name', h('input', { name: 'name', required: true })),
    field('Repository URL', h('input', { name: 'repository_url', required: true, placeholder: 'https://git.example.com/team/repo.git' }), 'https, http, git, file or an allowed local path'),
    field('Ref', h('input', { name: 'ref', placeholder: 'branch, tag or commit (default branch when empty)' })),
  ], (v) => api('POST', '/v1/projects', { name: v.name, repository_url: v.repository_url, ref: v.ref || undefined }),
  { submit: 'Add and analyze', done: (p) => ctx.go(`#/projects/${p.id}`) });
  replace(root, pageHeader('Projects'), list.el, h('details', { class: 'panel' }, h('summary', {}, 'Add a repository'), create));
  return { refresh: list.run, wants: (ev) => ev.topic.startsWith('repository.') || ev.topic.startsWith('job.') };
}

function systemMap(m) {
  const t = m.totals || {};
  return [
    h('p', {}, `Commit `, h('code', {}, (m.repository && m.repository.commit || '').slice(0, 12)), ` of ${m.repository && m.repository.ref ? m.repository.ref : 'the default branch'}: `,
      `${t.files} files, ${t.code} lines of code, ${t.comment} of comments.`),
    m.readme && m.readme.summary ? h('blockquote', {}, m.readme.summary) : null,
    Object.keys(m.omitted || {}).length
      ? h('p', { class: 'empty' }, 'Lists shortened for size: ', Object.entries(m.omitted).map(([k, n]) => `${k.replace(/_/g, ' ')} (${n} more)`).join(', '), '.')
      : null,
    h('h2', {}, 'Languages'),
    table(['Language', 'Files', 'Code', 'Comment', 'Blank'], (m.languages || []).map((l) => [l.name, String(l.files), String(l.code), String(l.comment), String(l.blank)]), 'No source files.'),
    h('h2', {}, 'Modules and their dependencies'),
    (m.modules || []).length ? moduleGraph(m.modules, m.dependencies || []) : h('p', { class: 'empty' }, 'No build manifest found: no modules.'),
    table(['Module', 'Manifests', 'Files', 'Code'], (m.modules || []).map((x) => [h('code', {}, x.path), (x.manifests || []).join(', '), String(x.files), String(x.code)]), ''),
    h('h2', {}, 'External dependencies'),
    table(['Module', 'Ecosystem', 'Name', 'Version'], (m.external_dependencies || []).map((d) => [d.module, d.ecosystem, d.name, d.version || '']), 'None declared.'),
    h('h2', {}, 'Entry points'),
    table(['Path', 'Kind'], (m.entry_points || []).map((e) => [h('code', {}, e.path), e.kind]), 'None found.'),
    h('h2', {}, 'Tests and docs'),
    h('p', {}, `Tests: ${(m.tests && m.tests.files) || 0} files in ${((m.tests && m.tests.directories) || []).join(', ') || 'no test directory'}. `,
      `Docs: ${(m.docs && m.docs.files) || 0} files in ${((m.docs && m.docs.directories) || []).join(', ') || 'no docs directory'}.`),
    m.history ? [h('h2', {}, 'History'),
      h('p', {}, `${m.history.commits} commits by ${m.history.contributors} contributors; last: `,
        m.history.last_commit ? `${m.history.last_commit.summary} (${m.history.last_commit.author}, ` : '', m.history.last_commit ? time(m.history.last_commit.time) : '', m.history.last_commit ? ')' : ''),
      table([`Most changed in the last ${m.history.window} commits`, 'Changes'], (m.history.most_changed || []).map((f) => [h('code', {}, f.path), String(f.changes)]), '')] : null,
  ];
}

export async function project(root, params, ctx, id) {
  const body = block(async () => {
    const p = await api('GET', `/v1/projects/${id}`);
    const j = p.latest_job;
    // Asked for only once there is one: a 404 would be a failed request.
    const m = p.has_system_map ? await api('GET', `/v1/projects/${id}/system-map`) : null;
    return [
      pageHeader(p.name, badge(p.status)),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Repository'), h('dd', {}, h('code', {}, p.repository_url)),
        h('dt', {}, 'Ref'), h('dd', {}, p.ref || 'default branch'),
        h('dt', {}, 'Latest analysis'), h('dd', {}, j ? [h('a', { href: `#/jobs/${j.id}` }, short(j.id)), ' ', badge(j.status)] : 'none'),
        j && j.error ? [h('dt', {}, 'Error'), h('dd', { class: 'error-text' }, j.error)] : null),
      h('div', { class: 'toolbar' }, action('Analyze again', () => api('POST', `/v1/projects/${id}/analyze`), { done: () => ctx.refresh() })),
      m ? systemMap(m) : h('p', { class: 'empty' }, 'No system map yet: it appears here when the first analysis completes.'),
    ];
  });
  replace(root, body.el);
  return { refresh: body.run, wants: (ev) => ev.data && (ev.data.project_id === id || (j_of(ev) && ev.topic.startsWith('job.'))) };
}

function j_of(ev) {
  return ev.data && ev.data.kind === 'repository_analysis';
}

export async function usage(root, params, ctx) {
  const body = block(async () => {
    const [days, ops] = await Promise.all([api('GET', '/v1/usage?group_by=day'), api('GET', '/v1/usage?group_by=operation')]);
    const t = days.totals;
    return [
      h('div', { class: 'cards' }, card('model calls', t.calls), card('tokens', t.total_tokens), card('cost (USD)', num(t.cost_usd, 4))),
      h('h2', {}, 'By day'),
      days.items.length
        ? barChart('Tokens per day (prompt and completion)', days.items.map((d) => ({ label: d.key.slice(5, 10), values: { prompt: d.prompt_tokens, completion: d.completion_tokens } })),
          [['prompt', 'series-ok'], ['completion', 'series-alt']])
        : h('p', { class: 'empty' }, 'No model calls in the last 30 days. With the built-in engine evolutions cost nothing; configure [llm] to use a model.'),
      h('h2', {}, 'By operation'),
      table(['Operation', 'Calls', 'Prompt tokens', 'Completion tokens', 'Cost (USD)'], ops.items.map((o) => [o.key, String(o.calls), String(o.prompt_tokens), String(o.completion_tokens), num(o.cost_usd, 4)]), 'Nothing yet.'),
    ];
  });
  replace(root, pageHeader('Usage', h('span', { class: 'muted' }, 'the last 30 days')), body.el);
  return { refresh: body.run, wants: (ev) => ev.topic === 'job.completed' };
}

export async function keys(root, params, ctx) {
  const shown = h('div', { role: 'status' });
  const list = block(async () => {
    const k = await api('GET', '/v1/auth/api-keys');
    return table(['Name', 'Prefix', 'Scopes', 'Created', 'Last used', 'Expires', 'State', ''], k.items.map((x) => [
      x.name, h('code', {}, x.prefix), x.scopes.join(' '), time(x.created_at), x.last_used_at ? time(x.last_used_at) : 'never',
      x.expires_at ? time(x.expires_at) : 'never', badge(x.revoked_at ? 'revoked' : 'active'),
      x.revoked_at ? '' : action('Revoke', () => api('DELETE', `/v1/auth/api-keys/${x.id}`), { danger: true, ariaLabel: `Revoke ${x.prefix}`, confirm: `Revoke the key ${x.prefix}? Agents using it are refused from now on.`, done: () => list.run() }),
    ]), 'No API keys: create one below for an agent or a script.');
  });
  const create = form('Create an API key', [
    field('Name', h('input', { name: 'name', required: true, placeholder: 'what uses it' })),
    field('Scopes', h('input', { name: 'scopes', placeholder: '* (all)' }), 'space-separated, e.g. playbooks:read outcomes:write'),
    field('Expires in days', h('input', { name: 'expires_in_days', type: 'number', min: 1 }), 'empty: never'),
  ], (v) => {
    const body = { name: v.name };
    const scopes = v.scopes.split(/\s+/).filter(Boolean);
    if (scopes.length) body.scopes = scopes;
    if (v.expires_in_days) body.expires_in_days = Number(v.expires_in_days);
    return api('POST', '/v1/auth/api-keys', body);
  }, {
    submit: 'Create key',
    done: (k, out, f) => {
      f.reset();
      replace(shown, h('div', { class: 'secret' }, h('p', {}, 'The new key. It is shown only this once: copy it now.'), h('code', { class: 'key' }, k.key)));
      list.run();
    },
  });
  replace(root, pageHeader('API keys'), shown, list.el, h('h2', {}, 'Create a key'), create);
  return { refresh: list.run, wants: () => false };
}
