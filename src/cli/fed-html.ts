// A federated run's history as one self-contained HTML page (inline SVG and CSS, no scripts,
// no network): test accuracy and bytes per client against the round, the config and (for a
// simulation) the clients' data; `fed simulate`'s history and `fed serve`'s through one view.
// Deterministic apart from the seconds the history records; every string is escaped.

import type { FedServeHistory } from '../pipeline/fed-serve.js';
import type { FedHistory } from '../pipeline/fed-simulate.js';
import { bytes } from './format.js';
import { linearTicks, type Ticks } from './plan-html.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const px = (x: number): string => x.toFixed(1);
const pct = (v: number): string => `${(v * 100).toFixed(1)} %`;

/** What the page shows, from either command's history. */
interface ReportView {
  command: 'fed simulate' | 'fed serve';
  algorithm: string;
  /** What the run trained on (simulate: its data set; serve: its model). */
  subject: string;
  sphere: boolean;
  config: [string, string][];
  /** Per round; `calibrated`: the calibrated model after the last round. Nulls are not drawn. */
  rounds: { round: number; calibrated: boolean; clients: number; loss: number | null; testAccuracy: number | null; up: number | null; down: number | null; seconds: number | null }[];
  /** Shown above the accuracy chart (e.g. why it is empty). */
  accuracyNote?: string;
  /** Simulate's per-client samples and class counts. */
  clients?: { classes: number; rows: { id: string; samples: number; classCounts: number[] }[] };
}

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

type Round = ReportView['rounds'][number];
const pointsOf = (rs: Round[], value: (r: Round) => number | null): [number, number][] =>
  rs.flatMap((r): [number, number][] => {
    const v = value(r);
    return v === null ? [] : [[r.round, v]];
  });

function accuracyChart(h: ReportView): { legend: string; svg: string } {
  const trained = h.rounds.filter((r) => !r.calibrated);
  const calibrated = h.rounds.filter((r) => r.calibrated);
  const top = Math.max(0.1, ...pointsOf(h.rounds, (r) => r.testAccuracy).map(([, v]) => v));
  return lineChart(
    {
      id: 'accuracy',
      title: 'Test accuracy against the round',
      xTitle: 'round',
      yTitle: 'test accuracy (top-1)',
      yTicks: linearTicks(0, Math.min(1, top), 5),
      yLabel: pct,
      series: [
        { name: h.sphere ? 'global model (argmax of the fixed head)' : 'global model', color: '#1f77b4', points: pointsOf(trained, (r) => r.testAccuracy) },
        { name: 'calibrated model (after the last round)', color: '#d62728', points: pointsOf(calibrated, (r) => r.testAccuracy), markersOnly: true },
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

function bytesChart(h: ReportView): { legend: string; svg: string } {
  const max = Math.max(1, ...h.rounds.flatMap((r) => [r.up ?? 0, r.down ?? 0]));
  const trained = h.rounds.filter((r) => !r.calibrated);
  const calibrated = h.rounds.filter((r) => r.calibrated);
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
        { name: 'up (client → server)', color: '#ff7f0e', points: pointsOf(trained, (r) => r.up) },
        { name: 'down (server → client)', color: '#2ca02c', dash: '5 3', points: pointsOf(trained, (r) => r.down) },
        { name: 'calibration: statistics up', color: '#9467bd', points: pointsOf(calibrated, (r) => r.up), markersOnly: true },
        { name: 'calibration: final weights down', color: '#8c564b', points: pointsOf(calibrated, (r) => r.down), markersOnly: true },
      ],
    },
    h.rounds.length,
  );
}

/** The configuration rows both commands share: how the clients train and are averaged. */
function trainingRows(c: FedHistory['config'] | FedServeHistory['config']): [string, string][] {
  const calibration = c.calibration ?? null;
  return [
    ['algorithm', c.algorithm + (c.base ? ` on ${c.base}` : '') + (c.mu !== null ? `, μ = ${c.mu}` : '')],
    ['calibration', calibration ? `λ = ${calibration.lambda}${calibration.secure ? ', secure aggregation' : ''}` : '–'],
    ['rounds', String(c.rounds)],
    ['local training', `${c.localEpochs} epoch(s), batch ${c.batch}, SGD lr ${c.lr}, momentum ${c.momentum}`],
    ['seed', String(c.seed)],
  ];
}

function simulateView(h: FedHistory): ReportView {
  const c = h.config;
  return {
    command: 'fed simulate',
    algorithm: c.algorithm,
    subject: c.data,
    sphere: c.algorithm === 'spherefed',
    config: [
      ['model', c.model],
      ['data', `${c.data}: ${c.trainSamples} training, ${c.testSamples} test samples, ${c.classes} classes`],
      ['clients', `${c.clients} (${c.clientsPerRound} per round)`],
      ['partition', c.partition.kind === 'iid' ? 'IID' : `Dirichlet α = ${c.partition.alpha}`],
      ...trainingRows(c),
      ['final test accuracy', pct(h.finalTestAccuracy)],
    ],
    rounds: h.rounds.map((r) => ({ round: r.round, calibrated: r.phase === 'calibrated', clients: r.clients.length, loss: r.loss, testAccuracy: r.testAccuracy, up: r.bytesUpPerClient, down: r.bytesDownPerClient, seconds: r.seconds })),
    clients: { classes: c.classes, rows: h.clients },
  };
}

function serveView(h: FedServeHistory): ReportView {
  const c = h.config;
  const rounds: ReportView['rounds'] = h.rounds.map((r) => ({ round: r.round, calibrated: false, clients: r.clients.length, loss: r.loss, testAccuracy: r.testAccuracy, up: c.weightBytes, down: c.weightBytes, seconds: r.seconds }));
  // the calibrated model: its accuracy after the last round (the statistics' bytes are not recorded)
  if (h.calibration) rounds.push({ round: c.rounds + 1, calibrated: true, clients: h.calibration.clients.length, loss: null, testAccuracy: h.finalTestAccuracy, up: null, down: null, seconds: null });
  return {
    command: 'fed serve',
    algorithm: c.algorithm,
    subject: c.model,
    sphere: c.algorithm === 'spherefed',
    config: [
      ['model', c.model],
      ['evaluation', c.evaluation ? `${c.evaluation.data}: ${c.evaluation.testSamples} test samples, on the coordinator` : '– (no --eval-data)'],
      ['clients', `at least ${c.minClients} per round${c.clientsPerRound !== null ? `, ${c.clientsPerRound} drawn` : ''}; deadline ${c.deadlineS} s`],
      ...trainingRows(c),
      ['final test accuracy', h.finalTestAccuracy === null ? '–' : pct(h.finalTestAccuracy)],
    ],
    rounds,
    ...(c.evaluation ? {} : { accuracyNote: 'No accuracy: the coordinator evaluates only with --eval-data.' }),
  };
}

/** `fed simulate`'s report.html. */
export function renderFedHtml(h: FedHistory): string {
  return renderReport(simulateView(h));
}

/** `fed serve`'s report.html. */
export function renderFedServeHtml(h: FedServeHistory): string {
  return renderReport(serveView(h));
}

function renderReport(h: ReportView): string {
  const acc = accuracyChart(h);
  const by = bytesChart(h);
  const roundRows = h.rounds
    .map(
      (r) =>
        `<tr><td>${r.round}${r.calibrated ? ' (calibration)' : ''}</td><td>${r.clients}</td><td>${r.loss === null ? '–' : r.loss.toFixed(4)}</td><td>${r.testAccuracy === null ? '–' : pct(r.testAccuracy)}</td><td>${r.up === null ? '–' : bytes(r.up)}</td><td>${r.down === null ? '–' : bytes(r.down)}</td><td>${r.seconds === null ? '–' : r.seconds.toFixed(2)}</td></tr>`,
    )
    .join('\n');
  const clients = h.clients
    ? `<h2>Clients' data</h2>
<table><tr><th>client</th><th>samples</th>${Array.from({ length: h.clients.classes }, (_, c) => `<th>${c}</th>`).join('')}</tr>
${h.clients.rows.map((c) => `<tr><td>${esc(c.id)}</td><td>${c.samples}</td>${c.classCounts.map((n) => `<td>${n}</td>`).join('')}</tr>`).join('\n')}
</table>
`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>splitc ${h.command} — ${esc(h.algorithm)}, ${esc(h.subject)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:960px}svg.chart{display:block;max-width:100%;height:auto}table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}table.config td:last-child{text-align:left}.legend{margin:.4em 0}.legend .item{white-space:nowrap;margin-right:14px}.legend .sw{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}</style>
</head><body>
<h1>splitc ${h.command}: ${esc(h.algorithm)} on ${esc(h.subject)}</h1>
<h2>Configuration</h2>
<table class="config">${h.config.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>Test accuracy against the round</h2>
${h.accuracyNote ? `<p>${esc(h.accuracyNote)}</p>\n` : ''}<div class="legend">${acc.legend}</div>
${acc.svg}
<h2>Bytes per client against the round</h2>
<p>float32 weights down and up per round; the calibration sends the statistics up (masked words with secure aggregation).</p>
<div class="legend">${by.legend}</div>
${by.svg}
<h2>Rounds</h2>
<table><tr><th>round</th><th>clients</th><th>loss</th><th>test accuracy</th><th>up / client</th><th>down / client</th><th>seconds</th></tr>
${roundRows}
</table>
${clients}</body></html>
`;
}
