// Reductions (Reduce*, with axes as attribute or as input depending on the opset),
// ArgMax/ArgMin, TopK and Det. ReduceProd/Sum/Max/Min/Mean fold small known tensors, which
// exporters use to compute element counts from Shape outputs.

import { DataType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/graph.js';
import type { RuleContext, ShapeRule } from '../context.js';
import { addDim, dimEq, formatDims, mulDim } from '../dims.js';
import { castElem, elementCount, type KnownElem, type KnownValue, stridesOf } from '../known.js';
import { axesArg, normAxes, normOneAxis, out, unknownDims } from './util.js';

type Acc = (a: KnownElem, b: KnownElem) => KnownElem;

const ACC: Record<string, { init: KnownElem; acc: Acc } | undefined> = {
  ReduceSum: { init: 0, acc: (a, b) => (typeof a === 'number' && typeof b === 'number' ? a + b : addDim(a, b)) },
  ReduceProd: { init: 1, acc: (a, b) => (typeof a === 'number' && typeof b === 'number' ? a * b : mulDim(a, b)) },
  ReduceMax: { init: -Infinity, acc: (a, b) => (typeof a === 'number' && typeof b === 'number' ? Math.max(a, b) : a === -Infinity ? b : null) },
  ReduceMin: { init: Infinity, acc: (a, b) => (typeof a === 'number' && typeof b === 'number' ? Math.min(a, b) : a === Infinity ? b : null) },
  ReduceMean: { init: 0, acc: (a, b) => (typeof a === 'number' && typeof b === 'number' ? a + b : null) },
};

function foldReduce(op: string, v: KnownValue, axes: readonly number[], keep: boolean, dtype: number): KnownValue | null {
  const a = ACC[op];
  if (!a) return null;
  const reduced = new Set(axes);
  const outDimsKeep = v.dims.map((d, i) => (reduced.has(i) ? 1 : d));
  const n = elementCount(outDimsKeep);
  const acc = new Array<KnownElem>(n).fill(a.init);
  const outStrides = stridesOf(outDimsKeep);
  const idx = new Array<number>(v.dims.length).fill(0);
  for (let k = 0; k < v.data.length; k++) {
    let o = 0;
    for (let i = 0; i < idx.length; i++) if (!reduced.has(i)) o += idx[i]! * outStrides[i]!;
    acc[o] = a.acc(acc[o]!, v.data[k]!);
    for (let i = idx.length - 1; i >= 0; i--) {
      if (++idx[i]! < v.dims[i]!) break;
      idx[i] = 0;
    }
  }
  let count = 1;
  for (const i of reduced) count *= v.dims[i]!;
  const data = acc.map((x) => castElem(op === 'ReduceMean' ? (typeof x === 'number' && count > 0 ? x / count : null) : x, dtype));
  const dims = keep ? outDimsKeep : v.dims.filter((_, i) => !reduced.has(i));
  return { dtype, dims, data };
}

function reduce(op: string, axesInputSince: number): ShapeRule {
  return (c) => {
    const xs = c.shape(0);
    const dtype = c.dtype(0);
    if (!c.type(0)) return [null];
    const fromInput = c.opset >= axesInputSince;
    const keep = c.attrInt('keepdims', 1) !== 0;
    let axes = axesArg(c, 1, fromInput);
    if (fromInput && axes && axes.length === 0) axes = undefined; // an empty axes tensor means "not given"
    if (axes === undefined && fromInput && c.attrInt('noop_with_empty_axes', 0) !== 0) {
      const v = c.value(0);
      return [out(dtype, xs ? [...xs] : null, v)];
    }
    if (!xs) return [out(dtype, null)];
    if (axes === null) {
      // axes given but not known: which dims shrink is unknown
      if (keep) return [out(dtype, xs.map((d) => (d === 1 ? 1 : null)))];
      const n = c.shape(1);
      const rank = n && n.length === 1 && typeof n[0] === 'number' ? xs.length - n[0] : null;
      return [out(dtype, unknownDims(rank))];
    }
    const all = axes === undefined;
    const norm = all ? xs.map((_, i) => i) : normAxes(c, axes!, xs.length);
    const reduced = new Set(norm);
    const shape: Dim[] = [];
    xs.forEach((d, i) => {
      if (!reduced.has(i)) shape.push(d);
      else if (keep) shape.push(1);
    });
    const v = c.value(0);
    const value = v && v.dims.length === xs.length ? foldReduce(op, v, [...reduced], keep, dtype || v.dtype) : null;
    return [out(dtype, shape, value)];
  };
}

function argReduce(c: RuleContext): ReturnType<ShapeRule> {
  const xs = c.shape(0);
  if (!xs) return [out(DataType.INT64, null)];
  const axis = normOneAxis(c, c.attrInt('axis', 0), xs.length);
  const keep = c.attrInt('keepdims', 1) !== 0;
  const shape: Dim[] = [];
  xs.forEach((d, i) => {
    if (i !== axis) shape.push(d);
    else if (keep) shape.push(1);
  });
  return [out(DataType.INT64, shape)];
}

const topK: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  if (!xs) return [out(dtype, null), out(DataType.INT64, null)];
  const axis = normOneAxis(c, c.attrInt('axis', -1), xs.length);
  let k: Dim;
  if (c.opset >= 10) {
    const e = c.elems(1);
    const x = e && e.length === 1 ? e[0]! : null;
    k = typeof x === 'number' && x >= 0 ? x : typeof x === 'string' ? x : null;
  } else k = c.attrInt('k', -1) >= 0 ? c.attrInt('k', -1) : null;
  const d = xs[axis]!;
  if (typeof k === 'number' && typeof d === 'number' && k > d) c.conflict(`k = ${k} exceeds the axis size ${d} of ${formatDims(xs)}`);
  const shape = xs.map((x, i) => (i === axis ? k : x));
  return [out(dtype, shape), out(DataType.INT64, [...shape])];
};

const det: ShapeRule = (c) => {
  const xs = c.shape(0);
  if (xs && xs.length < 2) c.fail(`Det input must have rank >= 2, got ${formatDims(xs)}`);
  if (xs && !dimEq(xs[xs.length - 1]!, xs[xs.length - 2]!) && typeof xs[xs.length - 1] === 'number' && typeof xs[xs.length - 2] === 'number') {
    c.conflict(`Det input ${formatDims(xs)} is not square`);
  }
  return [out(c.dtype(0), xs ? xs.slice(0, -2) : null)];
};

export const REDUCE_RULES: Record<string, ShapeRule> = {
  ReduceSum: reduce('ReduceSum', 13),
  ReduceMean: reduce('ReduceMean', 18),
  ReduceMax: reduce('ReduceMax', 18),
  ReduceMin: reduce('ReduceMin', 18),
  ReduceProd: reduce('ReduceProd', 18),
  ReduceL1: reduce('ReduceL1', 18),
  ReduceL2: reduce('ReduceL2', 18),
  ReduceLogSum: reduce('ReduceLogSum', 18),
  ReduceLogSumExp: reduce('ReduceLogSumExp', 18),
  ReduceSumSquare: reduce('ReduceSumSquare', 18),
  ArgMax: argReduce,
  ArgMin: argReduce,
  TopK: topK,
  Det: det,
};

