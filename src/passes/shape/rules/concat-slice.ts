// Shape rules of Concat, Split, Slice and Pad. Small known inputs are folded, so that shape
// arithmetic through them (a Concat of Shape pieces, a Slice of a shape) stays exact.

import type { Dim, Shape } from '../../../ir/graph.js';
import type { OutType, RuleContext, ShapeRule } from '../context.js';
import { addDim, dimEq, divDim, formatDims, isStaticShape, normAxis, sumDims } from '../dims.js';
import { elementCount, gatherElements, type KnownElem, type KnownValue, MAX_FOLD_ELEMENTS, stridesOf } from '../known.js';
import { clamp, normAxes, normOneAxis, out, unknownDims } from './util.js';

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

export const CONCAT_SLICE_RULES: Record<string, ShapeRule> = {
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
};
