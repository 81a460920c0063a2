// How each op whose schema changed incompatibly is rewritten across the change (UPGRADERS),
// with the helpers the rewrites share.

import { constantOf } from '../../ir/constants.js';
import { DataType, dtypeName } from '../../ir/dtype.js';
import { floatToHalfBits } from '../../ir/half.js';
import { allGraphs, AttrType, attr, type Int, Node, type Shape, tensorType, type TensorType, Value } from '../../ir/graph.js';
import type { ConstTensor, UpgradeContext, Upgrader } from './context.js';

const softmaxFamily: Upgrader = (n, cx) => {
  const x = n.inputs[0];
  if (!x) throw cx.unsupported(13, 'axis semantics', 'it has no input');
  const axis = n.attrInt('axis', 1); // default 1 before opset 13, -1 from 13
  const shape = cx.facts.shape(x);
  const dtype = cx.facts.dtype(x);
  if (shape) {
    const a = axis < 0 ? axis + shape.length : axis;
    // Over the last axis, "coerce to 2-D at axis" and "along axis" are the same computation.
    if (a === shape.length - 1) return n.attr('axis') ? null : () => n.setAttr(attr.int('axis', axis));
  }
  // Else: Flatten(axis) → op(axis=1) → Reshape to Shape(x), which is the old definition.
  return () => {
    const base = baseName(n);
    const flatShape = shape ? flattenedShape(shape, axis) : [null, null];
    const flat = cx.op('Flatten', [x], { axis }, base + '.2d', typeOf(dtype, flatShape));
    const result2d = cx.op(n.opType, [flat], { axis: 1 }, base + '.2d_out', typeOf(dtype, flatShape), n.name);
    const shapeOfX = cx.op('Shape', [x], {}, base + '.shape', tensorType(DataType.INT64, [shape ? shape.length : null]));
    // The original node becomes the Reshape, so its output (and every use of it) stays.
    n.opType = 'Reshape';
    n.name = cx.fresh(`${base}/Reshape`);
    n.attributes.clear();
    if (cx.to >= 14) n.setAttr(attr.int('allowzero', 1)); // a 0 in Shape(x) is a real 0
    setInputs(n, [result2d, shapeOfX]);
  };
};

const clip: Upgrader = (n, cx) => {
  if (!cx.crosses(11)) return null;
  const x = n.inputs[0] ?? null;
  const lo = n.attr('min') ? n.attrFloat('min', 0) : undefined;
  const hi = n.attr('max') ? n.attrFloat('max', 0) : undefined;
  const dtype = x ? cx.facts.dtype(x) : null;
  if ((lo !== undefined || hi !== undefined) && !isClip6Dtype(dtype)) {
    throw cx.unsupported(11, 'min/max became inputs of the input element type', dtype === null ? 'the input element type is unknown' : `its input is ${dtypeName(dtype)}, not a float type`);
  }
  return () => {
    const base = baseName(n);
    // Clip-6's missing bounds are float32's limits; for double inputs they must be explicit.
    const FLT_MAX = 3.4028234663852886e38;
    const loV = lo ?? (dtype === DataType.DOUBLE ? -FLT_MAX : undefined);
    const hiV = hi ?? (dtype === DataType.DOUBLE ? FLT_MAX : undefined);
    const minIn = loV === undefined ? null : cx.constant(base + '.min', floatTensor(dtype!, [], [loV]));
    const maxIn = hiV === undefined ? null : cx.constant(base + '.max', floatTensor(dtype!, [], [hiV]));
    n.attributes.delete('min');
    n.attributes.delete('max');
    setInputs(n, [x, minIn, maxIn]);
  };
};

const slice: Upgrader = (n, cx) => {
  if (!cx.crosses(10)) return null;
  const starts = rawInts(n, 'starts');
  const ends = rawInts(n, 'ends');
  const axes = rawInts(n, 'axes');
  if (!starts || !ends) throw cx.unsupported(10, 'bounds became inputs', "its 'starts' or 'ends' attribute is missing");
  return () => {
    const base = baseName(n);
    const s = cx.constant(base + '.starts', int64Tensor([starts.length], starts));
    const e = cx.constant(base + '.ends', int64Tensor([ends.length], ends));
    const a = axes ? cx.constant(base + '.axes', int64Tensor([axes.length], axes)) : null;
    for (const k of ['starts', 'ends', 'axes']) n.attributes.delete(k);
    setInputs(n, [n.inputs[0] ?? null, s, e, a]);
  };
};

const pad: Upgrader = (n, cx) => {
  if (!cx.crosses(11)) return null;
  const pads = rawInts(n, 'pads');
  if (!pads) throw cx.unsupported(11, 'pads became an input', "its 'pads' attribute is missing");
  const x = n.inputs[0] ?? null;
  const mode = n.attrString('mode', 'constant');
  const value = n.attrFloat('value', 0);
  // +0 is the default fill; anything else (-0 too) must be passed in x's element type.
  const needsValue = mode === 'constant' && !Object.is(value, 0);
  const dtype = x ? cx.facts.dtype(x) : null;
  if (needsValue && !isClip6Dtype(dtype)) {
    throw cx.unsupported(11, 'the fill value became an input of the input element type', dtype === null ? 'the input element type is unknown' : `its input is ${dtypeName(dtype)}, not a float type`);
  }
  return () => {
    const base = baseName(n);
    const p = cx.constant(base + '.pads', int64Tensor([pads.length], pads));
    const v = needsValue ? cx.constant(base + '.value', floatTensor(dtype!, [], [value])) : null;
    n.attributes.delete('pads');
    n.attributes.delete('value');
    setInputs(n, [x, p, v]);
  };
};

/** `axes` attribute → optional int64 input at `version` (Squeeze, Unsqueeze, Reduce*). */
function axesToInput(version: number, required: boolean): Upgrader {
  return (n, cx) => {
    if (!cx.crosses(version)) return null;
    const axes = rawInts(n, 'axes');
    if (!axes) {
      if (required) throw cx.unsupported(version, 'axes became an input', "its 'axes' attribute is missing");
      return null; // no axes: all axes (Reduce*), all size-1 axes (Squeeze), before and after
    }
    return () => {
      const a = cx.constant(baseName(n) + '.axes', int64Tensor([axes.length], axes));
      n.attributes.delete('axes');
      setInputs(n, [n.inputs[0] ?? null, a]);
    };
  };
}

const split: Upgrader = (n, cx) => {
  const splitAttr = cx.from < 13 ? rawInts(n, 'split') : undefined;
  const moveSplit = cx.crosses(13) && splitAttr !== undefined;
  const hasSplit = splitAttr !== undefined || (cx.from >= 13 && !!n.inputs[1]);
  // From 18 a Split without sizes must say how many parts it makes.
  const addNumOutputs = cx.crosses(18) && !hasSplit && !n.attr('num_outputs');
  if (!moveSplit && !addNumOutputs) return null;
  return () => {
    if (moveSplit) {
      const s = cx.constant(baseName(n) + '.split', int64Tensor([splitAttr.length], splitAttr));
      n.attributes.delete('split');
      setInputs(n, [n.inputs[0] ?? null, s]);
    }
    if (addNumOutputs) n.setAttr(attr.int('num_outputs', n.outputs.length));
  };
};

const topK: Upgrader = (n, cx) => {
  if (!cx.crosses(10)) return null;
  const k = rawInts(n, 'k');
  if (!k || k.length !== 1) throw cx.unsupported(10, 'k became an input', "its 'k' attribute is missing");
  return () => {
    const kIn = cx.constant(baseName(n) + '.k', int64Tensor([1], k));
    n.attributes.delete('k');
    setInputs(n, [n.inputs[0] ?? null, kIn]);
  };
};

const dropout: Upgrader = (n, cx) => {
  const mask = n.outputs[1];
  const maskUsed = !!mask && !!mask.name && (mask.uses().length > 0 || usedAsGraphOutput(mask));
  if (cx.crosses(10) && maskUsed) throw cx.unsupported(10, 'the mask output became bool', 'its mask output is used');
  const ratio = cx.crosses(12) && n.attr('ratio') ? n.attrFloat('ratio', 0.5) : undefined;
  const retypeMask = cx.crosses(10) && !!mask?.tensorType && mask.tensorType.dtype !== DataType.BOOL;
  if (ratio === undefined && !retypeMask && !n.attr('is_test')) return null;
  return () => {
    n.attributes.delete('is_test');
    if (retypeMask) mask!.type = tensorType(DataType.BOOL, mask!.shape ? [...mask!.shape] : null);
    if (ratio !== undefined) {
      // The ratio input has its own type (T1); float32 holds the attribute exactly.
      const r = cx.constant(baseName(n) + '.ratio', floatTensor(DataType.FLOAT, [], [ratio]));
      n.attributes.delete('ratio');
      setInputs(n, [n.inputs[0] ?? null, r]);
    }
  };
};

const batchNormalization: Upgrader = (n, cx) => {
  const spatial = n.attr('spatial') ? n.attrInt('spatial', 1) : undefined;
  if (cx.crosses(9) && spatial !== undefined && spatial !== 1) {
    throw cx.unsupported(9, "attribute 'spatial' removed", `it has spatial=${spatial} (per-element statistics)`);
  }
  const extraOutputs = cx.crosses(14) ? n.outputs.slice(1) : [];
  const used = extraOutputs.find((v) => v.name && (v.uses().length > 0 || usedAsGraphOutput(v)));
  if (used) throw cx.unsupported(14, 'training outputs replaced', `its training output '${used.name}' is used`);
  const dropAttrs = ['spatial', 'is_test', 'consumed_inputs'].filter((k) => n.attr(k));
  if (dropAttrs.length === 0 && extraOutputs.length === 0) return null;
  return () => {
    for (const k of dropAttrs) n.attributes.delete(k);
    if (extraOutputs.length) keepFirstOutput(n);
  };
};

const scatter: Upgrader = (n, cx) => (cx.crosses(11) ? () => void (n.opType = 'ScatterElements') : null);

const roiAlign: Upgrader = (n, cx) => {
  if (!cx.crosses(16) || n.attr('coordinate_transformation_mode')) return null;
  return () => n.setAttr(attr.string('coordinate_transformation_mode', 'output_half_pixel'));
};

const gridSample: Upgrader = (n, cx) => {
  const renamed: Record<string, string> = { bilinear: 'linear', bicubic: 'cubic' };
  const mode = n.attrString('mode');
  if (!cx.crosses(20) || mode === undefined || !renamed[mode]) return null;
  return () => n.setAttr(attr.string('mode', renamed[mode]!));
};

const dft: Upgrader = (n, cx) => {
  if (!cx.crosses(20)) return null;
  const axis = n.attrInt('axis', 1); // the new input defaults to -2: pass the old default explicitly
  return () => {
    const a = cx.constant(baseName(n) + '.axis', int64Tensor([], [axis]));
    n.attributes.delete('axis');
    setInputs(n, [n.inputs[0] ?? null, n.inputs[1] ?? null, a]);
  };
};

/**
 * Upsample → Upsample-9 (scales input) or Resize. Upsample only enlarges (scales ≥ 1), and
 * onnxruntime maps output x to input floor(x / scale) (nearest) or interpolates at x / scale
 * (linear): Resize's 'asymmetric' transform with nearest_mode 'floor'.
 */
const upsample: Upgrader = (n, cx) => {
  const mode = n.attrString('mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear') throw cx.unsupported(cx.to >= 10 ? 10 : 9, 'replaced by Resize', `mode '${mode}' is not nearest or linear`);
  const scalesAttr = cx.from < 9 ? n.attrFloats('scales') : undefined;
  if (cx.from < 9 && !scalesAttr) throw cx.unsupported(9, 'scales became an input', "its 'scales' attribute is missing");
  if (cx.from >= 9 && !n.inputs[1]) throw cx.unsupported(10, 'replaced by Resize', 'it has no scales input');
  return () => {
    const x = n.inputs[0] ?? null;
    const scales = scalesAttr ? cx.constant(baseName(n) + '.scales', floatTensor(DataType.FLOAT, [scalesAttr.length], scalesAttr)) : n.inputs[1]!;
    n.attributes.delete('scales');
    if (cx.to === 9) return setInputs(n, [x, scales]);
    n.opType = 'Resize';
    if (cx.to === 10) return setInputs(n, [x, scales]);
    setInputs(n, [x, roiInput(n, cx), scales]);
    n.setAttr(attr.string('coordinate_transformation_mode', 'asymmetric'));
    if (mode === 'nearest') n.setAttr(attr.string('nearest_mode', 'floor'));
  };
};

/**
 * Resize-10 → 11+: Resize-10 had only the 'asymmetric' transform (x / scale). Its nearest
 * pixel, in onnxruntime and in onnx's reference tests, is floor(x / scale) along enlarged
 * axes and ceil(x / scale) along shrunk ones; one node has one nearest_mode, so a Resize
 * that enlarges some axes and shrinks others becomes two. From 11 → 13: only the removed
 * 'tf_half_pixel_for_nn' transform matters.
 */
const resize: Upgrader = (n, cx) => {
  if (cx.from >= 11) {
    const ctm = n.attrString('coordinate_transformation_mode', 'half_pixel');
    if (cx.crosses(13) && ctm === 'tf_half_pixel_for_nn') throw cx.unsupported(13, "'tf_half_pixel_for_nn' removed", 'it uses that transform');
    return null;
  }
  const mode = n.attrString('mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear') throw cx.unsupported(11, 'new attributes', `mode '${mode}' is not nearest or linear`);
  const scales = n.inputs[1];
  if (!scales) throw cx.unsupported(11, 'roi input added', 'it has no scales input');
  let rounding: { up: number[] | null; down: number[] | null } = { up: null, down: null };
  if (mode === 'nearest') {
    const t = constantOf(scales);
    const s = t && t.dtype === DataType.FLOAT ? t.toNumbers() : null;
    if (!s) {
      throw cx.unsupported(11, 'nearest_mode added', 'its scales are computed at run time, so whether each axis rounds up (shrinking) or down (enlarging) is unknown');
    }
    const up = s.some((v) => v > 1);
    const down = s.some((v) => v < 1);
    rounding = {
      up: up ? s.map((v) => (v >= 1 ? v : 1)) : null,
      down: down ? s.map((v) => (v < 1 ? v : 1)) : null,
    };
  }
  const x = n.inputs[0] ?? null;
  const xShape = x ? cx.facts.shape(x) : null;
  const dtype = x ? cx.facts.dtype(x) : null;
  return () => {
    const roi = roiInput(n, cx);
    const asymmetric = attr.string('coordinate_transformation_mode', 'asymmetric');
    let input = x;
    let scalesIn: Value = scales;
    if (rounding.up && rounding.down) {
      // Nearest-neighbour selection is separable: enlarge (floor), then shrink (ceil).
      const base = baseName(n);
      const upScales = cx.constant(base + '.scales_up', floatTensor(DataType.FLOAT, [rounding.up.length], rounding.up));
      input = cx.op('Resize', [x, roi, upScales], { mode: 'nearest', coordinate_transformation_mode: asymmetric, nearest_mode: 'floor' }, base + '.enlarged', typeOf(dtype, xShape ? xShape.map(() => null) : null));
      scalesIn = cx.constant(base + '.scales_down', floatTensor(DataType.FLOAT, [rounding.down.length], rounding.down));
    }
    setInputs(n, [input, roi, scalesIn]);
    n.setAttr(asymmetric);
    if (mode === 'nearest') n.setAttr(attr.string('nearest_mode', rounding.down ? 'ceil' : 'floor'));
  };
};

export const UPGRADERS: Readonly<Record<string, Upgrader>> = {
  BatchNormalization: batchNormalization,
  Clip: clip,
  DFT: dft,
  Dropout: dropout,
  GridSample: gridSample,
  Hardmax: softmaxFamily,
  LogSoftmax: softmaxFamily,
  Pad: pad,
  ReduceL1: axesToInput(18, false),
  ReduceL2: axesToInput(18, false),
  ReduceLogSum: axesToInput(18, false),
  ReduceLogSumExp: axesToInput(18, false),
  ReduceMax: axesToInput(18, false),
  ReduceMean: axesToInput(18, false),
  ReduceMin: axesToInput(18, false),
  ReduceProd: axesToInput(18, false),
  ReduceSum: axesToInput(13, false),
  ReduceSumSquare: axesToInput(18, false),
  Resize: resize,
  RoiAlign: roiAlign,
  Scatter: scatter,
  Slice: slice,
  Softmax: softmaxFamily,
  Split: split,
  Squeeze: axesToInput(13, false),
  TopK: topK,
  Unsqueeze: axesToInput(13, true),
  Upsample: upsample,
};

/** Resize's roi: required (empty) at opsets 11 and 12, omitted from 13. */
function roiInput(n: Node, cx: UpgradeContext): Value | null {
  return cx.to >= 13 ? null : cx.constant(baseName(n) + '.roi', floatTensor(DataType.FLOAT, [0], []));
}

function baseName(n: Node): string {
  return n.name || n.outputs[0]?.name || n.opType;
}

/** Replace all inputs, dropping trailing omitted ones. */
function setInputs(n: Node, inputs: (Value | null)[]): void {
  let end = inputs.length;
  while (end > 0 && !inputs[end - 1]) end--;
  n.dropInputs();
  for (let i = 0; i < end; i++) n.appendInput(inputs[i]!);
}

function rawInts(n: Node, name: string): Int[] | undefined {
  const a = n.attr(name);
  if (a?.type === AttrType.INTS) return a.value;
  if (a?.type === AttrType.INT) return [a.value];
  return undefined;
}

function int64Tensor(dims: number[], values: readonly Int[]): ConstTensor {
  return { dtype: DataType.INT64, dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

function floatTensor(dtype: DataType, dims: number[], values: readonly number[]): ConstTensor {
  if (dtype === DataType.DOUBLE) return { dtype, dims, data: Float64Array.from(values) };
  if (dtype === DataType.FLOAT16) return { dtype, dims, data: Uint16Array.from(values, floatToHalfBits) };
  return { dtype: DataType.FLOAT, dims, data: Float32Array.from(values) };
}

/** The element types of Clip-6 and Pad-2 (their attributes are converted to these). */
function isClip6Dtype(dt: DataType | null): boolean {
  return dt === DataType.FLOAT || dt === DataType.DOUBLE || dt === DataType.FLOAT16;
}

/** A type for a new value when its element type and rank are known (else none: value_info needs a shape). */
function typeOf(dtype: DataType | null, shape: Shape | null): TensorType | null {
  return dtype && shape ? tensorType(dtype, shape) : null;
}

/** Shape of Flatten(x, axis): [prod(dims before axis), prod(dims from axis)]. */
function flattenedShape(shape: Shape, axis: number): Shape {
  const a = axis < 0 ? axis + shape.length : axis;
  const prod = (dims: Shape): number | null => (dims.every((d) => typeof d === 'number') ? (dims as number[]).reduce((p, d) => p * d, 1) : null);
  return [prod(shape.slice(0, a)), prod(shape.slice(a))];
}

/** Whether `v` is an output of its graph or of a subgraph nested in it (which may name outer values). */
function usedAsGraphOutput(v: Value): boolean {
  if (!v.graph) return false;
  for (const g of allGraphs(v.graph)) if (g.outputs.includes(v)) return true;
  return false;
}

/** Rebuild `n` with only its first output (Values cannot leave their producer). */
function keepFirstOutput(n: Node): void {
  const y = n.outputs[0]!;
  const g = n.graph!;
  const y2 = new Value(y.name, y.type);
  y2.docString = y.docString;
  y2.typeFromFile = y.typeFromFile;
  const copy = new Node(n.domain, n.opType, n.inputs, [y2], { name: n.name, attributes: [...n.attributes.values()] });
  copy.overload = n.overload;
  copy.docString = n.docString;
  copy.extra = n.extra;
  g.nodes.insertBefore(n, copy);
  y.replaceAllUsesWith(y2); // node inputs everywhere, and the outputs of g
  for (const sg of allGraphs(g)) sg.outputs.forEach((v, i) => v === y && (sg.outputs[i] = y2));
  g.removeNode(n);
  for (const v of n.outputs) v.name = '';
}
