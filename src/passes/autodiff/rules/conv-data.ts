// The data gradient of a Conv, chosen for what onnxruntime's CPU kernels run fast
// (measurements in the comments of convDataGrad and polyphaseDataGrad): with stride 1, a Conv
// of dY with the weights transposed per group and flipped (constant weights flipped here, so
// that onnxruntime runs it like a forward Conv, NCHWc included; with graph-input weights and
// few positions, over the batch as a depth axis); strided grouped (depthwise) Convs the same
// after zero insertion into dY; large strided ones by phases; others a ConvTranspose.

import { constantOf } from '../../../ir/constants.js';
import { DataType } from '../../../ir/dtype.js';
import type { Value } from '../../../ir/graph.js';
import { type TypedArray, typedArrayCtor } from '../../../ir/tensor.js';
import { convOverBatchAsDepth } from '../../batch-as-depth.js';
import { type OutInfo, staticShape } from '../builder.js';
import type { GradContext } from '../rule.js';
import { range, arrayConstant } from './util.js';
import { type Geometry, extent, transposedWindow } from './window-geometry.js';

const FLIP_END = Number.MIN_SAFE_INTEGER;


/** The static weight shape [O, C/group, *k] (from the constant when there is one), if usable for flipping. */
function flippableDims(w: Value, group: number): number[] | null {
  const known = constantOf(w);
  const dims = known ? known.dims : staticShape(w);
  if (!dims || dims.length < 3 || dims[0]! % group !== 0 || (known?.dtype ?? w.dtype) === undefined) return null;
  return dims;
}

/**
 * The weights of the adjoint Conv of a stride-1 Conv: W [O, C/group, *k] (dims from
 * `flippableDims`) transposed within each group to [C, O/group, *k] and flipped on every
 * spatial axis. Computed here when W is a constant (reversing the kernel's flat index flips
 * every axis), else a Transpose (with Reshapes around it for several groups) and a Slice
 * with negative steps.
 */
function flippedWeights(c: GradContext, w: Value, dims: number[], group: number): Value {
  const b = c.b;
  const known = constantOf(w);
  const [o, cg] = [dims[0]!, dims[1]!];
  const og = o / group;
  const k = dims.slice(2);
  const kt = k.reduce((p, v) => p * v, 1);
  const outDims = [group * cg, og, ...k];
  const dtype = (known?.dtype ?? w.dtype)!;
  const ctor = typedArrayCtor(dtype);
  if (known && ctor) {
    return b.memo(`flipped|${w.name}|${group}`, () => {
      const src = known.toTypedArray();
      const dst = new ctor(src.length) as TypedArray;
      for (let g = 0; g < group; g++) {
        for (let oi = 0; oi < og; oi++) {
          for (let ci = 0; ci < cg; ci++) {
            const from = ((g * og + oi) * cg + ci) * kt;
            const to = ((g * cg + ci) * og + oi) * kt + kt - 1;
            for (let j = 0; j < kt; j++) dst[to - j] = src[from + j]!;
          }
        }
      }
      return arrayConstant(b, dtype, outDims, dst, 'flipped_weights');
    });
  }
  const sp = range(2, dims.length);
  let t = w;
  if (group === 1) t = b.transpose(w, [1, 0, ...sp], { dtype, shape: outDims });
  else if (og > 1 || cg > 1) {
    const split = b.reshape(w, b.ints([group, og, cg, ...k]), { dtype });
    const moved = b.transpose(split, [0, 2, 1, ...sp.map((i) => i + 1)], { dtype });
    t = b.reshape(moved, b.ints(outDims), { dtype, shape: outDims });
  }
  const axes = sp.filter((i) => dims[i]! > 1);
  if (!axes.length) return t;
  return b.slice(t, axes.map(() => -1), axes.map(() => FLIP_END), axes, axes.map(() => -1), { dtype, shape: outDims });
}

/**
 * Pads of the adjoint of a stride-1 Conv with geometry g, applied to an output gradient of
 * spatial dims dySp (g.outSp, or more with trailing zeros): (k−1)·dilation − head before,
 * what reaches g.inSp after. Null when one would be negative (pads wider than the kernel).
 */
function flippedPads(g: Geometry, dySp: number[]): number[] | null {
  const n = g.inSp.length;
  const head = range(0, n).map((i) => extent(g, i) - 1 - g.head[i]!);
  const tail = range(0, n).map((i) => g.inSp[i]! - dySp[i]! + g.head[i]!);
  const pads = [...head, ...tail];
  return pads.some((p) => p < 0) ? null : pads;
}

/**
 * `dy` (static shape `dims`) with stride−1 zeros after every element on each strided axis,
 * trimmed to `len`: the output gradient of the same Conv at stride 1. Per strided axis an
 * Unsqueeze, a Concat with zeros (ConstantOfShape, folded by onnxruntime) and a Reshape.
 */
function insertZeros(c: GradContext, dy: Value, dims: number[], strides: number[], len: number[]): Value {
  const b = c.b;
  const dtype = dy.dtype ?? DataType.FLOAT;
  let cur = dy;
  const shape = [...dims];
  for (let i = 0; i < strides.length; i++) {
    const s = strides[i]!;
    if (s === 1) continue;
    const a = i + 2;
    const u = b.unsqueeze(cur, [a + 1], { dtype });
    const zeroDims = [...shape.slice(0, a + 1), s - 1, ...shape.slice(a + 1)];
    const zeros = b.filled(b.ints(zeroDims), 0, dtype, zeroDims);
    const cat = b.op('Concat', [u, zeros], { axis: a + 1 }, { dtype });
    shape[a] = shape[a]! * s;
    cur = b.reshape(cat, b.ints(shape), { dtype, shape: [...shape] });
  }
  const axes = range(0, len.length).filter((i) => len[i]! < shape[i + 2]!);
  if (!axes.length) return cur;
  return b.slice(cur, axes.map(() => 0), axes.map((i) => len[i]!), axes.map((i) => i + 2), undefined, { dtype, shape: [...shape.slice(0, 2), ...len] });
}

/**
 * The data gradient of a Conv. Stride 1: a Conv of dY with the flipped weights (onnxruntime
 * runs it like a forward Conv, ~2× faster than ConvTranspose; with constant weights its
 * NCHWc and depthwise kernels apply, 3–20× faster). With graph-input weights and few
 * positions (≲ 8×8) onnxruntime's per-image GEMMs get too narrow: the images then become
 * a depth axis of one batch-1 Conv (one GEMM for all; 1–2 spatial axes), 1.3–1.5× faster
 * than either per-image form. Strided with groups (depthwise): the flipped Conv after zero
 * insertion, as onnxruntime's grouped ConvTranspose runs one tiny GEMM per group (3–5×
 * slower). Other strided Convs (where the zeros would cost 4× the work), inputs with fewer
 * than 4 channels (a one-row GEMM), pads wider than the kernel, unknown shapes:
 * ConvTranspose.
 */
export function convDataGrad(c: GradContext, dy: Value, w: Value, g: Geometry, group: number, out: OutInfo): Value {
  const b = c.b;
  const n = g.inSp.length;
  const stride1 = g.strides.every((s) => s === 1);
  const dyDims = stride1 ? null : staticShape(dy);
  const wDims = flippableDims(w, group);
  const t = c.b.tuning.conv;
  const worthIt = (d: number[]): boolean => t.force === 'fast' || (t.force !== 'fallback' && (group > 1 || d[1]! >= t.flipMinChannels));
  if (wDims && worthIt(wDims) && (stride1 || ((group > 1 || t.force === 'fast') && dyDims))) {
    // The stride-1 output grid: ≥ (out−1)·stride + 1 positions, ≤ in + head for a non-negative tail pad.
    const len = g.outSp.map((o, i) => (stride1 ? o : Math.min(o * g.strides[i]!, g.inSp[i]! + g.head[i]!)));
    const pads = flippedPads(g, len);
    if (pads && len.every((l, i) => l >= (g.outSp[i]! - 1) * g.strides[i]! + 1)) {
      const wf = flippedWeights(c, w, wDims, group);
      const positions = g.inSp.reduce((p, v) => p * v, 1);
      if (stride1 && group === 1 && n <= 2 && constantOf(w) === null && positions < t.flipMinPositions) {
        return convOverBatchAsDepth(b, dy, wf, null, { kernel: g.kernel, strides: g.strides, dilations: g.dilations, pads }, out);
      }
      const up = stride1 ? dy : insertZeros(c, dy, dyDims!, g.strides, len);
      return b.op('Conv', [up, wf], { kernel_shape: g.kernel, dilations: g.dilations, pads, group }, out);
    }
  }
  const dyElements = dyDims ? dyDims.reduce((p, d) => p * d, 1) : 0;
  if (!stride1 && dyDims && wDims && worthIt(wDims) && t.force !== 'fallback' && t.polyphase && (t.force === 'fast' || dyElements >= t.polyphaseMinElements)) {
    const poly = polyphaseDataGrad(c, dy, dyDims, w, wDims, g, group, out);
    if (poly) return poly;
  }
  return transposedWindow(c, dy, w, g, group, out);
}

/**
 * The data gradient of a strided Conv (dilation 1, 1–2 spatial axes) by phases: input
 * position j = i + head with j ≡ p (mod stride) receives only the taps k ≡ p, so each phase
 * is a stride-1 Conv of dY with the matching sub-kernel of the flipped weights (every tap
 * used once: the forward's MACs, on onnxruntime's ordinary Conv kernels — NCHWc when the
 * weights are constant), and the phases interleave by Concat and Reshape. onnxruntime's
 * ConvTranspose took ~5× its forward for the ResNet's 3×3 stride-2 convs (`bench/autodiff.ts
 * --resnet-batch 64` with and without --no-polyphase: its input gradient 17.9 vs 20.0 ms); on
 * small tensors the extra nodes cost more than that (the ResNet at batch 1 with the threshold
 * at 0: 0.57 vs 0.46 ms), hence `polyphaseMinElements`. Null when the geometry is outside that
 * (the caller falls back to ConvTranspose).
 */
function polyphaseDataGrad(c: GradContext, dy: Value, dyDims: number[], w: Value, wDims: number[], g: Geometry, group: number, out: OutInfo): Value | null {
  const b = c.b;
  const n = g.inSp.length;
  if (n > 2 || g.dilations.some((d) => d !== 1) || g.head.some((h) => h < 0)) return null;
  const dtype = out.dtype ?? dy.dtype ?? DataType.FLOAT;
  const s = g.strides;
  const K = g.kernel;
  const N = dyDims[0]!;
  const C = wDims[1]! * group;
  // Phase outputs hold Q positions per axis: enough for head + input after interleaving.
  const Q = range(0, n).map((i) => Math.max(g.outSp[i]!, Math.ceil((g.head[i]! + g.inSp[i]!) / s[i]!)));
  const f = flippedWeights(c, w, wDims, group);
  const phaseDims = [N, C, ...Q];
  const phase = (p: number[]): Value => {
    const M = p.map((pi, i) => (pi < K[i]! ? Math.ceil((K[i]! - pi) / s[i]!) : 0));
    if (M.some((m) => m === 0)) {
      return b.filled(b.ints(phaseDims), 0, dtype, phaseDims);
    }
    // Taps p, p + s, … of W are taps r, r + s, … of the flipped weights, r = K − 1 − p − (M − 1)·s.
    const r = p.map((pi, i) => K[i]! - 1 - pi - (M[i]! - 1) * s[i]!);
    const axes = range(0, n).filter((i) => M[i]! !== K[i]!);
    const sub = axes.length
      ? b.slice(f, axes.map((i) => r[i]!), axes.map((i) => r[i]! + (M[i]! - 1) * s[i]! + 1), axes.map((i) => i + 2), axes.map((i) => s[i]!), { dtype })
      : f;
    const pads = [...M.map((m) => m - 1), ...range(0, n).map((i) => Q[i]! - g.outSp[i]!)];
    return b.op('Conv', [dy, sub], { kernel_shape: M, pads, group }, { dtype, shape: phaseDims });
  };
  // Interleave: [N, C, Q0, s0, (Q1, s1)] with element [.., q0, p0, q1, p1] = phase (p0, p1) at (q0, q1).
  const stack = (parts: Value[], axis: number, partDims: number[]): Value =>
    parts.length === 1 ? parts[0]! : b.op('Concat', parts.map((v) => b.unsqueeze(v, [axis], { dtype })), { axis }, { dtype, shape: [...partDims.slice(0, axis), parts.length, ...partDims.slice(axis)] });
  let full: Value;
  if (n === 1) {
    full = stack(range(0, s[0]!).map((p0) => phase([p0])), 3, phaseDims);
  } else {
    const rows = range(0, s[0]!).map((p0) => stack(range(0, s[1]!).map((p1) => phase([p0, p1])), 4, phaseDims));
    const rowDims = [N, C, Q[0]!, Q[1]!, ...(s[1]! > 1 ? [s[1]!] : [])];
    full = stack(rows, 3, rowDims);
  }
  const fullDims = [N, C, ...Q.map((q, i) => q * s[i]!)];
  const flat = b.reshape(full, b.ints(fullDims), { dtype, shape: fullDims });
  const cut = range(0, n).filter((i) => g.head[i]! > 0 || fullDims[i + 2]! > g.inSp[i]!);
  if (!cut.length) return flat;
  return b.slice(flat, cut.map((i) => g.head[i]!), cut.map((i) => g.head[i]! + g.inSp[i]!), cut.map((i) => i + 2), undefined, out);
}