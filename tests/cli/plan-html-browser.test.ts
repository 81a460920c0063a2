// plan.html in a real headless Chromium (Debian's `chromium`, driven by playwright-core): a
// real plan of the PP-OCRv4 detector with an edge-memory limit (so deep cuts are infeasible)
// and a hostile tensor name loads without console errors or requests, the charts have size,
// the scatter's axes carry tick labels that do not overlap, and every candidate is drawn.

import { chromiumPath, launchChromium, watchedPage } from '../helpers/chromium.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderPlanHtml } from '../../src/cli/plan-html.js';
import { loadModelWithBytes } from '../../src/ir/serde/io.js';
import { planSplit } from '../../src/search/plan/split.js';
import { type Plan } from '../../src/search/plan/types.js';
import { devicePreset, linkPreset } from '../../src/search/profiles/presets.js';
import { fixtures, tmpDir } from '../helpers/fixtures.js';

const executablePath = chromiumPath();
const HOSTILE = `</title><script>alert("x")</script><img src=x onerror='alert(1)'>&amp;`;

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
// The little of the DOM the page check uses (the project's tsconfig has no DOM lib).
interface El {
  id: string;
  textContent: string | null;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): Box;
  querySelector(selector: string): El | null;
}
interface PageFacts {
  title: string;
  codeTexts: string[];
  foreignElements: number;
  charts: Record<string, Box>;
  scatterTicks: { x: { text: string; box: Box }[]; y: { text: string; box: Box }[] };
  points: { cls: string; box: Box }[];
  bars: { cls: string; box: Box }[];
  barLabels: Box[];
}

describe.skipIf(!executablePath)(`plan.html in headless Chromium${executablePath ? '' : ' (skipped: Debian chromium is not installed; apt-get install chromium)'}`, () => {
  let browser: Browser;
  let plan: Plan;
  let file: string;

  beforeAll(async () => {
    const det = fixtures().find((f) => f.file.includes('det'))!;
    const { model } = loadModelWithBytes(det.path);
    plan = await planSplit(
      model,
      { edge: devicePreset('phone-wasm')!, cloud: devicePreset('cloud-cpu')!, link: linkPreset('lte')!, inputShapes: det.inputShapes, compressOptions: ['int8', 'pca=16+int8'], constraints: { maxEdgeMemoryBytes: 3_000_000 } },
      { file: `models/${HOSTILE}.onnx` },
    );
    plan.chosen.cutTensors = [HOSTILE]; // the page must show it as text, wherever it appears
    file = path.join(tmpDir(), 'plan.html');
    fs.writeFileSync(file, renderPlanHtml(plan));
    browser = await launchChromium(executablePath!);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('loads cleanly and draws every chart element with a size; the scatter has readable tick labels', async () => {
    const { tab, errors, requests } = await watchedPage(browser, { width: 1100, height: 900 });
    try {
      const url = pathToFileURL(file).href;
      await tab.goto(url);
      const facts = await tab.evaluate((): PageFacts => {
        const document = (globalThis as unknown as { document: { title: string; querySelectorAll(selector: string): Iterable<El> } }).document;
        const box = (e: El): Box => {
          const r = e.getBoundingClientRect();
          return { x: r.x, y: r.y, width: r.width, height: r.height };
        };
        const all = (sel: string): El[] => [...document.querySelectorAll(sel)];
        return {
          title: document.title,
          codeTexts: all('code').map((e) => e.textContent ?? ''),
          foreignElements: all('script, img, iframe, link, object, embed').length,
          charts: Object.fromEntries(all('svg.chart').map((e) => [e.id, box(e)])),
          scatterTicks: {
            x: all('#latency-bytes text.tick.x').map((e) => ({ text: e.textContent ?? '', box: box(e) })),
            y: all('#latency-bytes text.tick.y').map((e) => ({ text: e.textContent ?? '', box: box(e) })),
          },
          points: all('#latency-bytes g.pt').map((e) => ({ cls: e.getAttribute('class') ?? '', box: box(e.querySelector('circle')!) })),
          bars: all('#latency-bars g.bar').map((e) => ({ cls: e.getAttribute('class') ?? '', box: box(e) })),
          barLabels: all('#latency-bars g.bar text.tick.y').map(box),
        };
      });
      expect(errors).toEqual([]);
      expect(requests).toEqual([url]); // self-contained: nothing else is fetched
      // hostile names are text, not markup
      expect(facts.foreignElements).toBe(0);
      expect(facts.title).toBe(`splitc plan — models/${HOSTILE}.onnx`);
      expect(facts.codeTexts).toContain(HOSTILE);

      expect(Object.keys(facts.charts).sort()).toEqual(['latency-bars', 'latency-bytes']);
      for (const b of Object.values(facts.charts)) {
        expect(b.width).toBeGreaterThan(300);
        expect(b.height).toBeGreaterThan(200);
      }
      const scatter = facts.charts['latency-bytes']!;
      for (const axis of ['x', 'y'] as const) {
        const ticks = facts.scatterTicks[axis];
        expect(ticks.length, axis).toBeGreaterThanOrEqual(3);
        for (const t of ticks) {
          expect(t.text).not.toBe('');
          expect(t.box.width * t.box.height).toBeGreaterThan(0);
        }
        // neighbouring labels do not overlap
        const along = axis === 'x' ? ticks.map((t) => [t.box.x, t.box.x + t.box.width] as const) : ticks.map((t) => [t.box.y, t.box.y + t.box.height] as const);
        along.sort((a, b) => a[0] - b[0]);
        for (let i = 1; i < along.length; i++) expect(along[i]![0], `${axis} tick ${i}`).toBeGreaterThanOrEqual(along[i - 1]![1]);
      }
      expect(facts.scatterTicks.x.map((t) => t.text)).toContain('0 B'); // edge-only sends nothing

      // every candidate is a marker inside the chart; the infeasible ones are marked
      expect(facts.points).toHaveLength(plan.candidates.length);
      for (const p of facts.points) {
        expect(p.box.width).toBeGreaterThan(0);
        expect(p.box.x).toBeGreaterThanOrEqual(scatter.x);
        expect(p.box.x + p.box.width).toBeLessThanOrEqual(scatter.x + scatter.width);
        expect(p.box.y).toBeGreaterThanOrEqual(scatter.y);
        expect(p.box.y + p.box.height).toBeLessThanOrEqual(scatter.y + scatter.height);
      }
      const infeasible = plan.candidates.filter((c) => c.violates.length > 0).length;
      expect(infeasible).toBeGreaterThan(0);
      expect(facts.points.filter((p) => p.cls.split(' ').includes('infeasible'))).toHaveLength(infeasible);
      expect(facts.points.filter((p) => p.cls.split(' ').includes('chosen'))).toHaveLength(1);

      // bars: each has a size and two labels (edge nodes, cut), the labels of neighbours apart
      expect(facts.bars.length).toBeGreaterThan(10);
      for (const b of facts.bars) expect(b.box.width * b.box.height).toBeGreaterThan(0);
      expect(facts.bars.filter((b) => b.cls.split(' ').includes('infeasible')).length).toBeGreaterThan(0);
      expect(facts.bars.filter((b) => b.cls.split(' ').includes('chosen'))).toHaveLength(1);
      expect(facts.barLabels).toHaveLength(2 * facts.bars.length);
      const names = facts.barLabels.filter((_, i) => i % 2 === 1).sort((a, b) => a.y - b.y);
      for (let i = 1; i < names.length; i++) expect(names[i]!.y).toBeGreaterThanOrEqual(names[i - 1]!.y + names[i - 1]!.height - 1);
    } finally {
      await tab.close();
    }
  });
});
