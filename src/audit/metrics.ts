// How close a reconstruction is to the private input (PSNR, SSIM) and what that means for a
// cut (its risk level). SSIM follows Wang et al. 2004 exactly as scikit-image computes it, so
// our figures can be compared with the literature's and checked against skimage in tests.

import { SplitcError } from '../ir/errors.js';
import type { RiskLevel, RiskThresholds } from './types.js';

/**
 * Default risk thresholds on the strongest attack's SSIM. The low/medium boundary is from He,
 * Zhang & Lee ("Model Inversion Attacks against Collaborative Inference", ACSAC 2019), who
 * call reconstructions with SSIM < 0.3 unrecognisable; the medium/high boundary at 0.5 is this
 * project's choice (issue 14), not a figure from that paper.
 */
export const DEFAULT_THRESHOLDS: Readonly<RiskThresholds> = Object.freeze({ high: 0.5, medium: 0.3 });

/**
 * The risk level of an SSIM: 'high' at or above `thresholds.high`, 'medium' at or above
 * `thresholds.medium`, 'low' below. A NaN SSIM is an error (never silently 'low').
 */
export function riskLevel(ssim: number, thresholds: RiskThresholds = DEFAULT_THRESHOLDS): RiskLevel {
  const { high, medium } = thresholds;
  if (!Number.isFinite(high) || !Number.isFinite(medium) || medium > high) {
    throw new SplitcError('E_BAD_ARGUMENT', `risk thresholds must be numbers with medium ≤ high, got medium=${medium}, high=${high}`, {
      hint: `the defaults are medium=${DEFAULT_THRESHOLDS.medium}, high=${DEFAULT_THRESHOLDS.high} (SSIM)`,
    });
  }
  if (Number.isNaN(ssim)) throw new SplitcError('E_BAD_ARGUMENT', 'cannot grade the risk of a NaN SSIM (a reconstruction with NaN pixels?)');
  if (ssim >= high) return 'high';
  if (ssim >= medium) return 'medium';
  return 'low';
}

/**
 * The data range per channel: one number for every channel, or one per channel (hi − lo of
 * the input's valid range). Per-channel ranges equal rescaling each channel to [0, 1] first.
 */
function channelRanges(dataRange: number | readonly number[], channels: number, what: string): number[] {
  const ranges = typeof dataRange === 'number' ? new Array<number>(channels).fill(dataRange) : [...dataRange];
  if (ranges.length !== channels) {
    throw new SplitcError('E_BAD_ARGUMENT', `${what}: ${ranges.length} data ranges for ${channels} channels`);
  }
  for (const r of ranges) {
    if (!(r > 0) || !Number.isFinite(r)) throw new SplitcError('E_BAD_ARGUMENT', `${what}: the data range must be a positive number, got ${r}`, { hint: "the input's pixel range, hi − lo (e.g. 1 for [0, 1], 2 for [-1, 1], 255 for 8-bit)" });
  }
  return ranges;
}

/**
 * Peak signal-to-noise ratio in dB: 10·log10(range² / MSE) over all elements, as
 * skimage.metrics.peak_signal_noise_ratio. Identical inputs give Infinity (MSE = 0; note that
 * JSON.stringify writes it as null). With one range per channel, `a` and `b` are channel-major
 * ([C, …]) and each channel's squared errors are divided by its range² (PSNR of the images
 * rescaled to unit range per channel).
 */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, dataRange: number | readonly number[]): number {
  if (a.length !== b.length || a.length === 0) {
    throw new SplitcError('E_BAD_ARGUMENT', `psnr: the images have ${a.length} and ${b.length} elements (need the same, non-zero)`);
  }
  const channels = typeof dataRange === 'number' ? 1 : dataRange.length;
  const ranges = channelRanges(dataRange, channels, 'psnr');
  if (a.length % channels !== 0) throw new SplitcError('E_BAD_ARGUMENT', `psnr: ${a.length} elements do not split into ${channels} channels`);
  const plane = a.length / channels;
  let sum = 0;
  for (let c = 0; c < channels; c++) {
    let s = 0;
    for (let i = c * plane, end = i + plane; i < end; i++) {
      const d = a[i]! - b[i]!;
      s += d * d;
    }
    sum += s / (ranges[c]! * ranges[c]!);
  }
  const mse = sum / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}

export interface SsimOptions {
  /** Standard deviation of the Gaussian window (default 1.5, Wang et al.). */
  sigma?: number;
  /** Stabilising constants C1 = (K1·range)², C2 = (K2·range)² (defaults 0.01, 0.03). */
  k1?: number;
  k2?: number;
}

/** skimage truncates the Gaussian at 3.5 σ: 11 taps at σ = 1.5, as Wang et al.'s 11×11 window. */
const TRUNCATE_SIGMAS = 3.5;

/** The normalised 1-D Gaussian scipy.ndimage uses: radius ⌊3.5σ + 0.5⌋, weights exp(−x²/2σ²) / Σ. */
function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.floor(TRUNCATE_SIGMAS * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

/** scipy.ndimage's 'reflect' border (d c b a | a b c d | d c b a), repeated for windows wider than the line. */
function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  const m = ((i % period) + period) % period;
  return m < n ? m : period - 1 - m;
}

/**
 * Mean structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004) of two images laid out
 * [C, H, W], computed per channel and averaged over channels. It is exactly scikit-image's
 * `structural_similarity(a, b, channel_axis=0, data_range=…, gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False)`: local means, variances and covariance under a Gaussian window
 * (σ = 1.5, truncated at 3.5σ: 11×11), borders reflected (scipy 'reflect'), population
 * covariances, C1 = (0.01·range)², C2 = (0.03·range)², and the SSIM map averaged after cropping
 * the window radius (5 px) from every border, so reflected pixels do not count.
 *
 * Images smaller than the window (H or W < 11): skimage refuses them unless given a smaller
 * `win_size`; we do what it does with win_size = the largest odd number ≤ min(H, W): the
 * window stays the 11-tap Gaussian over reflected borders and only the crop shrinks to
 * (win_size − 1)/2 (so a 4×4 image is scored on its central 2×2 pixels). Such scores lean
 * on mirrored pixels and are weaker evidence than on full-size images.
 *
 * `dataRange` is the input's pixel range (hi − lo), one for all channels or one per channel.
 * Float64 throughout; separable filtering, and only the cropped region is filtered vertically.
 */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, dims: readonly number[], dataRange: number | readonly number[], opts: SsimOptions = {}): number {
  if (dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw new SplitcError('E_BAD_ARGUMENT', `ssim: dims must be [C, H, W] with positive integers, got [${dims.join(', ')}]`);
  }
  const [C, H, W] = dims as [number, number, number];
  const n = C * H * W;
  if (a.length !== n || b.length !== n) {
    throw new SplitcError('E_BAD_ARGUMENT', `ssim: images of ${a.length} and ${b.length} elements for dims [${C}, ${H}, ${W}] (${n} elements)`);
  }
  const ranges = channelRanges(dataRange, C, 'ssim');
  const sigma = opts.sigma ?? 1.5;
  const k1 = opts.k1 ?? 0.01;
  const k2 = opts.k2 ?? 0.03;
  if (!(sigma > 0) || !Number.isFinite(sigma) || !(k1 >= 0) || !(k2 >= 0)) {
    throw new SplitcError('E_BAD_ARGUMENT', `ssim: need sigma > 0 and K1, K2 ≥ 0, got sigma=${sigma}, K1=${k1}, K2=${k2}`);
  }

  const kernel = gaussianKernel(sigma);
  const taps = kernel.length;
  const radius = (taps - 1) / 2;
  const crop = Math.min(radius, Math.floor((Math.min(H, W) - 1) / 2));
  const outW = W - 2 * crop;
  const outH = H - 2 * crop;
  // source column / row of each tap position around the cropped region
  const colOf = Int32Array.from({ length: outW + 2 * radius }, (_, j) => reflectIndex(crop - radius + j, W));
  const rowOf = Int32Array.from({ length: outH + 2 * radius }, (_, j) => reflectIndex(crop - radius + j, H));

  // the five local moments x, y, x², y², xy, interleaved (stride 5): the padded source row,
  // the horizontally filtered rows (every row, cropped columns only) and one output row
  const padded = new Float64Array(5 * colOf.length);
  const rows = new Float64Array(5 * H * outW);
  const moments = new Float64Array(5 * outW);
  let total = 0;
  for (let c = 0; c < C; c++) {
    filterRows(a, b, c * H * W, H, W, colOf, kernel, padded, rows);
    total += meanSsimOfChannel(rows, rowOf, kernel, outH, outW, (k1 * ranges[c]!) ** 2, (k2 * ranges[c]!) ** 2, moments);
  }
  return total / C;
}

/** Horizontal pass of one channel: `rows[(y·outW + x)·5 + m]` = Σₜ kernel[t]·moment m at column colOf[x + t]. */
function filterRows(a: ArrayLike<number>, b: ArrayLike<number>, base: number, H: number, W: number, colOf: Int32Array, kernel: Float64Array, padded: Float64Array, rows: Float64Array): void {
  const taps = kernel.length;
  const outW = colOf.length - taps + 1;
  for (let y = 0; y < H; y++) {
    const rowBase = base + y * W;
    for (let j = 0; j < colOf.length; j++) {
      const vx = a[rowBase + colOf[j]!]!;
      const vy = b[rowBase + colOf[j]!]!;
      const p = 5 * j;
      padded[p] = vx;
      padded[p + 1] = vy;
      padded[p + 2] = vx * vx;
      padded[p + 3] = vy * vy;
      padded[p + 4] = vx * vy;
    }
    let o = 5 * y * outW;
    for (let x = 0; x < outW; x++, o += 5) {
      let sx = 0;
      let sy = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let t = 0, p = 5 * x; t < taps; t++, p += 5) {
        const w = kernel[t]!;
        sx += w * padded[p]!;
        sy += w * padded[p + 1]!;
        sxx += w * padded[p + 2]!;
        syy += w * padded[p + 3]!;
        sxy += w * padded[p + 4]!;
      }
      rows[o] = sx;
      rows[o + 1] = sy;
      rows[o + 2] = sxx;
      rows[o + 3] = syy;
      rows[o + 4] = sxy;
    }
  }
}

/** Vertical pass over the cropped rows and the mean of the SSIM map there. */
function meanSsimOfChannel(rows: Float64Array, rowOf: Int32Array, kernel: Float64Array, outH: number, outW: number, c1: number, c2: number, moments: Float64Array): number {
  const taps = kernel.length;
  const stride = 5 * outW;
  let sum = 0;
  for (let y = 0; y < outH; y++) {
    moments.fill(0);
    for (let t = 0; t < taps; t++) {
      const w = kernel[t]!;
      const o = rowOf[y + t]! * stride;
      for (let i = 0; i < stride; i++) moments[i]! += w * rows[o + i]!;
    }
    for (let p = 0; p < stride; p += 5) {
      const mx = moments[p]!;
      const my = moments[p + 1]!;
      const vx = moments[p + 2]! - mx * mx;
      const vy = moments[p + 3]! - my * my;
      const vxy = moments[p + 4]! - mx * my;
      sum += ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
    }
  }
  return sum / (outH * outW);
}
