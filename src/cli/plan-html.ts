// The plan as one self-contained HTML page (inline SVG and CSS, no scripts, no network):
// the chosen cut, a stacked latency chart over candidate cuts (edge / uplink / round trip /
// cloud / downlink) and every candidate's latency against bytes sent, on log scales.
// Deterministic: the same plan gives byte-identical HTML. Every model-provided string is escaped.

import { gainSummary } from '../search/plan/split.js';
import type { Candidate, Plan } from '../search/plan/types.js';
import { bytes } from './format.js';

// ---------------------------------------------------------------------------------------
// Ticks: nice numbers for axes

/** An axis' domain and its tick values (`labelled` get a label and a grid line, `unlabelled` only a faint grid line). */
export interface Ticks {
  lo: number;
  hi: number;
  labelled: number[];
  unlabelled: number[];
}

const NICE = [1, 2, 5] as const;
// m × 10^k without the rounding error of multiplying by a negative power of ten.
const times10 = (m: number, k: number): number => (k >= 0 ? m * 10 ** k : m / 10 ** -k);
// Strips the float noise of i × step (0.30000000000000004 → 0.3).
const clean = (v: number): number => (v === 0 ? 0 : Number(v.toPrecision(12)));
const EPS = 1e-9;

function floorLog(x: number, base: number): number {
  let k = Math.floor(Math.log(x) / Math.log(base));
  while (base ** (k + 1) <= x * (1 + EPS)) k++;
  while (base ** k > x * (1 + EPS)) k--;
  return k;
}

/** The smallest 1, 2 or 5 × 10^k that is at least `x` (> 0). */
export function niceStep(x: number): number {
  const k = floorLog(x, 10);
  for (const e of [k, k + 1]) for (const m of NICE) if (times10(m, e) >= x * (1 - EPS)) return times10(m, e);
  return times10(1, k + 2);
}

/** The smallest step in 1, 2, 5, 10, 20, 50, … (integers) that leaves at most `maxLabels` multiples in [kLo, kHi]. */
function integerStep(kLo: number, kHi: number, maxLabels: number): number {
  for (let e = 0; ; e++) {
    for (const m of NICE) {
      const step = m * 10 ** e;
      if (Math.floor(kHi / step) - Math.ceil(kLo / step) + 1 <= maxLabels) return step;
    }
  }
}

/** Linear ticks on 1, 2, 5 × 10^k steps, the domain widened to whole steps (about `target` intervals). */
export function linearTicks(min: number, max: number, target = 6): Ticks {
  if (!(max > min)) max = min + (Math.abs(min) || 1);
  const step = niceStep((max - min) / target);
  const i0 = Math.floor(min / step + EPS);
  const i1 = Math.ceil(max / step - EPS);
  const labelled: number[] = [];
  for (let i = i0; i <= i1; i++) labelled.push(clean(i * step));
  return { lo: labelled[0]!, hi: labelled[labelled.length - 1]!, labelled, unlabelled: [] };
}

/**
 * Base-10 log ticks for positive `min` ≤ `max`: 1, 2, 5 × 10^k when at most `maxLabels` of
 * them cover the range (domain snapped to them), else labelled decades (every 1, 2, 5, …
 * decades) with the rest as faint grid lines.
 */
export function log10Ticks(min: number, max: number, maxLabels = 10): Ticks {
  if (!(min > 0)) throw new RangeError(`log10Ticks needs a positive minimum, got ${min}`);
  if (max < min) max = min;
  const kLo = floorLog(min, 10);
  const kHi = floorLog(max, 10) + 1;
  const nice: number[] = [];
  for (let k = kLo - 1; k <= kHi; k++) for (const m of NICE) nice.push(times10(m, k));
  let lo = nice.filter((v) => v <= min * (1 + EPS)).pop()!;
  let hi = nice.find((v) => v >= max * (1 - EPS))!;
  if (lo === hi) {
    lo = nice[nice.indexOf(lo) - 1]!;
    hi = nice[nice.indexOf(hi) + 1]!;
  }
  const within = nice.filter((v) => v >= lo && v <= hi);
  if (within.length <= maxLabels) return { lo, hi, labelled: within, unlabelled: [] };
  const dLo = floorLog(min, 10);
  const dHi = max <= times10(1, floorLog(max, 10)) * (1 + EPS) ? floorLog(max, 10) : floorLog(max, 10) + 1;
  const step = integerStep(dLo, dHi, maxLabels);
  const labelled: number[] = [];
  const unlabelled: number[] = [];
  for (let k = dLo; k <= dHi; k++) {
    if (k % step === 0) labelled.push(times10(1, k));
    else unlabelled.push(times10(1, k));
    if (step === 1 && k < dHi) unlabelled.push(times10(2, k), times10(5, k));
  }
  return { lo: times10(1, dLo), hi: times10(1, dHi), labelled, unlabelled: unlabelled.sort((a, b) => a - b) };
}

/**
 * Base-2 log ticks for byte axes (so IEC labels come out whole: 16 KiB, 64 KiB, 1 MiB): powers
 * of two every 1, 2, 5, 10, 20, … exponents, at most `maxLabels` of them; the others are faint grid lines.
 */
export function log2Ticks(min: number, max: number, maxLabels = 8): Ticks {
  if (!(min > 0)) throw new RangeError(`log2Ticks needs a positive minimum, got ${min}`);
  if (max < min) max = min;
  let kLo = floorLog(min, 2);
  let kHi = 2 ** floorLog(max, 2) >= max * (1 - EPS) ? floorLog(max, 2) : floorLog(max, 2) + 1;
  if (kLo === kHi) {
    kLo--;
    kHi++;
  }
  const step = integerStep(kLo, kHi, maxLabels);
  if (step <= 2) {
    kLo = Math.floor(kLo / step) * step;
    kHi = Math.ceil(kHi / step) * step;
  }
  const labelled: number[] = [];
  const unlabelled: number[] = [];
  for (let k = kLo; k <= kHi; k++) (k % step === 0 ? labelled : unlabelled).push(2 ** k);
  return { lo: 2 ** kLo, hi: 2 ** kHi, labelled, unlabelled: step > 4 ? [] : unlabelled };
}

// ---------------------------------------------------------------------------------------
// Text

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const px = (x: number): string => x.toFixed(1);
/** A tick label for a nice number (no float noise, no exponent for the ranges plotted). */
const tickNumber = (v: number): string => String(clean(v));
/** A byte tick label: `bytes()`'s units, without the trailing zeros a whole power of two gets ("16.0 KiB" → "16 KiB"). */
const tickBytes = (v: number): string => bytes(v).replace(/\.0+(?= )/, '');

/** Shortens `s` to `max` characters with an ellipsis in the middle, so both the start and the numbered tail of a tensor name stay. */
export function truncateMiddle(s: string, max: number): string {
  const chars = Array.from(s);
  if (chars.length <= max) return s;
  const head = Math.ceil((max - 1) / 2);
  const tail = max - 1 - head;
  return chars.slice(0, head).join('') + '…' + chars.slice(chars.length - tail).join('');
}

// ---------------------------------------------------------------------------------------
// Candidates

/** A candidate as the page reads it: `infeasible` is a reason the planner may give besides `violates`. */
type Shown = Candidate & { infeasible?: string };

/** Why the candidate is not allowed ('' when it is feasible). */
export function infeasibility(c: Shown): string {
  const reasons = [...c.violates];
  if (typeof c.infeasible === 'string' && c.infeasible !== '' && !reasons.includes(c.infeasible)) reasons.push(c.infeasible);
  return reasons.join(', ');
}

// Candidates are compared by what they are, not by object identity, so a plan read back from JSON renders the same.
const keyOf = (c: Candidate): string => JSON.stringify([c.kind, c.compress, c.cutTensors]);

/** What a candidate is, in full (for tooltips). */
function fullLabel(c: Candidate): string {
  if (c.kind !== 'split') return c.kind;
  return `cut after ${c.edgeNodes} edge nodes at ${c.cutTensors.join(', ')}`;
}

/** What a candidate is, short enough for an axis label. */
function shortCut(c: Candidate, max: number): string {
  if (c.kind !== 'split') return c.kind;
  // The last tensor in graph order is the newest one, the one that tells cut positions apart.
  const last = c.cutTensors[c.cutTensors.length - 1] ?? '?';
  const more = c.cutTensors.length > 1 ? ` +${c.cutTensors.length - 1}` : '';
  return truncateMiddle(last, max - Array.from(more).length) + more;
}

const PARTS = [
  { key: 'edgeMs', label: 'edge compute', color: '#4e79a7' },
  { key: 'uplinkMs', label: 'uplink (incl. compression)', color: '#f28e2b' },
  { key: 'rttMs', label: 'round trip', color: '#bab0ac' },
  { key: 'cloudMs', label: 'cloud compute', color: '#59a14f' },
  { key: 'downlinkMs', label: 'downlink', color: '#b07aa1' },
] as const;

const COMPRESS_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7'];
const CHOSEN = '#e15759';
const MUTED = '#8a8a8a';

/** Compression options in the plan's order (then any others, sorted), each with a colour. */
function compressColors(plan: Plan): Map<string, string> {
  const names = [...plan.compressOptions];
  for (const c of [...new Set(plan.candidates.map((x) => x.compress))].sort()) if (!names.includes(c)) names.push(c);
  return new Map(names.map((n, i) => [n, COMPRESS_COLORS[i % COMPRESS_COLORS.length]!]));
}

// Legend entries: a colour swatch or a small marker, kept on one line with their label.
const swatch = (style: string, label: string): string => `<span class="item"><span class="sw" style="${style}"></span>${label}</span>`;
const icon = (body: string, label: string): string => `<span class="item"><svg class="icon" width="14" height="14" viewBox="0 0 14 14" aria-hidden="true">${body}</svg>${label}</span>`;
// A white halo behind annotations drawn over markers.
const HALO = 'stroke="#fff" stroke-width="3" paint-order="stroke"';

// ---------------------------------------------------------------------------------------
// Chart 1: stacked latency per cut (one bar per cut position, the chosen compression)

const BAR_ROW = 15;
const BAR_H = 11;
const NAME_CHARS = 30;

function latencyBars(plan: Plan): { legend: string; svg: string } {
  const chosenKey = keyOf(plan.chosen);
  // The best candidate per cut position, for the chosen compression, plus the baselines.
  const pool = plan.candidates.filter((c) => c.compress === plan.chosen.compress || c.kind !== 'split');
  const byEdge = new Map<number, Candidate>();
  for (const c of pool) {
    const prev = byEdge.get(c.edgeNodes);
    if (!prev || c.totalMs < prev.totalMs) byEdge.set(c.edgeNodes, c);
  }
  byEdge.set(plan.chosen.edgeNodes, plan.chosen);
  const bars = [...byEdge.values()].sort((a, b) => a.edgeNodes - b.edgeNodes || a.totalMs - b.totalMs);

  const W = 900;
  const left = 250; // edge-node column + cut names
  const right = 170; // room for "✕ reason" / "◀ chosen" after the longest bar
  const top = 48;
  const bottom = 46;
  const plotH = bars.length * BAR_ROW;
  const H = top + plotH + bottom;
  const stacked = (b: Candidate): number => PARTS.reduce((acc, p) => acc + Math.max(0, b[p.key]), 0);
  const ticks = linearTicks(0, Math.max(...bars.map((b) => Math.max(b.totalMs, stacked(b))), 0));
  const x = (v: number): number => left + ((W - left - right) * (v - ticks.lo)) / (ticks.hi - ticks.lo);

  let s = `<svg class="chart" id="latency-bars" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="predicted latency per candidate cut" font-size="11">`;
  // chosen row band first, under everything
  bars.forEach((b, i) => {
    if (keyOf(b) === chosenKey) s += `<rect x="0" y="${px(top + i * BAR_ROW)}" width="${W}" height="${BAR_ROW}" fill="#fdecea"/>`;
  });
  // x grid, tick labels top and bottom, axis title
  for (const t of ticks.labelled) {
    const xx = px(x(t));
    s += `<line class="grid" x1="${xx}" x2="${xx}" y1="${top}" y2="${top + plotH}" stroke="#e6e6e6"/>`;
    s += `<text class="tick x" x="${xx}" y="${top - 6}" text-anchor="middle">${tickNumber(t)}</text>`;
    s += `<text class="tick x" x="${xx}" y="${top + plotH + 14}" text-anchor="middle">${tickNumber(t)}</text>`;
  }
  s += `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#999"/>`;
  s += `<text class="axis-title x" x="${px((left + W - right) / 2)}" y="${H - 10}" text-anchor="middle">predicted latency per sample (ms)</text>`;
  s += `<text class="axis-title x" x="${px((left + W - right) / 2)}" y="14" text-anchor="middle">predicted latency per sample (ms)</text>`;
  // y axis: column headers for the category labels
  s += `<text class="axis-title y" x="40" y="${top - 20}" text-anchor="end">edge</text><text class="axis-title y" x="40" y="${top - 6}" text-anchor="end">nodes</text>`;
  s += `<text class="axis-title y" x="${left - 6}" y="${top - 20}" text-anchor="end">cut: tensor sent</text><text class="axis-title y" x="${left - 6}" y="${top - 6}" text-anchor="end">edge → cloud</text>`;

  bars.forEach((b, i) => {
    const y0 = top + i * BAR_ROW;
    const yBar = y0 + (BAR_ROW - BAR_H) / 2;
    const yText = y0 + BAR_ROW - 4;
    const why = infeasibility(b);
    const chosen = keyOf(b) === chosenKey;
    const cls = `bar${why ? ' infeasible' : ''}${chosen ? ' chosen' : ''}`;
    const weight = chosen ? ' font-weight="bold"' : '';
    const fill = why ? ` fill="${MUTED}"` : '';
    s += `<g class="${cls}"><title>${esc(fullLabel(b))} · ${esc(b.compress)}: ${ms(b.totalMs)} ms${why ? ` · infeasible: ${esc(why)}` : ''}${chosen ? ' · chosen' : ''}</title>`;
    s += `<text class="tick y" x="40" y="${px(yText)}" text-anchor="end"${weight}${fill}>${b.edgeNodes}</text>`;
    s += `<text class="tick y" x="${left - 6}" y="${px(yText)}" text-anchor="end"${weight}${fill}>${esc(shortCut(b, NAME_CHARS))}</text>`;
    let acc = 0;
    for (const p of PARTS) {
      const v = b[p.key];
      if (!(v > 0)) continue;
      s += `<rect x="${px(x(acc))}" y="${px(yBar)}" width="${px(x(acc + v) - x(acc))}" height="${BAR_H}" fill="${p.color}"${why ? ' fill-opacity="0.3"' : ''}><title>${esc(shortCut(b, 60))}: ${p.label} ${ms(v)} ms</title></rect>`;
      acc += v;
    }
    if (why) s += `<rect x="${px(x(0))}" y="${px(yBar)}" width="${px(Math.max(1, x(acc) - x(0)))}" height="${BAR_H}" fill="none" stroke="${MUTED}" stroke-dasharray="3 2"/>`;
    const notes = [chosen ? '◀ chosen' : '', why ? `✕ ${truncateMiddle(why, 24)}` : ''].filter(Boolean).join(' · ');
    if (notes) s += `<text x="${px(x(acc) + 4)}" y="${px(yText)}" fill="${chosen ? CHOSEN : MUTED}"${weight}>${esc(notes)}</text>`;
    s += '</g>';
  });
  s += '</svg>';

  const legend =
    PARTS.map((p) => swatch(`background:${p.color}`, p.label)).join('') +
    swatch(`background:rgba(78,121,167,.3);outline:1px dashed ${MUTED}`, 'infeasible (✕ names the broken constraint)') +
    swatch('background:#fdecea', `<b style="color:${CHOSEN}">chosen</b>`);
  return { legend, svg: s };
}

// ---------------------------------------------------------------------------------------
// Chart 2: latency against bytes sent, every candidate, log scales

function latencyBytesScatter(plan: Plan): { legend: string; svg: string } {
  const pts = plan.candidates as Shown[];
  const colors = compressColors(plan);
  const chosenKey = keyOf(plan.chosen);
  const front = new Set(plan.pareto.map(keyOf));
  const baselineKeys = new Map([
    [keyOf(plan.baselines.cloudOnly), 'cloud-only'],
    [keyOf(plan.baselines.edgeOnly), 'edge-only'],
  ]);

  const W = 900;
  const H = 460;
  const left = 64;
  const right = 24;
  const top = 16;
  const bottom = 62;
  const positive = pts.map((c) => c.bytesPerSample).filter((b) => b > 0);
  const hasZero = pts.some((c) => !(c.bytesPerSample > 0));
  const bx = log2Ticks(positive.length ? Math.min(...positive) : 1, positive.length ? Math.max(...positive) : 1);
  const lat = pts.map((c) => c.totalMs).filter((v) => v > 0);
  const ty = log10Ticks(lat.length ? Math.min(...lat) : 1, lat.length ? Math.max(...lat) : 1);
  // 0 B has no place on a log axis: it sits on the axis floor, left of a break.
  const floorX = left + 14;
  const logLeft = hasZero ? left + 64 : left;
  const inset = 10; // keeps markers at the ends of the domain off the axis lines
  const x = (b: number): number => (b > 0 ? logLeft + inset + ((W - right - logLeft - 2 * inset) * Math.log2(b / bx.lo)) / Math.log2(bx.hi / bx.lo) : floorX);
  const y = (v: number): number => H - bottom - inset - ((H - bottom - top - 2 * inset) * Math.log10(Math.max(v, ty.lo) / ty.lo)) / Math.log10(ty.hi / ty.lo);
  const yAxis = H - bottom;

  let s = `<svg class="chart" id="latency-bytes" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="predicted latency against bytes sent per sample, log scales" font-size="11">`;
  for (const t of bx.unlabelled) s += `<line class="grid minor" x1="${px(x(t))}" x2="${px(x(t))}" y1="${top}" y2="${yAxis}" stroke="#f3f3f3"/>`;
  for (const t of ty.unlabelled) s += `<line class="grid minor" x1="${left}" x2="${W - right}" y1="${px(y(t))}" y2="${px(y(t))}" stroke="#f3f3f3"/>`;
  if (hasZero) s += `<line x1="${px(floorX)}" x2="${px(floorX)}" y1="${yAxis}" y2="${yAxis + 4}" stroke="#999"/><text class="tick x" x="${px(floorX)}" y="${yAxis + 16}" text-anchor="middle">0 B</text>`;
  for (const t of bx.labelled) {
    const xx = px(x(t));
    s += `<line class="grid" x1="${xx}" x2="${xx}" y1="${top}" y2="${yAxis}" stroke="#e3e3e3"/><line x1="${xx}" x2="${xx}" y1="${yAxis}" y2="${yAxis + 4}" stroke="#999"/>`;
    s += `<text class="tick x" x="${xx}" y="${yAxis + 16}" text-anchor="middle">${esc(tickBytes(t))}</text>`;
  }
  for (const t of ty.labelled) {
    const yy = px(y(t));
    s += `<line class="grid" x1="${left}" x2="${W - right}" y1="${yy}" y2="${yy}" stroke="#e3e3e3"/><line x1="${left - 4}" x2="${left}" y1="${yy}" y2="${yy}" stroke="#999"/>`;
    s += `<text class="tick y" x="${left - 7}" y="${px(y(t) + 4)}" text-anchor="end">${tickNumber(t)}</text>`;
  }
  s += `<line x1="${left}" x2="${W - right}" y1="${yAxis}" y2="${yAxis}" stroke="#999"/><line x1="${left}" x2="${left}" y1="${top}" y2="${yAxis}" stroke="#999"/>`;
  if (hasZero) {
    // a break in the axis between the 0 B floor and the log scale
    const bk = (floorX + logLeft) / 2;
    s += `<rect x="${px(bk - 4)}" y="${yAxis - 5}" width="8" height="10" fill="#fff"/><line x1="${px(bk - 6)}" x2="${px(bk - 2)}" y1="${yAxis + 5}" y2="${yAxis - 5}" stroke="#999"/><line x1="${px(bk + 2)}" x2="${px(bk + 6)}" y1="${yAxis + 5}" y2="${yAxis - 5}" stroke="#999"/>`;
  }
  s += `<text class="axis-title x" x="${px((logLeft + W - right) / 2)}" y="${H - 14}" text-anchor="middle">bytes sent edge → cloud per sample (log scale${hasZero ? '; 0 B: nothing sent, on the axis floor' : ''})</text>`;
  s += `<text class="axis-title y" transform="translate(16 ${px((top + yAxis) / 2)}) rotate(-90)" text-anchor="middle">predicted end-to-end latency (ms, log scale)</text>`;

  // Infeasible under feasible, the Pareto front above, the chosen plan on top.
  const rank = (c: Shown): number => (keyOf(c) === chosenKey ? 3 : front.has(keyOf(c)) ? 2 : infeasibility(c) ? 0 : 1);
  const ordered = pts.map((c, i) => ({ c, i })).sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i);
  for (const { c } of ordered) {
    const why = infeasibility(c);
    const cx = px(x(c.bytesPerSample));
    const cy = px(y(c.totalMs));
    const color = colors.get(c.compress) ?? MUTED;
    const onFront = front.has(keyOf(c));
    const chosen = keyOf(c) === chosenKey;
    const sent = c.bytesPerSample > 0 ? bytes(c.bytesPerSample) : '0 B sent (nothing crosses the link; drawn on the axis floor)';
    const tip = `${fullLabel(c)} · ${c.compress}: ${ms(c.totalMs)} ms, ${sent}${why ? ` · infeasible: ${why}` : ''}${onFront ? ' · Pareto front' : ''}${chosen ? ' · chosen' : ''}`;
    const cls = `pt${why ? ' infeasible' : ''}${onFront ? ' pareto' : ''}${chosen ? ' chosen' : ''}`;
    const marker = why ? `fill="#fff" fill-opacity="0" stroke="${color}" stroke-width="1.2"` : `fill="${color}" stroke="#fff" stroke-width="0.5"`;
    s += `<g class="${cls}"><title>${esc(tip)}</title><circle cx="${cx}" cy="${cy}" r="${onFront ? 4.5 : 3.5}" ${marker}/>`;
    if (onFront) s += `<circle cx="${cx}" cy="${cy}" r="6.5" fill="none" stroke="#222" stroke-width="1.2"/>`;
    const baseline = baselineKeys.get(keyOf(c));
    if (chosen) s += `<circle cx="${cx}" cy="${cy}" r="10" fill="none" stroke="${CHOSEN}" stroke-width="2.5"/><text x="${px(x(c.bytesPerSample) + 13)}" y="${px(y(c.totalMs) - 8)}" fill="${CHOSEN}" font-weight="bold" ${HALO}>chosen${baseline ? ` (${baseline})` : ''}</text>`;
    else if (baseline) s += `<text x="${px(x(c.bytesPerSample) + 9)}" y="${px(y(c.totalMs) - 7)}" fill="#555" ${HALO}>${baseline}</text>`;
    s += '</g>';
  }
  s += '</svg>';

  const infeasibleCount = pts.filter((c) => infeasibility(c)).length;
  const reasons = [...new Set(pts.map(infeasibility).filter(Boolean))].sort();
  const legend =
    [...colors]
      .filter(([name]) => pts.some((c) => c.compress === name))
      .map(([name, color]) => icon(`<circle cx="7" cy="7" r="4" fill="${color}"/>`, esc(name)))
      .join('') +
    icon(`<circle cx="7" cy="7" r="4" fill="none" stroke="${MUTED}" stroke-width="1.2"/>`, `hollow: infeasible (${infeasibleCount}${reasons.length ? `: ${esc(reasons.join('; '))}` : ''})`) +
    icon('<circle cx="7" cy="7" r="3" fill="#bbb"/><circle cx="7" cy="7" r="5.5" fill="none" stroke="#222" stroke-width="1.2"/>', 'Pareto front (latency, bytes, fidelity)') +
    icon(`<circle cx="7" cy="7" r="5.5" fill="none" stroke="${CHOSEN}" stroke-width="2.5"/>`, `<b style="color:${CHOSEN}">chosen</b>`) +
    (hasZero ? '<span class="note">0 B (edge-only: nothing is sent) sits on the axis floor, left of the break.</span>' : '');
  return { legend, svg: s };
}

// ---------------------------------------------------------------------------------------
// The page

function constraintsText(plan: Plan): string {
  const k = plan.constraints ?? {};
  const parts: string[] = [];
  if (k.maxEdgeMemoryBytes !== undefined) parts.push(`edge memory ≤ ${bytes(k.maxEdgeMemoryBytes)}`);
  if (k.maxBytesPerSample !== undefined) parts.push(`bytes sent ≤ ${bytes(k.maxBytesPerSample)} per sample`);
  if (k.minAgreement !== undefined) parts.push(`top-1 agreement ≥ ${k.minAgreement}`);
  if (k.maxRisk !== undefined) parts.push(k.maxRiskExclusive ? `inversion risk: strongest attack's SSIM < ${k.maxRisk}` : `inversion risk ≤ ${k.maxRisk}`);
  return parts.length ? ` Constraints: ${parts.join(', ')}.` : '';
}

export function renderPlanHtml(plan: Plan): string {
  const c = plan.chosen;
  const chosenKey = keyOf(c);
  // inversion risk (measured for --max-risk low|medium, or from a risk table): a column of its own
  const withRisk = plan.candidates.some((x) => x.risk !== null && x.cutTensors.length > 0);
  const row = (x: Shown): string => {
    const why = infeasibility(x);
    const cls = [keyOf(x) === chosenKey ? 'chosen' : '', why ? 'infeasible' : ''].filter(Boolean).join(' ');
    // link ms: everything the network costs (uplink, round trip, downlink of the results); cloud ms: its compute only
    const risk = withRisk ? `<td>${x.cutTensors.length === 0 ? '–' : x.risk === null ? 'not measured' : x.risk.toFixed(3)}</td>` : '';
    return `<tr${cls ? ` class="${cls}"` : ''}><td>${esc(x.kind)}</td><td>${esc(x.cutTensors.join(', ') || '–')}</td><td>${esc(x.compress)}</td><td>${ms(x.edgeMs)}</td><td>${ms(x.uplinkMs + x.rttMs + x.downlinkMs)}</td><td>${ms(x.cloudMs)}</td><td><b>${ms(x.totalMs)}</b></td><td>${bytes(x.bytesPerSample)}</td><td>${bytes(x.edgeMemoryBytes)}</td>${risk}<td>${esc(why)}</td></tr>`;
  };
  const rows: Candidate[] = [plan.baselines.cloudOnly, plan.baselines.edgeOnly, ...plan.pareto.filter((x) => x.kind === 'split')];
  if (!rows.some((x) => keyOf(x) === chosenKey)) rows.push(c);
  const bars = latencyBars(plan);
  const scatter = latencyBytesScatter(plan);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>splitc plan — ${esc(plan.model.file ?? 'model')}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:960px}svg.chart{display:block;max-width:100%;height:auto}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}tr.chosen{background:#fdecea}tr.infeasible td{color:#8a8a8a}.legend{margin:.4em 0;line-height:1.8}.legend .item{white-space:nowrap}.legend .sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}.legend .icon{margin:0 3px 0 12px;vertical-align:middle}.legend .note{display:block;margin-left:12px;color:#555}td:first-child{white-space:nowrap}</style>
</head><body>
<h1>splitc plan</h1>
<p>Model <code>${esc(plan.model.file ?? '?')}</code>${plan.model.sha256 ? ` (sha256 ${esc(plan.model.sha256.slice(0, 12))}…)` : ''}; edge <b>${esc(plan.profiles.edge.name)}</b>, link <b>${esc(plan.profiles.link.name)}</b> (${plan.profiles.link.uplinkMbps} Mbps up, ${plan.profiles.link.rttMs} ms RTT), cloud <b>${esc(plan.profiles.cloud.name)}</b>; objective: ${esc(plan.objective)}.${esc(constraintsText(plan))}</p>
<p>Chosen: <b>${esc(c.kind)}</b>${c.cutTensors.length ? ` cut at <code>${esc(c.cutTensors.join(', '))}</code>` : ''}, compression <b>${esc(c.compress)}</b> — predicted ${ms(c.totalMs)} ms end to end, ${bytes(c.bytesPerSample)} per sample, ${esc(gainSummary(plan))}${plan.exact ? ' (exact optimum)' : ' (best feasible candidate; not proven optimal)'}.</p>
${plan.warnings.map((w) => `<p>⚠ ${esc(w)}</p>`).join('\n')}
<h2>Predicted latency over candidate cuts</h2>
<p>One bar per cut position, cloud-only at the top to edge-only at the bottom: the fastest candidate there with the chosen compression (<b>${esc(c.compress)}</b>), and the two baselines. Hover a bar for its figures.</p>
<div class="legend">${bars.legend}</div>
${bars.svg}
<h2>Latency against bytes sent per sample</h2>
<p>Every candidate considered (${plan.candidates.length}), coloured by compression; both axes are logarithmic.</p>
<div class="legend">${scatter.legend}</div>
${scatter.svg}
<h2>Baselines and Pareto front</h2>
<table><tr><th>kind</th><th>cut tensors</th><th>compression</th><th>edge ms</th><th>link ms</th><th>cloud ms</th><th>total ms</th><th>bytes/sample</th><th>edge memory</th>${withRisk ? `<th>${'riskAudit' in plan && plan.riskAudit ? 'inversion risk (SSIM of the white-box attack)' : 'inversion risk'}</th>` : ''}<th>infeasible because</th></tr>
${rows.map(row).join('\n')}
</table>
</body></html>
`;
}
