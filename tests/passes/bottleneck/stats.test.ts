// The pure statistics behind calibration: streaming min/max and percentiles checked
// against sorting everything, per-channel splits, the covariance against a direct
// computation, Jacobi eigenvectors against their definition, and the affine parameters.
import { describe, expect, it } from 'vitest';
import {
  affineParams,
  dequantizeValue,
  packCodes,
  pcaBasis,
  percentileRange,
  projectChannels,
  quantizeValue,
  symmetricEigen,
  tensorStats,
  TensorStatsAccumulator,
  unpackCodes,
} from '../../../src/passes/bottleneck/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';

function randn(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}

describe('streaming tensor statistics', () => {
  const dims = [1, 3, 10, 20];
  const gen = (seed: number) => {
    const r = xorshift32(seed);
    return Float32Array.from({ length: 600 }, (_, i) => (Math.floor(i / 200) + 1) * randn(r) + (i < 200 ? 5 : 0));
  };
  const samples = Array.from({ length: 30 }, (_, i) => gen(i + 1));
  const all = samples.flatMap((s) => Array.from(s));

  it('min/max whole and per channel match a direct scan', () => {
    const st = tensorStats(samples, dims, 1);
    expect(st.samples).toBe(30);
    expect(st.whole.count).toBe(18000);
    expect(st.whole.min).toBe(Math.min(...all));
    expect(st.whole.max).toBe(Math.max(...all));
    for (let c = 0; c < 3; c++) {
      const ch = samples.flatMap((s) => Array.from(s.subarray(c * 200, (c + 1) * 200)));
      expect(st.channels[c]!.min).toBe(Math.min(...ch));
      expect(st.channels[c]!.max).toBe(Math.max(...ch));
      expect(st.channels[c]!.count).toBe(6000);
    }
  });

  it('percentiles are exact while the tail fits, and close from the reservoir beyond', () => {
    const st = tensorStats(samples, dims, 1, { tailCapacity: 100, reservoirSize: 4000 });
    const sorted = [...all].sort((a, b) => a - b);
    const n = sorted.length;
    for (const p of [99.99, 99.9, 99.5]) {
      const r = Math.max(1, Math.ceil((1 - p / 100) * n - 1e-9));
      const got = percentileRange(st.whole, p);
      expect(got.approximate).toBe(false);
      expect(got.lo).toBe(sorted[r - 1]);
      expect(got.hi).toBe(sorted[n - r]);
    }
    const deep = percentileRange(st.whole, 95); // rank 900 > 100 kept: reservoir estimate
    expect(deep.approximate).toBe(true);
    const r = Math.ceil(0.05 * n);
    const span = sorted[n - 1]! - sorted[0]!;
    expect(Math.abs(deep.hi - sorted[n - r]!)).toBeLessThan(0.05 * span);
    expect(Math.abs(deep.lo - sorted[r - 1]!)).toBeLessThan(0.05 * span);
    expect(percentileRange(st.whole, 100)).toEqual({ lo: sorted[0], hi: sorted[n - 1], approximate: false });
  });

  it('the channel covariance equals the direct two-pass computation', () => {
    const st = tensorStats(samples, dims, 1);
    const C = 3;
    const vecs: number[][] = [];
    for (const s of samples) for (let i = 0; i < 200; i++) vecs.push([0, 1, 2].map((c) => s[c * 200 + i]!));
    const mean = [0, 1, 2].map((c) => vecs.reduce((a, v) => a + v[c]!, 0) / vecs.length);
    for (let a = 0; a < C; a++) {
      expect(st.mean![a]).toBeCloseTo(mean[a]!, 9);
      for (let b = 0; b < C; b++) {
        const cov = vecs.reduce((s, v) => s + (v[a]! - mean[a]!) * (v[b]! - mean[b]!), 0) / vecs.length;
        expect(st.covariance![a * C + b]).toBeCloseTo(cov, 8);
      }
    }
  });

  it('per-channel statistics along the last axis; bad shapes are E_COMPRESS', () => {
    const st = tensorStats([Float32Array.of(1, 2, 3, 4, 5, 6)], [2, 3], 1);
    expect(st.channels.map((c) => [c.min, c.max])).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    expect(() => new TensorStatsAccumulator([1, 'N' as unknown as number], 1)).toThrow(/static shape/);
    expect(() => new TensorStatsAccumulator([1, 4], 2)).toThrow(/axis/);
    expect(() => new TensorStatsAccumulator([1, 4], 1).add(new Float32Array(3))).toThrow(/elements/);
  });
});

describe('symmetric eigen-decomposition and PCA', () => {
  it('A·v = λ·v, orthonormal vectors, eigenvalues descending', () => {
    const r = xorshift32(3);
    for (const n of [1, 2, 5, 17, 64]) {
      const B = Array.from({ length: n * n }, () => r() * 2 - 1);
      const A = new Array<number>(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] = (B[i * n + j]! + B[j * n + i]!) / 2;
      const { values, vectors } = symmetricEigen(A, n);
      for (let k = 1; k < n; k++) expect(values[k]!).toBeLessThanOrEqual(values[k - 1]!);
      for (let k = 0; k < n; k++) {
        const v = vectors[k]!;
        for (let i = 0; i < n; i++) {
          let av = 0;
          for (let j = 0; j < n; j++) av += A[i * n + j]! * v[j]!;
          expect(av).toBeCloseTo(values[k]! * v[i]!, 9);
        }
        for (let l = 0; l < n; l++) {
          const dot = v.reduce((s, x, i) => s + x * vectors[l]![i]!, 0);
          expect(dot).toBeCloseTo(k === l ? 1 : 0, 9);
        }
      }
      // trace preserved
      let tr = 0;
      for (let i = 0; i < n; i++) tr += A[i * n + i]!;
      expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(tr, 9);
    }
  });

  it('pca finds a planted direction and reports the explained variance', () => {
    const r = xorshift32(9);
    const C = 6;
    const dir = [1, 2, 0, -1, 0, 1].map((x) => x / Math.sqrt(7));
    const samples = Array.from({ length: 20 }, () => new Float32Array(C * 50));
    // fill: 50 positions per sample, x = 10·z·dir + 0.1·noise + 3
    for (const s of samples) {
      for (let p = 0; p < 50; p++) {
        const z = randn(r);
        for (let c = 0; c < C; c++) s[c * 50 + p] = 10 * z * dir[c]! + 0.1 * randn(r) + 3;
      }
    }
    const st = tensorStats(samples, [1, C, 50], 1);
    const basis = pcaBasis(st, 1);
    expect(basis.explainedVariance).toBeGreaterThan(0.99);
    const dot = basis.components[0]!.reduce((a, x, i) => a + x * dir[i]!, 0);
    expect(Math.abs(dot)).toBeGreaterThan(0.999);
    for (const m of basis.mean) expect(m).toBeCloseTo(3, 0);
    // the JS projection gives the component scores
    const proj = projectChannels(samples[0]!, [1, C, 50], 1, basis);
    expect(proj.dims).toEqual([1, 1, 50]);
    expect(pcaBasis(st, C).explainedVariance).toBeCloseTo(1, 12);
    expect(() => pcaBasis(st, C + 1)).toThrow(/more components/);
    expect(() => pcaBasis(tensorStats(samples, [1, C, 50], 1, { covariance: false }), 1)).toThrow(/covariance/);
  });
});

describe('affine parameters and the JS codec', () => {
  it('ranges are widened to include 0; zero is exact; degenerate ranges get scale 1', () => {
    expect(affineParams(-1, 3, 8)).toEqual({ scale: Math.fround(4 / 255), zeroPoint: 64 });
    expect(affineParams(2, 3, 4)).toEqual({ scale: Math.fround(3 / 15), zeroPoint: 0 });
    expect(affineParams(-3, -1, 2)).toEqual({ scale: 1, zeroPoint: 3 });
    expect(affineParams(0, 0, 8)).toEqual({ scale: 1, zeroPoint: 0 });
    for (const [lo, hi, bits] of [
      [-1, 3, 8],
      [-0.37, 5.1, 4],
      [-7, 0.5, 2],
    ] as const) {
      const { scale, zeroPoint } = affineParams(lo, hi, bits);
      expect(dequantizeValue(quantizeValue(0, scale, zeroPoint, bits), scale, zeroPoint)).toBe(0);
      for (let i = 0; i <= 100; i++) {
        const x = lo + ((hi - lo) * i) / 100;
        const y = dequantizeValue(quantizeValue(x, scale, zeroPoint, bits), scale, zeroPoint);
        expect(Math.abs(y - x)).toBeLessThanOrEqual(scale / 2 + 1e-6);
      }
    }
  });

  it('pack/unpack round trips for every length, little-end first', () => {
    expect(Array.from(packCodes([1, 2, 3], 4))).toEqual([0x21, 0x03]);
    expect(Array.from(packCodes([1, 2, 3, 0, 1], 2))).toEqual([1 | (2 << 2) | (3 << 4), 1]);
    const r = xorshift32(4);
    for (const bits of [8, 4, 2] as const) {
      for (let n = 0; n < 19; n++) {
        const codes = Array.from({ length: n }, () => Math.floor(r() * 2 ** bits));
        const packed = packCodes(codes, bits);
        expect(packed.length).toBe(Math.ceil((bits * n) / 8));
        expect(Array.from(unpackCodes(packed, bits, n))).toEqual(codes);
      }
    }
  });
});
