// Gradient rules for ops that move data without arithmetic: reshapes, transposes,
// concatenation and splitting, slicing, padding, gathering (TopK too) and scattering
// (ScatterElements, ScatterND, MaxUnpool, Compress), reversing, broadcasting, resizing.
//
// Most of these ops are linear maps with a fixed pattern, so each gradient is the adjoint
// pattern: a reshape back, the inverse permutation, a split for a concat, a scatter-add for
// a gather, a gather for a scatter. Where the pattern along an axis is irregular but known
// when differentiating (strided slices, reflect/edge/wrap padding, resizing), the forward is
// written as a small constant matrix A per axis (y = A·x along that axis) and the gradient
// is one MatMul by Aᵀ; that is exact for every mode, including nearest rounding and edge
// clamping.

import { attr } from '../../../ir/builder.js';
import { DataType } from '../../../ir/dtype.js';
import type { Dim, Node, Value } from '../../../ir/graph.js';
import { knownValueOf } from '../../shape/index.js';
import { type GradBuilder, infoOf, type OutInfo, staticShape } from '../builder.js';
import type { GradContext, GradRule, GradRuleTable } from '../rule.js';
import { dimPart, identityOfAxis, productOfOthersFrom, shapeFromParts } from './util.js';

/** A slice bound meaning "to the end": exact as a double and within int64. */
const TO_END = 2 ** 62;

// ---- helpers (local to this file) ----

function rankOf(c: GradContext, v: Value): number {
  const s = v.shape;
  if (!s) {
    throw c.fail(`the rank of '${v.name}' is unknown`, 'give the input shapes (--shape name=1x3x224x224) so shape inference can type the graph');
  }
  return s.length;
}

function normAxis(c: GradContext, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw c.fail(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function addAt(a: Float64Array, k: number, v: number): void {
  a[k] = a[k]! + v;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The elements of `v` when they are known before run time (constants, folded shape arithmetic). */
function knownNumbers(v: Value | null): number[] | null {
  const kv = knownValueOf(v);
  if (!kv || !kv.data.every((e): e is number => typeof e === 'number')) return null;
  return kv.data as number[];
}

/** Elements of input i, which must be known; null when the input is absent. */
function requireKnown(c: GradContext, i: number, what: string): number[] | null {
  const v = c.xOpt(i);
  if (!v) return null;
  const data = knownNumbers(v);
  if (!data) {
    throw c.fail(`its ${what} ('${v.name}') are only known at run time`, `only constant ${what} can be differentiated: make '${v.name}' a constant, or give static input shapes so it folds`);
  }
  return data;
}

/** The static size of axis `axis` of `v`, or a coded error saying what needs it. */
function requireDim(c: GradContext, v: Value, axis: number, what: string): number {
  const d = v.shape?.[axis];
  if (typeof d !== 'number' || d < 0) {
    throw c.fail(`${what} needs the size of axis ${axis} of '${v.name}', which is ${d ?? 'unknown'}`, 'give every input a static shape (--shape name=1x3x224x224) before differentiating');
  }
  return d;
}

function partsShape(parts: (number | Value)[]): Dim[] {
  return parts.map((p) => (typeof p === 'number' ? p : null));
}

/** Reshape `v` to the shape of `like` (exact target, so zeros in it mean zero: allowzero where needed). */
function reshapeTo(c: GradContext, v: Value, like: Value): Value {
  const b = c.b;
  const s = staticShape(like);
  if (s && !s.includes(0)) return b.reshape(v, b.ints(s), infoOf(like));
  const shape = s ? b.ints(s) : b.shapeOf(like);
  // A dynamic shape may hold a 0 at run time; Reshape-14 reads it as a size, not "copy".
  return c.opset >= 14 ? b.op('Reshape', [v, shape], { allowzero: 1 }, infoOf(like)) : b.reshape(v, shape, infoOf(like));
}

function floatDtype(c: GradContext, v: Value): DataType {
  const dt = v.dtype;
  if (dt === undefined) throw c.fail(`the element type of '${v.name}' is unknown`, 'run shape inference with input shapes first');
  return dt;
}

/** True when every one of the node's inputs `from`… (the structural ones) is absent or known before run time. */
function structureKnown(node: Node, from: number): boolean {
  return node.inputs.slice(from).every((v) => !v || v.name === '' || knownNumbers(v) !== null);
}

/** A Pad whose pads (an input from opset 11) or axes are only known at run time. */
function padsAtRunTime(node: Node): boolean {
  const pads = node.inputs[1];
  return !!pads && pads.name !== '' && !(knownNumbers(pads) && structureKnown(node, 3));
}

/**
 * The adjoint of an op that copies elements of x into its output (Slice, Pad), for structural
 * inputs only known at run time: the op itself, with the same structural inputs, runs on x's
 * positions numbered from 1 (int64, x's shape; Pad's constant becomes 0), and dy is
 * scatter-added to the positions each output element read — slot 0 collects what came from
 * the constant. Returns dx, and the constant's gradient.
 */
function adjointThroughPositions(c: GradContext, sameOp: (positions: Value, zero: Value) => Value): { dx: Value; fromConstant: Value } {
  const b = c.b;
  const x = c.x(0);
  const dtype = floatDtype(c, x);
  const I64 = DataType.INT64;
  const count = b.op('Size', [x], {}, { dtype: I64, shape: [] });
  const slots = b.add(count, b.scalar(1, I64));
  const numbered = b.op('Range', [b.scalar(1, I64), slots, b.scalar(1, I64)], {}, { dtype: I64, shape: [null] });
  const positions = b.op('Reshape', [numbered, b.shapeValue(x)], { allowzero: 1 }, { dtype: I64, shape: x.shape });
  const read = b.reshape(sameOp(positions, b.scalar(0, I64)), b.ints([-1]), { dtype: I64, shape: [null] });
  const flatDy = b.reshape(c.dyOrZeros(0), b.ints([-1]), { dtype, shape: [null] });
  const zeros = b.filled(b.unsqueeze(slots, [0], { dtype: I64, shape: [1] }), 0, dtype, [null]);
  const acc = b.op('ScatterElements', [zeros, read, flatDy], { axis: 0, reduction: 'add' }, { dtype, shape: [null] });
  const dx = reshapeTo(c, b.slice(acc, [1], [TO_END], [0], undefined, { dtype, shape: [null] }), x);
  return { dx, fromConstant: b.slice(acc, [0], [1], [0], undefined, { dtype, shape: [1] }) };
}

/**
 * The adjoint of a linear map along one axis. The forward computes
 * y[…, i, …] = Σₖ A[i][k]·x[…, k, …] with A (outLen × inLen, row-major); the gradient
 * dx = Aᵀ·dy along that axis is one MatMul by a constant (transposes bring other axes last).
 */
function adjointAlongAxis(b: GradBuilder, dy: Value, axis: number, rank: number, a: Float64Array, outLen: number, inLen: number, dtype: DataType): Value {
  const withIn = (s: readonly Dim[] | null | undefined, at: number): Dim[] | null => (s ? s.map((d, i) => (i === at ? inLen : d)) : null);
  if (axis === rank - 1) return b.op('MatMul', [dy, b.constant(dtype, [outLen, inLen], a)], {}, { dtype, shape: withIn(dy.shape, axis) });
  if (axis === rank - 2) {
    const at = new Float64Array(inLen * outLen);
    for (let i = 0; i < outLen; i++) for (let k = 0; k < inLen; k++) at[k * outLen + i] = a[i * inLen + k]!;
    return b.op('MatMul', [b.constant(dtype, [inLen, outLen], at), dy], {}, { dtype, shape: withIn(dy.shape, axis) });
  }
  const perm = range(rank);
  perm[axis] = rank - 1;
  perm[rank - 1] = axis;
  const t = b.transpose(dy, perm);
  const m = b.op('MatMul', [t, b.constant(dtype, [outLen, inLen], a)], {}, { dtype, shape: withIn(t.shape, rank - 1) });
  return b.transpose(m, perm, { dtype, shape: withIn(dy.shape, axis) });
}

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
  const lead = range(q - 1).map((i) => dimPart(b, idx, i));
  const spread = shapeFromParts(b, [...lead, 1]);
  const spreadShape = partsShape([...lead, 1]);
  const parts: Value[] = [];
  for (let i = 0; i < batchDims; i++) {
    const d = lead[i]!;
    // 0 … d−1 along axis i, broadcast over the other axes of the tuples.
    const iota =
      typeof d === 'number'
        ? b.ints(range(d))
        : b.op('Range', [b.scalar(0, I64), b.squeeze(d, [0], { dtype: I64, shape: [] }), b.scalar(1, I64)], {}, { dtype: I64, shape: [null] });
    const along = b.reshape(iota, b.ints(range(q).map((j) => (j === i ? -1 : 1))), { dtype: I64, shape: range(q).map((j) => (j === i ? (typeof d === 'number' ? d : null) : 1)) });
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

// ---- Pad: where each output element along an axis comes from ----

/** Source index in [0, n) of padded position k (k < 0 or k ≥ n are in the padding). */
function padSource(mode: string, k: number, n: number): number {
  if (k >= 0 && k < n) return k;
  if (mode === 'edge') return k < 0 ? 0 : n - 1;
  if (mode === 'wrap') return ((k % n) + n) % n;
  // reflect: mirror on the first and last elements (period 2(n-1))
  if (n === 1) return 0;
  const p = 2 * (n - 1);
  const m = ((k % p) + p) % p;
  return m < n ? m : p - m;
}

// ---- Resize: the 1-D interpolation matrices, following the op's coordinate formulas ----

interface ResizeAxis {
  inLen: number;
  outLen: number;
  /** The axis scale as a float32 (the way onnxruntime holds it). */
  scale: number;
  roiStart: number;
  roiEnd: number;
}

interface ResizeParams {
  mode: string;
  coordMode: string;
  nearestMode: string;
  cubicA: number;
  excludeOutside: boolean;
}

const f32 = Math.fround;

/** std::round: halves away from zero. */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** The input coordinate of output index `i` (float32 arithmetic, as onnxruntime computes it). */
function originalCoordinate(p: ResizeParams, ax: ResizeAxis, i: number): number {
  const { scale, inLen, outLen, roiStart: r0, roiEnd: r1 } = ax;
  switch (p.coordMode) {
    case 'asymmetric':
      return f32(i / scale);
    case 'pytorch_half_pixel':
      return outLen > 1 ? f32(f32(f32(i + 0.5) / scale) - 0.5) : 0;
    case 'tf_half_pixel_for_nn':
      return f32(f32(i + 0.5) / scale);
    case 'align_corners':
      return outLen === 1 ? 0 : f32(f32(i * (inLen - 1)) / (outLen - 1));
    case 'tf_crop_and_resize':
      return outLen > 1 ? f32(f32(r0 * (inLen - 1)) + f32(f32(f32(i * f32(r1 - r0)) * (inLen - 1)) / (outLen - 1))) : f32(0.5 * f32(r0 + r1) * (inLen - 1));
    case 'half_pixel_symmetric': {
      const outWidth = f32(scale * inLen);
      const adjustment = f32(outLen / outWidth);
      const center = f32(inLen / 2);
      const offset = f32(center * f32(1 - adjustment));
      return f32(offset + (i + 0.5) / scale - 0.5);
    }
    default: // half_pixel
      return f32(f32(f32(i + 0.5) / scale) - 0.5);
  }
}

function nearestIndex(mode: string, x: number): number {
  switch (mode) {
    case 'round_prefer_ceil':
      return roundHalfAway(x);
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    default: // round_prefer_floor
      return x === Math.trunc(x) + 0.5 ? Math.floor(x) : roundHalfAway(x);
  }
}

function cubicCoefficients(s: number, a: number): number[] {
  const t = Math.abs(s);
  return [
    ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
    ((a + 2) * t - (a + 3)) * t * t + 1,
    ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
    ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
  ];
}

/** A (outLen × inLen) with y = A·x along one resized axis. */
function resizeMatrix(p: ResizeParams, ax: ResizeAxis): Float64Array {
  const { inLen, outLen } = ax;
  const a = new Float64Array(outLen * inLen);
  const clampIdx = (k: number): number => Math.min(Math.max(k, 0), inLen - 1);
  const extrapolates = p.coordMode === 'tf_crop_and_resize';
  for (let i = 0; i < outLen; i++) {
    const row = i * inLen;
    const orig = originalCoordinate(p, ax, i);
    if (extrapolates && (orig < 0 || orig > inLen - 1)) continue; // extrapolation_value: no dependence on x
    if (p.mode === 'nearest') {
      a[row + clampIdx(nearestIndex(p.nearestMode, orig))] = 1;
    } else if (p.mode === 'linear') {
      const v = Math.min(Math.max(orig, 0), inLen - 1);
      const i1 = Math.min(Math.trunc(v), inLen - 1);
      const i2 = Math.min(i1 + 1, inLen - 1);
      if (i1 === i2) a[row + i1] = 1;
      else {
        addAt(a, row + i1, f32(Math.abs(v - i2)));
        addAt(a, row + i2, f32(Math.abs(v - i1)));
      }
    } else {
      const base = Math.floor(orig);
      const coeffs = cubicCoefficients(f32(orig - base), p.cubicA);
      let sum = 1;
      if (p.excludeOutside) {
        sum = 0;
        for (let j = 0; j < 4; j++) {
          const k = base - 1 + j;
          if (k < 0 || k >= inLen) coeffs[j] = 0;
          sum += coeffs[j]!;
        }
      }
      for (let j = 0; j < 4; j++) addAt(a, row + clampIdx(base - 1 + j), coeffs[j]! / sum);
    }
  }
  return a;
}

/**
 * Resize's adjoint when its scales, sizes or roi are only known at run time. Resize is linear
 * and separable: along each resized axis a it multiplies by an (out × in) matrix A_a, and
 * the same Resize applied to an in × in identity along its first axis alone (scale, size and
 * roi of axis a; scale 1 and the whole range on the second) gives A_a at run time. dy is
 * then contracted with it axis by axis. Every listed axis is treated as resized (a scale of 1
 * gives an identity). keep_aspect_ratio_policy other than 'stretch' shares one scale across
 * axes, which this per-axis form does not reproduce: a coded error.
 */
function resizeAdjointAtRunTime(c: GradContext): Value {
  const b = c.b;
  const n = c.node;
  const x = c.x(0);
  const dtype = floatDtype(c, x);
  const rank = rankOf(c, x);
  const I64 = DataType.INT64;
  const axesAttr = n.attrInts('axes');
  const axes = axesAttr ? axesAttr.map((a) => normAxis(c, a, rank)) : range(rank);
  const scales = c.xOpt(2);
  const sizes = scales ? null : c.xOpt(3);
  if (!scales && !sizes) throw c.fail('it has neither scales nor sizes');
  if (sizes && n.attrString('keep_aspect_ratio_policy', 'stretch') !== 'stretch') {
    throw c.fail(`keep_aspect_ratio_policy '${n.attrString('keep_aspect_ratio_policy', 'stretch')}' with sizes only known at run time has no gradient rule`, 'make the sizes a constant');
  }
  const coord = n.attrString('coordinate_transformation_mode', 'half_pixel');
  const roi = coord === 'tf_crop_and_resize' ? c.xOpt(1) : null;
  const attrs = Object.fromEntries([...n.attributes.values()].filter((a) => a.name !== 'axes' && a.name !== 'keep_aspect_ratio_policy').map((a) => [a.name, a] as const));
  attrs['extrapolation_value'] = attr.float('extrapolation_value', 0); // outside the crop, no dependence on x
  let g = c.dyOrZeros(0);
  const roiType = roi?.dtype ?? DataType.FLOAT;
  const along = (v: Value, k: number, type: DataType): Value => b.op('Gather', [v, b.ints([k])], { axis: 0 }, { dtype: type, shape: [1] });
  axes.forEach((a, k) => {
    // Resizing the identity along its first axis alone gives A_a (out × in) itself.
    const part = dimPart(b, x, a);
    const d = typeof part === 'number' ? b.ints([part]) : part;
    const firstOnly = (first: Value, rest: Value, type: DataType): Value => b.op('Concat', [first, rest], { axis: 0 }, { dtype: type, shape: [2] });
    const roi2 = roi ? b.op('Concat', [along(roi, k, roiType), b.constant(roiType, [1], [0]), along(roi, k + axes.length, roiType), b.constant(roiType, [1], [1])], { axis: 0 }, { dtype: roiType, shape: [4] }) : null;
    const spec = scales ? [firstOnly(along(scales, k, DataType.FLOAT), b.constant(DataType.FLOAT, [1], [1]), DataType.FLOAT), null] : [null, firstOnly(along(sizes!, k, I64), d, I64)];
    const matrix = b.op('Resize', [identityOfAxis(b, x, a, dtype), roi2, ...spec], attrs, { dtype, shape: [null, null] });
    const perm = range(rank);
    perm[a] = rank - 1;
    perm[rank - 1] = a;
    const moved = a === rank - 1 ? g : b.transpose(g, perm);
    const contracted = b.op('MatMul', [moved, matrix], {}, { dtype, shape: null });
    g = a === rank - 1 ? contracted : b.transpose(contracted, perm, { dtype, shape: null });
  });
  return reshapeTo(c, g, x);
}

/** The per-axis resize parameters of a Resize node (static shapes, constant scales/sizes/roi). */
function resizeAxes(c: GradContext, inShape: number[], outShape: number[]): ResizeAxis[] {
  const n = c.node;
  const rank = inShape.length;
  const axesAttr = n.attrInts('axes');
  const axes = axesAttr ? axesAttr.map((a) => normAxis(c, a, rank)) : range(rank);
  const scales = new Array<number>(rank).fill(1);
  const scalesIn = requireKnown(c, 2, 'scales');
  const roi = c.xOpt(1) && n.attrString('coordinate_transformation_mode', 'half_pixel') === 'tf_crop_and_resize' ? requireKnown(c, 1, 'roi') : null;
  if (scalesIn && scalesIn.length > 0) {
    if (scalesIn.length !== axes.length) throw c.fail(`it has ${scalesIn.length} scales for ${axes.length} axes`);
    axes.forEach((a, i) => (scales[a] = f32(scalesIn[i]!)));
  } else {
    const sizes = requireKnown(c, 3, 'sizes');
    if (!sizes || sizes.length !== axes.length) throw c.fail('it has neither scales nor sizes for every resized axis');
    axes.forEach((a, i) => (scales[a] = inShape[a] === 0 ? 1 : f32(f32(sizes[i]!) / f32(inShape[a]!))));
    const policy = n.attrString('keep_aspect_ratio_policy', 'stretch');
    if (policy !== 'stretch') {
      const pick = policy === 'not_larger' ? Math.min : Math.max;
      const s = axes.map((a) => scales[a]!).reduce((x, y) => pick(x, y));
      for (const a of axes) scales[a] = s;
    }
  }
  return range(rank).map((a) => {
    const k = axes.indexOf(a);
    const r0 = roi && k >= 0 ? f32(roi[k]!) : 0;
    const r1 = roi && k >= 0 ? f32(roi[k + axes.length]!) : 1;
    return { inLen: inShape[a]!, outLen: outShape[a]!, scale: scales[a]!, roiStart: r0, roiEnd: r1 };
  });
}

/** Ops that only change the shape: the gradient is reshaped back to the input's shape. */
const RESHAPE_RULE: GradRule = {
  differentiable: [0],
  grad(c) {
    c.setGrad(0, reshapeTo(c, c.dyOrZeros(0), c.x(0)));
  },
};

export const TENSOR_RULES: GradRuleTable = {
  Identity: {
    grad(c) {
      c.setGrad(0, c.dyOrZeros(0));
    },
  },

  // ---- reshapes: the gradient takes the input's shape back ----
  Reshape: RESHAPE_RULE,
  Flatten: RESHAPE_RULE,
  Squeeze: RESHAPE_RULE,
  Unsqueeze: RESHAPE_RULE,

  Transpose: {
    differentiable: [0],
    grad(c) {
      const x = c.x(0);
      const perm = c.node.attrInts('perm');
      const dy = c.dyOrZeros(0);
      // No perm: the axes are reversed, which is its own inverse.
      if (!perm) {
        c.setGrad(0, c.b.op('Transpose', [dy], {}, infoOf(x)));
        return;
      }
      const inv = new Array<number>(perm.length);
      perm.forEach((p, i) => (inv[p] = i));
      c.setGrad(0, c.b.transpose(dy, inv, infoOf(x)));
    },
  },

  // ---- concatenation and splitting are each other's adjoints ----
  Concat: {
    grad(c) {
      const b = c.b;
      const n = c.node;
      const y = c.y(0);
      const dy = c.dyOrZeros(0);
      const xs = n.inputs.map((_, i) => c.x(i));
      if (xs.length === 1) {
        c.setGrad(0, dy);
        return;
      }
      const axis = normAxis(c, n.attrInt('axis', 0), rankOf(c, y));
      const sizes = shapeFromParts(b, xs.map((v) => dimPart(b, v, axis)));
      const parts = b.opMulti('Split', [dy, sizes], xs.length, { axis }, xs.map((v) => infoOf(v)));
      parts.forEach((p, i) => c.setGrad(i, p));
    },
  },
  Split: {
    differentiable: [0],
    grad(c) {
      const x = c.x(0);
      const axis = normAxis(c, c.node.attrInt('axis', 0), rankOf(c, x));
      const dys = c.node.outputs.map((_, i) => c.dyOrZeros(i));
      c.setGrad(0, dys.length === 1 ? dys[0]! : c.b.op('Concat', dys, { axis }, infoOf(x)));
    },
  },

  Slice: {
    differentiable: [0],
    // Bounds only known at run time: scatter-add through the positions (ScatterElements' add from 16).
    minOpset: (node) => (structureKnown(node, 1) ? 0 : 16),
    grad(c) {
      const b = c.b;
      const n = c.node;
      const x = c.x(0);
      const rank = rankOf(c, x);
      const dtype = floatDtype(c, x);
      // Bounds are inputs from opset 10, attributes before.
      const attrForm = c.xOpt(1) === null;
      if (!attrForm && !structureKnown(n, 1)) {
        c.setGrad(0, adjointThroughPositions(c, (positions) => b.op('Slice', [positions, ...n.inputs.slice(1)], {}, { dtype: DataType.INT64 })).dx);
        return;
      }
      const starts = attrForm ? n.attrInts('starts') : requireKnown(c, 1, 'starts');
      const ends = attrForm ? n.attrInts('ends') : requireKnown(c, 2, 'ends');
      if (!starts || !ends || starts.length !== ends.length) throw c.fail('its starts and ends are missing or of different lengths');
      const axes = (attrForm ? n.attrInts('axes') : requireKnown(c, 3, 'axes')) ?? range(starts.length);
      const steps = (attrForm ? null : requireKnown(c, 4, 'steps')) ?? starts.map(() => 1);
      const pads = new Array<number>(2 * rank).fill(0);
      let g = c.dyOrZeros(0);
      for (let k = 0; k < starts.length; k++) {
        const axis = normAxis(c, axes[k]!, rank);
        const d = requireDim(c, x, axis, 'the gradient of Slice');
        const step = steps[k]!;
        if (step === 0) throw c.fail('a step is 0');
        // Effective bounds, as the op defines them (negative from the end, then clamped).
        let s = starts[k]! < 0 ? starts[k]! + d : starts[k]!;
        let e = ends[k]! < 0 ? ends[k]! + d : ends[k]!;
        if (step > 0) {
          s = Math.min(Math.max(s, 0), d);
          e = Math.min(Math.max(e, 0), d);
        } else {
          s = Math.min(Math.max(s, 0), d - 1);
          e = Math.min(Math.max(e, -1), d - 1);
        }
        const len = Math.max(0, Math.ceil((e - s) / step));
        if (len === 0) {
          c.setGrad(0, b.zerosLike(x));
          return;
        }
        if (step === 1) {
          pads[axis] = s;
          pads[axis + rank] = d - s - len;
          continue;
        }
        // Strided or reversed: scatter back with a 0/1 selection matrix (len × d).
        const sel = new Float64Array(len * d);
        for (let j = 0; j < len; j++) sel[j * d + s + j * step] = 1;
        g = adjointAlongAxis(b, g, axis, rank, sel, len, d, dtype);
      }
      if (pads.some((p) => p !== 0)) g = b.pad(g, pads, infoOf(x));
      c.setGrad(0, g);
    },
  },

  Pad: {
    differentiable: (node) => (node.attrString('mode', 'constant') === 'constant' ? [0, 2] : [0]),
    // pads or axes only known at run time: scatter-add through the positions (add from 16).
    minOpset: (node) => (padsAtRunTime(node) ? 16 : 0),
    grad(c) {
      const b = c.b;
      const n = c.node;
      const x = c.x(0);
      const rank = rankOf(c, x);
      const dtype = floatDtype(c, x);
      const mode = n.attrString('mode', 'constant');
      if (padsAtRunTime(n)) {
        const axes = c.xOpt(3);
        const { dx, fromConstant } = adjointThroughPositions(c, (positions, zero) =>
          b.op('Pad', [positions, c.x(1), mode === 'constant' ? zero : null, ...(axes ? [axes] : [])], { mode }, { dtype: DataType.INT64 }),
        );
        c.setGrad(0, dx);
        if (c.wants(2)) c.setGrad(2, reshapeTo(c, fromConstant, c.x(2)));
        return;
      }
      // pads: an input from opset 11, an attribute before; opset 18 may name the axes.
      const raw = c.xOpt(1) ? requireKnown(c, 1, 'pads')! : n.attrInts('pads');
      if (!raw) throw c.fail('it has no pads');
      const axesIn = requireKnown(c, 3, 'axes');
      const axes = axesIn ? axesIn.map((a) => normAxis(c, a, rank)) : range(rank);
      if (raw.length !== 2 * axes.length) throw c.fail(`it has ${raw.length} pads for ${axes.length} axes`);
      const before = new Array<number>(rank).fill(0);
      const after = new Array<number>(rank).fill(0);
      axes.forEach((a, i) => {
        before[a] = raw[i]!;
        after[a] = raw[i + axes.length]!;
      });
      const dy = c.dyOrZeros(0);

      if (mode === 'constant') {
        // The adjoint crops what was added and zero-pads back what was cropped (negative pads).
        const cut = range(rank).filter((a) => before[a]! > 0 || after[a]! > 0);
        let g = dy;
        if (cut.length) {
          const starts = cut.map((a) => Math.max(before[a]!, 0));
          const ends = cut.map((a) => (after[a]! > 0 ? -after[a]! : TO_END));
          g = b.slice(g, starts, ends, cut, undefined, { dtype });
        }
        if (before.some((p) => p < 0) || after.some((p) => p < 0)) {
          g = b.pad(g, [...before.map((p) => Math.max(-p, 0)), ...after.map((p) => Math.max(-p, 0))], infoOf(x));
        }
        c.setGrad(0, g);
        if (c.wants(2)) {
          // Every output element not copied from x holds the constant.
          const value = c.x(2);
          const total = b.reduceSum(dy, [], false, { dtype, shape: [] });
          const inside = b.reduceSum(g, [], false, { dtype, shape: [] });
          c.setGrad(2, reshapeTo(c, b.sub(total, inside), value));
        }
        return;
      }

      if (mode !== 'reflect' && mode !== 'edge' && mode !== 'wrap') throw c.fail(`mode '${mode}' has no gradient rule`, 'Pad modes with gradients: constant, reflect, edge, wrap');
      let g = dy;
      for (let a = 0; a < rank; a++) {
        if (before[a] === 0 && after[a] === 0) continue;
        const d = requireDim(c, x, a, `the gradient of ${mode} Pad`);
        // Negative pads crop first; the rest pads the cropped range (as onnxruntime does).
        const cropBefore = Math.max(-before[a]!, 0);
        const kept = d - cropBefore - Math.max(-after[a]!, 0);
        const pb = Math.max(before[a]!, 0);
        const pe = Math.max(after[a]!, 0);
        if (kept <= 0) throw c.fail(`its pads crop axis ${a} (size ${d}) away entirely`);
        if (mode === 'reflect' && (pb > kept - 1 || pe > kept - 1)) {
          throw c.fail(`reflect pads ${pb},${pe} on axis ${a} exceed the ${kept - 1} the op allows for size ${kept}`);
        }
        const outLen = kept + pb + pe;
        const m = new Float64Array(outLen * d);
        for (let j = 0; j < outLen; j++) addAt(m, j * d + cropBefore + padSource(mode, j - pb, kept), 1);
        g = adjointAlongAxis(b, g, a, rank, m, outLen, d, dtype);
      }
      c.setGrad(0, g);
    },
  },

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
      const xParts = range(rank).map((i) => dimPart(b, x, i));
      const foldedParts = [...xParts.slice(0, axis), count, ...xParts.slice(axis + 1)];
      const folded = q === 1 ? dy : b.reshape(dy, shapeFromParts(b, foldedParts), { dtype: x.dtype, shape: count >= 0 ? partsShape(foldedParts) : null });
      // Indices laid along the axis and broadcast over the others. Negative ones need no
      // fixing: ScatterElements reads [-s, s-1] the way Gather does.
      const idxDims = range(rank).map((i) => (i === axis ? count : 1));
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
      const along = b.reshape(kept, b.ints(range(rank).map((i) => (i === axis ? -1 : 1))), { dtype: I64, shape: range(rank).map((i) => (i === axis ? null : 1)) });
      const spread = b.op('Expand', [along, b.shapeOf(dy)], {}, { dtype: I64, shape: dy.shape });
      c.setGrad(0, b.op('ScatterElements', [b.zerosLike(x), spread, dy], { axis }, infoOf(x)));
    },
  },

  ReverseSequence: {
    // Reversing the first seq_lens[b] steps of each batch entry is its own inverse, and a
    // permutation, so its adjoint is itself.
    differentiable: [0],
    grad(c) {
      const n = c.node;
      const attrs = { batch_axis: n.attrInt('batch_axis', 1), time_axis: n.attrInt('time_axis', 0) };
      c.setGrad(0, c.b.op('ReverseSequence', [c.dyOrZeros(0), c.x(1)], attrs, infoOf(c.x(0))));
    },
  },

  // ---- broadcasts: sum the copies ----
  Expand: {
    differentiable: [0],
    grad(c) {
      c.setGrad(0, c.b.sumToShape(c.dyOrZeros(0), c.x(0), c.y(0)));
    },
  },
  Tile: {
    differentiable: [0],
    grad(c) {
      // dy viewed as [r0, d0, r1, d1, …], summed over the r axes.
      const b = c.b;
      const x = c.x(0);
      const rank = rankOf(c, x);
      const reps = knownNumbers(c.x(1));
      const parts: (number | Value)[] = [];
      const sumAxes: number[] = [];
      for (let i = 0; i < rank; i++) {
        const rep = reps ? reps[i]! : b.slice(c.x(1), [i], [i + 1], [0], undefined, { dtype: DataType.INT64, shape: [1] });
        if (rep !== 1) {
          sumAxes.push(parts.length);
          parts.push(rep);
        }
        parts.push(dimPart(b, x, i));
      }
      const dy = c.dyOrZeros(0);
      if (sumAxes.length === 0) {
        c.setGrad(0, dy);
        return;
      }
      const split = b.reshape(dy, shapeFromParts(b, parts), { dtype: x.dtype, shape: partsShape(parts) });
      c.setGrad(0, b.reduceSum(split, sumAxes, false, infoOf(x)));
    },
  },

  Resize: {
    differentiable: [0],
    grad(c) {
      const n = c.node;
      const x = c.x(0);
      const y = c.y(0);
      const dtype = floatDtype(c, x);
      const p: ResizeParams = {
        mode: n.attrString('mode', 'nearest'),
        coordMode: n.attrString('coordinate_transformation_mode', 'half_pixel'),
        nearestMode: n.attrString('nearest_mode', 'round_prefer_floor'),
        cubicA: n.attrFloat('cubic_coeff_a', -0.75),
        excludeOutside: n.attrInt('exclude_outside', 0) !== 0,
      };
      if (p.mode !== 'nearest' && p.mode !== 'linear' && p.mode !== 'cubic') throw c.fail(`mode '${p.mode}' is unknown`);
      if (n.attrInt('antialias', 0) !== 0) throw c.fail('antialias=1 has no gradient rule', 'export the model with antialias=0');
      if (!structureKnown(n, 1)) {
        c.setGrad(0, resizeAdjointAtRunTime(c));
        return;
      }
      const inShape = staticShape(x);
      const outShape = staticShape(y);
      if (!inShape || !outShape) throw c.fail('the gradient of Resize needs static input and output shapes', 'give every input a static shape (--shape name=1x3x224x224) before differentiating');
      const axes = resizeAxes(c, inShape, outShape);
      const rank = inShape.length;
      let g = c.dyOrZeros(0);
      for (let a = 0; a < rank; a++) {
        const ax = axes[a]!;
        // onnxruntime maps an axis with scale 1 one-to-one, whatever the coordinate mode.
        if (ax.scale === 1 && ax.inLen === ax.outLen) continue;
        if (ax.inLen === 0 || ax.outLen === 0) continue;
        g = adjointAlongAxis(c.b, g, a, rank, resizeMatrix(p, ax), ax.outLen, ax.inLen, dtype);
      }
      c.setGrad(0, g);
    },
  },

  // ---- block rearrangements: permutations, so the adjoint is the inverse ----
  DepthToSpace: {
    differentiable: [0],
    grad(c) {
      const b = c.b;
      const x = c.x(0);
      const bs = c.node.attrInt('blocksize', 0);
      const mode = c.node.attrString('mode', 'DCR');
      const dy = c.dyOrZeros(0);
      if (mode === 'DCR') {
        // SpaceToDepth is exactly the inverse of DepthToSpace in DCR order.
        c.setGrad(0, b.op('SpaceToDepth', [dy], { blocksize: bs }, infoOf(x)));
        return;
      }
      // CRD: x[n, c·bs² + i·bs + j, h, w] = y[n, c, h·bs + i, w·bs + j].
      const shape = staticShape(x);
      if (!shape || shape.length !== 4) throw c.fail('the gradient of DepthToSpace (CRD) needs the static 4-D shape of its input', 'give every input a static shape before differentiating');
      const dtype = floatDtype(c, x);
      const [N, C, H, W] = shape as [number, number, number, number];
      const cOut = C / (bs * bs);
      const v6 = b.reshape(dy, b.ints([N, cOut, H, bs, W, bs]), { dtype, shape: [N, cOut, H, bs, W, bs] });
      const t = b.transpose(v6, [0, 1, 3, 5, 2, 4]);
      c.setGrad(0, reshapeTo(c, t, x));
    },
  },
  SpaceToDepth: {
    differentiable: [0],
    grad(c) {
      const bs = c.node.attrInt('blocksize', 0);
      c.setGrad(0, c.b.op('DepthToSpace', [c.dyOrZeros(0)], { blocksize: bs, mode: 'DCR' }, infoOf(c.x(0))));
    },
  },
};
