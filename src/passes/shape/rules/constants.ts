// Shape rules of ops that make values from attributes and shapes: Constant, Shape, Size,
// ConstantOfShape, Range, EyeLike and the random generators. Small known results are folded,
// so that shape arithmetic (Shape → Gather → Unsqueeze → Concat → Reshape) yields exact,
// possibly symbolic dims.

import { constantNodeTensor } from '../../../ir/constants.js';
import { DataType } from '../../../ir/dtype.js';
import type { ShapeRule } from '../context.js';
import { formatDims, prodDims, staticSize } from '../dims.js';
import { castElem, type KnownElem, knownFromTensor, type KnownValue, MAX_FOLD_ELEMENTS } from '../known.js';
import { clamp, elemsAsDims, out, rankFromShapeInput, unknownDims } from './util.js';

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

export const CONSTANT_RULES: Record<string, ShapeRule> = {
  Constant: constant,
  Shape: shapeOp,
  Size: size,
  ConstantOfShape: constantOfShape,
  Range: range,
  EyeLike: eyeLike,
  RandomNormalLike: randomLike,
  RandomUniformLike: randomLike,
  RandomNormal: random,
  RandomUniform: random,
  Multinomial: multinomial,
};
