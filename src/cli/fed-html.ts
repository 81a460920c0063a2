// A federated run's history as one self-contained HTML page (inline SVG and CSS, no scripts,
// no network): test accuracy and bytes per client against the round, the config and the
// clients' data. Deterministic apart from the seconds the history records; every string is escaped.

import type { FedHistory, FedRoundEntry } from '../pipeline/fed-simulate.js';
import { bytes } from './format.js';
import { linearTicks, type Ticks } from './plan-html.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const px = (x: number): string => x.toFixed(1);
const pct = (v: number): string => `${(v * 100).toFixed(1)} %`;

interface Series {
  name: string;
  color: string;
  dash?: string;
  /** [round, value]; a single point is drawn as a marker only. */
  points: [number, number][];
  /** Draw markers without a connecting line (the calibrated model's single record). */
  markersOnly?: boolean;
}

interface Chart {
  id: string;
  title: string;
  xTitle: string;
  yTitle: string;
  yTicks: Ticks;
  yLabel: (v: number) => string;
  series: Series[];
}

const FRAME = { W: 640, H: 320, left: 78, right: 20, top: 16, bottom: 48 };

function lineChart(c: Chart, rounds: number): { legend: string; svg: string } {
  const f = FRAME;
  const xTicks = linearTicks(1, Math.max(2, rounds), Math.min(10, Math.max(1, rounds - 1)));
  const xs = xTicks.labelled.filter((v) => Number.isInteger(v));
  const yAxis = f.H - f.bottom;
  const x = (v: number): number => f.left + 8 + ((f.W - f.right - f.left - 16) * (v - xTicks.lo)) / (xTicks.hi - xTicks.lo);
  const y = (v: number): number => yAxis - 8 - ((yAxis - f.top - 16) * (v - c.yTicks.lo)) / (c.yTicks.hi - c.yTicks.lo || 1);
  let s = `<svg class="chart" id="${c.id}" width="${f.W}" height="${f.H}" viewBox="0 0 ${f.W} ${f.H}" role="img" aria-label="${esc(c.title)}" font-size="11">`;
  s += `<title>${esc(c.title)}</title>`;
  for (const t of xs) {
    const xx = px(x(t));
    s += `<line x1="${xx}" x2="${xx}" y1="${f.top}" y2="${yAxis}" stroke="#eee"/><text class="tick x" x="${xx}" y="${yAxis + 16}" text-anchor="middle">${t}</text>`;
  }
  for (const t of c.yTicks.labelled) {
    const yy = px(y(t));
    s += `<line x1="${f.left}" x2="${f.W - f.right}" y1="${yy}" y2="${yy}" stroke="#eee"/><text class="tick y" x="${f.left - 6}" y="${px(y(t) + 4)}" text-anchor="end">${esc(c.yLabel(t))}</text>`;
  }
  s += `<line x1="${f.left}" x2="${f.W - f.right}" y1="${yAxis}" y2="${yAxis}" stroke="#999"/><line x1="${f.left}" x2="${f.left}" y1="${f.top}" y2="${yAxis}" stroke="#999"/>`;
  s += `<text class="axis-title x" x="${px((f.left + f.W - f.right) / 2)}" y="${f.H - 10}" text-anchor="middle">${esc(c.xTitle)}</text>`;
  s += `<text class="axis-title y" transform="translate(14 ${px((f.top + yAxis) / 2)}) rotate(-90)" text-anchor="middle">${esc(c.yTitle)}</text>`;
  let legend = '';
  for (const se of c.series) {
    if (se.points.length === 0) continue;
    s += `<g class="series" data-series="${esc(se.name)}">`;
    if (!se.markersOnly && se.points.length > 1) {
      const d = se.points.map(([r, v], k) => `${k ? 'L' : 'M'}${px(x(r))} ${px(y(v))}`).join('');
      s += `<path d="${d}" fill="none" stroke="${se.color}" stroke-width="2"${se.dash ? ` stroke-dasharray="${se.dash}"` : ''}/>`;
    }
    for (const [r, v] of se.points) s += `<circle cx="${px(x(r))}" cy="${px(y(v))}" r="${se.markersOnly ? 5 : 3.5}" fill="${se.color}"><title>${esc(`${se.name}, round ${r}: ${c.yLabel(v)}`)}</title></circle>`;
    s += '</g>';
    legend += `<span class="item"><span class="sw" style="background:${se.color}"></span>${esc(se.name)}</span>`;
  }
  return { legend, svg: s + '</svg>' };
}

function accuracyChart(h: FedHistory): { legend: string; svg: string } {
  const trained = h.rounds.filter((r) => r.phase !== 'calibrated');
  const calibrated = h.rounds.filter((r) => r.phase === 'calibrated');
  const sphere = h.config.algorithm === 'spherefed';
  const at = (rs: FedRoundEntry[]): [number, number][] => rs.map((r) => [r.round, r.testAccuracy]);
  const top = Math.max(0.1, ...h.rounds.map((r) => r.testAccuracy));
  return lineChart(
    {
      id: 'accuracy',
      title: 'Test accuracy against the round',
      xTitle: 'round',
      yTitle: 'test accuracy (top-1)',
      yTicks: linearTicks(0, Math.min(1, top), 5),
      yLabel: pct,
      series: [
        { name: sphere ? 'global model (argmax of the fixed head)' : 'global model', color: '#1f77b4', points: at(trained) },
        { name: 'calibrated model (after the last round)', color: '#d62728', points: at(calibrated), markersOnly: true },
      ],
    },
    h.rounds.length,
  );
}

/** Byte ticks on whole binary units (B, KiB, MiB, GiB): 1, 2, 5 × 10^k of the unit that holds the maximum. */
function byteTicks(max: number): { ticks: Ticks; label: (v: number) => string } {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let k = 0;
  while (k < units.length - 1 && max >= 1024 ** (k + 1)) k++;
  const unit = 1024 ** k;
  const t = linearTicks(0, max / unit, 5);
  const scale = (v: number): number => v * unit;
  return { ticks: { lo: scale(t.lo), hi: scale(t.hi), labelled: t.labelled.map(scale), unlabelled: [] }, label: (v) => `${Number((v / unit).toPrecision(6))} ${units[k]}` };
}

function bytesChart(h: FedHistory): { legend: string; svg: string } {
  const max = Math.max(1, ...h.rounds.flatMap((r) => [r.bytesUpPerClient, r.bytesDownPerClient]));
  const trained = h.rounds.filter((r) => r.phase !== 'calibrated');
  const calibrated = h.rounds.filter((r) => r.phase === 'calibrated');
  const axis = byteTicks(max);
  return lineChart(
    {
      id: 'bytes',
      title: 'Bytes per client against the round',
      xTitle: 'round',
      yTitle: 'bytes per client',
      yTicks: axis.ticks,
      yLabel: axis.label,
      series: [
        { name: 'up (client → server)', color: '#ff7f0e', points: trained.map((r) => [r.round, r.bytesUpPerClient]) },
        { name: 'down (server → client)', color: '#2ca02c', dash: '5 3', points: trained.map((r) => [r.round, r.bytesDownPerClient]) },
        { name: 'calibration: statistics up', color: '#9467bd', points: calibrated.map((r) => [r.round, r.bytesUpPerClient]), markersOnly: true },
        { name: 'calibration: final weights down', color: '#8c564b', points: calibrated.map((r) => [r.round, r.bytesDownPerClient]), markersOnly: true },
      ],
    },
    h.rounds.length,
  );
}

function configRows(h: FedHistory): [string, string][] {
  const c = h.config;
  return [
    ['model', c.model],
    ['data', `${c.data}: ${c.trainSamples} training, ${c.testSamples} test samples, ${c.classes} classes`],
    ['clients', `${c.clients} (${c.clientsPerRound} per round)`],
    ['partition', c.partition.kind === 'iid' ? 'IID' : `Dirichlet α = ${c.partition.alpha}`],
    ['algorithm', c.algorithm + (c.base ? ` on ${c.base}` : '') + (c.mu !== null ? `, μ = ${c.mu}` : '')],
    ['calibration', c.calibration ? `λ = ${c.calibration.lambda}${c.calibration.secure ? ', secure aggregation' : ''}` : '–'],
    ['rounds', String(c.rounds)],
    ['local training', `${c.localEpochs} epoch(s), batch ${c.batch}, SGD lr ${c.lr}, momentum ${c.momentum}`],
    ['seed', String(c.seed)],
    ['final test accuracy', pct(h.finalTestAccuracy)],
  ];
}

export function renderFedHtml(h: FedHistory): string {
  const acc = accuracyChart(h);
  const by = bytesChart(h);
  const classHeads = Array.from({ length: h.config.classes }, (_, c) => `<th>${c}</th>`).join('');
  const clientRows = h.clients.map((c) => `<tr><td>${esc(c.id)}</td><td>${c.samples}</td>${c.classCounts.map((n) => `<td>${n}</td>`).join('')}</tr>`).join('\n');
  const roundRows = h.rounds
    .map((r) => `<tr><td>${r.round}${r.phase === 'calibrated' ? ' (calibration)' : ''}</td><td>${r.clients.length}</td><td>${r.loss === null ? '–' : r.loss.toFixed(4)}</td><td>${pct(r.testAccuracy)}</td><td>${bytes(r.bytesUpPerClient)}</td><td>${bytes(r.bytesDownPerClient)}</td><td>${r.seconds.toFixed(2)}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>splitc fed simulate — ${esc(h.config.algorithm)}, ${esc(h.config.data)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:960px}svg.chart{display:block;max-width:100%;height:auto}table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}table.config td:last-child{text-align:left}.legend{margin:.4em 0}.legend .item{white-space:nowrap;margin-right:14px}.legend .sw{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}</style>
</head><body>
<h1>splitc fed simulate: ${esc(h.config.algorithm)} on ${esc(h.config.data)}</h1>
<h2>Configuration</h2>
<table class="config">${configRows(h).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>Test accuracy against the round</h2>
<div class="legend">${acc.legend}</div>
${acc.svg}
<h2>Bytes per client against the round</h2>
<p>float32 weights down and up per round; the calibration sends the statistics up (masked words with secure aggregation).</p>
<div class="legend">${by.legend}</div>
${by.svg}
<h2>Rounds</h2>
<table><tr><th>round</th><th>clients</th><th>loss</th><th>test accuracy</th><th>up / client</th><th>down / client</th><th>seconds</th></tr>
${roundRows}
</table>
<h2>Clients' data</h2>
<table><tr><th>client</th><th>samples</th>${classHeads}</tr>
${clientRows}
</table>
</body></html>
`;
}
