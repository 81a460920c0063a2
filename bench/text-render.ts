// Rendered text for training the PaddleOCR models' learned bottlenecks (bench/compress.ts):
// real English text (the GPL-3 text Debian's base-files ships in /usr/share/common-licenses) set
// in the TrueType fonts Debian installs (fonts-dejavu-core, fonts-liberation2, fonts-lato…) by
// @napi-rs/canvas (Skia), on uneven grey paper with noise. Only training inputs come from here:
// the figures are measured on the real scanned and printed pages of fixtures/images, which no
// rendered sample copies. Seeded: the same seed gives the same pixels.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createCanvas, GlobalFonts, type SKRSContext2D } from '@napi-rs/canvas';
import { xorshift32 } from '../src/ir/random.js';
import type { RgbaImage } from '../src/search/calib-data.js';

const FONT_ROOT = '/usr/share/fonts/truetype';
const TEXT_FILE = '/usr/share/common-licenses/GPL-3';

/** Font folders of text faces (Debian's fonts-dejavu-core/-extra, fonts-liberation(2), fonts-lato, fonts-freefont-ttf); others may hold symbol faces. */
const TEXT_FONT_DIRS = ['dejavu', 'liberation', 'liberation2', 'lato', 'freefont'];

/** Font families registered from TEXT_FONT_DIRS (maths and hairline faces left out), in a fixed order. */
let families: string[] | undefined;
function fonts(): string[] {
  if (families) return families;
  const files = TEXT_FONT_DIRS.flatMap((d) => {
    const dir = path.join(FONT_ROOT, d);
    return fs.existsSync(dir) ? fs.readdirSync(dir).sort().filter((f) => /\.ttf$/i.test(f) && !/math|hairline/i.test(f)).map((f) => path.join(dir, f)) : [];
  });
  if (files.length === 0) throw new Error(`no TrueType text fonts under ${FONT_ROOT}/{${TEXT_FONT_DIRS.join(',')}}: apt-get install fonts-dejavu-core fonts-liberation2`);
  families = files.map((f, i) => {
    GlobalFonts.registerFromPath(f, `bench-font-${i}`);
    return `bench-font-${i}`;
  });
  return families;
}

let words: string[] | undefined;
function text(): string[] {
  words ??= fs.readFileSync(TEXT_FILE, 'utf8').split(/\s+/).filter(Boolean);
  return words;
}

/** Paper: a grey gradient (uneven light, 80–255 bright); leaves the fill set to a dark ink. */
function paper(ctx: SKRSContext2D, w: number, h: number, rnd: () => number): void {
  const bg = 150 + rnd() * 105;
  const bg2 = bg - rnd() * 70;
  const g = ctx.createLinearGradient(0, 0, w * rnd(), h);
  g.addColorStop(0, `rgb(${bg},${bg},${bg})`);
  g.addColorStop(1, `rgb(${bg2},${bg2},${bg2})`);
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, w, h);
  const ink = rnd() * 90;
  ctx.fillStyle = `rgb(${ink},${ink},${ink})`;
}

/** A scanner's softness: the canvas drawn at half size and back. */
function blur(ctx: SKRSContext2D, w: number, h: number): void {
  const small = createCanvas(Math.max(1, Math.round(w / 2)), Math.max(1, Math.round(h / 2)));
  small.getContext('2d').drawImage(ctx.canvas, 0, 0, small.width, small.height);
  ctx.drawImage(small, 0, 0, w, h);
}

/** The canvas's pixels as grey RGBA with seeded noise, rotated by 180° when asked. */
function pixels(ctx: SKRSContext2D, w: number, h: number, rnd: () => number, rotated: boolean): RgbaImage {
  const d = ctx.getImageData(0, 0, w, h).data;
  const noise = rnd() * 12;
  const data = new Uint8Array(w * h * 4);
  for (let p = 0; p < w * h; p++) {
    const q = rotated ? w * h - 1 - p : p;
    const v = Math.max(0, Math.min(255, Math.round(d[q * 4]! + (rnd() - 0.5) * noise)));
    data[p * 4] = data[p * 4 + 1] = data[p * 4 + 2] = v;
    data[p * 4 + 3] = 255;
  }
  return { width: w, height: h, data };
}

export interface RenderedLine {
  image: RgbaImage;
  /** Rotated by 180° (the direction classifier's class 1); every second line is. */
  rotated: boolean;
}

/**
 * `n` text-line crops as a line detector would cut them: 1–15 words at 12–42 px in a random font,
 * margins of 10–60% of the size that often catch the neighbouring lines, the crop 1.5–15.5× as
 * wide as high (a window of a longer line), half of them softened as a scan is.
 */
export function renderTextLines(n: number, seed: number): RenderedLine[] {
  const rnd = xorshift32(seed);
  const fam = fonts();
  const src = text();
  const probe = createCanvas(8, 8).getContext('2d');
  return Array.from({ length: n }, (_, i) => {
    const size = Math.round(12 + rnd() * 30);
    const start = Math.floor(rnd() * (src.length - 40));
    const line = src.slice(start, start + 1 + Math.floor(rnd() * 14)).join(' ');
    const font = `${size}px ${fam[Math.floor(rnd() * fam.length)]!}`;
    probe.font = font;
    const textWidth = Math.ceil(probe.measureText(line).width);
    const top = Math.round(size * (0.1 + 0.5 * rnd()));
    const bottom = Math.round(size * (0.1 + 0.5 * rnd()));
    const h = top + size + bottom;
    const left = Math.round(rnd() * size);
    const full = textWidth + left + Math.round(rnd() * size);
    const w = Math.max(8, Math.min(full, Math.round(h * (1.5 + rnd() * 14))));
    const ctx = createCanvas(w, h).getContext('2d');
    paper(ctx, w, h, rnd);
    ctx.font = font;
    const shift = full > w ? -Math.floor(rnd() * (full - w)) : 0;
    const baseline = top + size * 0.8;
    ctx.fillText(line, left + shift, baseline);
    // the neighbouring lines of a page, whose descenders and ascenders a crop's margins catch
    const lead = size * (1.05 + 0.6 * rnd());
    for (const dy of [-lead, lead]) if (rnd() < 0.7) ctx.fillText(src.slice(start + 20, start + 40).join(' '), left + shift - size * rnd(), baseline + dy);
    if (rnd() < 0.5) blur(ctx, w, h);
    const rotated = i % 2 === 1;
    return { image: pixels(ctx, w, h, rnd, rotated), rotated };
  });
}

/** `n` square page windows (120–380 px) of running text at 8–30 px in one font per window. */
export function renderTextPages(n: number, seed: number): RgbaImage[] {
  const rnd = xorshift32(seed);
  const fam = fonts();
  const src = text();
  return Array.from({ length: n }, () => {
    const side = Math.round(120 + rnd() * 260);
    const ctx = createCanvas(side, side).getContext('2d');
    paper(ctx, side, side, rnd);
    const size = Math.round(8 + rnd() * 22);
    ctx.font = `${size}px ${fam[Math.floor(rnd() * fam.length)]!}`;
    const lead = size * (1.1 + rnd() * 0.8);
    const x0 = -rnd() * side * 0.3 + (rnd() < 0.5 ? rnd() * side * 0.3 : 0);
    let word = Math.floor(rnd() * (src.length - 400));
    for (let y = lead * rnd() + size; y < side + size; y += lead) {
      ctx.fillText(src.slice(word, word + 30).join(' '), x0, y);
      word += 8 + Math.floor(rnd() * 8);
    }
    return pixels(ctx, side, side, rnd, false);
  });
}
