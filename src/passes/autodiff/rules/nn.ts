// Gradient rules for convolutions and pooling. The window geometry (auto_pad, ceil_mode,
// output_shape) is resolved from static spatial shapes with onnxruntime's arithmetic, so
// each gradient is a few plain ops: data gradients are the transposed window op
// (ConvTranspose for Conv and AveragePool, Conv for ConvTranspose), weight gradients one
// grouped Conv with batch and channels swapped, MaxPool scatters through its indices.

import type { AttrInput } from '../../../ir/builder.js';
import { DataType } from '../../../ir/dtype.js';
import { Node, type TensorType, tensorType, Value } from '../../../ir/graph.js';
import { infoOf, type OutInfo } from '../builder.js';
import type { GradContext, GradRuleTable } from '../rule.js';

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
  const g = n.graph;
  if (!g) throw c.fail('the node is not in a graph');
  const y2 = new Value(b.fresh(`${y.name}/with_indices`), copyType(y));
  const indices = new Value(b.fresh(`${y.name}/indices`), tensorType(DataType.INT64, y.shape ? [...y.shape] : null));
  const replaceForward = (): void => {
    const replacement = new Node(n.domain, n.opType, [...n.inputs], [y2, indices], { name: n.name, attributes: attrs });
    g.nodes.insertAfter(n, replacement);
    y.replaceAllUsesWith(y2);
    g.removeNode(n, false);
    y2.name = y.name;
  };
  return { indices, replaceForward };
}

export const NN_RULES: GradRuleTable = {
  Conv: {
    differentiable: [0, 1, 2],
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const x = c.x(0);
      const w = c.x(1);
      const group = c.node.attrInt('group', 1);
      const inSp = staticSpatial(c, x);
      const g = windowGeometry(c, 'conv', inSp, convKernel(c, w, inSp.length));
      if (c.wants(0)) c.setGrad(0, transposedWindow(c, dy, w, g, group, infoOf(x)));
      if (c.wants(1)) {
        const perGroup = group === 1 ? 0 : staticDim(c, w, 1);
        c.setGrad(1, weightCorrelation(c, x, inSp, dy, g.outSp, g, group, perGroup, infoOf(w)));
      }
      const bias = c.xOpt(2);
      if (bias && c.wants(2)) c.setGrad(2, biasGrad(c, dy, bias, inSp.length));
    },
  },

  ConvTranspose: {
    differentiable: [0, 1, 2],
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const x = c.x(0);
      const w = c.x(1);
      const group = c.node.attrInt('group', 1);
      const inSp = staticSpatial(c, x);
      const g = convTransposeGeometry(c, inSp, convKernel(c, w, inSp.length));
      if (c.wants(0)) c.setGrad(0, windowConv(c, dy, w, g, group, infoOf(x)));
      if (c.wants(1)) {
        const perGroup = group === 1 ? 0 : staticDim(c, w, 1);
        c.setGrad(1, weightCorrelation(c, dy, g.outSp, x, inSp, g, group, perGroup, infoOf(w)));
      }
      const bias = c.xOpt(2);
      if (bias && c.wants(2)) c.setGrad(2, biasGrad(c, dy, bias, inSp.length));
    },
  },

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
};
