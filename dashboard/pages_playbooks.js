// Playbooks: the list, one playbook (its current version by section, its
// versions and diffs, rollback and manual versions, its evolutions and
// outcomes).
import { api } from './api.js';
import { ago, badge, duration, field, h, replace, select, short, table, time } from './dom.js';
import { action, block, form, pageHeader, paged, query } from './ui.js';

// The ACE format: "## SECTION" lines, then "[id] helpful=N harmful=M :: text".
export function parseContent(content) {
  const sections = [];
  let current = null;
  for (const line of String(content || '').split('\n')) {
    const heading = /^##\s+(.*)$/.exec(line);
    if (heading) {
      current = { name: heading[1].trim(), bullets: [] };
      sections.push(current);
      continue;
    }
    const bullet = /^\[([^\]]+)\]\s+helpful=(\d+)\s+harmful=(\d+)\s+::\s?(.*)$/.exec(line);
    if (bullet) {
      if (!current) sections.push((current = { name: '', bullets: [] }));
      current.bullets.push({ id: bullet[1], helpful: +bullet[2], harmful: +bullet[3], text: bullet[4] });
    }
  }
  return sections;
}

export function bulletList(sections) {
  if (!sections.length) return h('p', { class: 'empty' }, 'This version has no bullets.');
  return sections.map((s) => h('section', { class: 'pb-section' },
    h('h3', {}, s.name || '(no section)'),
    h('ul', { class: 'bullets' }, s.bullets.map((b) => h('li', { class: 'bullet' },
      h('code', { class: 'bullet-id' }, b.id),
      h('span', { class: 'counter helpful', title: 'helpful' }, `+${b.helpful}`),
      h('span', { class: 'counter harmful', title: 'harmful' }, `−${b.harmful}`),
      h('span', { class: 'bullet-text' }, b.text))))));
}

export function diffView(d) {
  const rows = [
    ...d.added.map((b) => h('li', { class: 'diff-add' }, mark('+', 'added'), h('code', {}, b.id), ' ', b.content)),
    ...d.removed.map((b) => h('li', { class: 'diff-remove' }, mark('−', 'removed'), h('code', {}, b.id), ' ', b.content)),
    ...d.changed.map((c) => h('li', { class: 'diff-change' }, mark('~', 'changed'), h('code', {}, c.id), ' ',
      changeText(c))),
  ];
  if (!rows.length) return h('p', { class: 'empty' }, 'The two versions hold the same bullets.');
  return h('ul', { class: 'diff' }, rows);
}

// The sign a sighted reader sees, and the word a screen reader says.
function mark(sign, word) {
  return [h('span', { class: 'mark', 'aria-hidden': 'true' }, sign), h('span', { class: 'sr-only' }, `${word}: `)];
}

function changeText(c) {
  const parts = [];
  const from = c.from || {}, to = c.to || {};
  if (from.helpful !== to.helpful) parts.push(`helpful ${from.helpful}→${to.helpful}`);
  if (from.harmful !== to.harmful) parts.push(`harmful ${from.harmful}→${to.harmful}`);
  if (from.section !== to.section && to.section !== undefined) parts.push(`moved to ${to.section}`);
  const text = parts.join(', ');
  if (from.content !== to.content && to.content !== undefined)
    return h('span', {}, text ? text + '; ' : '', h('del', {}, from.content || ''), ' → ', h('ins', {}, to.content || ''));
  return text || 'changed';
}

export async function playbooks(root, params, ctx) {
  const status = params.get('status') || 'active';
  const search = params.get('q') || '';
  const filters = h('form', { class: 'filters', role: 'search' },
    field('Search', h('input', { type: 'search', name: 'q', value: search, placeholder: 'name or description' })),
    field('Status', select('status', [['active', 'active'], ['archived', 'archived']], status)),
    h('button', { type: 'submit' }, 'Apply'));
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = Object.fromEntries(new FormData(filters).entries());
    ctx.go(`#/playbooks${query(v)}`);
  });
  const list = block(async () => paged(`/v1/playbooks${query({ status, limit: 100 })}`, (items) => {
    const needle = search.toLowerCase();
    const shown = items.filter((p) => !needle || p.name.toLowerCase().includes(needle) || (p.description || '').toLowerCase().includes(needle));
    return table(['Name', 'Status', 'Version', 'Bullets', 'Pending', 'Updated'],
      shown.map((p) => [h('a', { href: `#/playbooks/${p.id}` }, p.name), badge(p.status),
        p.current_version ? `v${p.current_version.number}` : '—', p.current_version ? p.current_version.bullet_count : 0,
        `${p.pending_outcomes} / ${p.evolution_threshold}`, time(p.updated_at)]),
      search ? 'No playbook matches the search.' : 'No playbooks yet: create one below, or let an agent create one through the API or MCP.');
  }));
  const create = form('Create a playbook', [
    field('Name', h('input', { name: 'name', required: true, maxlength: 200 })),
    field('Description', h('input', { name: 'description' })),
    field('Evolution threshold', h('input', { name: 'evolution_threshold', type: 'number', min: 1, value: 5 }), 'outcomes that start an evolution'),
    field('Initial content', h('textarea', { name: 'content', rows: 5, placeholder: '## STRATEGIES & INSIGHTS\n- A first bullet' }), 'optional; ACE format or markdown bullets'),
  ], async (v) => {
    const body = { name: v.name, description: v.description, evolution_threshold: Number(v.evolution_threshold) };
    if (v.content.trim()) body.content = v.content;
    return api('POST', '/v1/playbooks', body);
  }, { submit: 'Create playbook', done: (p) => ctx.go(`#/playbooks/${p.id}`) });
  replace(root, pageHeader('Playbooks'), filters, list.el, h('details', { class: 'panel' }, h('summary', {}, 'Create a playbook'), create));
  return { refresh: list.run, wants: (ev) => ev.topic.startsWith('playbook.') || ev.topic === 'outcome.recorded' };
}

export async function playbook(root, params, ctx, id) {
  let current = null;
  // The versions compared: from the link, then what the user chose; kept
  // across live refreshes. Only numbers reach the API's path.
  const chosen = {
    from: /^\d+$/.test(params.get('from') || '') ? params.get('from') : null,
    to: /^\d+$/.test(params.get('to') || '') ? params.get('to') : null,
  };
  const head = block(async () => {
    current = await api('GET', `/v1/playbooks/${id}`);
    const p = current;
    return [
      pageHeader(p.name, badge(p.status)),
      p.description ? h('p', { class: 'lead' }, p.description) : null,
      h('dl', { class: 'facts' },
        h('dt', {}, 'Pending outcomes'), h('dd', {}, `${p.pending_outcomes} of ${p.evolution_threshold} to the next evolution`),
        h('dt', {}, 'Current version'), h('dd', {}, p.current_version ? `v${p.current_version.number} (${p.current_version.bullet_count} bullets)` : 'none yet'),
        h('dt', {}, 'Evolution'), h('dd', {}, p.active_job_id ? h('a', { href: `#/jobs/${p.active_job_id}` }, `running: ${short(p.active_job_id)}`) : 'none active'),
        h('dt', {}, 'Source'), h('dd', {}, p.source),
        h('dt', {}, 'Id'), h('dd', {}, h('code', {}, p.id))),
      h('div', { class: 'toolbar' },
        action('Evolve now', () => api('POST', `/v1/playbooks/${id}/evolutions`, { force: p.pending_outcomes === 0 }),
          { done: (r) => ctx.go(`#/jobs/${r.job_id}`) }),
        p.status === 'active' ? action('Archive', () => api('DELETE', `/v1/playbooks/${id}`), { danger: true, confirm: `Archive “${p.name}”? It will accept no more outcomes.`, done: () => ctx.refresh() }) : null),
      h('h2', {}, 'Current version'),
      p.current_version ? bulletList(parseContent(p.current_version.content)) : h('p', { class: 'empty' }, 'No version yet: create one below.'),
    ];
  });

  const versions = block(async () => {
    const v = await api('GET', `/v1/playbooks/${id}/versions`);
    const latest = v.items.length ? v.items[0].number : 0;
    const nums = v.items.map((x) => [String(x.number), `v${x.number}`]);
    const to = chosen.to || String(latest);
    const from = chosen.from || String(Math.max(1, Number(to) - 1));
    const diffOut = h('div', { class: 'diff-out' });
    const compare = h('form', { class: 'filters', 'aria-label': 'Compare versions' },
      field('From', select('from', nums, from)), field('To', select('to', nums, to)), h('button', { type: 'submit' }, 'Compare'));
    const showDiff = async (f, t) => {
      try {
        replace(diffOut, h('h3', {}, `Changes from v${f} to v${t}`), diffView(await api('GET', `/v1/playbooks/${id}/versions/${t}/diff?from=${f}`)));
      } catch (e) {
        replace(diffOut, h('div', { class: 'error', role: 'alert' }, e.message));
      }
    };
    compare.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const fv = Object.fromEntries(new FormData(compare).entries());
      chosen.from = fv.from;
      chosen.to = fv.to;
      showDiff(fv.from, fv.to);
    });
    if (latest > 1) showDiff(from, to);
    return [
      table(['Version', 'Bullets', 'What changed', 'Made by', 'Created', ''], v.items.map((x) => [
        `v${x.number}`, x.bullet_count, x.diff_summary || '',
        x.created_by_job_id ? h('a', { href: `#/jobs/${x.created_by_job_id}` }, `evolution ${short(x.created_by_job_id)}`) : 'a person',
        time(x.created_at),
        x.number === latest ? 'current' : action(`Roll back to v${x.number}`, () => api('POST', `/v1/playbooks/${id}/rollback`, { version_number: x.number }),
          { confirm: `Make a new version with the content of v${x.number}?`, done: () => ctx.refresh() }),
      ]), 'No versions yet.'),
      v.items.length > 1 ? compare : null,
      diffOut,
    ];
  });

  const manual = form('Create a version by hand', [
    field('Content', h('textarea', { name: 'content', rows: 8, required: true }), 'ACE format: ## SECTION, then [id] helpful=N harmful=M :: text'),
    field('Summary', h('input', { name: 'diff_summary', placeholder: 'what you changed' })),
  ], (v) => api('POST', `/v1/playbooks/${id}/versions`, { content: v.content, diff_summary: v.diff_summary || undefined }),
  { submit: 'Create version', confirm: 'Create a new version with this content?', done: () => ctx.refresh() });
  const manualPanel = h('details', { class: 'panel' }, h('summary', {}, 'Create a version by hand'), manual);
  manualPanel.addEventListener('toggle', () => {
    const ta = manual.querySelector('textarea');
    if (manualPanel.open && !ta.value && current && current.current_version) ta.value = current.current_version.content;
  });

  const evolutions = block(async () => paged(`/v1/playbooks/${id}/evolutions?limit=20`, (items) =>
    table(['Job', 'Status', 'Versions', 'Outcomes', 'Created', 'Took'], items.map((j) => [
      h('a', { href: `#/jobs/${j.id}` }, short(j.id)), badge(j.status),
      j.to_version ? `v${j.from_version} → v${j.to_version}` : j.from_version ? `from v${j.from_version}` : '—',
      j.outcomes_processed ?? '—', time(j.created_at), duration(j.started_at, j.completed_at),
    ]), 'No evolutions yet: one starts when the pending outcomes reach the threshold.')));

  const processed = params.get('processed') || '';
  const outcomeFilter = h('form', { class: 'filters', 'aria-label': 'Filter outcomes' },
    field('Processed', select('processed', [['', 'all'], ['false', 'pending'], ['true', 'processed']], processed)),
    h('button', { type: 'submit' }, 'Filter'));
  outcomeFilter.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.go(`#/playbooks/${id}${query({ processed: new FormData(outcomeFilter).get('processed') })}`);
  });
  const outcomes = block(async () => paged(`/v1/playbooks/${id}/outcomes${query({ processed, limit: 50 })}`, (items) =>
    table(['Task', 'Outcome', 'Notes', 'Bullets', 'Recorded', 'Processed'], items.map((o) => [
      h('span', { class: 'clip' }, o.task_description), badge(o.outcome), h('span', { class: 'clip' }, o.notes || ''),
      (o.bullet_ids || []).join(', '), time(o.created_at),
      o.processed_at ? h('a', { href: `#/jobs/${o.evolution_job_id}` }, ago(o.processed_at)) : 'pending',
    ]), 'No outcomes here yet: agents report them with POST /v1/playbooks/{id}/outcomes or the report_outcome MCP tool.')));

  replace(root, head.el, h('h2', {}, 'Versions'), versions.el, manualPanel,
    h('h2', {}, 'Evolutions'), evolutions.el, h('h2', {}, 'Outcomes'), outcomeFilter, outcomes.el);
  const all = () => Promise.all([head.run(), versions.run(), evolutions.run(), outcomes.run()]);
  return {
    refresh: all,
    wants: (ev) => Boolean(ev.data && (ev.data.playbook_id === id || (ev.topic.startsWith('job.') && ev.data.kind === 'evolution'))),
  };
}
