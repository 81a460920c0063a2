// plan.html's charts: nice ticks (1, 2, 5 × 10^k on linear axes, decades on log axes, powers
// of two on byte axes), labelled axes with units, infeasible candidates and the chosen plan
// marked, hostile tensor names escaped, byte sizes in IEC units, byte-identical output.
import { describe, expect, it } from 'vitest';
import { type Ticks, linearTicks, log2Ticks, log10Ticks, niceStep, renderPlanHtml, truncateMiddle } from '../../src/cli/plan-html.js';
import type { Candidate, Plan } from '../../src/search/plan/types.js';
import { devicePreset, linkPreset } from '../../src/search/profiles/presets.js';

/** True for 1, 2 or 5 × 10^k (within float noise). */
function isNice(v: number): boolean {
  const k = Math.floor(Math.log10(v) + 1e-9);
  const m = v / 10 ** k;
  return [1, 2, 5, 10].some((n) => Math.abs(m - n) < 1e-9);
}
const isPowerOfTwo = (v: number): boolean => Number.isInteger(Math.log2(v));

/** Seeded xorshift, so the property checks are reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

describe('ticks', () => {
  it('niceStep rounds up to 1, 2 or 5 × 10^k', () => {
    expect([0.07, 0.1, 0.11, 3, 4.9, 5, 6, 288, 1000, 1001].map(niceStep)).toEqual([0.1, 0.1, 0.2, 5, 5, 5, 10, 500, 1000, 2000]);
  });

  it('linear ticks are whole multiples of a nice step that cover the data (no 674, 1348, …)', () => {
    expect(linearTicks(0, 1726.88).labelled).toEqual([0, 500, 1000, 1500, 2000]);
    expect(linearTicks(0, 388).labelled).toEqual([0, 100, 200, 300, 400]);
    expect(linearTicks(0, 0.3).labelled).toEqual([0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]); // no 0.15000000000000002
    expect(linearTicks(5, 5).labelled.length).toBeGreaterThan(1);
    const r = rng(7);
    for (let i = 0; i < 500; i++) {
      const scale = 10 ** (r() * 8 - 3);
      const a = (r() - 0.3) * scale;
      const b = a + r() * scale;
      const t = linearTicks(a, b);
      expect(t.lo).toBeLessThanOrEqual(a);
      expect(t.hi).toBeGreaterThanOrEqual(b);
      const step = Number((t.labelled[1]! - t.labelled[0]!).toPrecision(9));
      expect(isNice(step), `${a}..${b}: step ${step}`).toBe(true);
      expect(t.labelled.length).toBeLessThanOrEqual(9);
      for (const v of t.labelled) expect(Math.abs(v / step - Math.round(v / step))).toBeLessThan(1e-6);
    }
  });

  it('log10 ticks label 1, 2, 5 × 10^k over a short range and decades over a long one', () => {
    expect(log10Ticks(82.6, 1726.9)).toEqual<Ticks>({ lo: 50, hi: 2000, labelled: [50, 100, 200, 500, 1000, 2000], unlabelled: [] });
    expect(log10Ticks(100, 100).labelled).toEqual([50, 100, 200]);
    const wide = log10Ticks(0.3, 3e5);
    expect(wide.labelled).toEqual([0.1, 1, 10, 100, 1000, 1e4, 1e5, 1e6]);
    expect(wide.unlabelled).toContain(0.2);
    expect(wide.unlabelled).toContain(5e5);
    const huge = log10Ticks(1e-3, 1e15);
    expect(huge.labelled.length).toBeLessThanOrEqual(10);
    for (const v of huge.labelled) expect(isNice(v) && Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9).toBe(true);
    const r = rng(11);
    for (let i = 0; i < 300; i++) {
      const a = 10 ** (r() * 10 - 4);
      const b = a * 10 ** (r() * 6);
      const t = log10Ticks(a, b);
      expect(t.lo).toBeLessThanOrEqual(a * (1 + 1e-12));
      expect(t.hi).toBeGreaterThanOrEqual(b * (1 - 1e-12));
      expect(t.labelled.length).toBeGreaterThanOrEqual(2);
      expect(t.labelled.length).toBeLessThanOrEqual(10);
      for (const v of [...t.labelled, ...t.unlabelled]) expect(isNice(v), `${v}`).toBe(true);
    }
    expect(() => log10Ticks(0, 10)).toThrow(RangeError);
  });

  it('log2 ticks for bytes are powers of two on exponents that are multiples of 1, 2, 5, 10, …', () => {
    const t = log2Ticks(25600, 1638400);
    expect(t.lo).toBe(2 ** 14);
    expect(t.hi).toBe(2 ** 21);
    expect(t.labelled).toEqual([14, 15, 16, 17, 18, 19, 20, 21].map((k) => 2 ** k));
    expect(log2Ticks(1, 2 ** 30).labelled).toEqual([0, 5, 10, 15, 20, 25, 30].map((k) => 2 ** k));
    expect(log2Ticks(1024, 1024).labelled).toEqual([512, 1024, 2048]);
    const r = rng(3);
    for (let i = 0; i < 300; i++) {
      const a = 2 ** (r() * 30);
      const b = a * 2 ** (r() * 30);
      const s = log2Ticks(a, b);
      expect(s.lo).toBeLessThanOrEqual(a);
      expect(s.hi).toBeGreaterThanOrEqual(b);
      expect(s.labelled.length).toBeGreaterThanOrEqual(2);
      expect(s.labelled.length).toBeLessThanOrEqual(10);
      for (const v of s.labelled) expect(isPowerOfTwo(v)).toBe(true);
    }
  });

  it('truncateMiddle keeps both ends and whole characters', () => {
    expect(truncateMiddle('short', 10)).toBe('short');
    expect(truncateMiddle('backbone.stage4.block3.conv2d_452.tmp_0', 20)).toBe('backbone.s…452.tmp_0');
    expect(Array.from(truncateMiddle('😀'.repeat(30), 9))).toHaveLength(9); // no split surrogate pairs
    expect(truncateMiddle('😀'.repeat(30), 9)).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});

// ---------------------------------------------------------------------------------------
// A hand-made plan: cuts along a chain, three compressions, a memory limit that the deep
// cuts break, one candidate the planner marks with a free-text reason, and a hostile name.

const HOSTILE = `<img src=x onerror="alert('x')">&amp;"tensor"`;

function candidate(kind: Candidate['kind'], edgeNodes: number, cutTensors: string[], compress: string, edgeMs: number, bytesPerSample: number): Candidate {
  const uplinkMs = (bytesPerSample * 8) / 8e3; // 8 Mbps
  const rttMs = kind === 'edge-only' ? 0 : 50;
  const cloudMs = kind === 'edge-only' ? 0 : (30 * (40 - edgeNodes)) / 40;
  return {
    kind,
    cutTensors,
    compress,
    source: kind === 'split' ? 'prefix' : 'baseline',
    agreement: compress === 'none' ? 1 : null,
    risk: null,
    violates: [],
    edgeMs,
    uplinkMs,
    rttMs,
    cloudMs,
    downlinkMs: kind === 'edge-only' ? 0 : 0.5,
    totalMs: edgeMs + uplinkMs + rttMs + cloudMs + (kind === 'edge-only' ? 0 : 0.5),
    edgeEnergyJ: null,
    bytesPerSample,
    edgeMemoryBytes: 100_000 * edgeNodes,
    edgeNodes,
    cloudNodes: 40 - edgeNodes,
  };
}

function syntheticPlan(): Plan {
  const cloudOnly = candidate('cloud-only', 0, ['x'], 'none', 0, 307_200);
  const edgeOnly = candidate('edge-only', 40, [], 'none', 95, 0);
  edgeOnly.violates.push('max-edge-memory');
  const splits: Candidate[] = [];
  const ratio: Record<string, number> = { none: 1, int8: 0.25, 'pca=16+int8': 0.02 };
  for (let n = 2; n < 40; n += 3) {
    const name = n === 14 ? HOSTILE : n === 20 ? 'backbone.stage4.block3.a_really_long_tensor_name_conv2d_452.tmp_0' : `conv2d_${n}.tmp_0`;
    const tensors = n === 26 ? [`p2o.Add.${n}`, name] : [name];
    for (const compress of ['none', 'int8', 'pca=16+int8']) {
      const c = candidate('split', n, tensors, compress, 2.2 * n, Math.round(409_600 * ratio[compress]! * (1 - n / 50)));
      if (c.edgeMemoryBytes > 3_000_000) c.violates.push('max-edge-memory');
      splits.push(c);
    }
  }
  // a reason given only in the new free-text field
  (splits.find((c) => c.edgeNodes === 8 && c.compress === 'pca=16+int8') as Candidate & { infeasible?: string }).infeasible = 'PCA basis not calibrated';
  const all = [cloudOnly, edgeOnly, ...splits].sort((a, b) => a.totalMs - b.totalMs);
  const feasible = all.filter((c) => c.violates.length === 0 && !(c as { infeasible?: string }).infeasible);
  const chosen = feasible[0]!;
  const pareto = all.filter((a) => !all.some((b) => b !== a && b.totalMs <= a.totalMs && b.bytesPerSample <= a.bytesPerSample && (b.totalMs < a.totalMs || b.bytesPerSample < a.bytesPerSample)));
  return {
    kind: 'splitc-plan',
    gainBaseline: 'cloud-only',
    schemaVersion: 1,
    model: { file: `models/${HOSTILE}.onnx`, inputShapes: { x: [1, 3, 160, 160] } },
    objective: 'latency',
    profiles: { edge: devicePreset('phone-wasm')!, cloud: devicePreset('cloud-cpu')!, link: linkPreset('lte')! },
    compressOptions: ['none', 'int8', 'pca=16+int8'],
    constraints: { maxEdgeMemoryBytes: 3_000_000 },
    chosen,
    exact: false,
    baselines: { edgeOnly, cloudOnly },
    gainOverBestBaseline: Math.min(edgeOnly.totalMs, cloudOnly.totalMs) / chosen.totalMs,
    pareto,
    candidates: all,
    warnings: [`the optimum breaks max-edge-memory at ${HOSTILE}`],
  };
}

/** The SVG element with this id, as text. */
function svgById(html: string, id: string): string {
  const m = new RegExp(`<svg[^>]*id="${id}"[\\s\\S]*?</svg>`).exec(html);
  expect(m, `svg #${id}`).not.toBeNull();
  return m![0];
}
const texts = (svg: string, cls: string): string[] => [...svg.matchAll(new RegExp(`<text class="${cls}"[^>]*>([^<]*)</text>`, 'g'))].map((m) => m[1]!);
const unescape = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

describe('renderPlanHtml', () => {
  const plan = syntheticPlan();
  const html = renderPlanHtml(plan);

  it('labels both axes of both charts, with units', () => {
    const bars = svgById(html, 'latency-bars');
    expect(texts(bars, 'axis-title x').join(' ')).toMatch(/latency.*\(ms\)/);
    expect(texts(bars, 'axis-title y').join(' ')).toMatch(/edge.*nodes.*tensor sent/);
    const scatter = svgById(html, 'latency-bytes');
    expect(texts(scatter, 'axis-title x').join(' ')).toMatch(/bytes sent .*per sample \(log scale/);
    expect(texts(scatter, 'axis-title y').join(' ')).toMatch(/latency \(ms, log scale\)/);
  });

  it('puts nice numbers on the latency axis of the bars', () => {
    const labels = [...new Set(texts(svgById(html, 'latency-bars'), 'tick x'))].map(Number);
    expect(labels.length).toBeGreaterThanOrEqual(3);
    expect(labels[0]).toBe(0);
    const step = labels[1]! - labels[0]!;
    expect(isNice(step)).toBe(true);
    labels.forEach((v, i) => expect(v).toBeCloseTo(i * step, 9));
  });

  it('draws the scatter on log scales with tick labels: 1-2-5 ms, whole IEC byte sizes, 0 B on the floor', () => {
    const scatter = svgById(html, 'latency-bytes');
    const ms = texts(scatter, 'tick y').map(Number);
    expect(ms.length).toBeGreaterThanOrEqual(3);
    for (const v of ms) expect(isNice(v), `${v}`).toBe(true);
    const sizes = texts(scatter, 'tick x');
    expect(sizes[0]).toBe('0 B');
    const unit: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
    for (const s of sizes.slice(1)) {
      const m = /^(\d+) (B|KiB|MiB|GiB)$/.exec(s);
      expect(m, s).not.toBeNull();
      expect(isPowerOfTwo(Number(m![1]) * unit[m![2]!]!), s).toBe(true);
    }
    // the 0-byte edge-only point is on the floor and says so
    expect(scatter).toMatch(/<title>edge-only · none: [\d.]+ ms, 0 B sent \(nothing crosses the link; drawn on the axis floor\)/);
  });

  it('labels every bar with its cut, long names truncated with the full name in a tooltip', () => {
    const bars = svgById(html, 'latency-bars');
    const rows = [...bars.matchAll(/<g class="bar[^"]*"><title>([^<]*)<\/title><text class="tick y"[^>]*>(\d+)<\/text><text class="tick y"[^>]*>([^<]*)<\/text>/g)];
    const positions = new Set(plan.candidates.map((c) => c.edgeNodes));
    expect(rows.map((r) => Number(r[2]))).toEqual([...positions].sort((a, b) => a - b));
    const labels = rows.map((r) => unescape(r[3]!));
    expect(labels[0]).toBe('cloud-only');
    expect(labels[labels.length - 1]).toBe('edge-only');
    const long = rows.find((r) => unescape(r[1]!).includes('a_really_long_tensor_name'))!;
    expect(unescape(long[1]!)).toContain('backbone.stage4.block3.a_really_long_tensor_name_conv2d_452.tmp_0');
    expect(unescape(long[3]!)).toMatch(/^backbone.*….*452\.tmp_0$/);
    expect(labels).toContain('conv2d_26.tmp_0 +1'); // two tensors: the newest, and how many more
  });

  it('marks infeasible candidates (violates or the free-text reason) and highlights the chosen plan', () => {
    const scatter = svgById(html, 'latency-bytes');
    const infeasible = plan.candidates.filter((c) => c.violates.length > 0 || (c as { infeasible?: string }).infeasible);
    expect(infeasible.length).toBeGreaterThan(2);
    expect(scatter.match(/<g class="pt infeasible/g)).toHaveLength(infeasible.length);
    expect(scatter.match(/<g class="pt[^"]*chosen/g)).toHaveLength(1);
    expect(scatter).toContain('infeasible: PCA basis not calibrated');
    // infeasible points are hollow
    for (const m of scatter.matchAll(/<g class="pt infeasible[^"]*"><title>[^<]*<\/title><circle ([^>]*)\/>/g)) expect(m[1]).toMatch(/fill-opacity="0"/);
    const bars = svgById(html, 'latency-bars');
    expect(bars).toMatch(/<g class="bar infeasible">/);
    expect(bars).toContain('✕ max-edge-memory');
    expect(bars.match(/<g class="bar[^"]*chosen"/g)).toHaveLength(1);
    expect(bars).toContain('◀ chosen');
    expect(html).toMatch(/class="legend"[^\n]*infeasible/);
    expect(html).toMatch(/class="legend"[^\n]*chosen/);
  });

  it('escapes every model-provided string', () => {
    expect(html).not.toContain('<img');
    expect(html).not.toContain(`onerror="`);
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;amp;&quot;tensor&quot;');
    // nothing but our own tags: every '<' starts a tag this page uses
    const tags = new Set([...html.matchAll(/<\/?([a-zA-Z!][a-zA-Z0-9]*)/g)].map((m) => m[1]!.toLowerCase()));
    expect([...tags].sort()).toEqual(['!doctype', 'b', 'body', 'circle', 'code', 'div', 'g', 'h1', 'h2', 'head', 'html', 'line', 'meta', 'p', 'rect', 'span', 'style', 'svg', 'table', 'td', 'text', 'th', 'title', 'tr']);
  });

  it('writes byte sizes in IEC units only', () => {
    expect(html).toMatch(/\d KiB/);
    expect(html).not.toMatch(/\d (kB|MB|GB)\b/);
  });

  it('is self-contained and deterministic, also for a plan read back from JSON', () => {
    expect(html).not.toMatch(/<script|<link|@import|url\(|https?:\/\//);
    expect(renderPlanHtml(syntheticPlan())).toBe(html);
    // object identity is lost in JSON; the chosen plan is still found and marked
    expect(renderPlanHtml(JSON.parse(JSON.stringify(plan)) as Plan)).toBe(html);
  });
});
