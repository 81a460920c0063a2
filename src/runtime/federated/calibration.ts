// SphereFed's closed-form calibration (Dong et al., ECCV 2022): each client sums V_k = Σ z zᵀ
// and U_k = Σ z yᵀ over its normalised features z and one-hot labels y; the server solves
// W = (Σ_k V_k + λI)⁻¹ Σ_k U_k, the ridge least-squares classifier over the pooled data.
// Platform-neutral (onnxruntime is a parameter): clients in Node and in browsers use it.

import { SplitcError } from '../../ir/errors.js';
import type { OrtModule } from '../../search/ort-session.js';
import type { ClientData } from './types.js';

/** One client's (or a sum of clients') calibration statistics, in float64. */
export interface CalibrationStats {
  /** Σ z zᵀ, d×d row-major, both triangles filled. */
  V: Float64Array;
  /** Σ z yᵀ, d×C row-major (row j, class c at j·C + c). */
  U: Float64Array;
  /** Samples summed. */
  n: number;
  dim: number;
  classes: number;
}

export function emptyStats(dim: number, classes: number): CalibrationStats {
  return { V: new Float64Array(dim * dim), U: new Float64Array(dim * classes), n: 0, dim, classes };
}

/** Adds n rows of z [n, d] with their labels into `s` (upper triangle of V only; `mirror` fills the rest). */
function accumulate(s: CalibrationStats, z: Float32Array, labels: Int32Array, n: number): void {
  const { dim: d, classes: c, V, U } = s;
  if (z.length < n * d || labels.length < n) throw new SplitcError('E_BAD_ARGUMENT', `calibration statistics of ${n} samples need ${n * d} feature values and ${n} labels, got ${z.length} and ${labels.length}`);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (!(y >= 0 && y < c)) throw new SplitcError('E_BAD_ARGUMENT', `label ${y} of sample ${i} is outside the ${c} classes`);
    const o = i * d;
    for (let j = 0; j < d; j++) {
      const zj = z[o + j]!;
      if (zj === 0) continue;
      U[j * c + y]! += zj;
      const row = j * d;
      for (let k = j; k < d; k++) V[row + k]! += zj * z[o + k]!;
    }
  }
  s.n += n;
}

function mirror(s: CalibrationStats): void {
  const { dim: d, V } = s;
  for (let j = 0; j < d; j++) for (let k = j + 1; k < d; k++) V[k * d + j] = V[j * d + k]!;
}

/** V = Σ z zᵀ and U = Σ z yᵀ over `n` feature rows z [n, d] and their class indices. */
export function calibrationStats(z: Float32Array, labels: Int32Array, n: number, d: number, classes: number): CalibrationStats {
  const s = emptyStats(d, classes);
  accumulate(s, z, labels, n);
  mirror(s);
  return s;
}

function sameShape(a: CalibrationStats, b: CalibrationStats): void {
  if (a.dim !== b.dim || a.classes !== b.classes) throw new SplitcError('E_FED_CALIBRATION', `calibration statistics of ${a.dim} features × ${a.classes} classes and ${b.dim} × ${b.classes} cannot be added`);
}

/** The sum of two clients' statistics (neither is changed). */
export function addStats(a: CalibrationStats, b: CalibrationStats): CalibrationStats {
  sameShape(a, b);
  const V = Float64Array.from(a.V, (v, i) => v + b.V[i]!);
  const U = Float64Array.from(a.U, (v, i) => v + b.U[i]!);
  return { V, U, n: a.n + b.n, dim: a.dim, classes: a.classes };
}

/**
 * W [d, C] (row-major float32) = (V + λI)⁻¹ U, by Cholesky in float64. Not ml-matrix's
 * CholeskyDecomposition: it calls a matrix positive definite when every pivot is > 0, so a
 * singular V (λ = 0, fewer samples than features) passes on rounding noise and yields a
 * meaningless W; here a pivot at or below 1e-12 of its diagonal entry is an error.
 */
export function solveCalibration(sumV: Float64Array, sumU: Float64Array, d: number, classes: number, lambda: number): Float32Array {
  if (sumV.length !== d * d || sumU.length !== d * classes) {
    throw new SplitcError('E_FED_CALIBRATION', `calibration statistics of sizes ${sumV.length} and ${sumU.length} do not match ${d} features × ${classes} classes`);
  }
  if (!(lambda >= 0)) throw new SplitcError('E_BAD_ARGUMENT', `λ must be ≥ 0, got ${lambda}`);
  // Lower triangle L with V + λI = L Lᵀ, read from V's upper triangle (V may be summed from masked words and off by rounding from symmetric).
  const L = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    const diag = sumV[j * d + j]! + lambda;
    let p = diag;
    for (let k = 0; k < j; k++) p -= L[j * d + k]! ** 2;
    if (!(p > 1e-12 * Math.abs(diag)) || !(diag > 0)) {
      throw new SplitcError('E_FED_CALIBRATION', `Σ V_k + λI is not positive definite (pivot ${j} of ${d} is ${p.toPrecision(3)}; ${lambda === 0 ? 'λ = 0' : `λ = ${lambda}`})`, {
        hint: 'raise λ (e.g. 1e-3), or calibrate on more samples than features',
      });
    }
    const ljj = Math.sqrt(p);
    L[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let s = sumV[Math.min(i, j) * d + Math.max(i, j)]!;
      for (let k = 0; k < j; k++) s -= L[i * d + k]! * L[j * d + k]!;
      L[i * d + j] = s / ljj;
    }
  }
  // Forward (L Y = U) then backward (Lᵀ W = Y) substitution, all C columns at once.
  const Y = Float64Array.from(sumU);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < i; k++) {
      const l = L[i * d + k]!;
      if (l !== 0) for (let c = 0; c < classes; c++) Y[i * classes + c]! -= l * Y[k * classes + c]!;
    }
    for (let c = 0; c < classes; c++) Y[i * classes + c]! /= L[i * d + i]!;
  }
  for (let i = d - 1; i >= 0; i--) {
    for (let k = i + 1; k < d; k++) {
      const l = L[k * d + i]!;
      if (l !== 0) for (let c = 0; c < classes; c++) Y[i * classes + c]! -= l * Y[k * classes + c]!;
    }
    for (let c = 0; c < classes; c++) Y[i * classes + c]! /= L[i * d + i]!;
  }
  return Float32Array.from(Y);
}

/** Values in `packStats`'s vector: V's upper triangle, U, n. */
export function packedLength(dim: number, classes: number): number {
  return (dim * (dim + 1)) / 2 + dim * classes + 1;
}

/** The statistics as one vector (V's upper triangle row by row, U, n): what a client uploads, masked or not. */
export function packStats(s: CalibrationStats): Float64Array {
  const { dim: d, classes: c } = s;
  const out = new Float64Array(packedLength(d, c));
  let o = 0;
  for (let j = 0; j < d; j++) for (let k = j; k < d; k++) out[o++] = s.V[j * d + k]!;
  out.set(s.U, o);
  out[o + d * c] = s.n;
  return out;
}

/** The inverse of `packStats` (V symmetric again). */
export function unpackStats(v: Float64Array, dim: number, classes: number): CalibrationStats {
  if (v.length !== packedLength(dim, classes)) throw new SplitcError('E_FED_CALIBRATION', `packed statistics hold ${v.length} values; ${dim} features × ${classes} classes need ${packedLength(dim, classes)}`);
  const s = emptyStats(dim, classes);
  let o = 0;
  for (let j = 0; j < dim; j++) for (let k = j; k < dim; k++) s.V[j * dim + k] = v[o++]!;
  mirror(s);
  s.U.set(v.subarray(o, o + dim * classes));
  s.n = v[o + dim * classes]!;
  return s;
}

/**
 * A client's statistics: runs `model` (ONNX bytes of the SphereFed model, whose output
 * `features` is z [N, d]) over its data in batches of `batch` (the last one partial: the
 * model's batch dimension must be dynamic) and sums V and U.
 */
export async function featureStats(ort: OrtModule, model: Uint8Array, features: string, data: ClientData, batch: number, classes: number): Promise<CalibrationStats> {
  if (!(batch >= 1) || !Number.isInteger(batch)) throw new SplitcError('E_BAD_ARGUMENT', `batch must be a positive integer, got ${batch}`);
  const per = data.shape.reduce((a, b) => a * b, 1);
  if (data.images.length !== data.n * per || data.labels.length !== data.n) {
    throw new SplitcError('E_BAD_ARGUMENT', `client data of ${data.n} samples of shape [${data.shape.join(', ')}] has ${data.images.length} values and ${data.labels.length} labels`);
  }
  if (data.n === 0) throw new SplitcError('E_BAD_ARGUMENT', 'a client without samples has no calibration statistics', { hint: 'leave clients without data out of the calibration' });
  // search/ort-session's createOrtSession with its default (errors only), inlined: the browser
  // client loads this module, and its run-time imports stay within ir/ and runtime/
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  try {
    const input = session.inputNames[0]!;
    let s: CalibrationStats | null = null;
    for (let start = 0; start < data.n; start += batch) {
      const b = Math.min(batch, data.n - start);
      const x = new ort.Tensor('float32', data.images.subarray(start * per, (start + b) * per), [b, ...data.shape]);
      const out = await session.run({ [input]: x }, [features]);
      const z = out[features]!;
      const d = z.dims[z.dims.length - 1]!;
      if (z.dims.length !== 2 || z.dims[0] !== b) throw new SplitcError('E_FED_CALIBRATION', `features '${features}' have dims [${z.dims.join(', ')}], not [${b}, d]`);
      s ??= emptyStats(d, classes);
      accumulate(s, z.data as Float32Array, data.labels.subarray(start, start + b), b);
    }
    mirror(s!);
    return s!;
  } finally {
    await session.release();
  }
}
