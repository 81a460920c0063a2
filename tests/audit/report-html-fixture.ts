// A synthetic audit for the report.html tests: 2 cuts, 2 attacks (the data-free one skipped at
// the shallow cut), 3 probes, images built from known 8-bit pixels so a test can check what
// the page shows, and a hostile model name and skip message.

import type { AuditImages } from '../../src/audit/report-html.js';
import type { AttackOutcome, AuditReport, InputRange } from '../../src/audit/types.js';

export const HOSTILE = `</title><script>alert("x")</script><img src=x onerror='alert(1)'>&amp;`;
export const SKIP_MESSAGE = `the edge part has no BatchNorm <"statistics"> & nothing to invert`;
export const PROBES = 3;

export interface Synthetic {
  report: AuditReport;
  images: AuditImages;
  /** The 8-bit value the page must show for each image, [H][W] gray or [H][W][3] RGB, as a flat grayscale/RGB byte array. */
  expected: {
    originals: Uint8Array[];
    /** Per cut, per attack that ran, per probe. */
    reconstructions: Record<string, Uint8Array[]>[];
  };
  /** Bytes per pixel the page shows (1 gray, 3 RGB). */
  shownChannels: 1 | 3;
}

/** The 8-bit pixel pattern of image `seed` (deterministic, covers 0 and 255). */
function pattern(dims: [number, number, number], seed: number): Uint8Array {
  const [c, h, w] = dims;
  const out = new Uint8Array(c * h * w);
  for (let k = 0; k < c; k++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const v = (x * 9 + y * 23 + k * 71 + seed * 37) % 300; // 256..299 clamp to 255
        out[(k * h + y) * w + x] = Math.min(255, v);
      }
  return out;
}

/**
 * Float pixels of the model's input space whose 8-bit rendering is `bytes` (planar [C, H, W]).
 * Values at 0 and 255 are pushed past the range so the page must clamp them.
 */
function toInput(bytes: Uint8Array, dims: [number, number, number], range: InputRange): Float32Array {
  const [, h, w] = dims;
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const ch = Math.floor(i / (h * w));
    const lo = range.lo[ch] ?? range.lo[0]!;
    const hi = range.hi[ch] ?? range.hi[0]!;
    const b = bytes[i]!;
    const t = b === 0 ? -0.3 : b === 255 ? 1.4 : b / 255;
    out[i] = lo + t * (hi - lo);
  }
  return out;
}

/** What the page shows of planar bytes: gray (first channel) unless there are exactly 3 channels (RGB, interleaved). */
function shown(bytes: Uint8Array, dims: [number, number, number]): Uint8Array {
  const [c, h, w] = dims;
  if (c !== 3) return bytes.slice(0, h * w);
  const out = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++) for (let k = 0; k < 3; k++) out[p * 3 + k] = bytes[k * h * w + p]!;
  return out;
}

const scores = (cut: number, attack: number): { id: string; psnr: number; ssim: number; featureDistance: number }[] =>
  Array.from({ length: PROBES }, (_, p) => ({ id: `img-${p}`, psnr: 30 - 12 * cut - 3 * attack + p, ssim: 0.9 - 0.45 * cut - 0.1 * attack - 0.05 * p, featureDistance: 0.01 * (p + 1) }));

function outcome(attack: 'whitebox' | 'datafree', cut: number, index: number): AttackOutcome {
  const probes = scores(cut, index);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { attack, probes, psnr: mean(probes.map((p) => p.psnr)), ssim: mean(probes.map((p) => p.ssim)), details: { steps: 200, restarts: 2 }, seconds: 1.5, cached: false };
}

export function syntheticAudit(dims: [number, number, number], range: InputRange): Synthetic {
  const origBytes = Array.from({ length: PROBES }, (_, p) => pattern(dims, p));
  const reconBytes = (cut: number, attack: number, p: number): Uint8Array => pattern(dims, 10 + cut * 5 + attack * 3 + p);
  const skipped: AttackOutcome = { attack: 'datafree', skipped: { code: 'W_NO_BATCHNORM', message: SKIP_MESSAGE }, probes: [], psnr: null, ssim: null, details: {}, seconds: 0, cached: false };
  const cut0 = { whitebox: outcome('whitebox', 0, 0) };
  const cut1 = { whitebox: outcome('whitebox', 1, 0), datafree: outcome('datafree', 1, 1) };
  const report: AuditReport = {
    kind: 'splitc-audit',
    schemaVersion: 1,
    tool: { name: 'splitc', version: '0.1.0' },
    model: { file: `models/${HOSTILE}.onnx`, sha256: 'ab'.repeat(32), input: 'image', inputDims: dims },
    probes: { source: 'probes/', sha256: 'cd'.repeat(32), count: PROBES },
    aux: null,
    budget: 'fast',
    attacks: ['whitebox', 'datafree'],
    thresholds: { high: 0.5, medium: 0.3 },
    range,
    threatModel: 'An honest-but-curious cloud sees exactly the bytes that cross the cut and knows the edge model. It never sees the private input.',
    baseline: { guess: 'mid-range', psnr: 9.5, ssim: 0.05 },
    cuts: [
      {
        tensors: ['conv1_out', HOSTILE],
        label: 'after:conv1',
        depth: 0.12,
        compress: 'int8',
        wireBytes: 1536,
        attacks: [cut0.whitebox, skipped],
        strongest: 'whitebox',
        ssim: cut0.whitebox.ssim,
        psnr: cut0.whitebox.psnr,
        risk: 'high',
        defences: [
          { defence: 'noise=0.25', utility: { metric: 'top1', value: 0.98 }, ssim: 0.61, psnr: 24.1, risk: 'high' },
          { defence: 'noise=0.5', utility: { metric: 'top1', value: 0.93 }, ssim: 0.42, psnr: 19.3, risk: 'medium' },
          { defence: 'noise=1', utility: { metric: 'top1', value: 0.81 }, ssim: 0.22, psnr: 14.2, risk: 'low' },
        ],
      },
      {
        tensors: ['layer3_out'],
        label: 'layer3_out',
        depth: 0.71,
        compress: 'none',
        wireBytes: null,
        attacks: [cut1.whitebox, cut1.datafree],
        strongest: 'whitebox',
        ssim: cut1.whitebox.ssim,
        psnr: cut1.whitebox.psnr,
        risk: 'medium',
      },
    ],
    risk: 'high',
    warnings: [{ code: 'W_FEW_PROBES', message: 'only 3 probes <few>' }],
  };
  const images: AuditImages = {
    dims,
    originals: origBytes.map((b) => toInput(b, dims, range)),
    reconstructions: [
      { whitebox: Array.from({ length: PROBES }, (_, p) => toInput(reconBytes(0, 0, p), dims, range)) },
      {
        whitebox: Array.from({ length: PROBES }, (_, p) => toInput(reconBytes(1, 0, p), dims, range)),
        datafree: Array.from({ length: PROBES }, (_, p) => toInput(reconBytes(1, 1, p), dims, range)),
      },
    ],
  };
  const expected: Synthetic['expected'] = {
    originals: origBytes.map((b) => shown(b, dims)),
    reconstructions: [
      { whitebox: Array.from({ length: PROBES }, (_, p) => shown(reconBytes(0, 0, p), dims)) },
      {
        whitebox: Array.from({ length: PROBES }, (_, p) => shown(reconBytes(1, 0, p), dims)),
        datafree: Array.from({ length: PROBES }, (_, p) => shown(reconBytes(1, 1, p), dims)),
      },
    ],
  };
  return { report, images, expected, shownChannels: dims[0] === 3 ? 3 : 1 };
}

/** The 1-channel 28×28 case (inputs normalised to [-1, 1]) and a 3-channel non-square one with per-channel ranges. */
export const gray28 = (): Synthetic => syntheticAudit([1, 28, 28], { lo: [-1], hi: [1] });
export const rgb = (): Synthetic => syntheticAudit([3, 10, 16], { lo: [-2.1, -2.0, -1.8], hi: [2.2, 2.4, 2.6] });
/** A 2-channel input: the page shows the first channel. */
export const twoChannel = (): Synthetic => syntheticAudit([2, 6, 9], { lo: [0, -5], hi: [1, 5] });

/** Image tags of the page with their data attributes (cut index, attack or 'original', probe index) and PNG bytes. */
export function thumbnails(html: string): { cut: number; attack: string; probe: number; png: Buffer; tag: string }[] {
  const out: { cut: number; attack: string; probe: number; png: Buffer; tag: string }[] = [];
  for (const m of html.matchAll(/<img\b[^>]*>/g)) {
    const tag = m[0];
    const attr = (name: string): string | undefined => new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
    const src = attr('src') ?? '';
    const b64 = /^data:image\/png;base64,([A-Za-z0-9+/=]+)$/.exec(src)?.[1];
    out.push({ cut: Number(attr('data-cut')), attack: attr('data-attack') ?? '', probe: Number(attr('data-probe')), png: Buffer.from(b64 ?? '', 'base64'), tag });
  }
  return out;
}
