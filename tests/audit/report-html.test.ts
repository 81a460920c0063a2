// report.html as text: self-contained (no URL but data:image/png), every string from the report
// escaped, every thumbnail present and showing the right pixels (mapped to 0–255 with the
// report's per-channel range, gray / RGB / first channel), the per-cut table, the quality-vs-depth
// chart with one series per attack, the defence curves, and byte-identical output.

import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { renderAuditHtml } from '../../src/audit/report-html.js';
import { formatBytes } from '../../src/ir/units.js';
import { codeOf } from '../helpers/codes.js';
import { HOSTILE, PROBES, SKIP_MESSAGE, type Synthetic, gray28, rgb, thumbnails, twoChannel } from './report-html-fixture.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
/** Text of an HTML fragment: tags dropped, the five escapes undone. */
const text = (html: string): string =>
  html
    .replace(/<[^>]*>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();

/** Checks every thumbnail against the pixels the fixture says the page must show. */
function expectThumbnails(s: Synthetic, html: string): void {
  const [, h, w] = s.images.dims;
  const thumbs = thumbnails(html);
  const want: string[] = [];
  s.report.cuts.forEach((cut, i) => {
    for (let p = 0; p < PROBES; p++) want.push(`${i}/original/${p}`);
    for (const a of cut.attacks) if (!a.skipped) for (let p = 0; p < PROBES; p++) want.push(`${i}/${a.attack}/${p}`);
  });
  expect(thumbs.map((t) => `${t.cut}/${t.attack}/${t.probe}`).sort()).toEqual(want.sort());
  expect(want).toHaveLength(15); // 2 cuts × 3 probes × (original + whitebox) + 3 data-free reconstructions at the deep cut
  for (const t of thumbs) {
    const key = `${t.cut}/${t.attack}/${t.probe}`;
    const expected = t.attack === 'original' ? s.expected.originals[t.probe]! : s.expected.reconstructions[t.cut]![t.attack]![t.probe]!;
    const png = PNG.sync.read(t.png);
    expect([png.width, png.height], key).toEqual([w, h]);
    expect(png.colorType, key).toBe(s.shownChannels === 3 ? 2 : 0); // gray stays gray, no alpha
    const rgba = new Uint8Array(w * h * 4);
    for (let px = 0; px < w * h; px++) {
      for (let k = 0; k < 3; k++) rgba[px * 4 + k] = s.shownChannels === 3 ? expected[px * 3 + k]! : expected[px]!;
      rgba[px * 4 + 3] = 255;
    }
    expect(Buffer.from(png.data).equals(Buffer.from(rgba)), key).toBe(true);
  }
}

describe('renderAuditHtml', () => {
  it('shows every original and reconstruction of a 1-channel 28×28 input as a grayscale PNG with the right pixels', () => {
    const s = gray28();
    const html = renderAuditHtml(s.report, s.images);
    expectThumbnails(s, html);
    // small images are scaled up without smoothing
    expect(html).toMatch(/image-rendering:\s*pixelated/);
    for (const t of thumbnails(html)) {
      const width = Number(/\swidth="(\d+)"/.exec(t.tag)?.[1]);
      expect(width).toBeGreaterThanOrEqual(2 * 28);
      expect(width % 28).toBe(0); // whole-pixel scale
    }
    expect(html).not.toMatch(/class="[^"]*\bchannels-note\b/);
  });

  it('shows a 3-channel input as RGB with each channel mapped through its own range (non-square, so rows and columns cannot swap)', () => {
    const s = rgb();
    expectThumbnails(s, renderAuditHtml(s.report, s.images));
  });

  it('shows the first channel of a 2-channel input in grayscale and says so', () => {
    const s = twoChannel();
    const html = renderAuditHtml(s.report, s.images);
    expectThumbnails(s, html);
    const note = /<[^>]*class="[^"]*\bchannels-note\b[^"]*"[^>]*>([\s\S]*?)<\/p>/.exec(html);
    expect(note).not.toBeNull();
    expect(text(note![1]!)).toMatch(/first/);
    expect(text(note![1]!)).toMatch(/2 channels/);
  });

  it('is self-contained: no URL but inline PNG data, no scripts, no style sheets or fonts from elsewhere', () => {
    const s = gray28();
    const html = renderAuditHtml(s.report, s.images);
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?\s*\//i);
    // every reference is an inline PNG or a link within the page
    const refs = [...html.matchAll(/\s(?:src|href|xlink:href|srcset|poster|data|action)\s*=\s*"([^"]*)"/gi)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(15);
    for (const r of refs) expect(r).toMatch(/^(?:data:image\/png;base64,[A-Za-z0-9+/=]+|#[\w-]+)$/);
    expect(html).not.toMatch(/<(?:script|link|iframe|object|embed|base)\b/i);
    expect(html).not.toMatch(/url\(|@import/i);
  });

  it('escapes every string from the report: a hostile model name, tensor name, skip message and warning stay text', () => {
    const s = gray28();
    s.report.cuts[1]!.label = HOSTILE;
    s.report.warnings[0]!.message = HOSTILE;
    s.report.threatModel = `${HOSTILE} sees the bytes.`;
    const html = renderAuditHtml(s.report, s.images);
    expect(html).not.toContain(HOSTILE);
    expect(html).not.toContain(SKIP_MESSAGE);
    expect(html).not.toMatch(/<script/i);
    expect(html.match(/<img\b/g)).toHaveLength(15); // the hostile <img> is text
    expect(html).toContain(`<title>splitc audit — ${esc(`models/${HOSTILE}.onnx`)}</title>`);
    expect(html).toContain(esc(HOSTILE));
    expect(html).toContain(`title="${esc(SKIP_MESSAGE)}"`);
  });

  it('has a per-cut table: label, depth, compression, wire bytes, PSNR/SSIM per attack or the skip code, strongest attack, risk as text', () => {
    const s = gray28();
    const html = renderAuditHtml(s.report, s.images);
    const rows = [...html.matchAll(/<tr\b[^>]*data-cut="(\d+)"[^>]*>([\s\S]*?)<\/tr>/g)];
    expect(rows.map((r) => r[1])).toEqual(['0', '1']);
    const cells = rows.map((r) => [...r[2]!.matchAll(/<td\b([^>]*)>([\s\S]*?)<\/td>/g)].map((c) => ({ attrs: c[1]!, text: text(c[2]!) })));
    const [c0, c1] = s.report.cuts;
    // label · depth · compress · wire · whitebox PSNR · whitebox SSIM · data-free (2 columns) · strongest · risk
    expect(cells[0]!.map((c) => c.text)).toEqual([
      'after:conv1',
      '12 %',
      'int8',
      formatBytes(1536),
      `${c0!.attacks[0]!.psnr!.toFixed(1)} dB`,
      c0!.attacks[0]!.ssim!.toFixed(3),
      'skipped: W_NO_BATCHNORM',
      'whitebox',
      'high',
    ]);
    expect(cells[0]![6]!.attrs).toContain('colspan="2"');
    expect(cells[0]![6]!.attrs).toContain(`title="${esc(SKIP_MESSAGE)}"`);
    expect(cells[1]!.map((c) => c.text)).toEqual([
      'layer3_out',
      '71 %',
      'none',
      '–',
      `${c1!.attacks[0]!.psnr!.toFixed(1)} dB`,
      c1!.attacks[0]!.ssim!.toFixed(3),
      `${c1!.attacks[1]!.psnr!.toFixed(1)} dB`,
      c1!.attacks[1]!.ssim!.toFixed(3),
      'whitebox',
      'medium',
    ]);
    // the risk is a badge that carries its level as a class and as text
    expect(rows[0]![2]).toMatch(/<span class="badge risk-high">high<\/span>/);
    expect(rows[1]![2]).toMatch(/<span class="badge risk-medium">medium<\/span>/);
    // the cut's tensors are one hover away; the overall risk is in the header
    expect(rows[0]![2]).toContain(`title="${esc(c0!.tensors.join(', '))}"`);
    expect(text(/<header\b[\s\S]*?<\/header>/.exec(html)![0])).toMatch(/overall risk:? high/i);
  });

  it('plots PSNR and SSIM against depth: labelled axes with ticks, one series per attack (a marker per cut it ran at), a legend', () => {
    const s = gray28();
    const html = renderAuditHtml(s.report, s.images);
    for (const id of ['quality-psnr', 'quality-ssim']) {
      const svg = new RegExp(`<svg\\b[^>]*id="${id}"[\\s\\S]*?</svg>`).exec(html)?.[0];
      expect(svg, id).toBeDefined();
      const series = (attack: string): string => new RegExp(`<g class="series[^"]*" data-attack="${attack}">([\\s\\S]*?)</g>`).exec(svg!)?.[1] ?? '';
      expect(series('whitebox').match(/class="pt"/g), id).toHaveLength(2);
      expect(series('datafree').match(/class="pt"/g), id).toHaveLength(1);
      expect(svg).toMatch(/class="axis-title x"[^>]*>depth/);
      expect(text(svg!.match(/<text class="axis-title y"[^>]*>[^<]*</)![0])).toMatch(id === 'quality-psnr' ? /PSNR.*dB/ : /SSIM/);
      const xTicks = [...svg!.matchAll(/<text class="tick x"[^>]*>([^<]*)</g)].map((m) => m[1]);
      expect(xTicks).toContain('0 %');
      expect(xTicks).toContain('100 %');
      expect([...svg!.matchAll(/<text class="tick y"[^>]*>([^<]*)</g)].length).toBeGreaterThanOrEqual(3);
    }
    const legend = /<div class="legend"[^>]*>([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '';
    expect(text(legend)).toContain('whitebox');
    expect(text(legend)).toContain('datafree');
  });

  it('draws a utility-vs-SSIM curve for each cut with defences', () => {
    const s = gray28();
    const html = renderAuditHtml(s.report, s.images);
    const curves = [...html.matchAll(/<svg\b[^>]*class="chart defence"[^>]*data-cut="(\d+)"[\s\S]*?<\/svg>/g)];
    expect(curves.map((c) => c[1])).toEqual(['0']);
    expect(curves[0]![0].match(/class="pt[^"]*"/g)).toHaveLength(3);
    expect(curves[0]![0]).toMatch(/class="axis-title x"[^>]*>[^<]*SSIM/);
    expect(curves[0]![0]).toMatch(/class="axis-title y"[^>]*>[^<]*top-1/);

    delete s.report.cuts[0]!.defences;
    expect(renderAuditHtml(s.report, s.images)).not.toMatch(/class="chart defence"/);
  });

  it('shows an infinite PSNR (a perfect reconstruction) as ∞ at the top of the axis, and a cut where every attack was skipped, without NaN anywhere', () => {
    const s = gray28();
    const wb = s.report.cuts[0]!.attacks[0]!;
    wb.psnr = Infinity;
    wb.probes[0]!.psnr = Infinity;
    const deep = s.report.cuts[1]!;
    deep.attacks = deep.attacks.map((o) => ({ ...o, skipped: { code: 'W_SKIPPED', message: 'no' }, probes: [], psnr: null, ssim: null }));
    deep.strongest = null;
    deep.ssim = null;
    deep.psnr = null;
    deep.risk = null;
    s.images.reconstructions[1] = {};
    const html = renderAuditHtml(s.report, s.images);
    expect(html).not.toMatch(/NaN|Infinity|undefined/);
    expect(html).toContain('∞ dB');
    const psnr = /<svg\b[^>]*id="quality-psnr"[\s\S]*?<\/svg>/.exec(html)![0];
    const topTick = [...psnr.matchAll(/<text class="tick y" x="[\d.]+" y="([\d.]+)"/g)].map((m) => Number(m[1])).sort((a, b) => a - b)[0]!;
    const cy = Number(/<circle class="pt"[^>]*cy="([\d.]+)"/.exec(psnr)![1]);
    expect(Math.abs(cy - (topTick - 4))).toBeLessThan(0.11); // on the highest tick (labels sit 4 px below their line)
    expect(html).toMatch(/<tr\b[^>]*data-cut="1"[\s\S]*?<span class="badge risk-none">n\/a<\/span>/);
    expect(thumbnails(html).filter((t) => t.cut === 1).map((t) => t.attack)).toEqual(['original', 'original', 'original']);
  });

  it('gives byte-identical output for the same report and images', () => {
    const s = rgb();
    expect(renderAuditHtml(s.report, s.images)).toBe(renderAuditHtml(rgb().report, rgb().images));
  });

  it('rejects images that do not match their dims or the report; a skipped attack may come with an empty list', () => {
    const ok = gray28();
    ok.images.reconstructions[0]!.datafree = []; // as AttackResult.reconstructions is when skipped
    expect(thumbnails(renderAuditHtml(ok.report, ok.images))).toHaveLength(15);
    ok.images.reconstructions[0]!.datafree = [new Float32Array(28 * 28)];
    expect(codeOf(() => renderAuditHtml(ok.report, ok.images))).toBe('E_BAD_ARGUMENT');
    const s = gray28();
    s.images.originals[1] = new Float32Array(27 * 28);
    expect(codeOf(() => renderAuditHtml(s.report, s.images))).toBe('E_BAD_ARGUMENT');
    const t = gray28();
    t.images.originals.pop();
    expect(codeOf(() => renderAuditHtml(t.report, t.images))).toBe('E_BAD_ARGUMENT');
  });
});
