// Gradient rules for convolutions, pooling and grid sampling. The window geometry (auto_pad,
// ceil_mode, output_shape) is resolved from static spatial shapes with onnxruntime's arithmetic, so
// each gradient is a few plain ops, chosen for what onnxruntime's CPU kernels run fast
// (measurements in the comments of convDataGrad and im2colCorrelation):
// - Conv data gradient: with stride 1, a Conv of dY with the weights transposed per group
//   and flipped (constant weights flipped here, so that onnxruntime runs it like a forward
//   Conv, NCHWc included; with graph-input weights and few positions, over the batch as a
//   depth axis); strided grouped (depthwise) Convs the same after zero insertion into dY;
//   other strided Convs a ConvTranspose. ConvTranspose and AveragePool data gradients are
//   the transposed window op.
// - Conv and ConvTranspose weight gradients: im2col (Convs with constant one-hot kernels,
//   full or separable along a stride-1 axis) and one MatMul per group, summed over the
//   batch; for small batched layers and huge im2cols, one grouped Conv with batch and
//   channels swapped.
// - MaxPool scatters through its indices.
// - Dropout in training mode passes dy / (1 − ratio) where the forward's own mask is set
//   (a mask output is added to the node when it has none); LRN sums over the mirrored
//   channel window with a Pad and shifted Slices.
// - GridSample gathers X at the taps of every output point (GatherND) for the grid's gradient
//   and scatter-adds dy times the tap weights there (ScatterND) for X's.

import { type AttrInput, toAttribute } from '../../../ir/builder.js';
import { constantOf } from '../../../ir/constants.js';
import { DataType } from '../../../ir/dtype.js';
import { type Attribute, Node, type TensorType, tensorType, Value } from '../../../ir/graph.js';
import { Tensor, type TypedArray, typedArrayCtor } from '../../../ir/tensor.js';
import { convOverBatchAsDepth } from '../../batch-as-depth.js';
import { knownValueOf } from '../../shape/index.js';
import { type GradBuilder, infoOf, type OutInfo, staticShape } from '../builder.js';
import type { GradContext, GradRule, GradRuleTable } from '../rule.js';
import { dimPart, shapeFromParts } from './util.js';

const SHAPE_HINT = 'give every input a static shape (--shape name=1x3x224x224) before differentiating';

/** Where a window op reads: everything the adjoints need, per spatial axis. */
interface Geometry {
  inSp: number[];
  outSp: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Padding before each axis (window o starts at o·stride − head). */
  head: number[];
  /** Padding after each axis as onnxruntime applies it (may be negative after SAME arithmetic). */
  tail: number[];
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const extent = (g: Geometry, i: number): number => (g.kernel[i]! - 1) * g.dilations[i]! + 1;

/** The spatial dims of `v` (rank ≥ 3), which must be static. */
function staticSpatial(c: GradContext, v: Value): number[] {
  const s = v.shape;
  if (!s) throw c.fail(`the gradient needs the rank of '${v.name}', which is unknown`, SHAPE_HINT);
  if (s.length < 3) throw c.fail(`'${v.name}' has rank ${s.length}; a window op needs rank ≥ 3`);
  const sp = s.slice(2);
  if (!sp.every((d): d is number => typeof d === 'number' && d >= 0)) {
    throw c.fail(`the gradient needs the static spatial shape of '${v.name}', which is [${s.map((d) => d ?? '?').join(',')}]`, SHAPE_HINT);
  }
  return sp;
}

function staticDim(c: GradContext, v: Value, axis: number): number {
  const d = v.shape?.[axis];
  if (typeof d !== 'number' || d < 0) throw c.fail(`the gradient needs dim ${axis} of '${v.name}' to be static`, SHAPE_HINT);
  return d;
}

function intsAttr(c: GradContext, name: string, length: number, fill: number): number[] {
  const v = c.node.attrInts(name) ?? new Array<number>(length).fill(fill);
  if (v.length !== length) throw c.fail(`${name} has ${v.length} entries, expected ${length}`);
  return v;
}

/** Kernel size from kernel_shape, else from the weights' static spatial dims. */
function convKernel(c: GradContext, w: Value, nsp: number): number[] {
  const k = c.node.attrInts('kernel_shape');
  if (k) {
    if (k.length !== nsp) throw c.fail(`kernel_shape has ${k.length} entries for ${nsp} spatial axes`);
    return k;
  }
  return staticSpatial(c, w);
}

/** Head and tail pads of a SAME window: onnxruntime puts the odd pad after (SAME_UPPER) or before (SAME_LOWER). */
function samePads(autoPad: string, needed: number): [number, number] {
  const head = autoPad === 'SAME_UPPER' ? Math.trunc(needed / 2) : Math.trunc((needed + 1) / 2);
  return [head, needed - head];
}

/**
 * Windows of Conv (kind 'conv') and of the pools (kind 'pool') as onnxruntime computes
 * them: SAME pads reach ceil(in/stride) outputs, sized with the dilated kernel for Conv
 * and the undilated one for pools; with ceil_mode (pools) the last window must start
 * inside the input or its head pad.
 */
function windowGeometry(c: GradContext, kind: 'conv' | 'pool', inSp: number[], kernel: number[]): Geometry {
  const n = inSp.length;
  const strides = intsAttr(c, 'strides', n, 1);
  const dilations = intsAttr(c, 'dilations', n, 1);
  const pads = intsAttr(c, 'pads', 2 * n, 0);
  const autoPad = c.node.attrString('auto_pad', 'NOTSET');
  const ceil = kind === 'pool' && c.node.attrInt('ceil_mode', 0) !== 0;
  const g: Geometry = { inSp, outSp: [], kernel, strides, dilations, head: [], tail: [] };
  for (let i = 0; i < n; i++) {
    const ext = extent(g, i);
    const s = strides[i]!;
    let head = pads[i]!;
    let tail = pads[i + n]!;
    if (autoPad === 'VALID') head = tail = 0;
    else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      [head, tail] = samePads(autoPad, (Math.ceil(inSp[i]! / s) - 1) * s + (kind === 'conv' ? ext : kernel[i]!) - inSp[i]!);
    } else if (autoPad !== 'NOTSET') throw c.fail(`unknown auto_pad '${autoPad}'`);
    const span = inSp[i]! + head + tail - ext;
    if (span < 0) throw c.fail(`the window (${ext}) is larger than the padded input (${inSp[i]! + head + tail}) on spatial axis ${i}`);
    let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    if (ceil && (out - 1) * s >= inSp[i]! + head) out--;
    g.head.push(head);
    g.tail.push(tail);
    g.outSp.push(out);
  }
  return g;
}

/**
 * ConvTranspose windows as onnxruntime computes them. Output o of input i receives taps
 * at o = i·stride + j·dilation − head; the full result is cropped by head and tail, or
 * sized by output_shape (the crop split evenly, the odd element at the start unless
 * SAME_UPPER), or by SAME (min(in·stride, full), same split rule).
 */
function convTransposeGeometry(c: GradContext, inSp: number[], kernel: number[]): Geometry {
  const n = inSp.length;
  const strides = intsAttr(c, 'strides', n, 1);
  const dilations = intsAttr(c, 'dilations', n, 1);
  const pads = intsAttr(c, 'pads', 2 * n, 0);
  const outputPadding = intsAttr(c, 'output_padding', n, 0);
  const outputShape = c.node.attrInts('output_shape');
  const autoPad = c.node.attrString('auto_pad', 'NOTSET');
  if (outputShape && outputShape.length !== n && outputShape.length !== n + 2) throw c.fail(`output_shape has ${outputShape.length} entries for ${n} spatial axes`);
  const g: Geometry = { inSp, outSp: [], kernel, strides, dilations, head: [], tail: [] };
  for (let i = 0; i < n; i++) {
    const full = (inSp[i]! - 1) * strides[i]! + extent(g, i) + outputPadding[i]!;
    const split = (total: number): number => (autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2));
    let head: number;
    let out: number;
    if (outputShape) {
      out = outputShape[outputShape.length - n + i]!;
      head = split(Math.max(0, full - out));
    } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const total = Math.max(0, full - inSp[i]! * strides[i]!);
      head = split(total);
      out = full - total;
    } else if (autoPad === 'VALID') {
      head = 0;
      out = full;
    } else if (autoPad === 'NOTSET') {
      head = pads[i]!;
      out = full - pads[i]! - pads[i + n]!;
    } else throw c.fail(`unknown auto_pad '${autoPad}'`);
    if (out <= 0) throw c.fail(`output size ${out} on spatial axis ${i} is not positive`);
    g.head.push(head);
    g.tail.push(full - head - out);
    g.outSp.push(out);
  }
  return g;
}

/**
 * The adjoint of a strided window sum read from an input of size g.inSp: ConvTranspose of
 * `dy` (spatial g.outSp) with `w`, cropped by the head pad and trimmed or zero-extended at
 * the end to exactly g.inSp (output_padding where onnxruntime accepts it, else a Pad).
 */
function transposedWindow(c: GradContext, dy: Value, w: Value, g: Geometry, group: number, out: OutInfo): Value {
  const n = g.inSp.length;
  const tailCrop: number[] = [];
  const outputPadding: number[] = [];
  const extra: number[] = [];
  for (let i = 0; i < n; i++) {
    const full = (g.outSp[i]! - 1) * g.strides[i]! + extent(g, i);
    const crop = Math.max(0, full - g.head[i]! - g.inSp[i]!);
    const missing = g.inSp[i]! - (full - g.head[i]! - crop);
    tailCrop.push(crop);
    // onnxruntime checks that a Conv over the result would give back dy's size: output_padding < stride.
    const fits = missing < g.strides[i]!;
    outputPadding.push(fits ? missing : 0);
    extra.push(fits ? 0 : missing);
  }
  const attrs: Record<string, AttrInput> = { kernel_shape: g.kernel, strides: g.strides, dilations: g.dilations, pads: [...g.head, ...tailCrop], group };
  if (outputPadding.some((p) => p > 0)) attrs.output_padding = outputPadding;
  const needsPad = extra.some((p) => p > 0);
  const t = c.b.op('ConvTranspose', [dy, w], attrs, needsPad ? { dtype: out.dtype } : out);
  return needsPad ? c.b.pad(t, [...new Array<number>(n + 2).fill(0), 0, 0, ...extra], out) : t;
}

/**
 * The adjoint of a ConvTranspose with geometry g (input g.inSp, output g.outSp): a Conv of
 * `dy` with the same weights, padded by head before and as much as needed after, sliced
 * to g.inSp.
 */
function windowConv(c: GradContext, dy: Value, w: Value, g: Geometry, group: number, out: OutInfo): Value {
  const n = g.inSp.length;
  const after: number[] = [];
  const got: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = g.strides[i]!;
    const pad = Math.max(0, (g.inSp[i]! - 1) * s + extent(g, i) - g.head[i]! - g.outSp[i]!);
    after.push(pad);
    got.push(Math.floor((g.outSp[i]! + g.head[i]! + pad - extent(g, i)) / s) + 1);
  }
  const attrs = { kernel_shape: g.kernel, strides: g.strides, dilations: g.dilations, pads: [...g.head, ...after], group };
  const trim = got.some((d, i) => d !== g.inSp[i]);
  const r = c.b.op('Conv', [dy, w], attrs, trim ? { dtype: out.dtype } : out);
  return trim ? c.b.slice(r, new Array<number>(n).fill(0), g.inSp, range(2, n + 2), undefined, out) : r;
}

/**
 * Σ over batch and positions of a correlation, as one grouped Conv: for `a` [N, A, *aSp]
 * (read at o·stride + j·dilation − head) and `bv` [N, B, *bSp], the result [B, A/group, *k]
 * holds R[b, a', j] = Σ_{n,o} bv[n, b, o] · a[n, group(b)·A/group + a', o·stride + j·dilation − head].
 * This is the weight gradient of Conv (a = X, bv = dY) and of ConvTranspose (a = dY, bv = X).
 * The batch becomes the channel axis (group-major, so one grouped Conv serves every group),
 * `bv` the weights, and stride and dilation swap roles. The A/group channels become an extra
 * leading spatial axis of a batch-1 Conv (1–2 spatial axes: onnxruntime then runs one large
 * GEMM per group, 1–2× the forward Conv's time) or, for 3 spatial axes, the batch (one
 * skinny GEMM per channel: 3–5× slower on ResNet shapes, but no 4-D convolution).
 */
function weightCorrelation(c: GradContext, a: Value, aSp: number[], bv: Value, bSp: number[], g: Geometry, group: number, perGroup: number, out: OutInfo): Value {
  const b = c.b;
  const n = g.kernel.length;
  const sp = range(2, n + 2);
  const dtype = out.dtype;
  // With one channel per group (depthwise) both layouts are batch 1: skip the extra axis.
  const channelsAsAxis = n <= 2 && (group === 1 ? a.shape?.[1] : perGroup) !== 1;
  // bt: [B, N, (1,) *bSp]
  const bt = b.transpose(bv, [1, 0, ...sp], { dtype });
  const weights = channelsAsAxis ? b.unsqueeze(bt, [2], { dtype }) : bt;
  // ag: [1, group·N, A/group, *aSp] or [A/group, group·N, *aSp]
  let ag: Value;
  if (group === 1) ag = channelsAsAxis ? b.unsqueeze(a, [0], { dtype }) : b.transpose(a, [1, 0, ...sp], { dtype });
  else {
    const split = b.reshape(a, b.ints([0, group, perGroup, ...aSp]), { dtype });
    const moved = b.transpose(split, channelsAsAxis ? [1, 0, 2, ...sp.map((i) => i + 1)] : [2, 1, 0, ...sp.map((i) => i + 1)], { dtype });
    ag = b.reshape(moved, b.ints(channelsAsAxis ? [1, -1, perGroup, ...aSp] : [perGroup, -1, ...aSp]), { dtype });
  }
  const after: number[] = [];
  const got: number[] = [];
  for (let i = 0; i < n; i++) {
    const reach = (bSp[i]! - 1) * g.strides[i]! + 1;
    const pad = Math.max(0, (g.kernel[i]! - 1) * g.dilations[i]! + reach - aSp[i]! - g.head[i]!);
    after.push(pad);
    got.push(Math.floor((aSp[i]! + g.head[i]! + pad - reach) / g.dilations[i]!) + 1);
  }
  const trim = got.some((d, i) => d !== g.kernel[i]);
  if (channelsAsAxis) {
    const attrs = { kernel_shape: [1, ...bSp], strides: [1, ...g.dilations], dilations: [1, ...g.strides], pads: [0, ...g.head, 0, ...after], group };
    let r = b.op('Conv', [ag, weights], attrs, { dtype });
    if (trim) r = b.slice(r, new Array<number>(n).fill(0), g.kernel, sp.map((i) => i + 1), undefined, { dtype });
    return b.squeeze(r, [0], out);
  }
  let r = b.op('Conv', [ag, weights], { kernel_shape: bSp, strides: g.dilations, dilations: g.strides, pads: [...g.head, ...after], group }, { dtype });
  if (trim) r = b.slice(r, new Array<number>(n).fill(0), g.kernel, sp, undefined, { dtype });
  return b.transpose(r, [1, 0, ...sp], out);
}

/** A constant from a typed array, uncached (GradBuilder.constant keys its cache by content). */
function arrayConstant(b: GradBuilder, dtype: DataType, dims: number[], data: TypedArray, base: string): Value {
  const name = b.fresh(`${b.scope}/${base}`);
  const t = Tensor.fromArray(name, dtype, dims, data);
  const v = new Value(name, tensorType(dtype, [...dims]));
  if (b.model.irVersion >= 4) return b.graph.addInitializer(v, t);
  b.graph.nodes.insertAfter(null, new Node('', 'Constant', [], [v], { name: b.fresh(`${name}/Constant`), attributes: [toAttribute('value', t)] }));
  return v;
}


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
function convDataGrad(c: GradContext, dy: Value, w: Value, g: Geometry, group: number, out: OutInfo): Value {
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

/**
 * A channel-wise Conv of `v` ([N, ch, *sp]) with a constant one-hot kernel: output channel
 * i·T + t holds input channel i read at tap t of `kernel` (T taps; tap T−1−t when
 * `flipped`), with the given strides, dilations and pads. The kernel is shared per builder.
 */
function oneHotConv(c: GradContext, v: Value, ch: number, kernel: number[], attrs: { strides: number[]; dilations: number[]; pads: number[] }, flipped: boolean, dtype: DataType): Value {
  const b = c.b;
  const kt = kernel.reduce((p, x) => p * x, 1);
  const onehot = b.memo(`onehot|${dtype}|${ch}|${kernel.join('x')}|${flipped}`, () => {
    const data = new (typedArrayCtor(dtype)!)(ch * kt * kt) as TypedArray;
    for (let r = 0; r < ch * kt; r++) data[r * kt + (flipped ? kt - 1 - (r % kt) : r % kt)] = 1;
    return arrayConstant(b, dtype, [ch * kt, 1, ...kernel], data, 'im2col_kernel');
  });
  return b.op('Conv', [v, onehot], { kernel_shape: kernel, ...attrs, group: ch }, { dtype });
}

/** `v` cut to `len` on the spatial axes where it is longer. */
function trimSpatial(c: GradContext, v: Value, sp: number[], len: number[], dtype: DataType): Value {
  const axes = range(0, sp.length).filter((i) => len[i]! < sp[i]!);
  if (!axes.length) return v;
  return c.b.slice(v, axes.map(() => 0), axes.map((i) => len[i]!), axes.map((i) => i + 2), undefined, { dtype });
}

/**
 * Σ over the batch of per-group products lhs·rhsᵀ, for lhs [N, G·ml, …] and rhs [N, G·mr, …]
 * whose trailing dims hold `len` elements: a [1, G, ml, mr] tensor (or [ml, mr] with one
 * group and batch 1, from a Gemm, which onnxruntime runs 1.5× faster than the MatMul).
 */
function batchProduct(c: GradContext, lhs: Value, rhs: Value, group: number, ml: number, mr: number, len: number, batch: number | null, dtype: DataType): Value {
  const b = c.b;
  if (group === 1 && batch === 1) {
    const flat = (v: Value): Value => b.op('Flatten', [v], { axis: 2 }, { dtype });
    return b.op('Gemm', [flat(lhs), flat(rhs)], { transB: 1 }, { dtype, shape: [ml, mr] });
  }
  const l = b.reshape(lhs, b.ints([0, group, ml, len]), { dtype });
  const r = b.reshape(rhs, b.ints([0, group, mr, len]), { dtype });
  const prod = b.op('MatMul', [l, b.transpose(r, [0, 1, 3, 2], { dtype })], {}, { dtype });
  return batch === 1 ? prod : b.reduceSum(prod, [0], true, { dtype });
}

/**
 * The correlation of `weightCorrelation` (same contract) by im2col and MatMul, as
 * onnxruntime runs a MatMul with the forward's shapes far better than the swapped Conv
 * (whose GEMM per output has a K-row im2col: 2–3× faster on ResNet layers, 3–10× on
 * depthwise ones). Two forms:
 * - full: `a`'s windows [N, A·K, *bSp] (K taps; a channel-wise Conv with a constant one-hot
 *   kernel, or for 1×1 kernels without head pad the input, subsampled), times `bv` per group;
 * - separable, along a stride-1 axis h: `a`'s windows on the other axes only, every row of
 *   the padded input along h ([N, A·K/k_h, rows, …]), times `bv` shifted by each tap of h
 *   ([N, B·k_h, rows, …]; one-hot Conv again). It writes (A·K/k_h + B·k_h)·rows instead of
 *   A·K·out_h per position, taken when that is ≤ the tuning's separableMaxRatio of it
 *   (5×5 depthwise 3–4×, ResNet's first stage 1.3× faster).
 * With a batch, the products per image are summed. Null (use the swapped Conv) for
 * non-float types, a negative head pad, unknown channel counts, a huge im2col, or with a
 * batch and few output positions (≲ 5×5), where the swapped Conv is as fast.
 */
function im2colCorrelation(c: GradContext, a: Value, aSp: number[], bv: Value, bSp: number[], g: Geometry, group: number, out: OutInfo): Value | null {
  const b = c.b;
  const n = g.kernel.length;
  const dtype = out.dtype ?? a.dtype;
  if (dtype !== DataType.FLOAT && dtype !== DataType.DOUBLE) return null;
  const ch = a.shape?.[1];
  const bch = bv.shape?.[1];
  if (typeof ch !== 'number' || typeof bch !== 'number' || ch % group !== 0 || bch % group !== 0) return null;
  if (g.head.some((h) => h < 0)) return null;
  const batch = typeof a.shape?.[0] === 'number' ? (a.shape[0] as number) : null;
  const kt = g.kernel.reduce((p, v) => p * v, 1);
  const positions = bSp.reduce((p, v) => p * v, 1);
  const t = c.b.tuning.conv;
  if (t.force === 'fallback' || (batch ?? 1) * ch * kt * positions > t.im2colMaxElements) return null;
  if (t.force !== 'fast' && batch !== 1 && positions < t.im2colMinPositions) return null;
  const ag = ch / group;
  const bg = bch / group;
  // The pad after each axis that makes exactly bSp windows; a negative one leaves input unread.
  const after = range(0, n).map((i) => (bSp[i]! - 1) * g.strides[i]! + extent(g, i) - aSp[i]! - g.head[i]!);

  // The separable form along the cheapest stride-1 axis with more than one tap. Its product
  // comes out as [B, k_h, ag, *rest] or [ag, *rest, B, k_h] per group: in the weights' order
  // for h first and one channel per group in a, or h last and one in bv; else a Transpose,
  // which onnxruntime runs slowly block by block (~1 µs per block; 0.8 ms for 480 5×5
  // blocks): taken with one group only, when its elements are few against the savings.
  const fullCost = ch * kt * positions;
  let sep: { h: number; rows: number; cost: number; order: 'bFirst' | 'aFirst' | 'transpose' } | null = null;
  for (let h = 0; h < n; h++) {
    if (g.strides[h] !== 1 || g.kernel[h]! < 2) continue;
    const kh = g.kernel[h]!;
    const rows = bSp[h]! + (kh - 1) * g.dilations[h]!;
    const cost = (ch * (kt / kh) + bch * kh) * rows * (positions / bSp[h]!);
    const order = ag === 1 && h === 0 ? 'bFirst' : bg === 1 && h === n - 1 ? 'aFirst' : 'transpose';
    if (order === 'transpose' && t.separableMaxRatio !== Infinity && (group > 1 || 16 * bch * ag * kt > (batch ?? 1) * (fullCost - cost))) continue;
    if (cost <= t.separableMaxRatio * fullCost && (!sep || cost < sep.cost)) sep = { h, rows, cost, order };
  }
  if (sep) {
    const { h, rows, order } = sep;
    const kh = g.kernel[h]!;
    const rest = g.kernel.filter((_, i) => i !== h);
    const ktRest = kt / kh;
    const len = rows * (positions / bSp[h]!);
    // a's windows on the other axes, every padded row along h
    const aAfter = after.map((p, i) => (i === h ? rows - aSp[h]! - g.head[h]! : p));
    const aSrc = trimSpatial(c, a, aSp, aSp.map((d, i) => d + Math.min(0, aAfter[i]!)), dtype);
    const aCols = oneHotConv(
      c,
      aSrc,
      ch,
      g.kernel.map((k, i) => (i === h ? 1 : k)),
      { strides: g.strides, dilations: g.dilations.map((d, i) => (i === h ? 1 : d)), pads: [...g.head, ...aAfter.map((p) => Math.max(0, p))] },
      false,
      dtype,
    );
    // bv shifted down by each tap of h: channel j·k_h + s holds bv[j] at row r − s·dilation
    const reach = (kh - 1) * g.dilations[h]!;
    const bShift = oneHotConv(
      c,
      bv,
      bch,
      g.kernel.map((k, i) => (i === h ? k : 1)),
      { strides: new Array<number>(n).fill(1), dilations: g.dilations.map((d, i) => (i === h ? d : 1)), pads: [...range(0, n).map((i) => (i === h ? reach : 0)), ...range(0, n).map((i) => (i === h ? reach : 0))] },
      true,
      dtype,
    );
    // [N, G, bg·k_h, L] · [N, G, L, ag·K/k_h] → [G, bg·k_h, ag·K/k_h] (or the other order)
    const summed = order === 'aFirst' ? batchProduct(c, aCols, bShift, group, ag * ktRest, bg * kh, len, batch, dtype) : batchProduct(c, bShift, aCols, group, bg * kh, ag * ktRest, len, batch, dtype);
    if (order !== 'transpose') return b.reshape(summed, b.ints([bch, ag, ...g.kernel]), out);
    // [B, k_h, ag, *rest] → [B, ag, *kernel]
    const split = b.reshape(summed, b.ints([bch, kh, ag, ...rest]), { dtype });
    return b.transpose(split, [0, 2, ...range(0, n).map((i) => (i === h ? 1 : i < h ? i + 3 : i + 2))], out);
  }

  let cols: Value;
  if (kt === 1 && g.head.every((h) => h === 0) && after.every((p) => p <= 0)) {
    // 1×1 windows inside the input: the input itself, strided (a 1×1 AveragePool, exact and
    // 2× faster than a strided Slice in onnxruntime) and trimmed.
    const strided = g.strides.some((s) => s > 1);
    const pooled = strided ? b.op('AveragePool', [a], { kernel_shape: g.kernel, strides: g.strides }, { dtype }) : a;
    const pooledSp = aSp.map((d, i) => Math.floor((d - 1) / g.strides[i]!) + 1);
    cols = trimSpatial(c, pooled, pooledSp, bSp, dtype);
  } else {
    const src = trimSpatial(c, a, aSp, aSp.map((d, i) => d + Math.min(0, after[i]!)), dtype);
    cols = oneHotConv(c, src, ch, g.kernel, { strides: g.strides, dilations: g.dilations, pads: [...g.head, ...after.map((p) => Math.max(0, p))] }, false, dtype);
  }
  if (batch === 1 || (group > 1 && bg > 1)) {
    // bv [N, G, bg, P] · colsᵀ [N, G, P, ag·K] → [G, bg, ag·K], the weights' order
    return b.reshape(batchProduct(c, bv, cols, group, bg, ag * kt, positions, batch, dtype), b.ints([bch, ag, ...g.kernel]), out);
  }
  // cols [N, G, ag·K, P] · bvᵀ [N, G, P, bg] → [G, ag·K, bg]: faster than the other order with a batch; the
  // transpose at the end is one block with one group.
  const summed = batchProduct(c, cols, bv, group, ag * kt, bg, positions, batch, dtype);
  const moved = bg === 1 ? summed : b.transpose(summed, [0, 1, 3, 2], { dtype });
  return b.reshape(moved, b.ints([bch, ag, ...g.kernel]), out);
}

function biasGrad(c: GradContext, dy: Value, bias: Value, nsp: number): Value {
  return c.b.reduceSum(dy, [0, ...range(2, nsp + 2)], false, infoOf(bias));
}

/**
 * The per-output weight of an AveragePool window (1 / divisor; 0 where a window holds no
 * input), following onnxruntime: with count_include_pad the divisor counts the taps up to
 * the end of the tail pad, else the taps inside the input. Separable over axes.
 */
function averageWeights(g: Geometry, countIncludePad: boolean): number[] {
  const n = g.inSp.length;
  const perAxis = range(0, n).map((i) => {
    const s = g.strides[i]!;
    const d = g.dilations[i]!;
    const k = g.kernel[i]!;
    return range(0, g.outSp[i]!).map((o) => {
      const start = o * s - g.head[i]!;
      let inside = 0;
      for (let j = 0; j < k; j++) {
        const t = start + j * d;
        if (t >= 0 && t < g.inSp[i]!) inside++;
      }
      const end = Math.min(start + k * d, g.inSp[i]! + g.tail[i]!);
      const padded = end > start ? 1 + Math.trunc((end - start - 1) / d) : 0;
      return { inside, divisor: countIncludePad ? padded : inside };
    });
  });
  const total = g.outSp.reduce((p, v) => p * v, 1);
  const weights = new Array<number>(total);
  for (let flat = 0; flat < total; flat++) {
    let rest = flat;
    let inside = 1;
    let divisor = 1;
    for (let i = n - 1; i >= 0; i--) {
      const o = rest % g.outSp[i]!;
      rest = Math.floor(rest / g.outSp[i]!);
      inside *= perAxis[i]![o]!.inside;
      divisor *= perAxis[i]![o]!.divisor;
    }
    weights[flat] = inside > 0 && divisor > 0 ? 1 / divisor : 0;
  }
  return weights;
}

/** A copy of a value type (a new Value must not share its shape array). */
function copyType(v: Value): TensorType | null {
  const t = v.tensorType;
  return t ? tensorType(t.dtype, t.shape ? [...t.shape] : null) : null;
}

/**
 * The argmax indices of a MaxPool (flat over N·C·spatial, row-major). Without an Indices
 * output the forward node is replaced by one that has it (Y is unchanged: same attributes,
 * same output value name); with column-major indices (storage_order 1) in use, a second
 * MaxPool in the gradient graph makes row-major ones. The replacement happens in
 * `replaceForward`, to be called after `setGrad`: the context reads the node's inputs.
 */
function maxPoolIndices(c: GradContext): { indices: Value; replaceForward: () => void } {
  const n = c.node;
  const b = c.b;
  const existing = n.outputs[1];
  const rowMajor = n.attrInt('storage_order', 0) === 0;
  const none = (): void => {};
  if (existing && existing.name !== '' && rowMajor) return { indices: existing, replaceForward: none };
  const y = n.outputs[0]!;
  const attrs = [...n.attributes.values()].filter((a) => a.name !== 'storage_order');
  if (existing && existing.name !== '') {
    const attrMap: Record<string, AttrInput> = Object.fromEntries(attrs.map((a) => [a.name, a]));
    const outs = b.opMulti('MaxPool', [c.x(0)], 2, attrMap, [{ dtype: y.dtype, shape: y.shape }, { dtype: DataType.INT64, shape: y.shape }]);
    return { indices: outs[1]!, replaceForward: none };
  }
  const { value: indices, replaceForward } = addSecondOutput(c, 'indices', DataType.INT64, attrs);
  return { indices, replaceForward };
}

/**
 * A second output for the forward node, which has none: `replaceForward` (to be called after
 * `setGrad`) puts in its place a node with the same name and inputs, `attributes`, and the
 * outputs [its output, the new value] — the IR has no way to add an output in place.
 */
function addSecondOutput(c: GradContext, what: string, dtype: DataType, attributes: Attribute[]): { value: Value; replaceForward: () => void } {
  const n = c.node;
  const g = n.graph;
  if (!g) throw c.fail('the node is not in a graph');
  const y = n.outputs[0]!;
  const y2 = new Value(c.b.fresh(`${y.name}/with_${what}`), copyType(y));
  const value = new Value(c.b.fresh(`${y.name}/${what}`), tensorType(dtype, y.shape ? [...y.shape] : null));
  const replaceForward = (): void => {
    const replacement = new Node(n.domain, n.opType, [...n.inputs], [y2, value], { name: n.name, attributes });
    g.nodes.insertAfter(n, replacement);
    y.replaceAllUsesWith(y2);
    g.removeNode(n, false);
    y2.name = y.name;
  };
  return { value, replaceForward };
}

/**
 * Conv and ConvTranspose: the same three gradients over their own geometry. The data
 * gradient of one is the other's forward window (a Conv's is a transposed window, a
 * ConvTranspose's a Conv); the weight gradient correlates x with dY for a Conv and dY with x
 * for a ConvTranspose.
 */
function convFamilyRule(transposed: boolean): GradRule {
  return {
    differentiable: [0, 1, 2],
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const x = c.x(0);
      const w = c.x(1);
      const group = c.node.attrInt('group', 1);
      const inSp = staticSpatial(c, x);
      const kernel = convKernel(c, w, inSp.length);
      const g = transposed ? convTransposeGeometry(c, inSp, kernel) : windowGeometry(c, 'conv', inSp, kernel);
      if (c.wants(0)) c.setGrad(0, (transposed ? windowConv : convDataGrad)(c, dy, w, g, group, infoOf(x)));
      if (c.wants(1)) {
        const [a, aSp, bv, bSp] = transposed ? [dy, g.outSp, x, inSp] : [x, inSp, dy, g.outSp];
        const fast = im2colCorrelation(c, a, aSp, bv, bSp, g, group, infoOf(w));
        const perGroup = group === 1 ? 0 : staticDim(c, w, 1);
        c.setGrad(1, fast ?? weightCorrelation(c, a, aSp, bv, bSp, g, group, perGroup, infoOf(w)));
      }
      const bias = c.xOpt(2);
      if (bias && c.wants(2)) c.setGrad(2, biasGrad(c, dy, bias, inSp.length));
    },
  };
}

/** The mask output of a Dropout node in training mode, added (as MaxPool gains its Indices) when it has none. */
function dropoutMask(c: GradContext): { mask: Value; replaceForward: () => void } {
  const n = c.node;
  const existing = n.outputs[1];
  if (existing && existing.name !== '') return { mask: existing, replaceForward: () => {} };
  const { value: mask, replaceForward } = addSecondOutput(c, 'mask', DataType.BOOL, [...n.attributes.values()]);
  return { mask, replaceForward };
}

/**
 * Dropout's 1 − ratio as onnxruntime divides by it: the ratio read as a float32 (0.5 when
 * absent), the difference taken in float32, then in the data's type.
 */
function dropoutKeptFraction(c: GradContext, dtype: DataType): Value {
  const b = c.b;
  const ratio = c.xOpt(1);
  const known = ratio ? knownValueOf(ratio) : null;
  const r = !ratio ? 0.5 : known && known.data.length === 1 && typeof known.data[0] === 'number' ? known.data[0] : null;
  if (r !== null) return b.scalar(Math.fround(1 - Math.fround(r)), dtype);
  // Known only at run time.
  const r32 = ratio!.dtype === DataType.FLOAT ? ratio! : b.cast(ratio!, DataType.FLOAT);
  const kept = b.sub(b.scalar(1, DataType.FLOAT), r32, r32);
  return dtype === DataType.FLOAT ? kept : b.cast(kept, dtype);
}

/**
 * The sum over a channel window (axis 1) of each position: out[:, c] = Σ v[:, c−before … c+after]
 * (zero outside the channels), as a Pad and before + after + 1 shifted Slices. Exact in any
 * type, and needs only the rank.
 */
function channelWindowSum(c: GradContext, v: Value, rank: number, before: number, after: number): Value {
  const b = c.b;
  const info = infoOf(v);
  if (before === 0 && after === 0) return v;
  const pads = new Array<number>(2 * rank).fill(0);
  pads[1] = before;
  pads[rank + 1] = after;
  const padded = b.pad(v, pads, { dtype: v.dtype });
  const width = before + after + 1;
  // Shift k reads padded channels k … k + C − 1; its end counts from the padded end.
  const shifts = range(0, width).map((k) => b.slice(padded, [k], [k === width - 1 ? Number.MAX_SAFE_INTEGER : k - (width - 1)], [1], undefined, info));
  return b.sum(shifts, v);
}

// ---- GridSample ----

/** Keys' cubic convolution constant, as GridSample's spec and onnxruntime use it. */
const CUBIC_A = -0.75;

/**
 * The taps of one spatial axis: tap k reads pixel floor(u) + first + k with a weight that is
 * a polynomial in the fraction t = u − floor(u); poly[d][k] is the coefficient of t^d in tap
 * k's weight. Linear: 1 − t, t. Cubic: Keys' kernel at distances 1 + t, t, 1 − t, 2 − t.
 */
const GRID_TAPS: Record<'linear' | 'cubic', { first: number; poly: number[][] }> = {
  linear: {
    first: 0,
    poly: [
      [1, 0],
      [-1, 1],
    ],
  },
  cubic: {
    first: -1,
    poly: [
      [0, 1, 0, 0],
      [CUBIC_A, 0, -CUBIC_A, 0],
      [-2 * CUBIC_A, -(CUBIC_A + 3), 2 * CUBIC_A + 3, CUBIC_A],
      [CUBIC_A, CUBIC_A + 2, -(CUBIC_A + 2), -CUBIC_A],
    ],
  },
};

const GRID_MODES: Record<string, 'linear' | 'cubic' | 'nearest'> = { bilinear: 'linear', linear: 'linear', bicubic: 'cubic', cubic: 'cubic', nearest: 'nearest' };

/**
 * GridSample (opset 16: 4-D; opset 20: N-D), as onnxruntime computes it: per spatial axis the
 * grid coordinate is unnormalized (u = (g + 1)/2 · (S − 1) with align_corners, else
 * ((g + 1)·S − 1)/2), the taps around u are chosen (floor(u) and the next for linear, floor(u)
 * − 1 … + 2 for cubic, u rounded half to even for nearest), and padding acts on each tap's
 * pixel index only: zeros drops taps outside the image, border clamps the index, reflection
 * reflects it about the image's edges (pixel centres 0 and S − 1 with align_corners, else the
 * pixel borders −0.5 and S − 0.5). The coordinate itself is never clamped or reflected (for
 * cubic border padding that differs from clamping u first; onnxruntime 1.30 does not).
 *
 * So y = Σ_taps X[tap] · Π_axes w_a(t_a) with the tap positions fixed between integer u:
 *  - dX scatter-adds dy · Π w_a to the tap positions (ScatterND, reduction 'add');
 *  - du_a = Σ_c dy · Σ_taps X[tap] · w_a'(t_a) · Π_{b≠a} w_b, times du/dg = (S − 1)/2 or S/2;
 *    nearest is piecewise constant in the grid, whose gradient is then zero.
 * Tensors are laid out [N, O1…Or, T1…Tr] (output positions, then one tap axis per spatial
 * axis, of size 1 on the other axes' tensors); X is read as [N·P, C] (P pixels per image) at
 * flat indices n·P + Σ_a i_a·stride_a.
 */
const gridSampleRule: GradRule = {
  differentiable: [0, 1],
  minOpset: 16,
  grad(c) {
    const dy = c.dy(0);
    if (!dy) return;
    const b = c.b;
    const x = c.x(0);
    const grid = c.x(1);
    const dtype = x.dtype ?? DataType.FLOAT;
    const I64 = DataType.INT64;
    const sp = staticSpatial(c, x);
    const r = sp.length;
    if (grid.shape && grid.shape.length !== r + 2) throw c.fail(`the grid '${grid.name}' has rank ${grid.shape.length}, expected ${r + 2} for ${r} spatial axes`);
    const modeAttr = c.node.attrString('mode', c.opset >= 20 ? 'linear' : 'bilinear');
    const mode = GRID_MODES[modeAttr];
    if (!mode) throw c.fail(`mode '${modeAttr}' is unknown`, 'GridSample modes: bilinear/linear, bicubic/cubic, nearest');
    const padding = c.node.attrString('padding_mode', 'zeros');
    if (padding !== 'zeros' && padding !== 'border' && padding !== 'reflection') throw c.fail(`padding_mode '${padding}' is unknown`, 'GridSample padding modes: zeros, border, reflection');
    const alignCorners = c.node.attrInt('align_corners', 0) !== 0;
    const k = (v: number): Value => b.scalar(v, dtype);
    const f = (op: string, inputs: Value[], attrs: Record<string, AttrInput> = {}): Value => b.op(op, inputs, attrs, { dtype });
    const tapAxes = range(r + 1, 2 * r + 1);
    const pixels = sp.reduce((p, d) => p * d, 1);

    // Per spatial axis: tap pixel indices (int64, times the axis stride), weights and their derivatives.
    const flatParts: Value[] = [];
    const weights: (Value | null)[] = [];
    const slopes: Value[] = [];
    for (let a = 0; a < r; a++) {
      const size = sp[a]!;
      const stride = sp.slice(a + 1).reduce((p, d) => p * d, 1);
      // grid[..., 0] is the last spatial axis (x), grid[..., r − 1] the first.
      const g = b.unsqueeze(b.op('Gather', [grid, b.scalar(r - 1 - a, I64)], { axis: r + 1 }, { dtype }), tapAxes, { dtype });
      const u = alignCorners ? f('Mul', [f('Div', [f('Add', [g, k(1)]), k(2)]), k(size - 1)]) : f('Div', [f('Sub', [f('Mul', [f('Add', [g, k(1)]), k(size)]), k(1)]), k(2)]);
      const taps = mode === 'nearest' ? 1 : GRID_TAPS[mode].poly[0]!.length;
      const tapDims = [...new Array<number>(r + 1).fill(1), ...range(0, r).map((j) => (j === a ? taps : 1))];
      let index: Value;
      let t: Value | null = null;
      if (mode === 'nearest') index = f('Round', [u]);
      else {
        const base = f('Floor', [u]);
        t = f('Sub', [u, base]);
        const first = GRID_TAPS[mode].first;
        index = f('Add', [base, b.constant(dtype, tapDims, range(first, first + taps))]);
      }
      // Padding on the tap indices: an index inside [0, size − 1], and where zeros drops the tap, a mask.
      let mask: Value | null = null;
      let inside: Value;
      const clamp = (v: Value): Value => f('Min', [f('Max', [v, k(0)]), k(size - 1)]);
      if (padding === 'reflection' && size > 1) {
        const lo = alignCorners ? 0 : -0.5;
        const span = alignCorners ? size - 1 : size;
        const folded = b.op('Mod', [f('Abs', [f('Sub', [index, k(lo)])]), k(2 * span)], { fmod: 1 }, { dtype });
        inside = f('Sub', [k(lo + span), f('Abs', [f('Sub', [folded, k(span)])])]);
      } else {
        inside = clamp(index);
        if (padding === 'zeros') mask = b.op('Equal', [inside, index], {}, { dtype: DataType.BOOL });
      }
      flatParts.push(b.op('Mul', [b.cast(inside, I64), b.scalar(stride, I64)], {}, { dtype: I64 }));
      const masked = (v: Value): Value => (mask ? f('Where', [mask, v, k(0)]) : v);
      if (mode === 'nearest') {
        weights.push(mask ? b.cast(mask, dtype) : null);
        continue;
      }
      const poly = GRID_TAPS[mode].poly;
      const horner = (coeffs: number[][]): Value => {
        let acc = b.constant(dtype, tapDims, coeffs[coeffs.length - 1]!);
        for (let d = coeffs.length - 2; d >= 0; d--) acc = f('Add', [f('Mul', [acc, t!]), b.constant(dtype, tapDims, coeffs[d]!)]);
        return acc;
      };
      weights.push(masked(horner(poly)));
      slopes.push(masked(horner(poly.slice(1).map((row, d) => row.map((v) => v * (d + 1))))));
    }

    // Flat row of each tap in X read as [N·P, C]: n·P + Σ_a i_a·stride_a.
    const batch = dimPart(b, x, 0);
    const batchOffsets =
      typeof batch === 'number'
        ? b.constant(I64, [batch, ...new Array<number>(2 * r).fill(1)], range(0, batch).map((n) => n * pixels))
        : b.reshape(
            b.op('Range', [b.scalar(0, I64), b.op('Mul', [b.squeeze(batch, [0], { dtype: I64, shape: [] }), b.scalar(pixels, I64)], {}, { dtype: I64, shape: [] }), b.scalar(pixels, I64)], {}, { dtype: I64, shape: [null] }),
            b.ints([-1, ...new Array<number>(2 * r).fill(1)]),
            { dtype: I64 },
          );
    // Chained Adds: onnxruntime's Sum has no int64 kernel.
    const flat = flatParts.reduce((acc, v) => b.op('Add', [acc, v], {}, { dtype: I64 }), batchOffsets);
    const rows = b.unsqueeze(flat, [2 * r + 1], { dtype: I64 });
    const channels = dimPart(b, x, 1);
    const toChannelsLast = [0, ...range(2, r + 2), 1];
    const xRows = b.reshape(b.transpose(x, toChannelsLast, { dtype }), shapeFromParts(b, [-1, channels]), { dtype });
    // dy as [N, O…, 1…, C], broadcasting over the taps.
    const dyTaps = b.unsqueeze(b.transpose(dy, toChannelsLast, { dtype }), tapAxes, { dtype });
    const product = (vs: (Value | null)[]): Value | null => vs.reduce<Value | null>((p, v) => (v === null ? p : p === null ? v : f('Mul', [p, v])), null);

    if (c.wants(0)) {
      const w = product(weights);
      const updates = w ? f('Mul', [dyTaps, b.unsqueeze(w, [2 * r + 1], { dtype })]) : dyTaps;
      const scattered = b.op('ScatterND', [b.zerosLike(xRows), rows, updates], { reduction: 'add' }, { dtype });
      const unflat = b.reshape(scattered, shapeFromParts(b, [-1, ...sp, channels]), { dtype });
      c.setGrad(0, b.transpose(unflat, [0, r + 1, ...range(1, r + 1)], infoOf(x)));
    }
    if (c.wants(1)) {
      if (mode === 'nearest') {
        c.setGrad(1, b.zerosLike(grid));
        return;
      }
      // Σ_c dy · X at each tap: [N, O…, T…].
      const read = b.reduceSum(f('Mul', [b.op('GatherND', [xRows, rows], {}, { dtype }), dyTaps]), [2 * r + 1], false, { dtype });
      const perAxis = range(0, r).map((a) => {
        const terms = product([read, slopes[a]!, ...weights.filter((_, j) => j !== a)])!;
        const du = b.reduceSum(terms, tapAxes, false, { dtype });
        const scale = alignCorners ? (sp[a]! - 1) / 2 : sp[a]! / 2;
        return b.unsqueeze(f('Mul', [du, k(scale)]), [r + 1], { dtype });
      });
      c.setGrad(1, b.op('Concat', perAxis.reverse(), { axis: r + 1 }, infoOf(grid)));
    }
  },
};

export const NN_RULES: GradRuleTable = {
  Conv: convFamilyRule(false),
  ConvTranspose: convFamilyRule(true),

  MaxPool: {
    differentiable: [0],
    // ScatterElements with reduction 'add' (windows may overlap, so indices may repeat).
    minOpset: 16,
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const b = c.b;
      const x = c.x(0);
      const { indices, replaceForward } = maxPoolIndices(c);
      const flat = b.ints([-1]);
      const zeros = b.reshape(b.zerosLike(x), flat, { dtype: x.dtype });
      const updates = b.reshape(dy, flat, { dtype: x.dtype });
      const scattered = b.op('ScatterElements', [zeros, b.reshape(indices, flat, { dtype: DataType.INT64 }), updates], { axis: 0, reduction: 'add' }, { dtype: x.dtype });
      c.setGrad(0, b.reshapeLike(scattered, x));
      replaceForward();
    },
  },

  AveragePool: {
    differentiable: [0],
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const b = c.b;
      const x = c.x(0);
      const dtype = x.dtype ?? DataType.FLOAT;
      const inSp = staticSpatial(c, x);
      const kernel = c.node.attrInts('kernel_shape');
      if (!kernel || kernel.length !== inSp.length) throw c.fail(`kernel_shape must have ${inSp.length} entries`);
      const g = windowGeometry(c, 'pool', inSp, kernel);
      const weights = averageWeights(g, c.node.attrInt('count_include_pad', 0) !== 0);
      const uniform = weights.every((v) => v === weights[0]);
      const scale = uniform ? b.scalar(weights[0]!, dtype) : b.constant(dtype, [1, 1, ...g.outSp], weights);
      // Channels join the batch, so one single-channel ConvTranspose with a ones kernel spreads
      // every window back. No shape is stated for dy·scale: where onnxruntime's pool size and
      // shape inference's differ, ours is the kernel's.
      const perChannel = b.reshape(b.op('Mul', [dy, scale], {}, { dtype }), b.ints([-1, 1, ...g.outSp]), { dtype });
      const ones = b.constant(dtype, [1, 1, ...g.kernel], new Array<number>(g.kernel.reduce((p, v) => p * v, 1)).fill(1));
      const spread = transposedWindow(c, perChannel, ones, g, 1, { dtype });
      c.setGrad(0, b.reshapeLike(spread, x));
    },
  },

  Dropout: {
    // Inference (no training_mode, or a false one; every Dropout before opset 12): the
    // identity. Training: y = x / (1 − ratio) where the forward's mask is set, else 0, so
    // dx = dy / (1 − ratio) there (divided as onnxruntime's forward divides). A training_mode
    // fed at run time selects between the two with a Where. ratio and training_mode carry no
    // gradient.
    differentiable: [0],
    grad(c) {
      const dy = c.dyOrZeros(0);
      const training = c.xOpt(2);
      if (!training) {
        c.setGrad(0, dy);
        return;
      }
      const known = knownValueOf(training);
      const mode = known && known.data.length === 1 ? known.data[0] : null;
      if (mode === 0) {
        c.setGrad(0, dy);
        return;
      }
      const b = c.b;
      const x = c.x(0);
      const dtype = x.dtype ?? DataType.FLOAT;
      const { mask, replaceForward } = dropoutMask(c);
      const scaled = b.op('Div', [dy, dropoutKeptFraction(c, dtype)], {}, infoOf(x));
      // (mask and training_mode are bool from opset 12, the first with training_mode)
      const trained = b.op('Where', [mask, scaled, b.scalar(0, dtype)], {}, infoOf(x));
      c.setGrad(0, typeof mode === 'number' ? trained : b.op('Where', [training, trained, dy], {}, infoOf(x)));
      replaceForward();
    },
  },

  LRN: {
    // y_c = x_c · s_c^(−β), s_c = bias + α/size · Σ_{k ∈ W(c)} x_k², over the channel window
    // W(c) = [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉] (clipped to the channels). Then
    // dx_i = dy_i · s_i^(−β) − (2αβ/size) · x_i · Σ_{j : i ∈ W(j)} dy_j · x_j · s_j^(−β−1),
    // where x_j · s_j^(−β−1) = y_j / s_j and {j : i ∈ W(j)} = [i − ⌈(size−1)/2⌉, i + ⌊(size−1)/2⌋]
    // is the mirrored window (they differ for even sizes).
    differentiable: [0],
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const b = c.b;
      const x = c.x(0);
      const y = c.y(0);
      const rank = x.shape?.length;
      if (rank === undefined) throw c.fail(`the gradient needs the rank of '${x.name}', which is unknown`, SHAPE_HINT);
      if (rank < 2) throw c.fail(`'${x.name}' has rank ${rank}; LRN normalizes over axis 1`);
      const size = c.node.attrInt('size', 0);
      if (!Number.isInteger(size) || size < 1) throw c.fail(`size ${size} is not a positive integer`);
      const alpha = c.node.attrFloat('alpha', 1e-4);
      const beta = c.node.attrFloat('beta', 0.75);
      const bias = c.node.attrFloat('bias', 1);
      const dtype = x.dtype ?? DataType.FLOAT;
      const info = infoOf(x);
      const k = (v: number): Value => b.scalar(v, dtype);
      const mul = (p: Value, q: Value): Value => b.op('Mul', [p, q], {}, info);
      const before = Math.floor((size - 1) / 2);
      const after = size - 1 - before;
      const squares = channelWindowSum(c, mul(x, x), rank, before, after);
      const s = b.op('Add', [mul(squares, k(alpha / size)), k(bias)], {}, info);
      const direct = mul(dy, b.op('Pow', [s, k(-beta)], {}, info));
      const t = b.op('Div', [mul(dy, y), s], {}, info);
      const spread = channelWindowSum(c, t, rank, after, before);
      c.setGrad(0, b.op('Sub', [direct, mul(mul(x, spread), k((2 * alpha * beta) / size))], {}, info));
    },
  },

  GlobalAveragePool: {
    differentiable: [0],
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const b = c.b;
      const x = c.x(0);
      const dtype = x.dtype ?? DataType.FLOAT;
      const sp = x.shape?.slice(2);
      let scaled: Value;
      if (sp && sp.every((d): d is number => typeof d === 'number')) {
        scaled = b.mul(dy, b.scalar(1 / sp.reduce((p, v) => p * v, 1), dtype));
      } else {
        const spatial = b.slice(b.shapeOf(x), [2], [Number.MAX_SAFE_INTEGER], [0], undefined, { dtype: DataType.INT64 });
        const count = b.op('ReduceProd', [spatial], { keepdims: 0 }, { dtype: DataType.INT64, shape: [] });
        scaled = b.div(dy, b.cast(count, dtype));
      }
      c.setGrad(0, b.op('Expand', [scaled, b.shapeValue(x)], {}, infoOf(x)));
    },
  },

  GlobalMaxPool: {
    differentiable: [0],
    grad(c) {
      // The gradient goes to the first maximum of each channel (ArgMax), scattered into zeros.
      const dy = c.dy(0);
      if (!dy) return;
      const b = c.b;
      const x = c.x(0);
      const s = x.shape;
      const flatShape = s && s.length >= 3 && s.every((d) => typeof d === 'number') ? [s[0]!, s[1]!, (s.slice(2) as number[]).reduce((p, v) => p * v, 1)] : null;
      const xf = b.reshape(x, b.ints([0, 0, -1]), { dtype: x.dtype, shape: flatShape });
      const argmax = b.op('ArgMax', [xf], { axis: 2, keepdims: 1 }, { dtype: DataType.INT64 });
      const updates = b.reshape(dy, b.ints([0, 0, 1]), { dtype: x.dtype });
      const scattered = b.op('ScatterElements', [b.zerosLike(xf), argmax, updates], { axis: 2 }, { dtype: x.dtype, shape: flatShape });
      c.setGrad(0, b.reshapeLike(scattered, x));
    },
  },

  GridSample: gridSampleRule,
};
