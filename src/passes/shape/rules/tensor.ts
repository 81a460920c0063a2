// Data-movement and shape ops: Reshape, Flatten, Transpose, (Un)Squeeze, Expand, Tile,
// Concat, Split, Slice, Pad, Resize/Upsample, Gather*, Shape/Size, ConstantOfShape,
// Range, Constant and friends. Small known inputs are folded so that shape arithmetic
// (Shape → Gather → Unsqueeze → Concat → Reshape) yields exact, possibly symbolic dims.

import { constantNodeTensor } from '../../../ir/constants.js';
import { DataType } from '../../../ir/dtype.js';
import type { Dim, Shape } from '../../../ir/graph.js';
import type { OutType, RuleContext, ShapeRule } from '../context.js';
import { addDim, broadcastShapes, dimEq, divDim, formatDims, isStaticShape, mulDim, normAxis, prodDims, staticSize, sumDims } from '../dims.js';
import {
  castElem,
  elementCount,
  gatherElements,
  type KnownElem,
  knownFromTensor,
  type KnownValue,
  MAX_FOLD_ELEMENTS,
  stridesOf,
} from '../known.js';
import { axesArg, clamp, elemsAsDims, normAxes, normOneAxis, out, unknownDims } from './util.js';

/** The same elements under new (static) dims, when the count matches. */
function reshapeValue(v: KnownValue | null, dims: Shape | null): KnownValue | null {
  if (!v || !isStaticShape(dims) || elementCount(dims) !== v.data.length) return null;
  return { dtype: v.dtype, dims, data: v.data };
}

/** A shape tensor's rank when its own shape is a static 1-D [k]. */
function rankFromShapeInput(c: RuleContext, i: number): number | null {
  const s = c.shape(i);
  return s && s.length === 1 && typeof s[0] === 'number' ? s[0] : null;
}

// ---------------------------------------------------------------- constants and shapes

const constant: ShapeRule = (c) => {
  const t = constantNodeTensor(c.node);
  if (!t) return [null];
  if (!t.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) c.fail(`constant has invalid dims [${t.dims}]`);
  // Small constants (shape arithmetic) are decoded now; larger ones lazily by knownValueOf,
  // so weights are decoded only if a rule asks for them.
  const small = t.dims.length <= 1 && (t.dims[0] ?? 1) <= 64;
  return [out(t.dtype, [...t.dims], small ? knownFromTensor(t) : null)];
};

const shapeOp: ShapeRule = (c) => {
  const xs = c.shape(0);
  if (!xs) return [out(DataType.INT64, [null])];
  const r = xs.length;
  let start = c.opset >= 15 ? c.attrInt('start', 0) : 0;
  let end = c.opset >= 15 ? c.attrInt('end', r) : r;
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = clamp(start, 0, r);
  end = clamp(end, 0, r);
  const dims = xs.slice(start, Math.max(start, end));
  return [out(DataType.INT64, [dims.length], { dtype: DataType.INT64, dims: [dims.length], data: dims })];
};

const size: ShapeRule = (c) => {
  const xs = c.shape(0);
  const n = xs ? prodDims(xs) : null;
  return [out(DataType.INT64, [], n !== null ? { dtype: DataType.INT64, dims: [], data: [n] } : null)];
};

const constantOfShape: ShapeRule = (c) => {
  const t = c.attrTensor('value');
  const dtype = t?.dtype ?? DataType.FLOAT;
  const e = c.elems(0);
  if (!e) return [out(dtype, unknownDims(rankFromShapeInput(c, 0)))];
  const dims = elemsAsDims(e);
  let value: KnownValue | null = null;
  const n = staticSize(dims);
  if (n !== null && n <= MAX_FOLD_ELEMENTS) {
    const fill = t ? knownFromTensor(t)?.data[0] ?? null : 0;
    if (fill !== null) value = { dtype, dims: dims as number[], data: new Array<KnownElem>(n).fill(fill) };
  }
  return [out(dtype, dims, value)];
};

const range: ShapeRule = (c) => {
  const dtype = c.dtype(0) || c.dtype(1) || c.dtype(2);
  const e = [c.elems(0), c.elems(1), c.elems(2)].map((x) => (x && x.length === 1 ? x[0]! : null));
  const [start, limit, delta] = e;
  if (typeof start === 'number' && typeof limit === 'number' && typeof delta === 'number') {
    if (delta === 0) c.fail('Range delta is 0');
    const n = Math.max(Math.ceil((limit - start) / delta), 0);
    if (!Number.isSafeInteger(n)) c.fail(`Range has ${n} elements`);
    let value: KnownValue | null = null;
    if (n <= MAX_FOLD_ELEMENTS) {
      // accumulate in the element type, as onnxruntime does (float32 sums drift)
      const data: KnownElem[] = new Array<KnownElem>(n);
      let x = castElem(start, dtype);
      for (let i = 0; i < n && typeof x === 'number'; i++) {
        data[i] = x;
        x = castElem(x + delta, dtype);
      }
      if (typeof x === 'number') value = { dtype, dims: [n], data };
    }
    return [out(dtype, [n], value)];
  }
  // range(0, N, 1) over a symbolic dim has N elements
  if (start === 0 && delta === 1 && typeof limit === 'string') return [out(dtype, [limit])];
  return [out(dtype, [null])];
};

const eyeLike: ShapeRule = (c) => {
  const xs = c.shape(0);
  if (xs && xs.length !== 2) c.fail(`EyeLike input must be 2-D, got ${formatDims(xs)}`);
  return [out(c.attrInt('dtype', 0) || c.dtype(0), xs ? [...xs] : [null, null])];
};

// ---------------------------------------------------------------- reshaping

const reshape: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  const target: readonly KnownElem[] | null = c.opset < 5 ? (c.attrInts('shape') ?? null) : c.elems(1);
  if (!target) return [out(dtype, unknownDims(c.opset < 5 ? null : rankFromShapeInput(c, 1)))];
  const allowZero = c.opset >= 14 && c.attrInt('allowzero', 0) !== 0;
  const shape: Dim[] = [];
  let inferAt = -1;
  for (let i = 0; i < target.length; i++) {
    const t = target[i]!;
    if (t === null || typeof t === 'string') {
      shape.push(t);
      continue;
    }
    if (!Number.isSafeInteger(t) || t < -1) c.fail(`invalid target dim ${t} in ${JSON.stringify(target)}`);
    if (t === 0 && !allowZero) {
      if (xs && i >= xs.length) c.fail(`target dim ${i} copies an input dim, but the input ${formatDims(xs)} has rank ${xs.length}`);
      shape.push(xs ? xs[i]! : null);
    } else if (t === -1) {
      if (inferAt >= 0) c.fail(`more than one -1 in reshape target ${JSON.stringify(target)}`);
      inferAt = i;
      shape.push(null);
    } else shape.push(t);
  }
  const total = xs ? prodDims(xs) : null;
  if (inferAt >= 0) {
    const rest = prodDims(shape.filter((_, i) => i !== inferAt));
    if (typeof total === 'number' && typeof rest === 'number' && rest !== 0 && total % rest !== 0) {
      c.conflict(`cannot reshape ${formatDims(xs)} (${total} elements) into ${formatDims(shape)}`);
    } else if (rest !== 0) shape[inferAt] = divDim(total, rest);
  } else if (total !== null) {
    // same element count, also symbolically (192*N into [N,48,4] is not)
    const n = prodDims(shape);
    const ratio = n !== null ? divDim(total, n) : null;
    const clash = typeof total === 'number' && typeof n === 'number' ? n !== total : ratio !== null && ratio !== 1 && typeof ratio === 'number';
    if (clash) c.conflict(`cannot reshape ${formatDims(xs)} (${total} elements) into ${formatDims(shape)}`);
  }
  return [out(dtype, shape, reshapeValue(c.value(0), shape))];
};

const flatten: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  if (!xs) return [out(dtype, [null, null])];
  let axis = c.attrInt('axis', 1);
  if (axis < 0) axis += xs.length;
  if (!(axis >= 0 && axis <= xs.length)) c.fail(`axis ${c.attrInt('axis', 1)} is out of range for rank ${xs.length}`);
  const shape = [prodDims(xs.slice(0, axis)), prodDims(xs.slice(axis))];
  return [out(dtype, shape, reshapeValue(c.value(0), shape))];
};

const transpose: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  const permAttr = c.attrInts('perm');
  if (!xs) return [out(dtype, unknownDims(permAttr?.length ?? null))];
  const r = xs.length;
  const perm = permAttr ?? xs.map((_, i) => r - 1 - i);
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => !(p >= 0 && p < r))) {
    c.fail(`perm [${perm}] is not a permutation of ${r} axes`);
  }
  const shape = perm.map((p) => xs[p]!);
  const v = c.value(0);
  let value: KnownValue | null = null;
  if (v && v.dims.length === r) {
    const st = stridesOf(v.dims);
    value = gatherElements(v.dtype, perm.map((p) => v.dims[p]!), v.data, (idx) => {
      let o = 0;
      for (let k = 0; k < r; k++) o += idx[k]! * st[perm[k]!]!;
      return o;
    });
  }
  return [out(dtype, shape, value)];
};

const squeeze: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  let axes = axesArg(c, 1, c.opset >= 13);
  if (axes === null) {
    const k = rankFromShapeInput(c, 1);
    return [out(dtype, xs && k !== null ? unknownDims(xs.length - k) : null)];
  }
  if (!xs) return [out(dtype, null)];
  let shape: Dim[];
  if (axes === undefined || axes.length === 0) {
    // squeeze every 1: only decidable when no dim is symbolic or unknown
    if (!xs.every((d) => typeof d === 'number')) return [out(dtype, null)];
    shape = xs.filter((d) => d !== 1);
    axes = undefined;
  } else {
    const norm = new Set(normAxes(c, axes, xs.length));
    for (const a of norm) {
      const d = xs[a]!;
      if (typeof d === 'number' && d !== 1) c.conflict(`cannot squeeze axis ${a} of ${formatDims(xs)}: its size is ${d}`);
    }
    shape = xs.filter((_, i) => !norm.has(i));
  }
  return [out(dtype, shape, reshapeValue(c.value(0), shape))];
};

const unsqueeze: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  const axes = axesArg(c, 1, c.opset >= 13);
  if (axes === undefined) return c.fail('Unsqueeze needs axes');
  if (!xs || axes === null) {
    const k = axes ? axes.length : rankFromShapeInput(c, 1);
    return [out(dtype, xs && k !== null ? unknownDims(xs.length + k) : null)];
  }
  const r = xs.length + axes.length;
  const norm = normAxes(c, axes, r);
  const set = new Set(norm);
  if (set.size !== norm.length) c.fail(`repeated axes [${axes}]`);
  const shape: Dim[] = [];
  let j = 0;
  for (let i = 0; i < r; i++) shape.push(set.has(i) ? 1 : xs[j++]!);
  return [out(dtype, shape, reshapeValue(c.value(0), shape))];
};

/** Index function reading `inDims` (right-aligned, broadcast) at an output index. */
function broadcastIndex(inDims: readonly number[], outRank: number): (idx: readonly number[]) => number {
  const st = stridesOf(inDims);
  const off = outRank - inDims.length;
  return (idx) => {
    let o = 0;
    for (let k = 0; k < inDims.length; k++) if (inDims[k] !== 1) o += idx[k + off]! * st[k]!;
    return o;
  };
}

const expand: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  const e = c.elems(1);
  let shape: Shape | null;
  if (e) {
    shape = broadcastShapes([xs, elemsAsDims(e)], (m) => c.conflict(m));
  } else {
    const k = rankFromShapeInput(c, 1);
    if (!xs || k === null) shape = null;
    else {
      // the target may only grow dims of size 1
      const r = Math.max(xs.length, k);
      const dims = unknownDims(r);
      if (dims) xs.forEach((d, i) => {
        if (d !== 1 && d !== null) dims[r - xs.length + i] = d;
      });
      shape = dims;
    }
  }
  const v = c.value(0);
  let value: KnownValue | null = null;
  if (v && isStaticShape(shape)) value = gatherElements(v.dtype, shape, v.data, broadcastIndex(v.dims, shape.length));
  return [out(dtype, shape, value)];
};

const tile: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  const reps = c.numbers(1);
  if (!xs) return [out(dtype, null)];
  if (!reps) return [out(dtype, unknownDims(xs.length))];
  if (reps.length !== xs.length) c.fail(`repeats has ${reps.length} entries for rank ${xs.length}`);
  if (reps.some((r) => !(r >= 0))) c.fail(`repeats must not be negative: [${reps}]`);
  const shape = xs.map((d, i) => mulDim(d, reps[i]!));
  const v = c.value(0);
  let value: KnownValue | null = null;
  if (v && isStaticShape(shape) && v.dims.length === xs.length) {
    const st = stridesOf(v.dims);
    value = gatherElements(v.dtype, shape, v.data, (idx) => {
      let o = 0;
      for (let k = 0; k < idx.length; k++) o += (idx[k]! % v.dims[k]!) * st[k]!;
      return o;
    });
  }
  return [out(dtype, shape, value)];
};

// ---------------------------------------------------------------- concat / split / slice

const concat: ShapeRule = (c) => {
  let dtype = 0;
  const shapes: (Shape | null)[] = [];
  for (let i = 0; i < c.numInputs; i++) {
    if (!c.has(i)) continue;
    dtype ||= c.dtype(i);
    shapes.push(c.shape(i));
  }
  const known = shapes.find((s) => s !== null);
  if (!known) return [out(dtype, null)];
  const r = known.length;
  const axisAttr = c.attrInt('axis', c.opset < 4 ? 1 : NaN);
  if (Number.isNaN(axisAttr)) c.fail('Concat needs an axis');
  const axis = normOneAxis(c, axisAttr, r);
  if (shapes.some((s) => s && s.length !== r)) {
    c.conflict(`inputs have different ranks: ${shapes.map(formatDims).join(', ')}`);
    return [out(dtype, null)];
  }
  const shape: Dim[] = [];
  for (let k = 0; k < r; k++) {
    if (k === axis) {
      shape.push(shapes.every((s) => s !== null) ? sumDims(shapes.map((s) => s![k]!)) : null);
      continue;
    }
    let d: Dim = null;
    for (const s of shapes) {
      if (!s) continue;
      const x = s[k]!;
      if (d === null) d = x;
      else if (typeof d === 'number' && typeof x === 'number' && d !== x) {
        c.conflict(`inputs differ on axis ${k}: ${shapes.map(formatDims).join(', ')}`);
      } else if (typeof d !== 'number' && typeof x === 'number') d = x;
    }
    shape.push(d);
  }
  // fold when every input is known
  let value: KnownValue | null = null;
  const vs: KnownValue[] = [];
  for (let i = 0; i < c.numInputs; i++) {
    if (!c.has(i)) continue;
    const v = c.value(i);
    if (!v || v.dims.length !== r) {
      vs.length = 0;
      break;
    }
    vs.push(v);
  }
  if (vs.length && vs.length === shapes.length && r === 1) {
    // 1-D (shape vectors): plain concatenation
    const data: KnownElem[] = [];
    for (const v of vs) for (const x of v.data) data.push(x);
    if (data.length <= MAX_FOLD_ELEMENTS) value = { dtype: dtype || vs[0]!.dtype, dims: [data.length], data };
  } else if (vs.length && vs.length === shapes.length) {
    const dims = [...vs[0]!.dims];
    dims[axis] = vs.reduce((a, v) => a + v.dims[axis]!, 0);
    if (elementCount(dims) <= MAX_FOLD_ELEMENTS) {
      const outer = elementCount(dims.slice(0, axis));
      const data: KnownElem[] = [];
      for (let o = 0; o < outer; o++) {
        for (const v of vs) {
          const block = elementCount(v.dims.slice(axis));
          for (let j = 0; j < block; j++) data.push(v.data[o * block + j] ?? null);
        }
      }
      if (data.length === elementCount(dims)) value = { dtype: dtype || vs[0]!.dtype, dims, data };
    }
  }
  return [out(dtype, shape, value)];
};

/** Sub-block [start, start+len) along `axis` of a known value. */
function sliceValue(v: KnownValue | null, axis: number, start: number, len: number): KnownValue | null {
  if (!v || axis >= v.dims.length) return null;
  const dims = [...v.dims];
  dims[axis] = len;
  const st = stridesOf(v.dims);
  return gatherElements(v.dtype, dims, v.data, (idx) => {
    let o = 0;
    for (let k = 0; k < idx.length; k++) o += (k === axis ? idx[k]! + start : idx[k]!) * st[k]!;
    return o;
  });
}

const split: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  const n = c.numOutputs;
  if (!xs) return new Array<OutType>(n).fill(out(dtype, null));
  const axis = normOneAxis(c, c.attrInt('axis', 0), xs.length);
  const d = xs[axis]!;
  let sizes: Dim[];
  const given = c.opset >= 13 ? (c.has(1) ? c.numbers(1) : undefined) : c.attrInts('split');
  if (given === null) sizes = new Array<Dim>(n).fill(null);
  else if (given !== undefined && given.length > 0) {
    if (given.length !== n) c.fail(`split has ${given.length} sizes for ${n} outputs`);
    if (given.some((s) => !(s >= 0))) c.fail(`split sizes must not be negative: [${given}]`);
    const total = given.reduce((a, b) => a + b, 0);
    if (typeof d === 'number' && total !== d) c.conflict(`split sizes [${given}] add up to ${total}, not ${d}`);
    sizes = given;
  } else if (c.opset >= 18 && c.hasAttr('num_outputs')) {
    const k = c.attrInt('num_outputs', n);
    if (k !== n) c.fail(`num_outputs is ${k} but the node has ${n} outputs`);
    if (typeof d === 'number') {
      const chunk = Math.ceil(d / n);
      sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, d - chunk * i)));
    } else sizes = new Array<Dim>(n).fill(divDim(d, n));
  } else {
    if (typeof d === 'number' && d % n !== 0) c.conflict(`axis size ${d} does not split evenly into ${n} outputs`);
    sizes = new Array<Dim>(n).fill(divDim(d, n));
  }
  const v = c.value(0);
  let startAt = 0;
  return sizes.map((s) => {
    const shape = xs.map((x, i) => (i === axis ? s : x));
    let value: KnownValue | null = null;
    if (typeof s === 'number' && startAt >= 0) {
      value = sliceValue(v, axis, startAt, s);
      startAt += s;
    } else startAt = -1;
    return out(dtype, shape, value);
  });
};

const INT64_MAX_ISH = 2 ** 31 - 1; // ends at or beyond this mean "to the end" in practice

/**
 * Ends computed from Shape (x[:, :n] with n = x.shape[1] in exports) are symbols; an end
 * equal to its axis' dim means "to the end", the same as INT64_MAX.
 */
function symbolicEnds(
  c: RuleContext,
  xs: Shape | null,
  axes: number[] | null | undefined,
  starts: number[] | null,
  steps: number[] | null | undefined,
): number[] | null {
  const e = c.elems(2);
  if (!e || !xs || !starts || axes === null || steps === null || e.length !== starts.length) return null;
  const out: number[] = [];
  for (let i = 0; i < e.length; i++) {
    const x = e[i]!;
    if (typeof x === 'number') out.push(x);
    else {
      const a = normAxis(axes ? (axes[i] ?? -1e9) : i, xs.length);
      if (x === null || a === null || (steps?.[i] ?? 1) <= 0 || !dimEq(x, xs[a]!)) return null;
      out.push(INT64_END);
    }
  }
  return out;
}

/** INT64_MAX as a JS number (int64 tensors convert to 2^63). */
const INT64_END = 2 ** 63;
const INT32_MAX = 2 ** 31 - 1;

const slice: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  let starts: number[] | null | undefined;
  let ends: number[] | null | undefined;
  let axes: number[] | null | undefined;
  let steps: number[] | null | undefined;
  if (c.opset < 10) {
    starts = c.attrInts('starts');
    ends = c.attrInts('ends');
    axes = c.attrInts('axes');
    steps = undefined;
    if (!starts || !ends) c.fail('Slice needs starts and ends');
  } else {
    starts = c.numbers(1);
    ends = c.numbers(2);
    axes = c.has(3) ? c.numbers(3) : undefined;
    steps = c.has(4) ? c.numbers(4) : undefined;
    if (ends === null) ends = symbolicEnds(c, xs, axes, starts, steps);
  }
  if (!xs) return [out(dtype, null)];
  const r = xs.length;
  if (!starts || !ends || axes === null || steps === null) {
    const shape: Dim[] = [...xs];
    if (axes) for (const a of normAxes(c, axes, r)) shape[a] = null;
    else shape.fill(null);
    return [out(dtype, shape)];
  }
  const ax = axes ? normAxes(c, axes, r) : starts.map((_, i) => i);
  if (starts.length !== ends.length || ax.length !== starts.length || (steps && steps.length !== starts.length)) {
    c.fail(`starts/ends/axes/steps have different lengths`);
  }
  if (new Set(ax).size !== ax.length) c.fail(`repeated axes [${axes}]`);
  const shape: Dim[] = [...xs];
  const plan: { axis: number; start: number; step: number; len: number }[] = [];
  for (let i = 0; i < ax.length; i++) {
    const a = ax[i]!;
    const step = steps ? steps[i]! : 1;
    if (step === 0 || !Number.isFinite(step)) c.fail('Slice step must not be 0');
    const d = xs[a]!;
    let start = starts[i]!;
    let end = ends[i]!;
    // INT32_MAX / INT64_MAX ends mean "past the last element in the step's direction"
    // (numpy's None): onnxruntime reads them so even for negative steps, where the spec's
    // clamping would give an empty slice.
    const toEdge = end === INT32_MAX || end >= INT64_END;
    if (typeof d !== 'number') {
      // a symbolic or unknown dim: only a whole-axis slice (forward or reversed) keeps it
      const fromFirst = start === 0 || start <= -INT64_END;
      const fromLast = start === -1 || start === INT32_MAX || start >= INT64_END;
      const all = (step === 1 && fromFirst && (toEdge || end >= INT64_MAX_ISH)) || (step === -1 && fromLast && (toEdge || end <= -INT64_END));
      shape[a] = all ? d : null;
      continue;
    }
    if (start < 0) start += d;
    start = step > 0 ? clamp(start, 0, d) : clamp(start, 0, d - 1);
    if (toEdge) end = step > 0 ? d : -1;
    else {
      if (end < 0) end += d;
      end = step > 0 ? clamp(end, 0, d) : clamp(end, -1, d);
    }
    const len = Math.max(0, Math.ceil((end - start) / step));
    shape[a] = len;
    plan.push({ axis: a, start, step, len });
  }
  const v = c.value(0);
  let value: KnownValue | null = null;
  if (v && isStaticShape(shape) && v.dims.length === r && plan.length === ax.length) {
    const st = stridesOf(v.dims);
    const byAxis = new Map(plan.map((p) => [p.axis, p]));
    value = gatherElements(v.dtype, shape, v.data, (idx) => {
      let o = 0;
      for (let k = 0; k < r; k++) {
        const p = byAxis.get(k);
        o += (p ? p.start + idx[k]! * p.step : idx[k]!) * st[k]!;
      }
      return o;
    });
  }
  return [out(dtype, shape, value)];
};

const pad: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  if (!xs) return [out(dtype, null)];
  const r = xs.length;
  let pads: number[] | null | undefined;
  let axes: number[] | null | undefined;
  if (c.opset < 11) pads = c.attrInts('pads') ?? c.attrInts('paddings');
  else {
    pads = c.numbers(1);
    axes = c.opset >= 18 && c.has(3) ? c.numbers(3) : undefined;
  }
  if (pads === undefined) c.fail('Pad needs pads');
  if (!pads || axes === null) return [out(dtype, unknownDims(r))];
  const ax = axes ? normAxes(c, axes, r) : xs.map((_, i) => i);
  if (pads.length !== 2 * ax.length) c.fail(`pads has ${pads.length} entries for ${ax.length} axes`);
  const shape: Dim[] = [...xs];
  ax.forEach((a, i) => {
    const total = pads![i]! + pads![i + ax.length]!;
    const d = addDim(xs[a]!, total);
    if (typeof d === 'number' && d < 0) {
      c.conflict(`padding [${pads![i]}, ${pads![i + ax.length]}] makes axis ${a} of ${formatDims(xs)} negative`);
      shape[a] = null;
    } else shape[a] = d;
  });
  return [out(dtype, shape)];
};

/** Output dim of Resize/Upsample for a float scale (onnxruntime: float32 product, truncated). */
function scaleDim(d: Dim, scale: number): Dim {
  if (typeof d === 'number') return Math.trunc(Math.fround(Math.fround(scale) * Math.fround(d)));
  if (scale === 1) return d;
  if (Number.isInteger(scale) && scale > 0) return mulDim(d, scale);
  return null;
}

const resize: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  if (!xs) return [out(dtype, null)];
  const r = xs.length;
  const scalesIdx = c.opset >= 11 ? 2 : 1;
  const sizesIdx = c.opset >= 11 ? 3 : -1;
  const axes = c.opset >= 18 && c.attrInts('axes') ? normAxes(c, c.attrInts('axes')!, r) : xs.map((_, i) => i);
  const present = (i: number): boolean => {
    if (i < 0 || !c.has(i)) return false;
    const s = c.shape(i);
    // an empty tensor stands for "not given"
    return !(s && s.length === 1 && s[0] === 0);
  };
  const shape: Dim[] = [...xs];
  if (present(sizesIdx)) {
    const e = c.elems(sizesIdx);
    if (!e) {
      for (const a of axes) shape[a] = null;
      return [out(dtype, shape)];
    }
    if (e.length !== axes.length) c.fail(`sizes has ${e.length} entries for ${axes.length} axes`);
    // sizes computed from Shape may be symbolic ('2*H')
    const sizes = elemsAsDims(e);
    const policy = c.opset >= 18 ? c.attrStr('keep_aspect_ratio_policy', 'stretch') : 'stretch';
    if (policy === 'stretch') axes.forEach((a, i) => (shape[a] = sizes[i]!));
    else {
      const ins = axes.map((a) => xs[a]!);
      if (!ins.every((d): d is number => typeof d === 'number' && d > 0) || !isStaticShape(sizes)) {
        for (const a of axes) shape[a] = null;
      } else {
        const ratios = sizes.map((s, i) => s / ins[i]!);
        const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
        axes.forEach((a, i) => (shape[a] = Math.round(scale * ins[i]!)));
      }
    }
    return [out(dtype, shape)];
  }
  if (present(scalesIdx)) {
    const scales = c.numbers(scalesIdx);
    if (!scales) {
      for (const a of axes) shape[a] = null;
      return [out(dtype, shape)];
    }
    if (scales.length !== axes.length) c.fail(`scales has ${scales.length} entries for ${axes.length} axes`);
    axes.forEach((a, i) => (shape[a] = scaleDim(xs[a]!, scales[i]!)));
    return [out(dtype, shape)];
  }
  return c.fail('Resize needs scales or sizes');
};

const upsample: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  if (!xs) return [out(dtype, null)];
  const scales = c.opset >= 9 ? c.numbers(1) : (c.attrFloats('scales') ?? null);
  if (!scales) return [out(dtype, unknownDims(xs.length))];
  if (scales.length !== xs.length) c.fail(`scales has ${scales.length} entries for rank ${xs.length}`);
  return [out(dtype, xs.map((d, i) => scaleDim(d, scales[i]!)))];
};

// ---------------------------------------------------------------- gather and friends

const gather: ShapeRule = (c) => {
  const xs = c.shape(0);
  const is = c.shape(1);
  const dtype = c.dtype(0);
  if (!xs || !is) return [out(dtype, null)];
  const axis = normOneAxis(c, c.attrInt('axis', 0), xs.length);
  const shape = [...xs.slice(0, axis), ...is, ...xs.slice(axis + 1)];
  const v = c.value(0);
  const iv = c.value(1);
  let value: KnownValue | null = null;
  if (v && iv && v.dims.length === 1 && xs.length === 1 && iv.dims.length === is.length) {
    // the common case, picking entries of a Shape output: a direct lookup
    const d = v.dims[0]!;
    let outOfRange = false;
    const data = iv.data.map((x) => {
      if (typeof x !== 'number') return null;
      if (x < -d || x >= d) {
        outOfRange = true;
        return null;
      }
      return v.data[x < 0 ? x + d : x]!;
    });
    if (outOfRange) c.conflict(`indices out of range for axis size ${d}`);
    value = { dtype: v.dtype, dims: [...iv.dims], data };
  } else if (v && iv && v.dims.length === xs.length && iv.dims.length === is.length) {
    const dAxis = v.dims[axis]!;
    const indices = iv.data.map((x) => (typeof x === 'number' ? (x < 0 ? x + dAxis : x) : -1));
    if (indices.some((x) => x >= dAxis || (x < 0 && x !== -1))) c.conflict(`indices out of range for axis size ${dAxis}`);
    const st = stridesOf(v.dims);
    const ist = stridesOf(iv.dims);
    const q = iv.dims.length;
    const outDims = [...v.dims.slice(0, axis), ...iv.dims, ...v.dims.slice(axis + 1)];
    value = gatherElements(v.dtype, outDims, v.data, (idx) => {
      let flatI = 0;
      for (let k = 0; k < q; k++) flatI += idx[axis + k]! * ist[k]!;
      const j = indices[flatI]!;
      if (j < 0 || j >= dAxis) return -1;
      let o = j * st[axis]!;
      for (let k = 0; k < axis; k++) o += idx[k]! * st[k]!;
      for (let k = axis + 1; k < v.dims.length; k++) o += idx[k - 1 + q]! * st[k]!;
      return o;
    });
  }
  return [out(dtype, shape, value)];
};

const gatherElementsRule: ShapeRule = (c) => {
  const is = c.shape(1);
  const xs = c.shape(0);
  if (xs && is && xs.length !== is.length) c.conflict(`data ${formatDims(xs)} and indices ${formatDims(is)} have different ranks`);
  return [out(c.dtype(0), is ? [...is] : null)];
};

const gatherND: ShapeRule = (c) => {
  const xs = c.shape(0);
  const is = c.shape(1);
  const dtype = c.dtype(0);
  if (!xs || !is) return [out(dtype, null)];
  const b = c.attrInt('batch_dims', 0);
  const k = is[is.length - 1];
  if (typeof k !== 'number') return [out(dtype, null)];
  if (b + k > xs.length) c.fail(`indices of depth ${k} (batch_dims ${b}) exceed data rank ${xs.length}`);
  return [out(dtype, [...is.slice(0, -1), ...xs.slice(b + k)])];
};

const oneHot: ShapeRule = (c) => {
  const is = c.shape(0);
  const dtype = c.dtype(2);
  if (!is) return [out(dtype, null)];
  const axis = normOneAxis(c, c.attrInt('axis', -1), is.length + 1);
  const e = c.elems(1);
  const depth = e && e.length === 1 && typeof e[0] === 'number' ? Math.trunc(e[0]) : null;
  const shape = [...is.slice(0, axis), depth, ...is.slice(axis)];
  return [out(dtype, shape)];
};

const nonZero: ShapeRule = (c) => {
  const xs = c.shape(0);
  const v = c.value(0);
  let count: Dim = null;
  if (v && v.data.every((x) => typeof x === 'number')) count = v.data.filter((x) => x !== 0).length;
  return [out(DataType.INT64, [xs ? xs.length : null, count])];
};

const compress: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  const cond = c.value(1);
  const count = cond && cond.data.every((x) => typeof x === 'number') ? cond.data.filter((x) => x !== 0).length : null;
  const axisAttr = c.attrInt('axis');
  if (axisAttr === undefined) return [out(dtype, [count])];
  if (!xs) return [out(dtype, null)];
  const axis = normOneAxis(c, axisAttr, xs.length);
  return [out(dtype, xs.map((d, i) => (i === axis ? count : d)))];
};

const unique: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  const axisAttr = c.attrInt('axis');
  if (axisAttr === undefined || !xs) {
    return [out(dtype, [null]), out(DataType.INT64, [null]), out(DataType.INT64, [xs ? prodDims(xs) : null]), out(DataType.INT64, [null])];
  }
  const axis = normOneAxis(c, axisAttr, xs.length);
  return [
    out(
      dtype,
      xs.map((d, i) => (i === axis ? null : d)),
    ),
    out(DataType.INT64, [null]),
    out(DataType.INT64, [xs[axis]!]),
    out(DataType.INT64, [null]),
  ];
};

const randomLike: ShapeRule = (c) => {
  const xs = c.shape(0);
  return [out(c.attrInt('dtype', 0) || c.dtype(0), xs ? [...xs] : null)];
};

const random: ShapeRule = (c) => {
  const s = c.attrInts('shape');
  if (s && s.some((d) => !(d >= 0))) c.fail(`invalid shape [${s}]`);
  return [out(c.attrInt('dtype', DataType.FLOAT), s ?? null)];
};

const multinomial: ShapeRule = (c) => {
  const xs = c.shape(0);
  return [out(c.attrInt('dtype', DataType.INT32), [xs?.[0] ?? null, c.attrInt('sample_size', 1)])];
};

const det: ShapeRule = (c) => {
  const xs = c.shape(0);
  if (xs && xs.length < 2) c.fail(`Det input must have rank >= 2, got ${formatDims(xs)}`);
  if (xs && !dimEq(xs[xs.length - 1]!, xs[xs.length - 2]!) && typeof xs[xs.length - 1] === 'number' && typeof xs[xs.length - 2] === 'number') {
    c.conflict(`Det input ${formatDims(xs)} is not square`);
  }
  return [out(c.dtype(0), xs ? xs.slice(0, -2) : null)];
};

export const TENSOR_RULES: Record<string, ShapeRule> = {
  Constant: constant,
  Shape: shapeOp,
  Size: size,
  ConstantOfShape: constantOfShape,
  Range: range,
  EyeLike: eyeLike,
  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Expand: expand,
  Tile: tile,
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  Resize: resize,
  Upsample: upsample,
  Gather: gather,
  GatherElements: gatherElementsRule,
  GatherND: gatherND,
  OneHot: oneHot,
  NonZero: nonZero,
  Compress: compress,
  Unique: unique,
  RandomNormalLike: randomLike,
  RandomUniformLike: randomLike,
  RandomNormal: random,
  RandomUniform: random,
  Multinomial: multinomial,
  Det: det,
};
