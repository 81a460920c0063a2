// Shape rules of the gathers and friends: Gather, GatherElements, GatherND, OneHot, NonZero,
// Compress, Unique. Gathers from small known tensors are folded (shape arithmetic).

import { DataType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/graph.js';
import type { ShapeRule } from '../context.js';
import { formatDims, prodDims } from '../dims.js';
import { gatherElements, type KnownValue, stridesOf } from '../known.js';
import { normOneAxis, out } from './util.js';

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

export const GATHER_RULES: Record<string, ShapeRule> = {
  Gather: gather,
  GatherElements: gatherElementsRule,
  GatherND: gatherND,
  OneHot: oneHot,
  NonZero: nonZero,
  Compress: compress,
  Unique: unique,
};
