// Real text-line images for the PaddleOCR direction classifier: lines found by row
// projection of ink on two scanned/printed pages shipped by Debian's python3-skimage
// (fixtures/images/, see manifest.json), cropped several times per line at different
// widths, offsets and margins, each also rotated by 180° (label 1 = rotated).
// Deterministic: the crop boxes are recorded in fixtures/images/text-lines.json.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { decodeImage, type RgbaImage } from '../../src/search/calib-data.js';
import { repoRoot } from './fixtures.js';
import { xorshift32 } from './onnx-oracle.js';

export const imagesDir = path.join(repoRoot, 'fixtures/images');
export const TEXT_LINE_SOURCES = ['page.png', 'bw_text.png'] as const;

export interface LineBox {
  source: string;
  line: number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

export interface TextLineCrop {
  id: string;
  source: string;
  line: number;
  x: number;
  y: number;
  w: number;
  h: number;
  rotated: boolean;
  /** PaddleOCR classifier labels: 0 = upright ('0'), 1 = rotated ('180'). */
  label: 0 | 1;
}

export function loadImage(file: string): RgbaImage {
  return decodeImage(fs.readFileSync(path.join(imagesDir, file)), file);
}

function luminance(img: RgbaImage): Float32Array {
  const { width, height, data } = img;
  return Float32Array.from({ length: width * height }, (_, i) => 0.299 * data[i * 4]! + 0.587 * data[i * 4 + 1]! + 0.114 * data[i * 4 + 2]!);
}

/** Separable max filter: the local paper brightness, which follows uneven illumination. */
function localMax(g: Float32Array, w: number, h: number, r: number): Float32Array {
  const tmp = new Float32Array(w * h);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let m = -Infinity;
      for (let k = Math.max(0, x - r); k <= Math.min(w - 1, x + r); k++) m = Math.max(m, g[y * w + k]!);
      tmp[y * w + x] = m;
    }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let m = -Infinity;
      for (let k = Math.max(0, y - r); k <= Math.min(h - 1, y + r); k++) m = Math.max(m, tmp[k * w + x]!);
      out[y * w + x] = m;
    }
  return out;
}

/** Text lines by row projection of ink (pixels much darker than the local paper). */
export function findTextLines(img: RgbaImage, source: string): LineBox[] {
  const { width: w, height: h } = img;
  const g = luminance(img);
  const bg = localMax(g, w, h, 8);
  const ink = Uint8Array.from(g, (v, i) => (bg[i]! - v > 45 ? 1 : 0));
  const rows = Array.from({ length: h }, (_, y) => {
    let n = 0;
    for (let x = 0; x < w; x++) n += ink[y * w + x]!;
    return n;
  });
  // core bands: rows with much ink (the x-height of a line); ascenders and descenders are
  // added after, up to half-way to the neighbouring line
  const peak = Math.max(...rows);
  const core: [number, number][] = [];
  for (let y = 0; y < h; y++) {
    if (rows[y]! < 0.2 * peak) continue;
    const last = core[core.length - 1];
    if (last && y - last[1] <= 1) last[1] = y;
    else core.push([y, y]);
  }
  const bands = core.filter(([a, b]) => b - a + 1 >= 4);
  const lines: LineBox[] = [];
  bands.forEach(([c0, c1], i) => {
    const ch = c1 - c0 + 1;
    const prev = bands[i - 1];
    const next = bands[i + 1];
    const y0 = Math.max(prev ? Math.ceil((prev[1] + c0) / 2) : 0, c0 - Math.round(0.6 * ch));
    const y1 = Math.min(next ? Math.floor((c1 + next[0]) / 2) : h - 1, c1 + Math.round(0.6 * ch));
    let x0 = w;
    let x1 = -1;
    for (let y = c0; y <= c1; y++)
      for (let x = 0; x < w; x++)
        if (ink[y * w + x]) {
          x0 = Math.min(x0, x);
          x1 = Math.max(x1, x);
        }
    // lines cut by the image border, and short fragments, are left out
    if (y0 === 0 || y1 === h - 1 || x1 - x0 < 4 * (y1 - y0)) return;
    lines.push({ source, line: lines.length, x0, x1, y0, y1 });
  });
  return lines;
}

const ASPECTS = [2, 3, 4, 5, 6, 8, 11, Infinity];

/** Crop boxes: `ASPECTS.length` crops per line (width/height from 2 to the whole line), each upright and rotated. */
export function computeTextLineCrops(seed = 7): TextLineCrop[] {
  const rnd = xorshift32(seed);
  const out: TextLineCrop[] = [];
  for (const source of TEXT_LINE_SOURCES) {
    const img = loadImage(source);
    for (const line of findTextLines(img, source)) {
      const lh = line.y1 - line.y0 + 1;
      ASPECTS.forEach((aspect, k) => {
        const top = Math.round(lh * (0.1 + 0.3 * rnd()));
        const bottom = Math.round(lh * (0.1 + 0.3 * rnd()));
        const y = Math.max(0, line.y0 - top);
        const h = Math.min(img.height, line.y1 + bottom + 1) - y;
        const lw = line.x1 - line.x0 + 1;
        const w = Math.min(lw, Number.isFinite(aspect) ? Math.round(h * aspect) : lw);
        const x = line.x0 + Math.floor(rnd() * (lw - w + 1));
        for (const rotated of [false, true]) {
          const stem = source.replace(/\.png$/, '');
          out.push({
            id: `${stem}-l${String(line.line).padStart(2, '0')}-c${k}-${rotated ? 'rot' : 'up'}`,
            source,
            line: line.line,
            x,
            y,
            w,
            h,
            rotated,
            label: rotated ? 1 : 0,
          });
        }
      });
    }
  }
  return out;
}

export const cropsFile = path.join(imagesDir, 'text-lines.json');

/** The committed crop list (regenerated and compared in tests/search/text-lines.test.ts). */
export function textLineCrops(): TextLineCrop[] {
  return (JSON.parse(fs.readFileSync(cropsFile, 'utf8')) as { crops: TextLineCrop[] }).crops;
}

/** Pixels of one crop (RGBA), rotated by 180° when asked. */
export function cropImage(img: RgbaImage, c: TextLineCrop): RgbaImage {
  const data = new Uint8Array(c.w * c.h * 4);
  for (let y = 0; y < c.h; y++)
    for (let x = 0; x < c.w; x++) {
      const [sx, sy] = c.rotated ? [c.x + c.w - 1 - x, c.y + c.h - 1 - y] : [c.x + x, c.y + y];
      const s = (sy * img.width + sx) * 4;
      data.set(img.data.subarray(s, s + 4), (y * c.w + x) * 4);
    }
  return { width: c.w, height: c.h, data };
}

/** Write every crop as a PNG into `dir` with a labels.json: a calibration folder as users would give one. */
export function writeTextLineImages(dir: string, crops = textLineCrops()): void {
  const sources = new Map<string, RgbaImage>();
  const labels: Record<string, number> = {};
  for (const c of crops) {
    let img = sources.get(c.source);
    if (!img) sources.set(c.source, (img = loadImage(c.source)));
    const crop = cropImage(img, c);
    const png = new PNG({ width: crop.width, height: crop.height });
    png.data = Buffer.from(crop.data);
    fs.writeFileSync(path.join(dir, `${c.id}.png`), PNG.sync.write(png));
    labels[`${c.id}.png`] = c.label;
  }
  fs.writeFileSync(path.join(dir, 'labels.json'), JSON.stringify(labels, null, 1));
}

/** The text of fixtures/images/text-lines.json for a crop list (one crop per line, reviewable diffs). */
export function cropsFileText(crops: readonly TextLineCrop[]): string {
  const body = crops.map((c) => '  ' + JSON.stringify(c)).join(',\n');
  return `{\n "generator": "computeTextLineCrops() in tests/helpers/text-lines.ts; regenerate with UPDATE_GOLDEN=1 npx vitest run tests/search/calib-data.test.ts",\n "crops": [\n${body}\n ]\n}\n`;
}

/** Square windows of the two pages (for the detector): `count` tiles, alternating sources, seeded. */
export function pageTiles(count = 16, seed = 11): TextLineCrop[] {
  const rnd = xorshift32(seed);
  const imgs = TEXT_LINE_SOURCES.map((s) => [s, loadImage(s)] as const);
  return Array.from({ length: count }, (_, k) => {
    const [source, img] = imgs[k % imgs.length]!;
    const side = Math.round(100 + rnd() * (Math.min(img.width, img.height) - 100));
    const x = Math.floor(rnd() * (img.width - side + 1));
    const y = Math.floor(rnd() * (img.height - side + 1));
    return { id: `tile-${String(k).padStart(2, '0')}-${source.replace(/\.png$/, '')}`, source, line: -1, x, y, w: side, h: side, rotated: false, label: 0 as const };
  });
}
