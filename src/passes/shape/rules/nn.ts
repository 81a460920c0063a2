// Neural-network ops: convolutions and pools (window arithmetic shared with onnxruntime's
// conventions for auto_pad and ceil_mode), normalizations, MatMul/Gemm/Einsum,
// recurrent layers and the quantization ops.

import { DataType } from '../../../ir/dtype.js';
import type { Dim, Shape } from '../../../ir/graph.js';
import type { OutType, RuleContext, ShapeRule } from '../context.js';
import { broadcastShapes, divDim, formatDims, mulDim } from '../dims.js';
import { einsumTermText, parseEinsum } from '../../einsum-equation.js';
import { normOneAxis, out, same, sameShape } from './util.js';

// ---------------------------------------------------------------- windows

interface Window {
  kernel: (number | null)[];
  strides: number[];
  dilations: number[];
  /** begin pads then end pads, one per spatial axis each. */
  pads: number[];
  autoPad: string;
  ceil: boolean;
}

function windowAttrs(c: RuleContext, nsp: number, kernelFromWeights: Dim[] | null): Window {
  const kAttr = c.attrInts('kernel_shape');
  const kernel: (number | null)[] = kAttr
    ? kAttr
    : kernelFromWeights
      ? kernelFromWeights.map((d) => (typeof d === 'number' ? d : null))
      : new Array<number | null>(nsp).fill(null);
  const strides = c.attrInts('strides') ?? new Array<number>(nsp).fill(1);
  const dilations = c.attrInts('dilations') ?? new Array<number>(nsp).fill(1);
  const pads = c.attrInts('pads') ?? new Array<number>(2 * nsp).fill(0);
  if (kernel.length !== nsp) c.fail(`kernel_shape has ${kernel.length} entries for ${nsp} spatial axes`);
  if (strides.length !== nsp) c.fail(`strides has ${strides.length} entries for ${nsp} spatial axes`);
  if (dilations.length !== nsp) c.fail(`dilations has ${dilations.length} entries for ${nsp} spatial axes`);
  if (pads.length !== 2 * nsp) c.fail(`pads has ${pads.length} entries, expected ${2 * nsp}`);
  if (strides.some((s) => !(s >= 1))) c.fail(`strides must be positive: [${strides}]`);
  if (dilations.some((s) => !(s >= 1))) c.fail(`dilations must be positive: [${dilations}]`);
  if (kernel.some((k) => k !== null && !(k >= 1))) c.fail(`kernel_shape must be positive: [${kernel}]`);
  if (pads.some((p) => !(p >= 0))) c.fail(`pads must not be negative: [${pads}]`);
  return { kernel, strides, dilations, pads, autoPad: c.attrStr('auto_pad', 'NOTSET'), ceil: c.attrInt('ceil_mode', 0) !== 0 };
}

/** Output size of a sliding window (Conv, pools) along one axis. */
function windowOut(c: RuleContext, inDim: Dim, w: Window, i: number, nsp: number): Dim {
  const k = w.kernel[i]!;
  const s = w.strides[i]!;
  const d = w.dilations[i]!;
  if (inDim === null || k === null) return null;
  if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') {
    if (typeof inDim === 'number') return Math.ceil(inDim / s);
    return s === 1 ? inDim : null;
  }
  const valid = w.autoPad === 'VALID';
  const pb = valid ? 0 : w.pads[i]!;
  const pe = valid ? 0 : w.pads[i + nsp]!;
  const ek = (k - 1) * d + 1;
  if (typeof inDim !== 'number') return s === 1 && pb + pe - ek + 1 === 0 ? inDim : null;
  const span = inDim + pb + pe - ek;
  if (span < 0) {
    c.conflict(`window of ${ek} (kernel ${k}, dilation ${d}) is larger than the padded input ${inDim + pb + pe} on spatial axis ${i}`);
    return null;
  }
  if (!w.ceil) return Math.floor(span / s) + 1;
  let o = Math.ceil(span / s) + 1;
  // the last window must start inside the input or its left padding
  if ((o - 1) * s >= inDim + pb) o--;
  return o;
}

function spatialOut(c: RuleContext, xs: Shape | null, w: Window, nsp: number): Dim[] {
  const outDims: Dim[] = [];
  for (let i = 0; i < nsp; i++) outDims.push(windowOut(c, xs ? xs[i + 2]! : null, w, i, nsp));
  return outDims;
}

function convShape(c: RuleContext, xi: number, wi: number): Shape | null {
  const xs = c.shape(xi);
  const ws = c.shape(wi);
  const rank = xs?.length ?? ws?.length ?? null;
  if (rank === null) return null;
  if (rank < 3) c.fail(`Conv input must have rank >= 3, got ${formatDims(xs ?? ws)}`);
  if (xs && ws && xs.length !== ws.length) c.conflict(`input ${formatDims(xs)} and weights ${formatDims(ws)} have different ranks`);
  const nsp = rank - 2;
  const group = c.attrInt('group', 1);
  const cin = xs?.[1] ?? null;
  const wc = ws?.[1] ?? null;
  if (typeof cin === 'number' && typeof wc === 'number' && cin !== wc * group) {
    c.conflict(`input has ${cin} channels but weights expect ${wc}×${group} (group ${group})`);
  }
  const w = windowAttrs(c, nsp, ws ? ws.slice(2) : null);
  return [xs?.[0] ?? null, ws?.[0] ?? null, ...spatialOut(c, xs, w, nsp)];
}

const conv: ShapeRule = (c) => [out(c.dtype(0) || c.dtype(1), convShape(c, 0, 1))];

const convTranspose: ShapeRule = (c) => {
  const xs = c.shape(0);
  const ws = c.shape(1);
  const dtype = c.dtype(0) || c.dtype(1);
  const rank = xs?.length ?? ws?.length ?? null;
  if (rank === null) return [out(dtype, null)];
  if (rank < 3) c.fail(`ConvTranspose input must have rank >= 3, got ${formatDims(xs ?? ws)}`);
  const nsp = rank - 2;
  const group = c.attrInt('group', 1);
  if (xs && ws && typeof xs[1] === 'number' && typeof ws[0] === 'number' && xs[1] !== ws[0]) {
    c.conflict(`input has ${xs[1]} channels but weights expect ${ws[0]}`);
  }
  const cout = ws ? mulDim(ws[1] ?? null, group) : null;
  const w = windowAttrs(c, nsp, ws ? ws.slice(2) : null);
  const outputShape = c.attrInts('output_shape');
  const outputPadding = c.attrInts('output_padding') ?? new Array<number>(nsp).fill(0);
  if (outputPadding.length !== nsp) c.fail(`output_padding has ${outputPadding.length} entries for ${nsp} spatial axes`);
  const spatial: Dim[] = [];
  for (let i = 0; i < nsp; i++) {
    if (outputShape) {
      const v = outputShape[outputShape.length - nsp + i];
      spatial.push(v !== undefined && v >= 0 ? v : null);
      continue;
    }
    const inDim = xs ? xs[i + 2]! : null;
    const k = w.kernel[i]!;
    const s = w.strides[i]!;
    if (inDim === null || k === null) {
      spatial.push(null);
      continue;
    }
    if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') {
      spatial.push(mulDim(inDim, s));
      continue;
    }
    const valid = w.autoPad === 'VALID';
    const pads = valid ? 0 : w.pads[i]! + w.pads[i + nsp]!;
    const ek = (k - 1) * w.dilations[i]! + 1;
    // s·(in − 1) + output_padding + ek − pads
    const offset = outputPadding[i]! + ek - pads - s;
    const o = typeof inDim === 'number' ? s * inDim + offset : offset === 0 ? mulDim(inDim, s) : null;
    if (typeof o === 'number' && o < 0) {
      c.conflict(`output size ${o} on spatial axis ${i} is negative`);
      spatial.push(null);
    } else spatial.push(o);
  }
  return [out(dtype, [xs?.[0] ?? null, cout, ...spatial])];
};

function pool(withIndices: boolean): ShapeRule {
  return (c) => {
    const xs = c.shape(0);
    const dtype = c.dtype(0);
    if (!xs) return [out(dtype, null), withIndices ? out(DataType.INT64, null) : null];
    if (xs.length < 3) c.fail(`pooling input must have rank >= 3, got ${formatDims(xs)}`);
    const nsp = xs.length - 2;
    const w = windowAttrs(c, nsp, null);
    if (w.kernel.some((k) => k === null)) c.fail('kernel_shape is required');
    const shape = [xs[0]!, xs[1]!, ...spatialOut(c, xs, w, nsp)];
    return [out(dtype, shape), withIndices ? out(DataType.INT64, [...shape]) : null];
  };
}

/**
 * MaxUnpool: output_shape when given (known), else per spatial axis (in − 1)·stride − pads at
 * both ends + kernel (ONNX's default unpooled size).
 */
const maxUnpool: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  const given = c.input(2) ? c.numbers(2) : null;
  if (given) return [out(dtype, given)];
  if (c.input(2) || !xs) return [out(dtype, xs ? xs.map(() => null) : null)];
  const nsp = xs.length - 2;
  const kernel = c.attrInts('kernel_shape') ?? c.fail('kernel_shape is required');
  const strides = c.attrInts('strides') ?? new Array<number>(nsp).fill(1);
  const pads = c.attrInts('pads') ?? new Array<number>(2 * nsp).fill(0);
  const spatial = xs.slice(2).map((d, i) => (typeof d === 'number' ? (d - 1) * strides[i]! - pads[i]! - pads[nsp + i]! + kernel[i]! : null));
  return [out(dtype, [xs[0]!, xs[1]!, ...spatial])];
};

const globalPool: ShapeRule = (c) => {
  const xs = c.shape(0);
  if (!c.type(0)) return [null];
  if (!xs) return [out(c.dtype(0), null)];
  if (xs.length < 2) c.fail(`global pooling input must have rank >= 2, got ${formatDims(xs)}`);
  return [out(c.dtype(0), [xs[0]!, xs[1]!, ...new Array<Dim>(xs.length - 2).fill(1)])];
};

const roiAlign: ShapeRule = (c) => {
  const xs = c.shape(0);
  const rois = c.shape(1);
  return [out(c.dtype(0), [rois?.[0] ?? null, xs?.[1] ?? null, c.attrInt('output_height', 1), c.attrInt('output_width', 1)])];
};

const maxRoiPool: ShapeRule = (c) => {
  const xs = c.shape(0);
  const rois = c.shape(1);
  const p = c.attrInts('pooled_shape');
  if (!p || p.length !== 2) return c.fail('pooled_shape must have 2 entries');
  return [out(c.dtype(0), [rois?.[0] ?? null, xs?.[1] ?? null, p[0]!, p[1]!])];
};

// ---------------------------------------------------------------- normalization

const batchNorm: ShapeRule = (c) => {
  const y = same(c);
  const channels = c.shape(0)?.[1] ?? c.shape(1)?.[0] ?? null;
  const statDtype = c.dtype(3) || c.dtype(1) || c.dtype(0);
  const outs: (OutType | null)[] = [y];
  for (let i = 1; i < c.numOutputs; i++) outs.push(out(statDtype, [channels]));
  return outs;
};

const layerNorm: ShapeRule = (c) => {
  const xs = c.shape(0);
  const y = same(c);
  const stash = c.attrInt('stash_type', DataType.FLOAT);
  if (!xs) return [y, out(stash, null), out(stash, null)];
  const axis = normOneAxis(c, c.attrInt('axis', -1), xs.length);
  const stat = [...xs.slice(0, axis), ...new Array<Dim>(xs.length - axis).fill(1)];
  return [y, out(stash, stat), out(stash, [...stat])];
};

/**
 * NegativeLogLikelihoodLoss / SoftmaxCrossEntropyLoss: the loss has the target's shape with
 * reduction 'none', else it is a scalar; SoftmaxCrossEntropyLoss's log_prob has the scores' shape.
 */
const classLoss: ShapeRule = (c) => {
  const dtype = c.dtype(0);
  const loss = out(dtype, c.attrStr('reduction', 'mean') === 'none' ? c.shape(1) : []);
  return c.numOutputs > 1 ? [loss, out(dtype, c.shape(0))] : [loss];
};

// ---------------------------------------------------------------- matrix products

function matmulShape(c: RuleContext, a: Shape | null, b: Shape | null): Shape | null {
  if (!a || !b) return null;
  if (a.length === 0 || b.length === 0) c.fail('MatMul inputs must not be scalars');
  const aa = a.length === 1 ? [1, a[0]!] : a;
  const bb = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = aa[aa.length - 1]!;
  const k2 = bb[bb.length - 2]!;
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
    c.conflict(`inner dimensions differ: ${formatDims(a)} × ${formatDims(b)}`);
  }
  const batch = broadcastShapes([aa.slice(0, -2), bb.slice(0, -2)], (m) => c.conflict(`batch dims: ${m}`));
  if (!batch) return null;
  const shape: Dim[] = [...batch];
  if (a.length !== 1) shape.push(aa[aa.length - 2]!);
  if (b.length !== 1) shape.push(bb[bb.length - 1]!);
  return shape;
}

const matmul: ShapeRule = (c) => [out(c.dtype(0) || c.dtype(1), matmulShape(c, c.shape(0), c.shape(1)))];
const matmulInteger: ShapeRule = (c) => [out(DataType.INT32, matmulShape(c, c.shape(0), c.shape(1)))];
const qlinearMatmul: ShapeRule = (c) => [out(c.dtype(7) || c.dtype(0), matmulShape(c, c.shape(0), c.shape(3)))];

const gemm: ShapeRule = (c) => {
  const a = c.shape(0);
  const b = c.shape(1);
  const dtype = c.dtype(0) || c.dtype(1);
  const ta = c.attrInt('transA', 0) !== 0;
  const tb = c.attrInt('transB', 0) !== 0;
  if (a && a.length !== 2) c.fail(`Gemm input A must be 2-D, got ${formatDims(a)}`);
  if (b && b.length !== 2) c.fail(`Gemm input B must be 2-D, got ${formatDims(b)}`);
  const m = a ? a[ta ? 1 : 0]! : null;
  const ka = a ? a[ta ? 0 : 1]! : null;
  const kb = b ? b[tb ? 1 : 0]! : null;
  const n = b ? b[tb ? 0 : 1]! : null;
  if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) c.conflict(`inner dimensions differ: A ${formatDims(a)}, B ${formatDims(b)}`);
  const shape: Shape = [m, n];
  if (c.has(2) && c.shape(2)) broadcastShapes([shape, c.shape(2)], (msg) => c.conflict(`C does not broadcast to [M,N]: ${msg}`));
  return [out(dtype, shape)];
};

const einsum: ShapeRule = (c) => {
  const { text: eq, inputs: terms, output } = parseEinsum(c.attrStr('equation', ''), (m) => c.fail(m));
  if (terms.length !== c.numInputs) c.fail(`equation '${eq}' has ${terms.length} operands but the node has ${c.numInputs} inputs`);
  const dtype = c.dtype(0);
  const letters = new Map<string, Dim>();
  const counts = new Map<string, number>();
  const ellipses: (Shape | null)[] = [];
  let rankKnown = true;
  terms.forEach((term, i) => {
    const hasEll = term.ellipsis >= 0;
    const labels = term.labels;
    for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    const s = c.shape(i);
    if (!s) {
      if (hasEll) {
        ellipses.push(null);
        rankKnown = false;
      }
      return;
    }
    const nEll = s.length - labels.length;
    if (nEll < 0 || (!hasEll && nEll !== 0)) c.fail(`operand ${i} ${formatDims(s)} does not match '${einsumTermText(term)}'`);
    const before = hasEll ? term.ellipsis : labels.length;
    if (hasEll) ellipses.push(s.slice(before, before + nEll));
    labels.forEach((l, j) => {
      const d = s[j < before ? j : j + nEll]!;
      // A label's dims broadcast like elementwise dims (onnxruntime accepts 'ij,ij->ij' on
      // [1,3] and [2,3]): a size of 1 gives way to any other.
      const prev = letters.get(l);
      if (prev === undefined || prev === null || prev === 1) letters.set(l, d);
      else if (typeof d === 'number' && typeof prev === 'number' && d !== prev && d !== 1) c.conflict(`label '${l}' is ${prev} and ${d}`);
    });
  });
  const ell = rankKnown ? broadcastShapes(ellipses.length ? ellipses : [[]], (m) => c.conflict(m)) : null;
  // Implicit output: the ellipsis dims, then the labels seen once, sorted.
  const outTerm = output ?? { labels: [...counts].filter(([, n]) => n === 1).map(([l]) => l).sort(), ellipsis: ellipses.length ? 0 : -1 };
  if (outTerm.ellipsis >= 0 && !ell) return [out(dtype, null)];
  const shape: Dim[] = [];
  outTerm.labels.forEach((l, k) => {
    if (k === outTerm.ellipsis) shape.push(...ell!);
    if (!counts.has(l)) c.fail(`output label '${l}' does not appear in the inputs of '${eq}'`);
    shape.push(letters.get(l) ?? null);
  });
  if (outTerm.ellipsis === outTerm.labels.length) shape.push(...ell!);
  return [out(dtype, shape)];
};

// ---------------------------------------------------------------- recurrent

function recurrent(gates: number, withCell: boolean): ShapeRule {
  return (c) => {
    const xs = c.shape(0);
    const ws = c.shape(1);
    const dtype = c.dtype(0);
    const layout = c.attrInt('layout', 0);
    const dirs = c.attrStr('direction', 'forward') === 'bidirectional' ? 2 : 1;
    const hidden = c.attrInt('hidden_size') ?? (ws ? divDim(ws[1] ?? null, gates) : null);
    const seq = xs ? (layout === 0 ? xs[0]! : xs[1]!) : null;
    const batch = xs ? (layout === 0 ? xs[1]! : xs[0]!) : null;
    const y = layout === 0 ? [seq, dirs, batch, hidden] : [batch, seq, dirs, hidden];
    const yh = layout === 0 ? [dirs, batch, hidden] : [batch, dirs, hidden];
    const outs: OutType[] = [out(dtype, y), out(dtype, yh)];
    if (withCell) outs.push(out(dtype, [...yh]));
    return outs;
  };
}

// ---------------------------------------------------------------- quantization

const quantize: ShapeRule = (c) => {
  const dtype = (c.has(2) ? c.dtype(2) : 0) || c.attrInt('output_dtype', 0) || DataType.UINT8;
  return [sameShape(c, dtype)];
};
const dequantize: ShapeRule = (c) => [sameShape(c, c.attrInt('output_dtype', 0) || c.dtype(1) || DataType.FLOAT)];
const dynamicQuantize: ShapeRule = (c) => [sameShape(c, DataType.UINT8), out(DataType.FLOAT, []), out(DataType.UINT8, [])];
const convInteger: ShapeRule = (c) => [out(DataType.INT32, convShape(c, 0, 1))];
const qlinearConv: ShapeRule = (c) => [out(c.dtype(7) || c.dtype(0), convShape(c, 0, 3))];

// ---------------------------------------------------------------- others

const depthToSpace: ShapeRule = (c) => {
  const xs = c.shape(0);
  const b = c.attrInt('blocksize', 0);
  if (!(b >= 1)) c.fail(`blocksize must be positive, got ${b}`);
  if (!xs) return [out(c.dtype(0), null)];
  if (xs.length !== 4) c.fail(`DepthToSpace input must be 4-D, got ${formatDims(xs)}`);
  const ch = divDim(xs[1]!, b * b);
  if (typeof xs[1] === 'number' && ch === null) c.conflict(`${xs[1]} channels are not divisible by blocksize² = ${b * b}`);
  return [out(c.dtype(0), [xs[0]!, ch, mulDim(xs[2]!, b), mulDim(xs[3]!, b)])];
};

const spaceToDepth: ShapeRule = (c) => {
  const xs = c.shape(0);
  const b = c.attrInt('blocksize', 0);
  if (!(b >= 1)) c.fail(`blocksize must be positive, got ${b}`);
  if (!xs) return [out(c.dtype(0), null)];
  if (xs.length !== 4) c.fail(`SpaceToDepth input must be 4-D, got ${formatDims(xs)}`);
  const h = divDim(xs[2]!, b);
  const w = divDim(xs[3]!, b);
  if ((typeof xs[2] === 'number' && h === null) || (typeof xs[3] === 'number' && w === null)) {
    c.conflict(`spatial dims ${formatDims(xs.slice(2))} are not divisible by blocksize ${b}`);
  }
  return [out(c.dtype(0), [xs[0]!, mulDim(xs[1]!, b * b), h, w])];
};

const gridSample: ShapeRule = (c) => {
  const xs = c.shape(0);
  const gs = c.shape(1);
  if (!xs && !gs) return [out(c.dtype(0), null)];
  const rank = xs?.length ?? gs?.length ?? 0;
  if (rank < 3) c.fail(`GridSample inputs must have rank >= 3`);
  const spatial: Dim[] = gs ? gs.slice(1, -1) : new Array<Dim>(rank - 2).fill(null);
  return [out(c.dtype(0), [xs?.[0] ?? gs?.[0] ?? null, xs?.[1] ?? null, ...spatial])];
};

const nonMaxSuppression: ShapeRule = () => [out(DataType.INT64, [null, 3])];

export const NN_RULES: Record<string, ShapeRule> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  ConvInteger: convInteger,
  QLinearConv: qlinearConv,
  MaxPool: pool(true),
  AveragePool: pool(false),
  LpPool: pool(false),
  MaxUnpool: maxUnpool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  RoiAlign: roiAlign,
  MaxRoiPool: maxRoiPool,
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  NegativeLogLikelihoodLoss: classLoss,
  SoftmaxCrossEntropyLoss: classLoss,
  MatMul: matmul,
  MatMulInteger: matmulInteger,
  QLinearMatMul: qlinearMatmul,
  Gemm: gemm,
  Einsum: einsum,
  RNN: recurrent(1, false),
  GRU: recurrent(3, false),
  LSTM: recurrent(4, true),
  QuantizeLinear: quantize,
  DequantizeLinear: dequantize,
  DynamicQuantizeLinear: dynamicQuantize,
  DepthToSpace: depthToSpace,
  SpaceToDepth: spaceToDepth,
  GridSample: gridSample,
  NonMaxSuppression: nonMaxSuppression,
};

