// Calibration statistics of one activation tensor, gathered in one streaming pass: exact
// min/max, mean and standard deviation (whole tensor and per channel), exact extreme tails
// for percentile clipping (bounded heaps; a seeded reservoir sample answers when a tail is
// too deep), and the channel mean and covariance that PCA needs. Pure functions: no runtime, no files.

import { SplitcError } from '../../ir/errors.js';
import { axisOutside, needsInputShapes } from '../diagnostics.js';

/** Ranked extremes of a stream plus a reservoir sample, enough to answer percentile queries. */
export interface TailSummary {
  count: number;
  min: number;
  max: number;
  /** Mean and population standard deviation of every value seen (0 and 0 when none). */
  mean: number;
  std: number;
  /** The smallest values seen, ascending (at most the tail capacity). */
  low: number[];
  /** The largest values seen, descending. */
  high: number[];
  /** A uniform sample of the stream (ascending) for percentiles deeper than the tails. */
  sample: number[];
}

export interface TensorStats {
  /** Dims of one calibration sample's tensor. */
  dims: number[];
  /** Axis the per-channel statistics run along. */
  channelAxis: number;
  samples: number;
  whole: TailSummary;
  channels: TailSummary[];
  /** Channel means and row-major population covariance (C×C), when collected. */
  mean?: number[];
  covariance?: number[];
}

export interface StatsOptions {
  /** Extremes kept exactly on each side for the whole tensor (default 4096). */
  tailCapacity?: number;
  /** Extremes kept exactly on each side per channel (default 512). */
  channelTailCapacity?: number;
  /** Reservoir sample size for the whole tensor (default 65536) and per channel (default 2048). */
  reservoirSize?: number;
  channelReservoirSize?: number;
  /** Collect the channel covariance (PCA). Default: when there are at most 1024 channels. */
  covariance?: boolean;
  seed?: number;
}

/** Keeps the `cap` largest values of a stream in a min-heap (root = smallest kept). */
class TopK {
  private readonly heap: Float64Array;
  size = 0;
  constructor(readonly cap: number) {
    this.heap = new Float64Array(cap);
  }
  /** Smallest kept value once full (a value must beat it to enter). */
  get threshold(): number {
    return this.size < this.cap ? -Infinity : this.heap[0]!;
  }
  push(x: number): void {
    const h = this.heap;
    if (this.size < this.cap) {
      let i = this.size++;
      h[i] = x;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (h[p]! <= h[i]!) break;
        const t = h[p]!;
        h[p] = h[i]!;
        h[i] = t;
        i = p;
      }
      return;
    }
    if (x <= h[0]!) return;
    h[0] = x;
    let i = 0;
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && h[l]! < h[m]!) m = l;
      if (r < n && h[r]! < h[m]!) m = r;
      if (m === i) break;
      const t = h[m]!;
      h[m] = h[i]!;
      h[i] = t;
      i = m;
    }
  }
  /** Kept values, descending. */
  sortedDesc(): number[] {
    return Array.from(this.heap.subarray(0, this.size)).sort((a, b) => b - a);
  }
}

/** xorshift32 in [0, 1): seeded so that calibration is reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 4294967296;
  };
}

/** Reservoir sampling, Li's algorithm L: skips ahead geometrically instead of drawing per element. */
class Reservoir {
  readonly data: Float64Array;
  size = 0;
  private seen = 0;
  private next = 0;
  private w = 1;
  constructor(
    readonly cap: number,
    private readonly random: () => number,
  ) {
    this.data = new Float64Array(cap);
  }
  push(x: number): void {
    const i = this.seen++;
    if (this.size < this.cap) {
      this.data[this.size++] = x;
      if (this.size === this.cap) {
        this.w = Math.exp(Math.log(this.random()) / this.cap);
        this.skip(i);
      }
      return;
    }
    if (i === this.next) {
      this.data[Math.floor(this.random() * this.cap)] = x;
      this.w *= Math.exp(Math.log(this.random()) / this.cap);
      this.skip(i);
    }
  }
  private skip(i: number): void {
    this.next = i + Math.floor(Math.log(this.random()) / Math.log(1 - this.w)) + 1;
  }
  sorted(): number[] {
    return Array.from(this.data.subarray(0, this.size)).sort((a, b) => a - b);
  }
}

class TailAccumulator {
  count = 0;
  min = Infinity;
  max = -Infinity;
  private readonly high: TopK;
  private readonly low: TopK; // of negated values
  private readonly reservoir: Reservoir;
  constructor(tailCap: number, reservoirCap: number, random: () => number) {
    this.high = new TopK(tailCap);
    this.low = new TopK(tailCap);
    this.reservoir = new Reservoir(reservoirCap, random);
  }
  push(x: number): void {
    this.count++;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    if (x > this.high.threshold) this.high.push(x);
    if (-x > this.low.threshold) this.low.push(-x);
    this.reservoir.push(x);
  }
  summary(moments: { mean: number; std: number }): TailSummary {
    return {
      count: this.count,
      min: this.count ? this.min : 0,
      max: this.count ? this.max : 0,
      ...moments,
      low: this.low.sortedDesc().map((v) => -v),
      high: this.high.sortedDesc(),
      sample: this.reservoir.sorted(),
    };
  }
}

/**
 * Streaming statistics for one tensor: feed every calibration sample's activation with
 * `add`, then read `result()`. Memory is bounded by the capacities and C², never by the
 * number of samples.
 */
export class TensorStatsAccumulator {
  private readonly whole: TailAccumulator;
  private readonly channels: TailAccumulator[];
  private readonly channelCount: number;
  private readonly outer: number;
  private readonly inner: number;
  private readonly sum: Float64Array | undefined;
  private readonly cross: Float64Array | undefined;
  private positions = 0;
  private samples = 0;
  private readonly vec: Float64Array;
  // per-channel moments of x − shift (shift = the channel's first value, against cancellation)
  private readonly shift: Float64Array;
  private readonly shiftedSum: Float64Array;
  private readonly shiftedSquares: Float64Array;

  constructor(
    readonly dims: readonly number[],
    readonly channelAxis: number,
    opts: StatsOptions = {},
  ) {
    if (!dims.every((d) => Number.isInteger(d) && d >= 0)) {
      throw needsInputShapes('E_COMPRESS', `statistics need a static shape, got [${dims.join(',')}]`);
    }
    if (channelAxis < 0 || channelAxis >= Math.max(1, dims.length)) {
      throw axisOutside(`channel axis ${channelAxis}`, dims.length);
    }
    const random = rng(opts.seed ?? 1);
    this.channelCount = dims.length ? dims[channelAxis]! : 1;
    this.outer = dims.slice(0, channelAxis).reduce((a, b) => a * b, 1);
    this.inner = dims.slice(channelAxis + 1).reduce((a, b) => a * b, 1);
    this.whole = new TailAccumulator(opts.tailCapacity ?? 4096, opts.reservoirSize ?? 65536, random);
    this.channels = Array.from(
      { length: this.channelCount },
      () => new TailAccumulator(opts.channelTailCapacity ?? 512, opts.channelReservoirSize ?? 2048, random),
    );
    const C = this.channelCount;
    const cov = opts.covariance ?? C <= 1024;
    if (cov) {
      this.sum = new Float64Array(C);
      this.cross = new Float64Array(C * C);
    }
    this.vec = new Float64Array(C);
    this.shift = new Float64Array(C);
    this.shiftedSum = new Float64Array(C);
    this.shiftedSquares = new Float64Array(C);
  }

  /** One sample's activation (C-order data of `dims`). */
  add(data: ArrayLike<number>): void {
    const C = this.channelCount;
    const { outer, inner } = this;
    if (data.length !== outer * C * inner) {
      throw new SplitcError('E_COMPRESS', `activation has ${data.length} elements, expected ${outer * C * inner} for [${this.dims.join(',')}]`);
    }
    if (this.samples === 0 && inner > 0) for (let c = 0; c < C; c++) this.shift[c] = data[c * inner]!;
    this.samples++;
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < C; c++) {
        const ch = this.channels[c]!;
        const base = (o * C + c) * inner;
        const shift = this.shift[c]!;
        let s1 = 0;
        let s2 = 0;
        for (let i = 0; i < inner; i++) {
          const x = data[base + i]!;
          ch.push(x);
          this.whole.push(x);
          const d = x - shift;
          s1 += d;
          s2 += d * d;
        }
        this.shiftedSum[c] = this.shiftedSum[c]! + s1;
        this.shiftedSquares[c] = this.shiftedSquares[c]! + s2;
      }
    }
    const sum = this.sum;
    const cross = this.cross;
    if (!sum || !cross) return;
    const v = this.vec;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        for (let c = 0; c < C; c++) v[c] = data[(o * C + c) * inner + i]!;
        for (let a = 0; a < C; a++) {
          const va = v[a]!;
          sum[a] = sum[a]! + va;
          const row = a * C;
          for (let b = a; b < C; b++) cross[row + b] = cross[row + b]! + va * v[b]!;
        }
        this.positions++;
      }
    }
  }

  /** Per-channel mean and population std, and the whole tensor's (pooled from the channels). */
  private moments(): { channels: { mean: number; std: number }[]; whole: { mean: number; std: number } } {
    const n = this.samples * this.outer * this.inner;
    if (n === 0) return { channels: this.channels.map(() => ({ mean: 0, std: 0 })), whole: { mean: 0, std: 0 } };
    const channels = this.channels.map((_, c) => {
      const m = this.shiftedSum[c]! / n;
      return { mean: this.shift[c]! + m, variance: Math.max(0, this.shiftedSquares[c]! / n - m * m) };
    });
    const mean = channels.reduce((a, c) => a + c.mean, 0) / channels.length;
    const variance = channels.reduce((a, c) => a + c.variance + (c.mean - mean) ** 2, 0) / channels.length;
    return { channels: channels.map((c) => ({ mean: c.mean, std: Math.sqrt(c.variance) })), whole: { mean, std: Math.sqrt(variance) } };
  }

  result(): TensorStats {
    const moments = this.moments();
    const out: TensorStats = {
      dims: [...this.dims],
      channelAxis: this.channelAxis,
      samples: this.samples,
      whole: this.whole.summary(moments.whole),
      channels: this.channels.map((c, i) => c.summary(moments.channels[i]!)),
    };
    if (this.sum && this.cross && this.positions > 0) {
      const C = this.channelCount;
      const n = this.positions;
      const mean = Array.from(this.sum, (s) => s / n);
      const cov = new Array<number>(C * C);
      for (let a = 0; a < C; a++) {
        for (let b = a; b < C; b++) {
          const v = this.cross[a * C + b]! / n - mean[a]! * mean[b]!;
          cov[a * C + b] = v;
          cov[b * C + a] = v;
        }
      }
      out.mean = mean;
      out.covariance = cov;
    }
    return out;
  }
}

/** Convenience: statistics of a list of samples (tests, small data). */
export function tensorStats(samples: readonly ArrayLike<number>[], dims: readonly number[], channelAxis: number, opts: StatsOptions = {}): TensorStats {
  const acc = new TensorStatsAccumulator(dims, channelAxis, opts);
  for (const s of samples) acc.add(s);
  return acc.result();
}

export interface Range {
  lo: number;
  hi: number;
  /** True when the bound came from the reservoir sample rather than the exact tails. */
  approximate: boolean;
}

/**
 * The range keeping the central `percentile` % on each side: lo is the r-th smallest and hi the
 * r-th largest value, r = max(1, ceil((1 − p/100)·count)). p = 100 gives [min, max].
 */
export function percentileRange(t: TailSummary, percentile: number): Range {
  if (t.count === 0) return { lo: 0, hi: 0, approximate: false };
  if (percentile >= 100) return { lo: t.min, hi: t.max, approximate: false };
  const r = Math.max(1, Math.ceil((1 - percentile / 100) * t.count - 1e-9));
  let approximate = false;
  const pick = (tail: number[], fromSample: (q: number) => number): number => {
    if (r <= tail.length) return tail[r - 1]!;
    approximate = true;
    return fromSample(r / t.count);
  };
  const s = t.sample;
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]!;
  const lo = pick(t.low, (q) => at(q));
  const hi = pick(t.high, (q) => at(1 - q));
  return { lo: Math.min(lo, hi), hi: Math.max(lo, hi), approximate };
}
