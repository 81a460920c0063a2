// The learned bottleneck stage: its constants (separate reduce and recover weights, in the
// layout of the ONNX initializers that carry them), their PCA initialisation, trained weights
// given from outside, the ops that apply them and a JS reference of the reduce.

import { DataType } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import type { Dim, Value } from '../../ir/graph.js';
import type { Emitter } from '../emit.js';
import type { PcaBasis } from './pca.js';

/** One module's parameters: `weight` flat, row-major, of shape `dims` (the initializer's). */
export interface LearnedModule {
  dims: number[];
  weight: number[];
  bias: number[];
}

/**
 * Constants of a learned stage. Layouts (= the ONNX initializers'):
 * - 'conv' (axis 1 of a rank ≥ 3 tensor), stride 1: reduce Conv [K, C, 1, …], recover Conv [C, K, 1, …];
 * - 'conv', stride 2 (NCHW): reduce Conv [K, C, 3, 3] (stride 2, pads 1), recover ConvTranspose [K, C, 2, 2] (stride 2);
 * - 'matmul' (the last axis): reduce MatMul [C, K], recover MatMul [K, C].
 * Biases: reduce [K], recover [C].
 */
export interface LearnedConstants {
  kind: 'learned';
  axis: number;
  k: number;
  channels: number;
  stride: 1 | 2;
  form: 'conv' | 'matmul';
  /** False while the weights are the pca=K initialisation. */
  trained: boolean;
  /** Variance the pca=K initialisation keeps (a reference for the trained figures). */
  explainedVariance: number;
  reduce: LearnedModule;
  recover: LearnedModule;
}

/** Trained weights of one cut tensor, as the trainer returns them (flat, in the layouts above). */
export interface LearnedWeights {
  reduce: { weight: ArrayLike<number>; bias: ArrayLike<number> };
  recover: { weight: ArrayLike<number>; bias: ArrayLike<number> };
}

/** The initializer names of a learned stage at cut tensor `source` (edge: reduce, cloud: recover). */
export function learnedInitializerNames(source: string): { reduce: { weight: string; bias: string }; recover: { weight: string; bias: string } } {
  return {
    reduce: { weight: `${source}.learned.reduce.w`, bias: `${source}.learned.reduce.b` },
    recover: { weight: `${source}.learned.recover.w`, bias: `${source}.learned.recover.b` },
  };
}

/** The 1×1 / MatMul form of axis `axis` of a rank-`rank` tensor (pca's rule), or undefined when unsupported. */
export function learnedForm(axis: number, rank: number, stride: 1 | 2): 'conv' | 'matmul' | undefined {
  if (stride === 2) return axis === 1 && rank === 4 ? 'conv' : undefined;
  if (axis === 1 && rank >= 3) return 'conv';
  return axis === rank - 1 ? 'matmul' : undefined;
}

/** Dims of the reduced tensor: K channels on `axis`, with /s2 each spatial dim halved (rounded up, as Conv 3×3 stride 2 pads 1 gives). */
export function learnedOutDims<D extends Dim>(dims: readonly D[], axis: number, k: number, stride: 1 | 2): D[] {
  return dims.map((d, i) => (i === axis ? k : stride === 2 && i >= 2 && typeof d === 'number' ? Math.ceil(d / 2) : d) as D);
}

/**
 * The pca=K solution as a learned stage: reduce = V (bias −V·mean), recover = Vᵀ (bias mean).
 * With /s2 V sits at the centre tap of the 3×3 kernel and Vᵀ in each of the 2×2 transposed
 * taps, so x̂ is the pca reconstruction of the even positions, upsampled nearest-neighbour.
 */
export function initLearned(basis: PcaBasis, axis: number, rank: number, stride: 1 | 2, form: 'conv' | 'matmul'): LearnedConstants {
  const C = basis.channels;
  const K = basis.k;
  const V = basis.components;
  const rbias = V.map((row) => -row.reduce((acc, v, c) => acc + v * basis.mean[c]!, 0));
  const ones = Array<number>(Math.max(0, rank - 2)).fill(1);
  let reduce: LearnedModule;
  let recover: LearnedModule;
  if (form === 'matmul') {
    reduce = { dims: [C, K], weight: tabulate(C * K, (i) => V[i % K]![Math.floor(i / K)]!), bias: rbias };
    recover = { dims: [K, C], weight: V.flat(), bias: [...basis.mean] };
  } else if (stride === 1) {
    reduce = { dims: [K, C, ...ones], weight: V.flat(), bias: rbias };
    recover = { dims: [C, K, ...ones], weight: tabulate(C * K, (i) => V[i % K]![Math.floor(i / K)]!), bias: [...basis.mean] };
  } else {
    // [K, C, 3, 3]: tap (1, 1) is index 4 of each 3×3 kernel
    reduce = { dims: [K, C, 3, 3], weight: tabulate(K * C * 9, (i) => (i % 9 === 4 ? V[Math.floor(i / (9 * C))]![Math.floor(i / 9) % C]! : 0)), bias: rbias };
    // [K, C, 2, 2]: every tap carries V[k][c]
    recover = { dims: [K, C, 2, 2], weight: tabulate(K * C * 4, (i) => V[Math.floor(i / (4 * C))]![Math.floor(i / 4) % C]!), bias: [...basis.mean] };
  }
  return { kind: 'learned', axis, k: K, channels: C, stride, form, trained: false, explainedVariance: basis.explainedVariance, reduce, recover };
}

function tabulate(n: number, f: (i: number) => number): number[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

/** The stage with trained weights in place of its initialisation; E_COMPRESS when a size differs. */
export function withLearnedWeights(init: LearnedConstants, w: LearnedWeights, source: string): LearnedConstants {
  const take = (what: string, got: ArrayLike<number>, want: readonly number[]): number[] => {
    if (got.length !== want.length) {
      throw new SplitcError('E_COMPRESS', `trained ${what} of '${source}' has ${got.length} values, learned=${init.k}${init.stride === 2 ? '/s2' : ''} needs ${want.length}`, {
        hint: 'supply the weights trained for this cut tensor and spec (the training form names them)',
      });
    }
    return Array.from(got, (v) => Math.fround(Number(v)));
  };
  return {
    ...init,
    trained: true,
    reduce: { dims: init.reduce.dims, weight: take('reduce weight', w.reduce.weight, init.reduce.weight), bias: take('reduce bias', w.reduce.bias, init.reduce.bias) },
    recover: { dims: init.recover.dims, weight: take('recover weight', w.recover.weight, init.recover.weight), bias: take('recover bias', w.recover.bias, init.recover.bias) },
  };
}

/** Emit the reduce (edge) on `x` of per-sample dims `dims`: z = reduce(x). */
export function emitLearnedReduce(em: Emitter, x: Value, s: LearnedConstants, source: string, dims: Dim[], outName: string): Value {
  const names = learnedInitializerNames(source);
  const outDims = learnedOutDims(dims, s.axis, s.k, s.stride);
  const f = DataType.FLOAT;
  const w = em.namedConstant(names.reduce.weight, f, s.reduce.dims, s.reduce.weight);
  const b = em.namedConstant(names.reduce.bias, f, [s.k], s.reduce.bias);
  if (s.form === 'matmul') {
    const mm = em.op('MatMul', [x, w], {}, { name: `${outName}.mm`, dtype: f, shape: outDims });
    return em.op('Add', [mm, b], {}, { name: outName, dtype: f, shape: outDims });
  }
  const spatial = dims.length - 2;
  const attrs: Record<string, number[]> = s.stride === 2 ? { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } : { kernel_shape: Array<number>(spatial).fill(1) };
  return em.op('Conv', [x, w, b], attrs, { name: outName, dtype: f, shape: outDims });
}

/** Emit the recover (cloud) on `z`, giving a tensor of `dims` (the reduce's input dims). */
export function emitLearnedRecover(em: Emitter, z: Value, s: LearnedConstants, source: string, dims: Dim[], outName: string): Value {
  const names = learnedInitializerNames(source);
  const f = DataType.FLOAT;
  const w = em.namedConstant(names.recover.weight, f, s.recover.dims, s.recover.weight);
  const b = em.namedConstant(names.recover.bias, f, [s.channels], s.recover.bias);
  if (s.form === 'matmul') {
    const mm = em.op('MatMul', [z, w], {}, { name: `${outName}.mm`, dtype: f, shape: dims });
    return em.op('Add', [mm, b], {}, { name: outName, dtype: f, shape: dims });
  }
  if (s.stride === 1) return em.op('Conv', [z, w, b], { kernel_shape: Array<number>(dims.length - 2).fill(1) }, { name: outName, dtype: f, shape: dims });
  // ConvTranspose k2 s2 gives 2·ceil(H/2), one row (column) too many for an odd H (W): a Slice
  // cuts the last one, so x̂ has the cut tensor's exact shape (output_padding can only add).
  const [H, W] = [dims[2], dims[3]];
  const odd = [H, W].map((d) => typeof d === 'number' && d % 2 === 1);
  const upDims = dims.map((d, i) => (i >= 2 && odd[i - 2] ? (d as number) + 1 : d));
  const needSlice = odd.some(Boolean);
  const up = em.op('ConvTranspose', [z, w, b], { kernel_shape: [2, 2], strides: [2, 2] }, { name: needSlice ? `${outName}.up` : outName, dtype: f, shape: upDims });
  if (!needSlice) return up;
  const axes = [2, 3].filter((_, i) => odd[i]);
  return em.slice(up, axes.map(() => 0), axes.map((a) => dims[a] as number), axes, undefined, { name: outName, dtype: f, shape: dims });
}

/**
 * JS reference of the reduce on one sample's activations (float64 sums): what calibration
 * measures the coder's ranges on, for whatever weights the stage holds.
 */
export function learnedReduce(data: ArrayLike<number>, dims: readonly number[], s: LearnedConstants): { data: Float32Array; dims: number[] } {
  const outDims = learnedOutDims(dims, s.axis, s.k, s.stride);
  const out = new Float32Array(outDims.reduce((a, b) => a * b, 1));
  const C = s.channels;
  const K = s.k;
  const W = s.reduce.weight;
  if (s.form === 'matmul') {
    const rows = data.length / C;
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < K; k++) {
        let acc = s.reduce.bias[k]!;
        for (let c = 0; c < C; c++) acc += data[r * C + c]! * W[c * K + k]!;
        out[r * K + k] = acc;
      }
    }
  } else if (s.stride === 1) {
    const outer = dims.slice(0, s.axis).reduce((a, b) => a * b, 1);
    const inner = dims.slice(s.axis + 1).reduce((a, b) => a * b, 1);
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < K; k++) {
        for (let i = 0; i < inner; i++) {
          let acc = s.reduce.bias[k]!;
          for (let c = 0; c < C; c++) acc += W[k * C + c]! * data[(o * C + c) * inner + i]!;
          out[(o * K + k) * inner + i] = acc;
        }
      }
    }
  } else {
    const [N, , H, Wd] = dims as [number, number, number, number];
    const [Ho, Wo] = [outDims[2]!, outDims[3]!];
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        for (let y = 0; y < Ho; y++) {
          for (let x = 0; x < Wo; x++) {
            let acc = s.reduce.bias[k]!;
            for (let c = 0; c < C; c++) {
              for (let dy = 0; dy < 3; dy++) {
                const iy = 2 * y - 1 + dy;
                if (iy < 0 || iy >= H) continue;
                for (let dx = 0; dx < 3; dx++) {
                  const ix = 2 * x - 1 + dx;
                  if (ix < 0 || ix >= Wd) continue;
                  acc += W[((k * C + c) * 3 + dy) * 3 + dx]! * data[((n * C + c) * H + iy) * Wd + ix]!;
                }
              }
            }
            out[((n * K + k) * Ho + y) * Wo + x] = acc;
          }
        }
      }
    }
  }
  return { data: out, dims: outDims };
}
