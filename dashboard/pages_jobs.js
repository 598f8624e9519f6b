// Jobs: the list with filters, cancel and retry; a job's detail with its
// attempts, progress and timings; an evolution's rounds with every operation
// and the three critics' votes; critiques with their iterations.
import { api } from './api.js';
import { badge, duration, field, h, num, replace, select, short, table, time } from './dom.js';
import { diffView } from './pages_playbooks.js';
import { action, block, pageHeader, paged, query } from './ui.js';

const KINDS = [['', 'any kind'], ['evolution', 'evolution'], ['critique', 'critique'], ['repository_analysis', 'repository analysis'], ['noop', 'noop']];
const STATES = [['', 'any state'], ['queued', 'queued'], ['running', 'running'], ['completed', 'completed'], ['failed', 'failed'], ['cancelled', 'cancelled']];

function jobActions(j, ctx) {
  return [
    j.status === 'queued' || j.status === 'running'
      ? action('Cancel', () => api('POST', `/v1/jobs/${j.id}/cancel`), {
        danger: true, ariaLabel: `Cancel job ${short(j.id)}`, confirm: `Cancel the ${j.kind} job ${short(j.id)}?`, done: () => ctx.refresh(),
      }) : null,
    j.status === 'failed' || j.status === 'cancelled'
      ? action('Retry', () => api('POST', `/v1/jobs/${j.id}/retry`), { ariaLabel: `Retry job ${short(j.id)}`, done: () => ctx.refresh() }) : null,
  ];
}

function subject(j) {
  if (j.playbook_id) return h('a', { href: `#/playbooks/${j.playbook_id}` }, `playbook ${short(j.playbook_id)}`);
  if (j.project_id) return h('a', { href: `#/projects/${j.project_id}` }, `project ${short(j.project_id)}`);
  return '—';
}

export async function jobs(root, params, ctx) {
  const v = { kind: params.get('kind') || '', status: params.get('status') || '', playbook_id: params.get('playbook_id') || '' };
  const filters = h('form', { class: 'filters', 'aria-label': 'Filter jobs' },
    field('Kind', select('kind', KINDS, v.kind)), field('State', select('status', STATES, v.status)),
    field('Playbook id', h('input', { name: 'playbook_id', value: v.playbook_id, placeholder: 'any', size: 36 })),
    h('button', { type: 'submit' }, 'Apply'));
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.go(`#/jobs${query(Object.fromEntries(new FormData(filters).entries()))}`);
  });
  const list = block(async () => paged(`/v1/jobs${query({ ...v, limit: 50 })}`, (items) =>
    table(['Job', 'Kind', 'State', 'For', 'Attempt', 'Created', 'Took', ''], items.map((j) => [
      h('a', { href: `#/jobs/${j.id}` }, short(j.id)), j.kind, badge(j.status), subject(j), `${j.attempt} / ${j.max_attempts}`,
      time(j.created_at), duration(j.started_at, j.completed_at), h('span', { class: 'row-actions' }, jobActions(j, ctx)),
    ]), 'No jobs match these filters.')));
  replace(root, pageHeader('Jobs'), filters, list.el);
  return { refresh: list.run, wants: (ev) => ev.topic.startsWith('job.') || ev.topic.endsWith('.queued') };
}

function keyValues(obj) {
  if (!obj || typeof obj !== 'object') return h('span', {}, obj === null || obj === undefined ? '—' : String(obj));
  const entries = Object.entries(obj);
  if (!entries.length) return h('span', {}, '—');
  return h('dl', { class: 'facts compact' }, entries.flatMap(([k, x]) => [h('dt', {}, k), h('dd', {}, typeof x === 'object' && x !== null ? JSON.stringify(x) : String(x))]));
}

function vote(v) {
  if (!v) return '—';
  return h('div', { class: `vote${v.critical ? ' critical' : ''}` }, h('strong', {}, num(v.score)), ' ', h('span', { class: 'reason' }, v.reason || ''));
}

function decision(v) {
  if (v.vetoed) return h('span', { class: 'badge badge-vetoed' }, 'vetoed');
  return v.accepted ? h('span', { class: 'badge badge-accepted' }, 'accepted') : h('span', { class: 'badge badge-rejected' }, 'rejected');
}

function operationText(op) {
  if (!op) return '—';
  return h('span', {}, h('strong', {}, op.type), ' ', op.section ? h('span', { class: 'section-name' }, `${op.section}: `) : null,
    op.content || op.id || '');
}

function rounds(j) {
  if (!j.rounds || !j.rounds.length) return h('p', { class: 'empty' }, j.status === 'completed' ? 'This evolution needed no vote.' : 'No round has been voted on yet.');
  return j.rounds.map((r) => h('section', { class: 'round' },
    h('h3', {}, `Round ${r.number}`, ' ', h('span', { class: 'muted' }, `mean score ${num(r.aggregated_score)}`)),
    table(['#', 'Operation', 'Completeness', 'Efficiency', 'Safety', 'Score', 'Decision'], (r.votes || []).map((v) => [
      String(v.operation + 1), operationText((r.proposal || [])[v.operation]), vote(v.completeness), vote(v.efficiency), vote(v.safety), num(v.score), decision(v),
    ]), 'No operation was proposed.')));
}

function budget(result) {
  if (!result || !('budget' in result)) return null;
  return [h('h2', {}, 'Budget'), result.budget === null
    ? h('p', {}, 'The new version fit the playbook\'s budget: nothing was cut.')
    : keyValues(result.budget)];
}

export async function job(root, params, ctx, id) {
  const diff = h('div', {});
  const body = block(async () => {
    const j = await api('GET', `/v1/jobs/${id}`);
    if (j.kind === 'evolution' && j.to_version && j.playbook_id) {
      const from = j.from_version ? `?from=${j.from_version}` : '';
      api('GET', `/v1/playbooks/${j.playbook_id}/versions/${j.to_version}/diff${from}`)
        .then((d) => replace(diff, h('h2', {}, j.from_version ? `Resulting diff: v${j.from_version} → v${j.to_version}` : `Resulting diff: v${j.to_version}`), diffView(d)))
        .catch((e) => replace(diff, h('div', { class: 'error', role: 'alert' }, e.message)));
    }
    return [
      pageHeader(`${j.kind === 'evolution' ? 'Evolution' : j.kind === 'critique' ? 'Critique' : j.kind === 'repository_analysis' ? 'Repository analysis' : 'Job'} ${short(j.id)}`, badge(j.status)),
      h('div', { class: 'toolbar' }, jobActions(j, ctx),
        j.kind === 'critique' ? h('a', { href: `#/critiques/${j.id}`, class: 'button-link' }, 'Open the critique') : null),
      h('dl', { class: 'facts' },
        h('dt', {}, 'For'), h('dd', {}, subject(j)),
        h('dt', {}, 'Attempt'), h('dd', {}, `${j.attempt} of ${j.max_attempts}`),
        h('dt', {}, 'Created'), h('dd', {}, time(j.created_at)),
        h('dt', {}, 'Started'), h('dd', {}, j.started_at ? time(j.started_at) : 'not yet'),
        h('dt', {}, 'Finished'), h('dd', {}, j.completed_at ? time(j.completed_at) : 'not yet'),
        h('dt', {}, 'Took'), h('dd', {}, duration(j.started_at, j.completed_at)),
        j.cancel_requested ? [h('dt', {}, 'Cancel'), h('dd', {}, 'requested: at the next step')] : null,
        j.kind === 'evolution' ? [h('dt', {}, 'Outcomes'), h('dd', {}, String(j.outcomes_processed ?? '—')),
          h('dt', {}, 'Versions'), h('dd', {}, j.to_version ? `v${j.from_version} → v${j.to_version}` : j.from_version ? `from v${j.from_version}` : '—')] : null),
      j.error ? h('div', { class: 'error', role: 'alert' }, `Error: ${j.error}`) : null,
      h('h2', {}, 'Progress'), keyValues(j.progress),
      h('h2', {}, 'Attempts that failed'),
      table(['Attempt', 'Error', 'When'], (j.errors || []).map((e) => [String(e.attempt), typeof e.error === 'string' ? e.error : JSON.stringify(e.error), time(e.at)]), 'None.'),
      j.kind === 'evolution' ? [h('h2', {}, 'Rounds'), rounds(j), budget(j.result)] : null,
      j.result && j.kind !== 'evolution' && j.kind !== 'critique' ? [h('h2', {}, 'Result'), keyValues(j.result)] : null,
      j.token_totals && Object.keys(j.token_totals).length ? [h('h2', {}, 'Model tokens'), keyValues(j.token_totals)] : null,
    ];
  });
  replace(root, body.el, diff);
  return { refresh: body.run, wants: (ev) => ev.data && ev.data.job_id === id };
}

export async function critiques(root, params, ctx) {
  const list = block(async () => paged('/v1/jobs?kind=critique&limit=50', (items) =>
    table(['Critique', 'Goal', 'State', 'Iterations', 'Created'], items.map((j) => [
      h('a', { href: `#/critiques/${j.id}` }, short(j.id)),
      h('span', { class: 'clip' }, ((j.payload && j.payload.plan && j.payload.plan.goals) || []).join('; ')),
      badge(j.status), String((j.progress && j.progress.iterations) || 0), time(j.created_at),
    ]), 'No critiques yet: send a plan with POST /v1/critiques and its iterations show here.')));
  replace(root, pageHeader('Critiques'), list.el);
  return { refresh: list.run, wants: (ev) => ev.topic.startsWith('job.') || ev.topic.startsWith('critique.') };
}

function planView(plan) {
  if (!plan) return h('p', { class: 'empty' }, 'No plan.');
  return [
    plan.goals && plan.goals.length ? h('p', {}, h('strong', {}, 'Goals: '), plan.goals.join('; ')) : null,
    h('ol', { class: 'plan' }, (plan.steps || []).map((s) => h('li', {}, h('code', {}, s.id), ' ', s.text,
      s.depends_on && s.depends_on.length ? h('span', { class: 'muted' }, ` (after ${s.depends_on.join(', ')})`) : null))),
  ];
}

export async function critique(root, params, ctx, id) {
  const body = block(async () => {
    const c = await api('GET', `/v1/critiques/${id}`);
    return [
      pageHeader(`Critique ${short(c.id)}`, badge(c.status)),
      h('div', { class: 'toolbar' }, jobActions(c, ctx), h('a', { href: `#/jobs/${c.id}`, class: 'button-link' }, 'Job details')),
      c.converged_because ? h('p', {}, `Stopped: ${c.converged_because.replaceAll('_', ' ')}.`) : null,
      c.error ? h('div', { class: 'error', role: 'alert' }, `Error: ${c.error}`) : null,
      (c.iterations || []).map((it) => h('section', { class: 'round' },
        h('h2', {}, `Iteration ${it.number}`, ' ', h('span', { class: 'muted' }, `score ${num(it.aggregated_score)}`)),
        h('details', {}, h('summary', {}, 'The plan critiqued'), planView(it.plan)),
        table(['Feedback', 'From', 'Kind', 'Completeness', 'Efficiency', 'Safety', 'Score', ''], (it.feedback || []).map((f) => [
          f.text, f.critic, f.kind, vote(f.votes && f.votes.completeness), vote(f.votes && f.votes.efficiency), vote(f.votes && f.votes.safety), num(f.score),
          f.accepted ? h('span', { class: 'badge badge-accepted' }, 'accepted') : h('span', { class: 'badge badge-rejected' }, 'rejected'),
        ]), 'No feedback: the critics found nothing to act on.'))),
      h('h2', {}, 'Final plan'), c.final_plan ? planView(c.final_plan) : h('p', { class: 'empty' }, 'Not finished yet.'),
    ];
  });
  replace(root, body.el);
  return { refresh: body.run, wants: (ev) => ev.data && ev.data.job_id === id };
}
