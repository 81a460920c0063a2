// Gradient rules for gathering (Gather, GatherElements, GatherND, TopK) and scattering
// (ScatterElements, ScatterND, MaxUnpool, Compress): a scatter-add for a gather, a gather for a
// scatter (with the updates a later write overwrote masked out).

import { DataType } from '../../../ir/dtype.js';
import type { Dim, Value } from '../../../ir/graph.js';
import { knownValueOf } from '../../shape/index.js';
import { type GradBuilder, infoOf, type OutInfo, staticShape } from '../builder.js';
import type { GradContext, GradRuleTable } from '../rule.js';
import { dimPart, productOfOthersFrom, shapeFromParts, range } from './util.js';
import { rankOf, normAxis, partsShape, reshapeTo, floatDtype } from './tensor-util.js';

/**
 * GatherND indices with `batchDims` leading batch axes as ScatterND takes them (it has no
 * batch_dims): each index tuple gets its batch coordinates prepended, so [B…, m…, k]
 * becomes [B…, m…, batchDims + k], indexing x from its first axis.
 */
function withBatchCoordinates(c: GradContext, idx: Value, batchDims: number): Value {
  const b = c.b;
  const q = rankOf(c, idx);
  if (batchDims >= q) throw c.fail(`batch_dims ${batchDims} is not below the rank ${q} of its indices`);
  const I64 = DataType.INT64;
  const lead = range(0, q - 1).map((i) => dimPart(b, idx, i));
  const spread = shapeFromParts(b, [...lead, 1]);
  const spreadShape = partsShape([...lead, 1]);
  const parts: Value[] = [];
  for (let i = 0; i < batchDims; i++) {
    const d = lead[i]!;
    // 0 … d−1 along axis i, broadcast over the other axes of the tuples.
    const iota =
      typeof d === 'number'
        ? b.ints(range(0, d))
        : b.op('Range', [b.scalar(0, I64), b.squeeze(d, [0], { dtype: I64, shape: [] }), b.scalar(1, I64)], {}, { dtype: I64, shape: [null] });
    const along = b.reshape(iota, b.ints(range(0, q).map((j) => (j === i ? -1 : 1))), { dtype: I64, shape: range(0, q).map((j) => (j === i ? (typeof d === 'number' ? d : null) : 1)) });
    parts.push(b.op('Expand', [along, spread], {}, { dtype: I64, shape: spreadShape }));
  }
  const k = idx.shape?.[q - 1];
  return b.op('Concat', [...parts, idx], { axis: q - 1 }, { dtype: I64, shape: [...spreadShape.slice(0, -1), typeof k === 'number' ? k + batchDims : null] });
}

// ---- scatters: where each update lands ----

/**
 * The positions a scatter writes, as a pair of adjoint index maps: `gather(t)` reads t at
 * the written positions (one element per update element), `scatter(t, u, reduction)`
 * writes u there. ScatterElements pairs with GatherElements, ScatterND with GatherND.
 */
interface ScatterSites {
  gather(t: Value, out: OutInfo): Value;
  scatter(target: Value, u: Value, reduction: string, out: OutInfo): Value;
}

function elementSites(b: GradBuilder, indices: Value, axis: number): ScatterSites {
  return {
    gather: (t, out) => b.op('GatherElements', [t, indices], { axis }, out),
    // No reduction attribute for 'none': ScatterElements before opset 16 has none.
    scatter: (t, u, reduction, out) => b.op('ScatterElements', [t, indices, u], reduction === 'none' ? { axis } : { axis, reduction }, out),
  };
}

function ndSites(b: GradBuilder, indices: Value): ScatterSites {
  return {
    gather: (t, out) => b.op('GatherND', [t, indices], {}, out),
    scatter: (t, u, reduction, out) => b.op('ScatterND', [t, indices, u], reduction === 'none' ? {} : { reduction }, out),
  };
}

/** ConstantOfShape(Shape(like)) filled with `value` of type `dtype`. */
function filledLike(b: GradBuilder, like: Value, value: number, dtype: DataType): Value {
  return b.filled(b.shapeValue(like), value, dtype, like.shape ?? null);
}

/**
 * Which update elements survive a scatter without reduction: true where no later update
 * (in row-major order) writes the same position. The spec leaves repeated positions
 * undefined; onnxruntime writes the updates in order, so the last one stays. The mask asks
 * the runtime itself: the ordinals 0, 1, … of the updates are scattered the same way (the
 * survivor's ordinal stays at each position) and read back.
 */
function lastWriterMask(b: GradBuilder, sites: ScatterSites, updates: Value, target: Value): Value {
  const I64 = DataType.INT64;
  const count = b.op('Size', [updates], {}, { dtype: I64, shape: [] });
  const n = staticShape(updates)?.reduce((p, d) => p * d, 1) ?? null;
  const iota = b.op('Range', [b.scalar(0, I64), count, b.scalar(1, I64)], {}, { dtype: I64, shape: [n] });
  const ordinals = b.reshape(iota, b.shapeValue(updates), { dtype: I64, shape: updates.shape });
  const writer = sites.scatter(filledLike(b, target, -1, I64), ordinals, 'none', { dtype: I64, shape: target.shape });
  return b.op('Equal', [sites.gather(writer, { dtype: I64, shape: updates.shape }), ordinals], {}, { dtype: DataType.BOOL, shape: updates.shape });
}

/** True when every key is new: the scatter writes no position twice. Null keys (not decidable) count as repeats. */
function allDistinct(keys: Iterable<string | null>): boolean {
  const seen = new Set<string>();
  for (const k of keys) {
    if (k === null || seen.has(k)) return false;
    seen.add(k);
  }
  return true;
}

/** An index made non-negative against `dim`; null when it is negative and `dim` unknown. */
function nonNegativeIndex(i: number, dim: Dim | undefined): number | null {
  if (i >= 0) return i;
  return typeof dim === 'number' ? i + dim : null;
}

/** Whether the constant indices of ScatterElements write distinct positions (false when they are not constant). */
function distinctElementTargets(indices: Value, data: Value, axis: number): boolean {
  const kv = knownValueOf(indices);
  if (!kv) return false;
  // Element j of the indices writes the position of j with its `axis` coordinate replaced.
  const inner = kv.dims.slice(axis + 1).reduce((p, d) => p * d, 1);
  const span = (kv.dims[axis] ?? 1) * inner;
  return allDistinct(
    kv.data.map((v, j) => {
      const i = typeof v === 'number' ? nonNegativeIndex(v, data.shape?.[axis]) : null;
      return i === null ? null : `${Math.floor(j / span)},${i},${j % inner}`;
    }),
  );
}

/** Whether the constant index tuples of ScatterND are distinct (false when they are not constant). */
function distinctNdTargets(indices: Value, data: Value): boolean {
  const kv = knownValueOf(indices);
  const k = kv?.dims[kv.dims.length - 1];
  if (!kv || !k) return false;
  const keys: (string | null)[] = [];
  for (let t = 0; t < kv.data.length; t += k) {
    const tuple = kv.data.slice(t, t + k).map((v, a) => (typeof v === 'number' ? nonNegativeIndex(v, data.shape?.[a]) : null));
    keys.push(tuple.includes(null) ? null : tuple.join(','));
  }
  return allDistinct(keys);
}

/**
 * ScatterElements and ScatterND, inputs (data, indices, updates), by reduction:
 *  - none: y = data with the written positions replaced, so d data = dy with them zeroed,
 *    and d updates = dy read at them, for the surviving writer of a repeated position only
 *    (see lastWriterMask; skipped when constant indices are distinct);
 *  - add: y = data + Σ updates there: d data = dy, d updates = dy read at the positions;
 *  - mul: y = data · Π updates there: d data = dy · Π, d updates = dy · data · the product
 *    of the other updates at the position, exact with zeros (as ReduceProd's rule);
 *  - max/min: the gradient goes to whichever of data and the updates written to a position
 *    equals y there; ties share it equally (as ReduceMax's rule).
 */
function scatterGrad(c: GradContext, sites: ScatterSites, distinct: () => boolean): void {
  const b = c.b;
  const data = c.x(0);
  const updates = c.x(2);
  const dy = c.dyOrZeros(0);
  const dt = floatDtype(c, data);
  const reduction = c.node.attrString('reduction', 'none');
  const dataInfo = infoOf(data);
  const updInfo = infoOf(updates);
  const BOOL = DataType.BOOL;
  const zero = (): Value => b.scalar(0, dt); // cached by the builder; made only when used
  const orZero = (cond: Value, v: Value, like: Value): Value => b.op('Where', [cond, v, zero()], {}, infoOf(like));
  switch (reduction) {
    case 'none': {
      if (c.wants(0)) c.setGrad(0, sites.scatter(dy, b.zerosLike(updates), 'none', dataInfo));
      if (c.wants(2)) {
        const g = sites.gather(dy, updInfo);
        c.setGrad(2, distinct() ? g : orZero(lastWriterMask(b, sites, updates, data), g, updates));
      }
      return;
    }
    case 'add':
      c.setGrad(0, dy);
      if (c.wants(2)) c.setGrad(2, sites.gather(dy, updInfo));
      return;
    case 'mul': {
      let ones: Value | null = null;
      const onesLike = (): Value => (ones ??= filledLike(b, data, 1, dt));
      if (c.wants(0)) c.setGrad(0, b.mul(dy, sites.scatter(onesLike(), updates, 'mul', dataInfo), data));
      if (c.wants(2)) {
        // With z the zero updates at a position and Q the product of its non-zero ones, the
        // product of the others is Q/u (z = 0), Q at the zero (z = 1), else 0.
        const isZero = b.op('Equal', [updates, zero()], {}, { dtype: BOOL, shape: updates.shape });
        const nonZero = b.op('Where', [isZero, b.scalar(1, dt), updates], {}, updInfo);
        const q = sites.gather(sites.scatter(onesLike(), nonZero, 'mul', dataInfo), updInfo);
        const z = sites.gather(sites.scatter(b.zerosLike(data), b.cast(isZero, dt), 'add', dataInfo), updInfo);
        const others = productOfOthersFrom(b, isZero, nonZero, q, z);
        c.setGrad(2, b.mul(sites.gather(b.mul(dy, data), updInfo), others, updates));
      }
      return;
    }
    case 'max':
    case 'min': {
      const y = c.y(0);
      const hitData = b.op('Equal', [data, y], {}, { dtype: BOOL, shape: data.shape });
      const hitUpdates = b.op('Equal', [updates, sites.gather(y, updInfo)], {}, { dtype: BOOL, shape: updates.shape });
      const ties = sites.scatter(b.cast(hitData, dt), b.cast(hitUpdates, dt), 'add', dataInfo);
      const share = b.div(dy, ties, data);
      if (c.wants(0)) c.setGrad(0, orZero(hitData, share, data));
      if (c.wants(2)) c.setGrad(2, orZero(hitUpdates, sites.gather(share, updInfo), updates));
      return;
    }
    default:
      throw c.fail(`reduction '${reduction}' is unknown`, 'scatter reductions: none, add, mul, max, min');
  }
}

export const GATHER_SCATTER_RULES: GradRuleTable = {
  // ---- gathers: scatter-add the gradient back (repeated indices add up) ----
  Gather: {
    differentiable: [0],
    minOpset: 16, // ScatterElements with reduction='add'
    grad(c) {
      const b = c.b;
      const x = c.x(0);
      const idx = c.x(1);
      const rank = rankOf(c, x);
      const axis = normAxis(c, c.node.attrInt('axis', 0), rank);
      const q = rankOf(c, idx);
      const dy = c.dyOrZeros(0);
      // dy has shape x[:axis] ++ idx.shape ++ x[axis+1:]; fold the index dims into one axis.
      const idxShape = staticShape(idx);
      const count = idxShape ? idxShape.reduce((p, d) => p * d, 1) : -1;
      const xParts = range(0, rank).map((i) => dimPart(b, x, i));
      const foldedParts = [...xParts.slice(0, axis), count, ...xParts.slice(axis + 1)];
      const folded = q === 1 ? dy : b.reshape(dy, shapeFromParts(b, foldedParts), { dtype: x.dtype, shape: count >= 0 ? partsShape(foldedParts) : null });
      // Indices laid along the axis and broadcast over the others. Negative ones need no
      // fixing: ScatterElements reads [-s, s-1] the way Gather does.
      const idxDims = range(0, rank).map((i) => (i === axis ? count : 1));
      const ind = b.reshape(idx, b.ints(idxDims), { dtype: idx.dtype, shape: idxDims.map((d) => (d < 0 ? null : d)) });
      const spread = b.op('Expand', [ind, b.shapeValue(folded)], {}, { dtype: idx.dtype, shape: folded.shape });
      c.setGrad(0, b.op('ScatterElements', [b.zerosLike(x), spread, folded], { axis, reduction: 'add' }, infoOf(x)));
    },
  },
  GatherElements: {
    differentiable: [0],
    minOpset: 16,
    grad(c) {
      const b = c.b;
      const x = c.x(0);
      const idx = c.x(1);
      const axis = normAxis(c, c.node.attrInt('axis', 0), rankOf(c, x));
      c.setGrad(0, b.op('ScatterElements', [b.zerosLike(x), idx, c.dyOrZeros(0)], { axis, reduction: 'add' }, infoOf(x)));
    },
  },

  GatherND: {
    differentiable: [0],
    // ScatterND with reduction 'add': index tuples may repeat.
    minOpset: 16,
    grad(c) {
      const b = c.b;
      const x = c.x(0);
      const batchDims = c.node.attrInt('batch_dims', 0);
      const idx = batchDims > 0 ? withBatchCoordinates(c, c.x(1), batchDims) : c.x(1);
      c.setGrad(0, b.op('ScatterND', [b.zerosLike(x), idx, c.dyOrZeros(0)], { reduction: 'add' }, infoOf(x)));
    },
  },

  TopK: {
    // The values are x at the indices output: scatter dy there (positions within a slice are
    // distinct, so no reduction is needed). The indices carry no gradient.
    differentiable: [0],
    grad(c) {
      const b = c.b;
      const x = c.x(0);
      const axis = normAxis(c, c.node.attrInt('axis', -1), rankOf(c, x));
      const indices = c.node.outputs[1];
      if (!indices || indices.name === '') throw c.fail('its indices output is missing');
      c.setGrad(0, b.op('ScatterElements', [b.zerosLike(x), indices, c.dyOrZeros(0)], { axis }, infoOf(x)));
    },
  },

  // ---- scatters: a gather is the adjoint (see scatterGrad for each reduction) ----
  ScatterElements: {
    differentiable: [0, 2],
    grad(c) {
      const data = c.x(0);
      const indices = c.x(1);
      const axis = normAxis(c, c.node.attrInt('axis', 0), rankOf(c, data));
      scatterGrad(c, elementSites(c.b, indices, axis), () => distinctElementTargets(indices, data, axis));
    },
  },
  ScatterND: {
    differentiable: [0, 2],
    grad(c) {
      const data = c.x(0);
      const indices = c.x(1);
      scatterGrad(c, ndSites(c.b, indices), () => distinctNdTargets(indices, data));
    },
  },

  MaxUnpool: {
    // y.flat[I.flat[k]] = X.flat[k]: the indices are offsets into the whole output taken as
    // one row-major vector (N and C included; spec and onnxruntime agree), whatever
    // output_shape says. So dX.flat[k] = dy.flat[I.flat[k]], for the element that stays
    // where offsets repeat (MaxPool's overlapping windows give the same offset twice).
    differentiable: [0],
    grad(c) {
      const b = c.b;
      const x = c.x(0);
      const indices = c.x(1);
      const dy = c.dyOrZeros(0);
      const dt = floatDtype(c, x);
      const count = (v: Value): Dim => staticShape(v)?.reduce((p, d) => p * d, 1) ?? null;
      const flat = b.ints([-1]);
      const dyFlat = b.reshape(dy, flat, { dtype: dt, shape: [count(c.y(0))] });
      const offsets = b.reshape(indices, flat, { dtype: indices.dtype, shape: [count(indices)] });
      const sites = elementSites(b, offsets, 0);
      const g = sites.gather(dyFlat, { dtype: dt, shape: offsets.shape });
      const kv = knownValueOf(indices);
      const distinct = !!kv && allDistinct(kv.data.map((v) => (typeof v === 'number' ? String(v) : null)));
      const survivors = distinct ? g : b.op('Where', [lastWriterMask(b, sites, offsets, dyFlat), g, b.scalar(0, dt)], {}, infoOf(g));
      c.setGrad(0, reshapeTo(c, survivors, x));
    },
  },

  Compress: {
    // y holds the slices of x along the axis (the elements of flattened x, without an axis)
    // at the true entries of the condition; positions past the condition's end are dropped
    // (it may be shorter). dX is dy written back at the kept positions (NonZero of the
    // condition, so never past its end), zeros elsewhere.
    differentiable: [0],
    grad(c) {
      const b = c.b;
      const x = c.x(0);
      const dy = c.dyOrZeros(0);
      const I64 = DataType.INT64;
      const kept = b.reshape(b.op('NonZero', [c.x(1)], {}, { dtype: I64, shape: [1, null] }), b.ints([-1]), { dtype: I64, shape: [null] });
      const axisAttr = c.node.attrInt('axis');
      if (axisAttr === undefined) {
        const n = staticShape(x)?.reduce((p, d) => p * d, 1) ?? null;
        const zeros = b.reshape(b.zerosLike(x), b.ints([-1]), { dtype: x.dtype, shape: [n] });
        c.setGrad(0, reshapeTo(c, b.op('ScatterElements', [zeros, kept, dy], { axis: 0 }, { dtype: x.dtype, shape: [n] }), x));
        return;
      }
      const rank = rankOf(c, x);
      const axis = normAxis(c, axisAttr, rank);
      // The kept positions laid along the axis and broadcast over the others.
      const along = b.reshape(kept, b.ints(range(0, rank).map((i) => (i === axis ? -1 : 1))), { dtype: I64, shape: range(0, rank).map((i) => (i === axis ? null : 1)) });
      const spread = b.op('Expand', [along, b.shapeOf(dy)], {}, { dtype: I64, shape: dy.shape });
      c.setGrad(0, b.op('ScatterElements', [b.zerosLike(x), spread, dy], { axis }, infoOf(x)));
    },
  },
};
