// Shape rules of the reshaping ops: Reshape, Flatten, Transpose, (Un)Squeeze, Expand, Tile.
// Small known inputs are folded (a reshaped or transposed shape tensor stays known).

import type { Dim, Shape } from '../../../ir/graph.js';
import type { ShapeRule } from '../context.js';
import { broadcastShapes, divDim, formatDims, isStaticShape, mulDim, prodDims } from '../dims.js';
import { elementCount, gatherElements, type KnownElem, type KnownValue, stridesOf } from '../known.js';
import { axesArg, elemsAsDims, normAxes, out, rankFromShapeInput, unknownDims } from './util.js';

/** The same elements under new (static) dims, when the count matches. */
function reshapeValue(v: KnownValue | null, dims: Shape | null): KnownValue | null {
  if (!v || !isStaticShape(dims) || elementCount(dims) !== v.data.length) return null;
  return { dtype: v.dtype, dims, data: v.data };
}

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

export const RESHAPE_RULES: Record<string, ShapeRule> = {
  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Expand: expand,
  Tile: tile,
};
