// SphereFed's calibration: statistics summed over clients and solved by Cholesky equal the
// pooled ridge least-squares solution computed independently (ml-matrix's QR on the stacked
// system [Z; √λ I] W = [Y; 0]); featureStats over a model run by onnxruntime equals the
// statistics of its features computed directly.

import { Matrix, QrDecomposition } from 'ml-matrix';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { xorshift32 } from '../../../src/ir/random.js';
import { sphereFedHead } from '../../../src/passes/spherefed.js';
import { addStats, calibrationStats, featureStats, packStats, solveCalibration, unpackStats } from '../../../src/runtime/federated/calibration.js';
import { codeOf, codeOfAsync } from '../../helpers/codes.js';
import { GOLDEN_MODELS } from '../../helpers/golden-models.js';
import { floatsOf, runOrt } from '../../helpers/onnx-oracle.js';

/** n unit-norm feature rows of width d and labels in [0, C), correlated so the fit is not trivial. */
function data(n: number, d: number, classes: number, seed: number): { z: Float32Array; labels: Int32Array } {
  const r = xorshift32(seed);
  const z = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = Math.floor(r() * classes);
    labels[i] = y;
    let norm = 0;
    for (let j = 0; j < d; j++) {
      const v = r() - 0.5 + (j % classes === y ? 0.8 : 0);
      z[i * d + j] = v;
      norm += v * v;
    }
    for (let j = 0; j < d; j++) z[i * d + j] = z[i * d + j]! / Math.sqrt(norm);
  }
  return { z, labels };
}

/** The oracle: argmin ‖Z W − Y‖² + λ‖W‖² by QR least squares on the stacked system, in ml-matrix. */
function pooledRidge(z: Float32Array, labels: Int32Array, n: number, d: number, classes: number, lambda: number): Matrix {
  const A = new Matrix(n + d, d);
  const B = new Matrix(n + d, classes);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) A.set(i, j, z[i * d + j]!);
    B.set(i, labels[i]!, 1);
  }
  for (let j = 0; j < d; j++) A.set(n + j, j, Math.sqrt(lambda));
  return new QrDecomposition(A).solve(B);
}

function relativeError(w: Float32Array, ref: Matrix, d: number, classes: number): number {
  let diff = 0;
  let scale = 0;
  for (let j = 0; j < d; j++) {
    for (let c = 0; c < classes; c++) {
      diff = Math.max(diff, Math.abs(w[j * classes + c]! - ref.get(j, c)));
      scale = Math.max(scale, Math.abs(ref.get(j, c)));
    }
  }
  return diff / scale;
}

describe('SphereFed calibration', () => {
  const d = 24;
  const C = 6;
  const n = 1000;
  const { z, labels } = data(n, d, C, 11);
  // Four clients of unequal sizes (non-IID splits change sizes, not the pooled problem).
  const bounds = [0, 130, 480, 520, 1000];
  const clients = bounds.slice(1).map((end, k) => calibrationStats(z.subarray(bounds[k]! * d, end * d), labels.subarray(bounds[k]!, end), end - bounds[k]!, d, C));

  for (const lambda of [1e-3, 0.5, 0]) {
    it(`equals the pooled least-squares solution to 1e-5 relative (λ = ${lambda}, 4 clients)`, () => {
      const sum = clients.reduce((a, b) => addStats(a, b));
      expect(sum.n).toBe(n);
      const w = solveCalibration(sum.V, sum.U, d, C, lambda);
      expect(relativeError(w, pooledRidge(z, labels, n, d, C, lambda), d, C)).toBeLessThan(1e-5);
    });
  }

  it('statistics are symmetric, add up, and survive packing', () => {
    const all = calibrationStats(z, labels, n, d, C);
    const sum = clients.reduce((a, b) => addStats(a, b));
    for (let i = 0; i < d * d; i++) expect(sum.V[i]).toBeCloseTo(all.V[i]!, 9);
    for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) expect(all.V[j * d + k]).toBe(all.V[k * d + j]);
    // the trace of V is the number of unit-norm rows
    let trace = 0;
    for (let j = 0; j < d; j++) trace += all.V[j * d + j]!;
    expect(trace).toBeCloseTo(n, 3);
    const back = unpackStats(packStats(all), d, C);
    expect(back.V).toEqual(all.V);
    expect(back.U).toEqual(all.U);
    expect(back.n).toBe(n);
  });

  it('raises E_FED_CALIBRATION when Σ V + λI is not positive definite (λ = 0, fewer samples than features)', () => {
    const few = calibrationStats(z, labels, 10, d, C);
    expect(codeOf(() => solveCalibration(few.V, few.U, d, C, 0))).toBe('E_FED_CALIBRATION');
    expect(solveCalibration(few.V, few.U, d, C, 1e-2).every(Number.isFinite)).toBe(true);
    expect(codeOf(() => solveCalibration(few.V, few.U, d + 1, C, 1))).toBe('E_FED_CALIBRATION');
    expect(codeOf(() => addStats(few, calibrationStats(z, labels.map((l) => l % (C - 1)), 10, d, C - 1)))).toBe('E_FED_CALIBRATION');
    expect(codeOf(() => calibrationStats(z, Int32Array.of(C), 1, d, C))).toBe('E_BAD_ARGUMENT');
  });

  it('featureStats runs the SphereFed model with onnxruntime and sums its features (partial last batch)', async () => {
    const head = sphereFedHead(GOLDEN_MODELS['dense-softmax-head']!(), { seed: 2 });
    const bytes = modelToBytes(head.model);
    const count = 11;
    const r = xorshift32(5);
    const images = Float32Array.from({ length: count * 6 }, () => r() * 2 - 1);
    const labs = Int32Array.from({ length: count }, (_, i) => i % 3);
    const stats = await featureStats(ort, bytes, head.features, { images, labels: labs, n: count, shape: [6] }, 4, head.classes);
    const feats = floatsOf((await runOrt(bytes, { x: new ort.Tensor('float32', images, [count, 6]) }))[head.features]!.bytes);
    const ref = calibrationStats(feats, labs, count, head.dim, head.classes);
    expect(stats.n).toBe(count);
    for (let i = 0; i < ref.V.length; i++) expect(stats.V[i]).toBeCloseTo(ref.V[i]!, 5);
    for (let i = 0; i < ref.U.length; i++) expect(stats.U[i]).toBeCloseTo(ref.U[i]!, 5);
    expect(await codeOfAsync(featureStats(ort, bytes, head.features, { images, labels: labs, n: count + 1, shape: [6] }, 4, 3))).toBe('E_BAD_ARGUMENT');
  });
});
