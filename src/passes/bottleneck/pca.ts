// Training-free channel reduction: the principal components of a cut tensor's channels
// (eigenvectors of the calibration covariance) and the JS reference of the projection
// the edge graph applies.

import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { SplitcError } from '../../ir/errors.js';
import type { TensorStats } from './stats.js';

export interface Eigen {
  /** Eigenvalues, descending. */
  values: number[];
  /** Row i is the unit eigenvector of values[i]; its largest-magnitude entry is positive. */
  vectors: number[][];
}

/**
 * Eigen-decomposition of a symmetric n×n matrix (row-major): Householder reduction to
 * tridiagonal form and implicit QL (ml-matrix's EVD, JAMA's tred2/tql2), O(n³) once —
 * cyclic Jacobi costs ~10× more at n = 480. Sorted descending, signs fixed for determinism.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): Eigen {
  if (matrix.length !== n * n) throw new SplitcError('E_BAD_ARGUMENT', `symmetricEigen: ${matrix.length} entries for a ${n}×${n} matrix`);
  const rows = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (matrix[i * n + j]! + matrix[j * n + i]!) / 2));
  const evd = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true });
  const lambda = evd.realEigenvalues;
  const V = evd.eigenvectorMatrix;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => lambda[j]! - lambda[i]! || i - j);
  const values = order.map((i) => lambda[i]!);
  const vectors = order.map((col) => {
    const vec = V.getColumn(col);
    let big = 0;
    for (const x of vec) if (Math.abs(x) > Math.abs(big)) big = x;
    return big < 0 ? vec.map((x) => -x) : vec;
  });
  return { values, vectors };
}

/** Eigen-decompositions by covariance array: calibration and compression share one per tensor. */
const eigenCache = new WeakMap<object, Eigen>();

export interface PcaBasis {
  /** Channel count of the original tensor. */
  channels: number;
  k: number;
  /** Channel means (length C). */
  mean: number[];
  /** k rows of length C: the edge computes y = components · (x − mean) per position. */
  components: number[][];
  /** All C eigenvalues of the channel covariance, descending (variance per component). */
  eigenvalues: number[];
  /** Fraction of the total channel variance the k components keep. */
  explainedVariance: number;
}

/** The top-k principal components of the channels described by `stats` (which must hold the covariance). */
export function pcaBasis(stats: TensorStats, k: number): PcaBasis {
  const C = stats.dims[stats.channelAxis] ?? 1;
  if (!stats.covariance || !stats.mean) {
    throw new SplitcError('E_COMPRESS', 'pca needs the channel covariance, which was not collected', { hint: 'calibrate with covariance enabled (the default for up to 1024 channels)' });
  }
  if (k > C) {
    throw new SplitcError('E_COMPRESS', `pca=${k} asks for more components than the ${C} channels of the tensor`, { hint: `use pca=K with K < ${C}` });
  }
  let eig = eigenCache.get(stats.covariance);
  if (!eig) {
    eig = symmetricEigen(stats.covariance, C);
    eigenCache.set(stats.covariance, eig);
  }
  const total = eig.values.reduce((s, x) => s + Math.max(0, x), 0);
  const kept = eig.values.slice(0, k).reduce((s, x) => s + Math.max(0, x), 0);
  return {
    channels: C,
    k,
    mean: [...stats.mean],
    components: eig.vectors.slice(0, k),
    eigenvalues: eig.values,
    explainedVariance: total > 0 ? kept / total : 1,
  };
}

/** JS reference of the edge projection: y[k] = Σ_c V[k][c]·(x[c] − mean[c]) at every position (float64). */
export function projectChannels(data: ArrayLike<number>, dims: readonly number[], axis: number, basis: PcaBasis): { data: Float32Array; dims: number[] } {
  const C = dims[axis]!;
  const K = basis.k;
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(outer * K * inner);
  const x = new Float64Array(C);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      for (let c = 0; c < C; c++) x[c] = data[(o * C + c) * inner + i]! - basis.mean[c]!;
      for (let k = 0; k < K; k++) {
        const row = basis.components[k]!;
        let s = 0;
        for (let c = 0; c < C; c++) s += row[c]! * x[c]!;
        out[(o * K + k) * inner + i] = s;
      }
    }
  }
  const outDims = [...dims];
  outDims[axis] = K;
  return { data: out, dims: outDims };
}
