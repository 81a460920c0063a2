// The plan as one self-contained HTML page (inline SVG, no scripts, no network): the chosen
// cut, a stacked latency chart over candidate cuts (edge / uplink / round trip / cloud /
// downlink) and the Pareto front of latency against bytes per sample.

import type { Candidate, Plan } from '../search/plan.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const kb = (b: number): string => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(1)} kB`);

const PARTS = [
  { key: 'edgeMs', label: 'edge compute', color: '#4e79a7' },
  { key: 'uplinkMs', label: 'uplink (incl. compression)', color: '#f28e2b' },
  { key: 'rttMs', label: 'round trip', color: '#bab0ac' },
  { key: 'cloudMs', label: 'cloud compute', color: '#59a14f' },
  { key: 'downlinkMs', label: 'downlink', color: '#b07aa1' },
] as const;

function label(c: Candidate): string {
  if (c.kind !== 'split') return c.kind;
  const t = c.cutTensors.length === 1 ? c.cutTensors[0]! : `${c.cutTensors.length} tensors`;
  return `${c.edgeNodes} edge nodes, ${t}${c.compress !== 'none' ? `, ${c.compress}` : ''}`;
}

function stackedChart(plan: Plan): string {
  // Candidates in order of edge share, one compression (the chosen one's) plus the baselines.
  const pool = plan.candidates.filter((c) => c.compress === plan.chosen.compress || c.kind !== 'split');
  const byEdge = new Map<number, Candidate>();
  for (const c of pool) {
    const prev = byEdge.get(c.edgeNodes);
    if (!prev || c.totalMs < prev.totalMs) byEdge.set(c.edgeNodes, c);
  }
  byEdge.set(plan.chosen.edgeNodes, plan.chosen);
  const bars = [...byEdge.values()].sort((a, b) => a.edgeNodes - b.edgeNodes);
  const W = 900;
  const H = 320;
  const left = 60;
  const bottom = 40;
  const max = Math.max(...bars.map((b) => b.totalMs)) || 1;
  const bw = (W - left - 10) / bars.length;
  const y = (v: number): number => ((H - bottom - 10) * v) / max;
  let out = `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="predicted latency per candidate cut">`;
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    const yy = H - bottom - y(v);
    out += `<line x1="${left}" x2="${W - 10}" y1="${yy}" y2="${yy}" stroke="#eee"/><text x="${left - 6}" y="${yy + 4}" text-anchor="end" font-size="11">${ms(v)}</text>`;
  }
  bars.forEach((b, i) => {
    let acc = 0;
    const x = left + i * bw;
    for (const p of PARTS) {
      const v = b[p.key];
      if (v <= 0) continue;
      const h = y(v);
      out += `<rect x="${x.toFixed(2)}" y="${(H - bottom - y(acc) - h).toFixed(2)}" width="${Math.max(1, bw - 1).toFixed(2)}" height="${h.toFixed(2)}" fill="${p.color}"><title>${esc(label(b))}: ${p.label} ${ms(v)} ms</title></rect>`;
      acc += v;
    }
    if (b === plan.chosen) out += `<text x="${(x + bw / 2).toFixed(2)}" y="${(H - bottom - y(acc) - 4).toFixed(2)}" text-anchor="middle" font-size="14">▼</text>`;
  });
  out += `<text x="${left}" y="${H - 12}" font-size="11">cloud-only ← more nodes on the edge → edge-only (${bars.length} cuts, compression ${esc(plan.chosen.compress)}); ms</text></svg>`;
  return out;
}

function paretoChart(plan: Plan): string {
  const pts = plan.candidates;
  const W = 900;
  const H = 320;
  const left = 70;
  const bottom = 40;
  const maxX = Math.max(...pts.map((c) => c.totalMs)) || 1;
  const maxY = Math.max(...pts.map((c) => c.bytesPerSample)) || 1;
  const px = (v: number): number => left + ((W - left - 10) * v) / maxX;
  const py = (v: number): number => H - bottom - ((H - bottom - 10) * v) / maxY;
  const front = new Set(plan.pareto);
  let out = `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="latency against bytes per sample">`;
  out += `<line x1="${left}" x2="${W - 10}" y1="${H - bottom}" y2="${H - bottom}" stroke="#999"/><line x1="${left}" x2="${left}" y1="10" y2="${H - bottom}" stroke="#999"/>`;
  for (const c of pts) {
    const on = front.has(c);
    out += `<circle cx="${px(c.totalMs).toFixed(2)}" cy="${py(c.bytesPerSample).toFixed(2)}" r="${c === plan.chosen ? 7 : on ? 4 : 2}" fill="${c === plan.chosen ? '#e15759' : on ? '#4e79a7' : '#ccc'}"><title>${esc(label(c))}: ${ms(c.totalMs)} ms, ${kb(c.bytesPerSample)}</title></circle>`;
  }
  out += `<text x="${left}" y="${H - 12}" font-size="11">predicted end-to-end latency, 0 – ${ms(maxX)} ms →   (vertical: bytes per sample, 0 – ${kb(maxY)}; blue: Pareto front, red: chosen)</text></svg>`;
  return out;
}

export function renderPlanHtml(plan: Plan): string {
  const c = plan.chosen;
  const row = (x: Candidate): string =>
    `<tr${x === c ? ' class="chosen"' : ''}><td>${esc(x.kind)}</td><td>${esc(x.cutTensors.join(', ') || '–')}</td><td>${esc(x.compress)}</td><td>${ms(x.edgeMs)}</td><td>${ms(x.uplinkMs + x.rttMs)}</td><td>${ms(x.cloudMs + x.downlinkMs)}</td><td><b>${ms(x.totalMs)}</b></td><td>${kb(x.bytesPerSample)}</td><td>${kb(x.edgeMemoryBytes)}</td><td>${esc(x.violates.join(', '))}</td></tr>`;
  const rows = [plan.baselines.cloudOnly, plan.baselines.edgeOnly, ...plan.pareto.filter((x) => x.kind === 'split')];
  if (!rows.includes(c)) rows.push(c);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>splitc plan — ${esc(plan.model.file ?? 'model')}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:960px}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}tr.chosen{background:#fdecea}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}</style>
</head><body>
<h1>splitc plan</h1>
<p>Model <code>${esc(plan.model.file ?? '?')}</code>${plan.model.sha256 ? ` (sha256 ${esc(plan.model.sha256.slice(0, 12))}…)` : ''}; edge <b>${esc(plan.profiles.edge.name)}</b>, link <b>${esc(plan.profiles.link.name)}</b> (${plan.profiles.link.uplinkMbps} Mbps up, ${plan.profiles.link.rttMs} ms RTT), cloud <b>${esc(plan.profiles.cloud.name)}</b>; objective: ${esc(plan.objective)}.</p>
<p>Chosen: <b>${esc(c.kind)}</b>${c.cutTensors.length ? ` cut at <code>${esc(c.cutTensors.join(', '))}</code>` : ''}, compression <b>${esc(c.compress)}</b> — predicted ${ms(c.totalMs)} ms end to end, ${kb(c.bytesPerSample)} per sample, ${plan.gainOverBestBaseline.toFixed(2)}× the better baseline${plan.exact ? ' (exact optimum)' : ' (best feasible candidate; not proven optimal)'}.</p>
${plan.warnings.map((w) => `<p>⚠ ${esc(w)}</p>`).join('\n')}
<h2>Predicted latency over candidate cuts</h2>
<div class="legend">${PARTS.map((p) => `<span style="background:${p.color}"></span>${p.label}`).join('')}</div>
${stackedChart(plan)}
<h2>Latency against bytes per sample</h2>
${paretoChart(plan)}
<h2>Baselines and Pareto front</h2>
<table><tr><th>kind</th><th>cut tensors</th><th>compression</th><th>edge ms</th><th>link ms</th><th>cloud ms</th><th>total ms</th><th>bytes/sample</th><th>edge memory</th><th>violates</th></tr>
${rows.map(row).join('\n')}
</table>
</body></html>
`;
}
