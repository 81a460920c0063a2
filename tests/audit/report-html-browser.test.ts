// report.html in a real headless Chromium (Debian's `chromium`, driven by playwright-core),
// opened from a file: it loads without console errors or requests, every thumbnail decodes
// (complete, natural size = the input's), the pixels Chromium decodes from one thumbnail are
// the expected 8-bit values (drawn to a canvas and read back), and the charts' tick labels
// have size and do not overlap.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderAuditHtml } from '../../src/audit/report-html.js';
import { chromiumPath, launchChromium, watchedPage } from '../helpers/chromium.js';
import { tmpDir } from '../helpers/fixtures.js';
import { PROBES, type Synthetic, gray28, rgb } from './report-html-fixture.js';

const executablePath = chromiumPath();

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
// The little of the DOM the page check uses (the project's tsconfig has no DOM lib).
interface El {
  textContent: string | null;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): Box;
}
interface Img extends El {
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
}
interface Canvas {
  width: number;
  height: number;
  getContext(kind: '2d'): { drawImage(img: Img, x: number, y: number): void; getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } };
}
interface Doc {
  title: string;
  querySelector(selector: string): El | null;
  querySelectorAll(selector: string): Iterable<El>;
  createElement(tag: 'canvas'): Canvas;
}
interface PageFacts {
  title: string;
  images: { key: string; complete: boolean; naturalWidth: number; naturalHeight: number; box: Box }[];
  pixels: number[];
  charts: Record<string, { box: Box; x: Box[]; y: Box[]; points: Box[] }>;
  badges: string[];
}

describe.skipIf(!executablePath)(`report.html in headless Chromium${executablePath ? '' : ' (skipped: Debian chromium is not installed; apt-get install chromium)'}`, () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium(executablePath!);
  });
  afterAll(async () => {
    await browser?.close();
  });

  const cases: [string, () => Synthetic][] = [
    ['a 1-channel 28×28 input (grayscale)', gray28],
    ['a 3-channel 10×16 input (RGB)', rgb],
  ];
  it.each(cases)('%s: every thumbnail decodes to the expected pixels, the charts have readable ticks', async (_name, make) => {
    const s = make();
    const [, h, w] = s.images.dims;
    const file = path.join(tmpDir(), 'report.html');
    fs.writeFileSync(file, renderAuditHtml(s.report, s.images));
    const { tab, errors, requests } = await watchedPage(browser, { width: 1200, height: 900 });
    try {
      const url = pathToFileURL(file).href;
      await tab.goto(url, { waitUntil: 'load' });
      // the deep cut's data-free reconstruction of the last probe
      const probe = { cut: 1, attack: 'datafree', probe: PROBES - 1 };
      const facts = await tab.evaluate((pick): PageFacts => {
        const document = (globalThis as unknown as { document: Doc }).document;
        const box = (e: El): Box => {
          const r = e.getBoundingClientRect();
          return { x: r.x, y: r.y, width: r.width, height: r.height };
        };
        const all = (sel: string, root?: El): El[] => [...((root ?? document) as Doc).querySelectorAll(sel)];
        const imgs = all('img') as Img[];
        const key = (e: El): string => `${e.getAttribute('data-cut')}/${e.getAttribute('data-attack')}/${e.getAttribute('data-probe')}`;
        const target = imgs.find((e) => key(e) === `${pick.cut}/${pick.attack}/${pick.probe}`)!;
        const canvas = document.createElement('canvas');
        canvas.width = target.naturalWidth;
        canvas.height = target.naturalHeight;
        const ctx = canvas.getContext('2d');
        ctx.drawImage(target, 0, 0);
        const charts: PageFacts['charts'] = {};
        for (const svg of all('svg.chart')) {
          charts[svg.getAttribute('id') ?? '?'] = { box: box(svg), x: all('text.tick.x', svg).map(box), y: all('text.tick.y', svg).map(box), points: all('.pt', svg).map(box) };
        }
        return {
          title: document.title,
          images: imgs.map((e) => ({ key: key(e), complete: e.complete, naturalWidth: e.naturalWidth, naturalHeight: e.naturalHeight, box: box(e) })),
          pixels: Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data),
          charts,
          badges: all('.badge').map((e) => e.textContent ?? ''),
        };
      }, probe);

      expect(errors).toEqual([]);
      expect(requests.filter((r) => !r.startsWith('data:'))).toEqual([url]); // nothing else is fetched
      expect(facts.title).toContain('splitc audit');

      expect(facts.images).toHaveLength(15);
      for (const img of facts.images) {
        expect(img.complete, img.key).toBe(true);
        expect([img.naturalWidth, img.naturalHeight], img.key).toEqual([w, h]);
        expect(img.box.width * img.box.height, img.key).toBeGreaterThan(0);
      }
      const want = s.expected.reconstructions[probe.cut]![probe.attack]![probe.probe]!;
      const rgba: number[] = [];
      for (let p = 0; p < w * h; p++) {
        if (s.shownChannels === 3) rgba.push(want[p * 3]!, want[p * 3 + 1]!, want[p * 3 + 2]!, 255);
        else rgba.push(want[p]!, want[p]!, want[p]!, 255);
      }
      expect(facts.pixels).toEqual(rgba);

      // risk is shown as text in every badge
      expect(facts.badges.length).toBeGreaterThanOrEqual(3);
      for (const b of facts.badges) expect(['high', 'medium', 'low', 'n/a']).toContain(b);

      expect(Object.keys(facts.charts).sort()).toEqual(['defence-0', 'quality-psnr', 'quality-ssim']);
      for (const [id, c] of Object.entries(facts.charts)) {
        expect(c.box.width, id).toBeGreaterThan(250);
        expect(c.box.height, id).toBeGreaterThan(180);
        for (const axis of ['x', 'y'] as const) {
          const ticks = c[axis];
          expect(ticks.length, `${id} ${axis}`).toBeGreaterThanOrEqual(3);
          for (const t of ticks) expect(t.width * t.height).toBeGreaterThan(0);
          const along = ticks.map((t) => (axis === 'x' ? ([t.x, t.x + t.width] as const) : ([t.y, t.y + t.height] as const))).sort((a, b) => a[0] - b[0]);
          for (let i = 1; i < along.length; i++) expect(along[i]![0], `${id} ${axis} tick ${i}`).toBeGreaterThanOrEqual(along[i - 1]![1]);
        }
        // markers inside the chart
        expect(c.points.length, id).toBeGreaterThan(0);
        for (const p of c.points) {
          expect(p.x).toBeGreaterThanOrEqual(c.box.x);
          expect(p.x + p.width).toBeLessThanOrEqual(c.box.x + c.box.width);
          expect(p.y).toBeGreaterThanOrEqual(c.box.y);
          expect(p.y + p.height).toBeLessThanOrEqual(c.box.y + c.box.height);
        }
      }
    } finally {
      await tab.close();
    }
  });
});
