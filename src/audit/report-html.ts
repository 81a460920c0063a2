// The audit as one self-contained HTML page for a privacy reviewer (report.html beside
// report.json): the threat model, a per-cut table, PSNR/SSIM against depth, original vs
// reconstruction thumbnails for every cut, attack and probe, and utility-vs-privacy curves for
// the defences. Inline CSS and SVG, images as data: PNGs, no scripts: it opens from a file and
// fetches nothing. Deterministic: the same report and images give byte-identical HTML. Every
// string from the report is escaped.

import { SplitcError } from '../ir/errors.js';
import { formatBytes } from '../ir/units.js';
import { encodePng } from './png.js';
import type { AttackName, AttackOutcome, AuditReport, CutAudit, DefencePoint, InputRange, RiskLevel } from './types.js';

/** The pixels behind the report's thumbnails (report.json keeps only the figures). */
export interface AuditImages {
  /** One input sample's dims [C, H, W]. */
  dims: [number, number, number];
  /** The probes, one per probe in the report's probe order, [C, H, W] flattened, in the model's input space. */
  originals: Float32Array[];
  /**
   * Per cut (in `report.cuts` order), per attack: one reconstruction per probe, like `originals`.
   * A skipped attack has none (absent or empty); an attack that ran without images shows "no image".
   */
  reconstructions: Partial<Record<AttackName, Float32Array[]>>[];
}

// ---------------------------------------------------------------------------------------
// Text and numbers

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const px = (x: number): string => x.toFixed(1);
const isNum = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);
/** "31.2 dB"; a perfect reconstruction (zero error) has an infinite PSNR. */
const psnrText = (v: number | null | undefined): string => (!isNum(v) ? '–' : v === Infinity ? '∞ dB' : `${v.toFixed(1)} dB`);
const ssimText = (v: number | null | undefined): string => (isNum(v) ? v.toFixed(3) : '–');
/** Depth as a share of the model's MACs: "12 %", "0.4 %". */
const pctText = (v: number): string => `${v * 100 >= 10 || v === 0 ? (v * 100).toFixed(0) : (v * 100).toFixed(1)} %`;
const clean = (v: number): number => (v === 0 ? 0 : Number(v.toPrecision(12)));

/** Linear ticks on a 1, 2 or 5 × 10^k step covering [lo, hi] (about `target` intervals). */
function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) hi = lo + (Math.abs(lo) || 1);
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9)) ?? 10 * mag;
  const ticks: number[] = [];
  for (let i = Math.floor(lo / step + 1e-9); i <= Math.ceil(hi / step - 1e-9); i++) ticks.push(clean(i * step));
  return ticks;
}

const RISK_COLOR: Record<RiskLevel, string> = { high: '#c62828', medium: '#e6a100', low: '#2e7d32' };
/** Darker shades for text on white (the amber of the bands is too light to read). */
const RISK_TEXT: Record<RiskLevel, string> = { high: '#b71c1c', medium: '#8a6100', low: '#1b5e20' };
/** A risk level as a coloured badge that carries its level as text too. */
const badge = (risk: RiskLevel | null): string => (risk ? `<span class="badge risk-${risk}">${risk}</span>` : '<span class="badge risk-none">n/a</span>');

// Each attack has a colour, a marker shape and a dash pattern, so series differ without colour too.
const ATTACK_STYLE: Record<AttackName, { color: string; marker: 'circle' | 'square' | 'triangle'; dash: string }> = {
  whitebox: { color: '#4e79a7', marker: 'circle', dash: '' },
  decoder: { color: '#f28e2b', marker: 'square', dash: '6 3' },
  datafree: { color: '#9b59b6', marker: 'triangle', dash: '2 3' },
};
const styleOf = (a: AttackName): (typeof ATTACK_STYLE)[AttackName] => ATTACK_STYLE[a] ?? { color: '#555', marker: 'circle', dash: '' };

function marker(shape: 'circle' | 'square' | 'triangle', cx: number, cy: number, r: number, attrs: string, inner = ''): string {
  if (shape === 'square') return `<rect ${attrs} x="${px(cx - r * 0.9)}" y="${px(cy - r * 0.9)}" width="${px(r * 1.8)}" height="${px(r * 1.8)}">${inner}</rect>`;
  if (shape === 'triangle') return `<path ${attrs} d="M${px(cx)} ${px(cy - r * 1.15)}L${px(cx + r * 1.05)} ${px(cy + r * 0.75)}L${px(cx - r * 1.05)} ${px(cy + r * 0.75)}Z">${inner}</path>`;
  return `<circle ${attrs} cx="${px(cx)}" cy="${px(cy)}" r="${px(r)}">${inner}</circle>`;
}

function legendItem(a: AttackName, note: string): string {
  const st = styleOf(a);
  const line = `<line x1="1" x2="27" y1="7" y2="7" stroke="${st.color}" stroke-width="2"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}/>`;
  return `<span class="item"><svg class="icon" width="28" height="14" viewBox="0 0 28 14" aria-hidden="true">${line}${marker(st.marker, 14, 7, 4, `fill="${st.color}" stroke="#fff"`)}</svg>${esc(a)}${note}</span>`;
}

const outcomeOf = (cut: CutAudit, a: AttackName): AttackOutcome | undefined => cut.attacks.find((o) => o.attack === a);
const ran = (o: AttackOutcome | undefined): o is AttackOutcome => o !== undefined && !o.skipped;

/** What an attack did, for a tooltip: "1.5 s; steps 200, restarts 2 (cached)". */
function detailsText(o: AttackOutcome): string {
  const parts = Object.keys(o.details)
    .sort()
    .map((k) => `${k} ${String(o.details[k])}`);
  return `${o.attack}: ${o.seconds.toFixed(1)} s${parts.length ? `; ${parts.join(', ')}` : ''}${o.cached ? ' (cached)' : ''}`;
}

// ---------------------------------------------------------------------------------------
// Images

interface Thumb {
  uri: string;
  width: number;
  height: number;
  pixelated: boolean;
}

/** [C, H, W] values in the input space → 8-bit gray (first channel unless C is 3) or RGB, each channel through its own range. */
function toPixels(x: Float32Array, dims: [number, number, number], range: InputRange): { bytes: Uint8Array; channels: 1 | 3 } {
  const [c, h, w] = dims;
  const channels = c === 3 ? 3 : 1;
  const plane = h * w;
  const bytes = new Uint8Array(plane * channels);
  for (let k = 0; k < channels; k++) {
    const lo = range.lo[k] ?? range.lo[0] ?? 0;
    const hi = range.hi[k] ?? range.hi[0] ?? 1;
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    for (let p = 0; p < plane; p++) {
      const v = (x[k * plane + p]! - lo) * scale;
      bytes[p * channels + k] = v > 0 ? (v < 255 ? Math.round(v) : 255) : 0; // NaN → 0
    }
  }
  return { bytes, channels };
}

/** Small inputs are scaled up by a whole factor to about 96 px (drawn pixelated); large ones down to at most 160 px. */
function displaySize(h: number, w: number): { width: number; height: number; pixelated: boolean } {
  const m = Math.max(h, w);
  if (m <= 96) {
    const s = Math.max(1, Math.floor(96 / m));
    return { width: w * s, height: h * s, pixelated: s > 1 };
  }
  const s = Math.min(1, 160 / m);
  return { width: Math.max(1, Math.round(w * s)), height: Math.max(1, Math.round(h * s)), pixelated: false };
}

function thumb(x: Float32Array, dims: [number, number, number], range: InputRange): Thumb {
  const [, h, w] = dims;
  const { bytes, channels } = toPixels(x, dims, range);
  return { uri: `data:image/png;base64,${encodePng(bytes, w, h, channels).toString('base64')}`, ...displaySize(h, w) };
}

function checkImages(report: AuditReport, images: AuditImages): void {
  const bad = (message: string): SplitcError => new SplitcError('E_BAD_ARGUMENT', `report.html: ${message}`);
  const dims = images.dims;
  if (dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) throw bad(`image dims must be [C, H, W] with positive whole numbers, got [${dims.join(', ')}]`);
  const size = dims[0] * dims[1] * dims[2];
  const check = (x: Float32Array, what: string): void => {
    if (x.length !== size) throw bad(`${what} has ${x.length} values, [${dims.join(', ')}] needs ${size}`);
  };
  if (images.originals.length !== report.probes.count) throw bad(`${images.originals.length} original images for ${report.probes.count} probes`);
  images.originals.forEach((x, p) => check(x, `probe ${p}`));
  if (images.reconstructions.length !== report.cuts.length) throw bad(`reconstructions for ${images.reconstructions.length} cuts, the report has ${report.cuts.length}`);
  images.reconstructions.forEach((byAttack, i) => {
    for (const a of Object.keys(byAttack).sort() as AttackName[]) {
      const xs = byAttack[a] ?? [];
      // none (a skipped attack's empty list) or one per probe
      if (xs.length !== 0 && xs.length !== images.originals.length) throw bad(`cut ${i}, ${a}: ${xs.length} reconstructions for ${images.originals.length} probes`);
      xs.forEach((x, p) => check(x, `cut ${i}, ${a}, probe ${p}`));
    }
  });
}

// ---------------------------------------------------------------------------------------
// Chart: PSNR or SSIM of each attack against the cut's depth

interface Frame {
  W: number;
  H: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}
const INSET = 8; // keeps markers at the ends of a domain off the axis lines

/** Axes, grid, tick labels and titles of a linear chart; returns the scales. */
function axes(
  f: Frame,
  xTicks: number[],
  yTicks: number[],
  xLabel: (v: number) => string,
  yLabel: (v: number) => string,
  titles: { x: string; y: string },
): { svg: string; x: (v: number) => number; y: (v: number) => number } {
  const [x0, x1] = [xTicks[0]!, xTicks[xTicks.length - 1]!];
  const [y0, y1] = [yTicks[0]!, yTicks[yTicks.length - 1]!];
  const yAxis = f.H - f.bottom;
  const x = (v: number): number => f.left + INSET + ((f.W - f.right - f.left - 2 * INSET) * (Math.min(Math.max(v, x0), x1) - x0)) / (x1 - x0);
  const y = (v: number): number => yAxis - INSET - ((yAxis - f.top - 2 * INSET) * (Math.min(Math.max(v, y0), y1) - y0)) / (y1 - y0);
  let s = '';
  for (const t of xTicks) {
    const xx = px(x(t));
    s += `<line class="grid" x1="${xx}" x2="${xx}" y1="${f.top}" y2="${yAxis}" stroke="#e6e6e6"/><line x1="${xx}" x2="${xx}" y1="${yAxis}" y2="${yAxis + 4}" stroke="#999"/>`;
    s += `<text class="tick x" x="${xx}" y="${yAxis + 16}" text-anchor="middle">${esc(xLabel(t))}</text>`;
  }
  for (const t of yTicks) {
    const yy = px(y(t));
    s += `<line class="grid" x1="${f.left}" x2="${f.W - f.right}" y1="${yy}" y2="${yy}" stroke="#e6e6e6"/><line x1="${f.left - 4}" x2="${f.left}" y1="${yy}" y2="${yy}" stroke="#999"/>`;
    s += `<text class="tick y" x="${f.left - 7}" y="${px(y(t) + 4)}" text-anchor="end">${esc(yLabel(t))}</text>`;
  }
  s += `<line x1="${f.left}" x2="${f.W - f.right}" y1="${yAxis}" y2="${yAxis}" stroke="#999"/><line x1="${f.left}" x2="${f.left}" y1="${f.top}" y2="${yAxis}" stroke="#999"/>`;
  s += `<text class="axis-title x" x="${px((f.left + f.W - f.right) / 2)}" y="${f.H - 10}" text-anchor="middle">${esc(titles.x)}</text>`;
  s += `<text class="axis-title y" transform="translate(14 ${px((f.top + yAxis) / 2)}) rotate(-90)" text-anchor="middle">${esc(titles.y)}</text>`;
  return { svg: s, x, y };
}

/** Shaded SSIM risk bands (high at the top/right), each labelled with its level outside the plot (in the right or top margin), where no marker can cover it. */
function riskBands(report: AuditReport, lo: number, hi: number, horizontal: boolean, f: Frame, scale: (v: number) => number): string {
  const { high, medium } = report.thresholds;
  const bands: { risk: RiskLevel; from: number; to: number; label: string }[] = [
    { risk: 'high', from: high, to: hi, label: `high ≥ ${high}` },
    { risk: 'medium', from: medium, to: high, label: `medium ≥ ${medium}` },
    { risk: 'low', from: lo, to: medium, label: 'low' },
  ];
  let s = '';
  for (const b of bands) {
    const from = Math.max(lo, Math.min(hi, b.from));
    const to = Math.max(lo, Math.min(hi, b.to));
    if (!(to > from)) continue;
    const color = RISK_COLOR[b.risk];
    if (horizontal) {
      const [ya, yb] = [scale(to), scale(from)];
      s += `<rect class="band" x="${f.left}" y="${px(ya)}" width="${f.W - f.right - f.left}" height="${px(yb - ya)}" fill="${color}" fill-opacity="0.07"/>`;
      s += `<line x1="${f.left}" x2="${f.W - f.right}" y1="${px(yb)}" y2="${px(yb)}" stroke="${color}" stroke-opacity="0.6" stroke-dasharray="4 3"/>`;
      s += `<text class="band-label" x="${f.W - f.right + 6}" y="${px((ya + yb) / 2 + 4)}" fill="${RISK_TEXT[b.risk]}">${esc(b.label)}</text>`;
    } else {
      const [xa, xb] = [scale(from), scale(to)];
      s += `<rect class="band" x="${px(xa)}" y="${f.top}" width="${px(xb - xa)}" height="${f.H - f.bottom - f.top}" fill="${color}" fill-opacity="0.07"/>`;
      s += `<line x1="${px(xa)}" x2="${px(xa)}" y1="${f.top}" y2="${f.H - f.bottom}" stroke="${color}" stroke-opacity="0.6" stroke-dasharray="4 3"/>`;
      s += `<text class="band-label" x="${px((xa + xb) / 2)}" y="${f.top - 6}" text-anchor="middle" fill="${RISK_TEXT[b.risk]}">${esc(b.risk)}</text>`;
    }
  }
  return s;
}

function qualityChart(report: AuditReport, metric: 'psnr' | 'ssim'): string {
  // Both charts share one frame (so their depth axes line up) with room on the right for the SSIM risk labels.
  const f: Frame = { W: 550, H: 340, left: 58, right: 90, top: 14, bottom: 50 };
  const points = report.attacks.map((a) => ({
    attack: a,
    pts: report.cuts
      .map((cut, i) => ({ cut, i, o: outcomeOf(cut, a) }))
      .filter((p): p is { cut: CutAudit; i: number; o: AttackOutcome } => ran(p.o) && isNum(p.o[metric]))
      .sort((p, q) => p.cut.depth - q.cut.depth || p.i - q.i),
  }));
  const values = points.flatMap((s) => s.pts.map((p) => p.o[metric]!)).filter((v) => Number.isFinite(v));
  const yTicks = metric === 'ssim' ? niceTicks(Math.min(0, ...values), 1) : niceTicks(Math.min(0, ...values), values.length ? Math.max(...values) : 40);
  const xTicks = [0, 0.2, 0.4, 0.6, 0.8, 1];
  const title = metric === 'psnr' ? 'PSNR (dB), mean over the probes' : 'SSIM, mean over the probes';
  const ax = axes(f, xTicks, yTicks, (v) => `${Math.round(v * 100)} %`, (v) => String(v), { x: "depth: share of the model's MACs on the edge", y: title });
  const id = `quality-${metric}`;
  let s = `<svg class="chart" id="${id}" width="${f.W}" height="${f.H}" viewBox="0 0 ${f.W} ${f.H}" role="img" aria-label="${esc(title)} against cut depth, one series per attack" font-size="11">`;
  if (metric === 'ssim') s += riskBands(report, yTicks[0]!, yTicks[yTicks.length - 1]!, true, f, ax.y);
  s += ax.svg;
  for (const { attack, pts } of points) {
    const st = styleOf(attack);
    s += `<g class="series" data-attack="${esc(attack)}">`;
    if (pts.length > 1) {
      const d = pts.map((p, k) => `${k ? 'L' : 'M'}${px(ax.x(p.cut.depth))} ${px(ax.y(p.o[metric]!))}`).join('');
      s += `<path d="${d}" fill="none" stroke="${st.color}" stroke-width="2"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}/>`;
    }
    for (const p of pts) {
      const v = p.o[metric]!;
      const tip = `${attack} at ${p.cut.label} (depth ${pctText(p.cut.depth)}, ${p.cut.compress}): PSNR ${psnrText(p.o.psnr)}, SSIM ${ssimText(p.o.ssim)}`;
      s += marker(st.marker, ax.x(p.cut.depth), ax.y(v), 4.5, `class="pt" fill="${st.color}" stroke="#fff" stroke-width="1"`, `<title>${esc(tip)}</title>`);
    }
    s += '</g>';
  }
  return s + '</svg>';
}

// ---------------------------------------------------------------------------------------
// Chart: utility against privacy under each defence of a cut

const UTILITY_TITLE = { top1: 'top-1 agreement with the original (utility)', cosine: 'output cosine similarity to the original (utility)' } as const;

function defenceChart(report: AuditReport, cut: CutAudit, i: number, defences: DefencePoint[]): string {
  const f: Frame = { W: 460, H: 330, left: 58, right: 16, top: 24, bottom: 50 };
  const metrics = [...new Set(defences.map((d) => d.utility.metric))];
  const yTitle = metrics.length === 1 ? UTILITY_TITLE[metrics[0]!] : 'utility (top-1 agreement or output cosine)';
  const utilities = defences.map((d) => d.utility.value).filter(Number.isFinite);
  const ssims = [...defences.map((d) => d.ssim), ...(isNum(cut.ssim) ? [cut.ssim] : [])].filter(Number.isFinite);
  const yTicks = niceTicks(utilities.length ? Math.min(...utilities) : 0, 1, 4);
  const xTicks = niceTicks(Math.min(0, ...ssims), 1);
  const ax = axes(f, xTicks, yTicks, (v) => String(v), (v) => String(v), { x: 'SSIM of the strongest attack (privacy: lower is better)', y: yTitle });
  let s = `<svg class="chart defence" id="defence-${i}" data-cut="${i}" width="${f.W}" height="${f.H}" viewBox="0 0 ${f.W} ${f.H}" role="img" aria-label="utility against reconstruction SSIM for each defence at cut ${esc(cut.label)}" font-size="11">`;
  s += riskBands(report, xTicks[0]!, xTicks[xTicks.length - 1]!, false, f, ax.x);
  s += ax.svg;
  if (isNum(cut.ssim)) {
    const xx = px(ax.x(cut.ssim));
    // labelled at its foot: defended points (high utility) crowd the top
    const left = ax.x(cut.ssim) > (f.left + f.W - f.right) / 2;
    s += `<line class="undefended" x1="${xx}" x2="${xx}" y1="${f.top}" y2="${f.H - f.bottom}" stroke="#222" stroke-dasharray="2 2"/><text x="${px(ax.x(cut.ssim) + (left ? -4 : 4))}" y="${f.H - f.bottom - 6}" text-anchor="${left ? 'end' : 'start'}" fill="#222" stroke="#fff" stroke-width="3" paint-order="stroke">no defence: SSIM ${ssimText(cut.ssim)}</text>`;
  }
  const pts = defences.filter((d) => Number.isFinite(d.ssim) && Number.isFinite(d.utility.value));
  if (pts.length > 1) s += `<path d="${pts.map((d, k) => `${k ? 'L' : 'M'}${px(ax.x(d.ssim))} ${px(ax.y(d.utility.value))}`).join('')}" fill="none" stroke="#555" stroke-width="1.5"/>`;
  const mid = (f.left + f.W - f.right) / 2;
  for (const d of pts) {
    const [cx, cy] = [ax.x(d.ssim), ax.y(d.utility.value)];
    const tip = `${d.defence}: ${d.utility.metric === 'top1' ? 'top-1 agreement' : 'output cosine'} ${d.utility.value.toFixed(3)}, SSIM ${ssimText(d.ssim)}, PSNR ${psnrText(d.psnr)}, risk ${d.risk}`;
    s += marker('circle', cx, cy, 5, `class="pt risk-${d.risk}" fill="${RISK_COLOR[d.risk]}" stroke="#fff" stroke-width="1"`, `<title>${esc(tip)}</title>`);
    const right = cx < mid;
    s += `<text x="${px(cx + (right ? 8 : -8))}" y="${px(cy - 7)}" text-anchor="${right ? 'start' : 'end'}" fill="#333" stroke="#fff" stroke-width="3" paint-order="stroke">${esc(d.defence)}</text>`;
  }
  return s + '</svg>';
}

function defencesSection(report: AuditReport): string {
  const withDefences = report.cuts.map((cut, i) => ({ cut, i })).filter((c) => (c.cut.defences?.length ?? 0) > 0);
  if (!withDefences.length) return '';
  const figures = withDefences.map(({ cut, i }) => {
    const ds = cut.defences!;
    const rows = ds
      .map((d) => `<tr><td>${esc(d.defence)}</td><td>${isNum(d.utility.value) ? d.utility.value.toFixed(3) : '–'} <small>${d.utility.metric === 'top1' ? 'top-1' : 'cosine'}</small></td><td>${ssimText(d.ssim)}</td><td>${psnrText(d.psnr)}</td><td>${badge(d.risk)}</td></tr>`)
      .join('');
    return `<figure class="defence"><figcaption>Cut <a href="#cut-${i}"><code>${esc(cut.label)}</code></a> (depth ${pctText(cut.depth)}, ${esc(cut.compress)}; without defence ${badge(cut.risk)})</figcaption>
${defenceChart(report, cut, i, ds)}
<table class="defences"><thead><tr><th>defence</th><th>utility</th><th>SSIM</th><th>PSNR</th><th>risk</th></tr></thead><tbody>${rows}</tbody></table></figure>`;
  });
  return `<h2 id="defences">Defences: utility against privacy</h2>
<p>Each defence is a stage at the cut that ships in the edge graph. A point is one defence: its utility (how often the defended model agrees with the original) against the SSIM of the strongest attack under it. Points further left leak less; points lower cost more accuracy.</p>
<div class="figures">${figures.join('\n')}</div>`;
}

// ---------------------------------------------------------------------------------------
// Table and thumbnails

function cutsTable(report: AuditReport): string {
  const head1 = report.attacks.map((a) => `<th colspan="2" class="attack">${esc(a)}</th>`).join('');
  const head2 = report.attacks.map(() => '<th>PSNR</th><th>SSIM</th>').join('');
  const rows = report.cuts.map((cut, i) => {
    const cells = report.attacks.map((a) => {
      const o = outcomeOf(cut, a);
      if (!o) return '<td colspan="2" class="na">–</td>';
      if (o.skipped) return `<td colspan="2" class="skipped" title="${esc(o.skipped.message)}">skipped: ${esc(o.skipped.code)}</td>`;
      const title = ` title="${esc(detailsText(o))}"`;
      const [b0, b1] = cut.strongest === a ? ['<b>', '</b>'] : ['', ''];
      return `<td${title}>${b0}${psnrText(o.psnr)}${b1}</td><td${title}>${b0}${ssimText(o.ssim)}${b1}</td>`;
    });
    const wire = cut.wireBytes === null ? '–' : formatBytes(cut.wireBytes);
    return `<tr data-cut="${i}"><td title="${esc(cut.tensors.join(', '))}"><a href="#cut-${i}"><code>${esc(cut.label)}</code></a></td><td>${pctText(cut.depth)}</td><td><code>${esc(cut.compress)}</code></td><td>${wire}</td>${cells.join('')}<td>${cut.strongest ? esc(cut.strongest) : '–'}</td><td>${badge(cut.risk)}</td></tr>`;
  });
  return `<table class="cuts"><thead><tr><th rowspan="2">cut</th><th rowspan="2">depth<br><small>MACs on edge</small></th><th rowspan="2">compression</th><th rowspan="2">bytes sent<br><small>per sample</small></th>${head1}<th rowspan="2">strongest<br>attack</th><th rowspan="2">risk</th></tr>
<tr class="sub">${head2}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>`;
}

/** The probes' ids, from the first attack that scored them. */
function probeIds(report: AuditReport, count: number): string[] {
  const scored = report.cuts.flatMap((c) => c.attacks).find((o) => !o.skipped && o.probes.length === count);
  return Array.from({ length: count }, (_, p) => scored?.probes[p]?.id ?? `probe ${p + 1}`);
}

function img(t: Thumb, cut: number, attack: string, probe: number, alt: string): string {
  return `<img${t.pixelated ? ' class="px"' : ''} src="${t.uri}" width="${t.width}" height="${t.height}" alt="${esc(alt)}" data-cut="${cut}" data-attack="${esc(attack)}" data-probe="${probe}">`;
}

function thumbnailsSection(report: AuditReport, images: AuditImages): string {
  const ids = probeIds(report, images.originals.length);
  const originals = images.originals.map((x) => thumb(x, images.dims, report.range));
  const c = images.dims[0];
  const note = c === 1 || c === 3 ? '' : `<p class="note channels-note">The input has ${c} channels: each thumbnail shows only its first channel, in grayscale.</p>\n`;
  const sections = report.cuts.map((cut, i) => {
    const probeHeads = ids.map((id) => `<th scope="col">${esc(id)}</th>`).join('');
    const origRow = `<tr class="original"><th scope="row">original</th>${originals.map((t, p) => `<td><figure>${img(t, i, 'original', p, `probe ${ids[p]}, original`)}</figure></td>`).join('')}</tr>`;
    const attackRows = report.attacks.map((a) => {
      const o = outcomeOf(cut, a);
      const label = `${esc(a)}${cut.strongest === a ? '<br><small>strongest</small>' : ''}`;
      if (!o) return `<tr class="na"><th scope="row">${label}</th><td colspan="${ids.length}"><div class="fill">not run at this cut</div></td></tr>`;
      if (o.skipped) return `<tr class="skipped"><th scope="row">${label}</th><td colspan="${ids.length}" title="${esc(o.skipped.message)}"><div class="fill">skipped: <code>${esc(o.skipped.code)}</code> — ${esc(o.skipped.message)}</div></td></tr>`;
      const xs = images.reconstructions[i]?.[a];
      const cells = ids.map((id, p) => {
        const score = o.probes[p];
        const caption = `<figcaption>PSNR ${psnrText(score?.psnr)}<br>SSIM ${ssimText(score?.ssim)}</figcaption>`;
        const x = xs?.[p];
        const picture = x ? img(thumb(x, images.dims, report.range), i, a, p, `probe ${id}, reconstruction by ${a} at cut ${cut.label}`) : '<span class="noimg">no image</span>';
        return `<td><figure>${picture}${caption}</figure></td>`;
      });
      return `<tr class="attack"><th scope="row">${label}</th>${cells.join('')}</tr>`;
    });
    return `<section class="cut" id="cut-${i}"><h3>Cut <code>${esc(cut.label)}</code> <small>depth ${pctText(cut.depth)} · ${esc(cut.compress)} · ${cut.wireBytes === null ? '–' : formatBytes(cut.wireBytes)} sent</small> ${badge(cut.risk)}</h3>
<div class="scroll"><table class="thumbs"><thead><tr><th></th>${probeHeads}</tr></thead><tbody>
${origRow}
${attackRows.join('\n')}
</tbody></table></div></section>`;
  });
  return `<h2 id="reconstructions">Reconstructions</h2>
<p>For every cut, the private probes (top row) and what each attack reconstructed from the values crossing the cut, with PSNR and SSIM against the probe. Pixels are mapped to 0–255 with the input's valid range per channel.</p>
${note}${sections.join('\n')}`;
}

// ---------------------------------------------------------------------------------------
// The page

const CSS = `body{font:14px system-ui,sans-serif;margin:2em auto;padding:0 1.5em;max-width:1140px;color:#222}
h1{margin-bottom:.2em}h2{margin-top:1.6em}h3{font-size:15px;margin:1.2em 0 .4em}h3 small{font-weight:normal;color:#555}
code{font-size:13px;overflow-wrap:anywhere}small{color:#555}
.badge{display:inline-block;padding:0 .6em;border-radius:.8em;font-size:12px;font-weight:600;line-height:1.6;border:1px solid rgba(0,0,0,.25)}
.risk-high{background:#c62828;color:#fff}.risk-medium{background:#ffc940;color:#222}.risk-low{background:#2e7d32;color:#fff}.risk-none{background:#eee;color:#444}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:.6em 0}dl.facts dt{color:#555}dl.facts dd{margin:0}
.threat{background:#f5f7fa;border-left:3px solid #4e79a7;padding:.5em .8em;max-width:60em}
table{border-collapse:collapse}
table.cuts td,table.cuts th,table.defences td,table.defences th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right;vertical-align:middle}
table.cuts td:first-child,table.cuts th:first-child,table.defences td:first-child,table.defences th:first-child{text-align:left}
table.cuts th.attack{text-align:center;border-bottom:1px solid #bbb}table.cuts td.skipped,table.cuts td.na{text-align:center;color:#777;font-style:italic}
.legend{margin:.4em 0;line-height:1.9}.legend .item{white-space:nowrap;margin-right:16px}.legend .icon{vertical-align:middle;margin-right:4px}
.figures{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:flex-start}svg.chart{display:block;max-width:100%;height:auto}
figure.defence{margin:0}figure.defence figcaption{margin:.3em 0}
.scroll{overflow-x:auto;padding-bottom:4px}
table.thumbs th,table.thumbs td{padding:4px 6px;vertical-align:top;text-align:center;font-weight:normal}
table.thumbs thead th{font-size:12px;color:#555}table.thumbs tbody th{text-align:right;white-space:nowrap;position:sticky;left:0;background:#fff;padding-top:1.6em}
table.thumbs tr.original{border-bottom:1px solid #ccc}table.thumbs tr.skipped td,table.thumbs tr.na td{text-align:left;color:#777;font-style:italic}
table.thumbs figure{margin:0}table.thumbs figcaption{font-size:11px;line-height:1.3;color:#333;white-space:nowrap;margin-top:2px}
table.thumbs img{display:block;margin:0 auto;background:#eee}img.px{image-rendering:pixelated}
.fill{width:0;min-width:100%}table.thumbs tr.skipped th,table.thumbs tr.na th{padding-top:4px}
.noimg{display:inline-block;padding:2em .5em;color:#777;font-style:italic}
.note{color:#555}ul.warnings{padding-left:1.2em}footer{margin-top:2em;color:#777;font-size:12px}`;

export function renderAuditHtml(report: AuditReport, images: AuditImages): string {
  checkImages(report, images);
  const m = report.model;
  const modelName = m.file ?? 'model';
  const sha = (h: string): string => (h ? ` <small>(sha256 ${esc(h.slice(0, 12))}…)</small>` : '');
  const num = (v: number | undefined): string => (v === undefined ? '?' : String(Number(v.toPrecision(4))));
  const range = report.range.lo.map((lo, k) => `${num(lo)}…${num(report.range.hi[k])}`).join(', ');
  const skippedEverywhere = (a: AttackName): boolean => report.cuts.length > 0 && report.cuts.every((c) => !ran(outcomeOf(c, a)));
  const legend = report.attacks.map((a) => legendItem(a, skippedEverywhere(a) ? ' <small>(skipped at every cut)</small>' : '')).join('');
  const { high, medium } = report.thresholds;
  const warnings = report.warnings.length ? `<ul class="warnings">${report.warnings.map((w) => `<li>⚠ <code>${esc(w.code)}</code> ${esc(w.message)}</li>`).join('')}</ul>\n` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>splitc audit — ${esc(modelName)}</title>
<style>${CSS}</style>
</head><body>
<header>
<h1>Inversion-risk audit</h1>
<p class="overall">Overall risk: ${badge(report.risk)} <small>— the highest over ${report.cuts.length} cut${report.cuts.length === 1 ? '' : 's'}, from the strongest attack's mean SSIM (high ≥ ${high}, medium ≥ ${medium}, low below)</small></p>
<dl class="facts">
<dt>model</dt><dd><code>${esc(modelName)}</code>${sha(m.sha256)}, input <code>${esc(m.input)}</code> [${m.inputDims.join(', ')}], valid range ${esc(range)}</dd>
<dt>probes</dt><dd>${report.probes.count} from <code>${esc(report.probes.source)}</code>${sha(report.probes.sha256)}</dd>
<dt>auxiliary data</dt><dd>${report.aux ? `${report.aux.count} from <code>${esc(report.aux.source)}</code>${sha(report.aux.sha256)}` : 'none'}</dd>
<dt>budget</dt><dd>${esc(report.budget)}</dd>
<dt>attacks</dt><dd>${report.attacks.map(esc).join(', ') || 'none'}</dd>
<dt>a guess</dt><dd>without any information (${report.baseline.guess === 'aux-mean' ? 'the mean auxiliary image' : 'the middle of the input range'}) scores PSNR ${px(report.baseline.psnr)} dB, SSIM ${report.baseline.ssim.toFixed(3)}: an attack near it reconstructs how the probes look on average, not the probe</dd>
</dl>
<p class="threat"><b>Threat model.</b> ${esc(report.threatModel)}</p>
</header>
${warnings}<h2 id="cuts">Cuts</h2>
${cutsTable(report)}
<p class="note">PSNR and SSIM are means over the probes; the risk comes from the strongest attack (highest SSIM). A low risk means these attacks, with this budget, did not reconstruct recognisable inputs; it does not prove that no attack can. Hover a skipped attack for the reason.</p>
<h2 id="quality">Reconstruction quality against depth</h2>
<p>Each attack's mean PSNR and SSIM at each cut, against how deep the cut is (the share of the model's compute done on the edge). The SSIM chart is shaded by risk level.</p>
<div class="legend">${legend}</div>
<div class="figures">${qualityChart(report, 'psnr')}
${qualityChart(report, 'ssim')}</div>
${defencesSection(report)}
${thumbnailsSection(report, images)}
<footer>splitc ${esc(report.tool.version)} · audit report schema ${report.schemaVersion}</footer>
</body></html>
`;
}
