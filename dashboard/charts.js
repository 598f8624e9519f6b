// Charts and the module graph, drawn as SVG with text nodes only.
import { h, svg } from './dom.js';

// Bars for each series stacked per point, with a line for `line` on top.
// points: [{label, values: {name: number}}]; series: [[name, cssClass]].
export function barChart(title, points, series, line) {
  const W = 640, H = 200, L = 40, B = 24, T = 10;
  const totals = points.map((p) => series.reduce((s, [n]) => s + (p.values[n] || 0), 0));
  const lineValues = line ? points.map((p) => p.values[line[0]] || 0) : [];
  const max = Math.max(1, ...totals, ...lineValues);
  const step = (W - L) / Math.max(1, points.length);
  const y = (v) => T + (H - B - T) * (1 - v / max);
  const parts = [];
  for (let i = 0; i <= 4; ++i) {
    const v = Math.round((max * i) / 4);
    parts.push(svg('line', { x1: L, x2: W, y1: y(v), y2: y(v), class: 'grid' }));
    parts.push(svg('text', { x: L - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(v)));
  }
  points.forEach((p, i) => {
    let base = 0;
    for (const [name, cls] of series) {
      const v = p.values[name] || 0;
      if (v > 0) {
        parts.push(svg('rect', { x: L + i * step + 1, y: y(base + v), width: Math.max(1, step - 2), height: y(base) - y(base + v), class: cls },
          svg('title', {}, `${p.label}: ${v} ${name}`)));
      }
      base += v;
    }
    const every = Math.ceil(points.length / 6);
    if (i % every === 0) parts.push(svg('text', { x: L + i * step + step / 2, y: H - 6, class: 'axis', 'text-anchor': 'middle' }, p.label));
  });
  if (line) {
    const d = lineValues.map((v, i) => `${i ? 'L' : 'M'}${(L + i * step + step / 2).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    if (d) parts.push(svg('path', { d, class: line[1] }));
  }
  const legend = [...series, ...(line ? [line] : [])].map(([name, cls]) => h('span', { class: 'legend-item' }, h('span', { class: `swatch ${cls}` }), name));
  return h('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, preserveAspectRatio: 'none' }, parts),
    h('figcaption', {}, title, ' ', h('span', { class: 'legend' }, legend)));
}

// The module graph: modules in layers (a module sits one layer to the right
// of everything it depends on), edges as curves labelled with their import
// counts. Cycles are broken where they are met.
export function moduleGraph(modules, edges) {
  const names = modules.map((m) => m.path);
  const deps = new Map(names.map((n) => [n, []]));
  for (const e of edges) if (deps.has(e.from) && deps.has(e.to)) deps.get(e.from).push(e.to);
  const layer = new Map();
  const visiting = new Set();
  const depth = (n) => {
    if (layer.has(n)) return layer.get(n);
    if (visiting.has(n)) return 0;
    visiting.add(n);
    const d = Math.max(-1, ...deps.get(n).map(depth)) + 1;
    visiting.delete(n);
    layer.set(n, d);
    return d;
  };
  names.forEach(depth);
  const columns = [];
  for (const n of names) (columns[layer.get(n)] ||= []).push(n);
  const BW = 170, BH = 30, GX = 70, GY = 16;
  const pos = new Map();
  columns.forEach((col, x) => col.forEach((n, y) => pos.set(n, { x: 20 + x * (BW + GX), y: 20 + y * (BH + GY) })));
  const width = 40 + columns.length * (BW + GX) - GX;
  const height = 40 + Math.max(1, ...columns.map((c) => c.length)) * (BH + GY) - GY;
  const parts = [svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' })))];
  for (const e of edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    // from the dependent module (right) to the one it imports (left)
    const x1 = a.x, y1 = a.y + BH / 2, x2 = b.x + BW, y2 = b.y + BH / 2;
    const mid = (x1 + x2) / 2;
    parts.push(svg('path', { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, class: 'edge', 'marker-end': 'url(#arrow)' },
      svg('title', {}, `${e.from} imports ${e.to} (${e.imports})`)));
  }
  for (const [n, p] of pos) {
    const label = n.length > 22 ? '…' + n.slice(-21) : n;
    parts.push(svg('g', { class: 'node', transform: `translate(${p.x},${p.y})` },
      svg('rect', { width: BW, height: BH, rx: 4 }),
      svg('text', { x: 8, y: 20 }, label),
      svg('title', {}, n)));
  }
  return h('div', { class: 'graph-wrap' },
    svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': `module graph: ${names.length} modules, ${edges.length} dependencies` }, parts));
}
